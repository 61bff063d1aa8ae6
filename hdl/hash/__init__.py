"""quantgate.hdl.hash"""
