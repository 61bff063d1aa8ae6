"""quantgate.hdl"""
