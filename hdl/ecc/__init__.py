"""quantgate.hdl.ecc"""
