"""quantgate: FPGA signing and pricing appliance.

Subpackages: ``quantgate.hdl`` (gateware, Amaranth), ``quantgate.host`` (driver, no Amaranth),
``quantgate.sim`` (cocotb/Verilator simulation), ``quantgate.boards`` (board targets).
``quantgate.wire`` holds the protocol constants that gateware and host share.
"""

__version__ = "0.1.0"
