"""quantgate.host: the driver trading code imports (no Amaranth, no simulator needed).

    from quantgate.host import Appliance
    with Appliance.open("sim://") as dev:
        print(dev.info())
"""

from . import errors
from .appliance import Appliance
from .async_appliance import AsyncAppliance
from .commands import GREEKS_DTYPE, OPTIONS_DTYPE, Command, Greeks
from .errors import (
    DeviceError,
    LinkError,
    ProtocolError,
    QuantgateError,
    QuantgateTimeout,
)

__all__ = [
    "Appliance", "AsyncAppliance", "Command", "Greeks", "GREEKS_DTYPE", "OPTIONS_DTYPE", "errors",
    "DeviceError", "LinkError", "ProtocolError", "QuantgateError", "QuantgateTimeout",
]
