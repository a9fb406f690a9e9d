"""A store outage is logged once (``redis unavailable: ...``), not once per request by the SDK.

The SDK's JSON-RPC dispatcher and its 0.3 adapter log every exception they did
not expect with a full traceback at ERROR, and then the error response again;
a ``StoreUnavailable`` raised by our stores is such an exception, so an outage
would print two tracebacks per request. ``OutageFilter``, installed on those
SDK loggers, drops exactly those records: the outage itself is logged once by
the store's health tracker, and each request is answered 503.
"""

from __future__ import annotations

import logging

from a2a_server.errors import StoreUnavailable

SDK_LOGGERS = ("a2a.server.routes.jsonrpc_dispatcher", "a2a.compat.v0_3.jsonrpc_adapter",
               "a2a.server.routes.rest_dispatcher", "a2a.utils.error_handlers")


def _is_outage(error: BaseException | None) -> bool:
    seen = 0
    while error is not None and seen < 8:  # the SDK may have wrapped ours
        if isinstance(error, StoreUnavailable):
            return True
        error, seen = error.__cause__ or error.__context__, seen + 1
    return False


class OutageFilter(logging.Filter):
    """Drops the SDK's per-request records of a store outage."""

    def filter(self, record: logging.LogRecord) -> bool:
        """False for a record about a ``StoreUnavailable`` (its traceback or its message)."""
        if record.exc_info and _is_outage(record.exc_info[1]):
            return False
        return not any(isinstance(arg, str) and arg == StoreUnavailable().message
                       for arg in (record.args if isinstance(record.args, tuple) else ()))


def install() -> None:
    """Put the filter on the SDK's loggers (once per process)."""
    for name in SDK_LOGGERS:
        sdk_logger = logging.getLogger(name)
        if not any(isinstance(f, OutageFilter) for f in sdk_logger.filters):
            sdk_logger.addFilter(OutageFilter())
