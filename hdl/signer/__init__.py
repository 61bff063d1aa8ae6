"""quantgate.hdl.signer: key slots and the signing controller."""
