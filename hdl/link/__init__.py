"""quantgate.hdl.link"""
