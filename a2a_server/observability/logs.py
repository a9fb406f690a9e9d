"""Log output: text (the default, for ``make run``) or one JSON object per line.

With ``log_format = "json"`` every record (the server's, uvicorn's, the SDK's)
goes through python-json-logger's ``JsonFormatter`` on stderr, and the request
observer writes one ``a2a_server.access`` line per request (request id, tenant,
agent, task id, route, status, duration; an error's traceback as ``exc_info``)
in place of uvicorn's access log. No line carries headers, bodies or query
strings, so credentials, tokens and messages stay out of the log.
"""

from __future__ import annotations

import logging
import sys

from pythonjsonlogger.json import JsonFormatter

from a2a_server.settings import Settings

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# SDK loggers that write whole request bodies (messages, push tokens) at DEBUG.
_BODY_LOGGERS = ("a2a.server.routes.jsonrpc_dispatcher",)


class DropRequestBodies(logging.Filter):
    """Drops the SDK's ``Request body: ...`` debug records (messages and tokens)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """False for a record that would print a request body."""
        return not (isinstance(record.msg, str) and record.msg.startswith("Request body"))


_DROP = DropRequestBodies()


def install_redaction() -> None:
    """Put ``DropRequestBodies`` on the SDK loggers that need it (idempotent)."""
    for name in _BODY_LOGGERS:
        logger = logging.getLogger(name)
        if _DROP not in logger.filters:
            logger.addFilter(_DROP)


def json_formatter() -> logging.Formatter:
    """The JSON line format: time, level, logger, message, then the record's extras."""
    return JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s",
                         rename_fields={"asctime": "time", "levelname": "level", "name": "logger"})


def configure_logging(settings: Settings) -> None:
    """Set up the root logger for a server process (the CLI calls this once)."""
    level = settings.log_level.upper()
    if settings.log_format != "json":
        logging.basicConfig(level=level, format=TEXT_FORMAT)
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(json_formatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
