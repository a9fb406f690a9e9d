"""Multi-tenant A2A agent server with Corti-style routing."""

import os

# The a2a-sdk wraps every handler call in OpenTelemetry spans, decided once when `a2a` is first
# imported. With no tracer provider configured those spans are pure cost (~15% of a send), so
# unless telemetry is asked for (A2A_SERVER_TELEMETRY=true) they are off; an explicit
# OTEL_INSTRUMENTATION_A2A_SDK_ENABLED always wins.
if os.environ.get("A2A_SERVER_TELEMETRY", "").strip().lower() not in ("1", "true", "yes", "on"):
    os.environ.setdefault("OTEL_INSTRUMENTATION_A2A_SDK_ENABLED", "false")

from a2a_server.app import create_app
from a2a_server.settings import Settings

__all__ = ["Settings", "create_app"]
__version__ = "0.1.0"
