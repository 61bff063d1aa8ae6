"""`quantgate serve`: the connector daemon that shares appliances among many client processes
(docs/connector.md). Host-side only: no Amaranth import."""

from .config import ConfigError, Permissions, Policy
from .pool import Pool
from .server import Connector, main

__all__ = ["ConfigError", "Connector", "Permissions", "Policy", "Pool", "main"]
