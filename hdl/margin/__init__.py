"""The on-device margin unit (docs/margin.md): its bit-exact model; the gateware follows."""
