"""quantgate.hdl.pricing"""
