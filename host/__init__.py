"""quantgate.host"""
