"""quantgate.hdl.arith"""
