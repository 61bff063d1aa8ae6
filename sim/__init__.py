"""quantgate.sim"""
