"""Multi-tenant A2A agent server with Corti-style routing."""

from a2a_server.app import create_app
from a2a_server.settings import Settings

__all__ = ["Settings", "create_app"]
__version__ = "0.1.0"
