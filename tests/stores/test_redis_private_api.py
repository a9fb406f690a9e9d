"""The redis-py internals ``stores/_pipeline.py`` is built on, checked one by one.

``PipelinedRedis`` uses redis-py's private parser module (``redis._parsers.base``) for
its reply-error table, and ``redis.asyncio.connection``'s ``parse_url``,
``SSLConnection`` and ``RedisSSLContext`` for URLs and TLS. None of these is public API:
pyproject.toml pins the redis-py range they were checked with. When a redis-py release
changes one, these tests fail with a message naming the module and what changed, before
anything subtler breaks in the store.
"""

from __future__ import annotations

import importlib
import inspect
import ssl
from typing import Any

import hiredis
import pytest
import redis
from redis import exceptions as rexc

_PARSER_MODULE = "redis._parsers.base"
_CONNECTION_MODULE = "redis.asyncio.connection"


def _private(module: str, name: str) -> Any:
    try:
        found = importlib.import_module(module)
    except ImportError as exc:
        pytest.fail(f"redis-py {redis.__version__}: the private module {module} is gone "
                    f"({exc}); stores/_pipeline.py imports {name} from it")
    if not hasattr(found, name):
        pytest.fail(f"redis-py {redis.__version__}: {module}.{name} is gone; "
                    f"stores/_pipeline.py imports it")
    return getattr(found, name)


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        ("NOSCRIPT No matching script. Please use EVAL.", rexc.NoScriptError),
        ("WRONGPASS invalid username-password pair", rexc.AuthenticationError),
        ("NOAUTH Authentication required.", rexc.AuthenticationError),
        ("WRONGTYPE Operation against a key holding the wrong kind of value", rexc.ResponseError),
    ],
)
def test_the_parser_error_table_maps_replies_to_redis_py_classes(reply: str,
                                                                 error: type[Exception]) -> None:
    base_parser = _private(_PARSER_MODULE, "BaseParser")
    parse_error = getattr(base_parser, "parse_error", None)
    if not callable(parse_error):
        pytest.fail(f"redis-py {redis.__version__}: {_PARSER_MODULE}.BaseParser.parse_error is "
                    "gone or not callable; stores/_pipeline.py passes it to hiredis.Reader as "
                    "replyError")
    mapped = parse_error(reply)
    assert isinstance(mapped, error), (
        f"redis-py {redis.__version__}: {_PARSER_MODULE}.BaseParser.parse_error({reply!r}) "
        f"returned {type(mapped).__name__}, stores/_pipeline.py relies on {error.__name__} "
        "(NoScriptError reloads scripts, AuthenticationError fails the connect)"
    )


def test_hiredis_raises_the_parsers_classes_through_the_reader() -> None:
    base_parser = _private(_PARSER_MODULE, "BaseParser")
    reader = hiredis.Reader(protocolError=rexc.InvalidResponse, replyError=base_parser.parse_error)
    reader.feed(b"-NOSCRIPT No matching script\r\n")
    reply = reader.gets()
    assert isinstance(reply, rexc.NoScriptError), (
        f"redis-py {redis.__version__} / hiredis: a NOSCRIPT reply became {reply!r} through "
        f"{_PARSER_MODULE}.BaseParser.parse_error, not NoScriptError"
    )


def test_parse_url_gives_the_options_the_pipeline_reads() -> None:
    parse_url = _private(_CONNECTION_MODULE, "parse_url")
    ssl_connection = _private(_CONNECTION_MODULE, "SSLConnection")
    options = dict(parse_url("rediss://user:pw@example.test:6380/3?socket_timeout=2"
                             "&ssl_cert_reqs=none"))
    expected = {"host": "example.test", "port": 6380, "username": "user", "password": "pw",
                "db": 3, "socket_timeout": 2.0, "ssl_cert_reqs": "none"}
    changed = {k: (options.get(k), v) for k, v in expected.items() if options.get(k) != v}
    assert not changed, (
        f"redis-py {redis.__version__}: {_CONNECTION_MODULE}.parse_url changed its options "
        f"(found, expected): {changed}"
    )
    assert options.get("connection_class") is ssl_connection, (
        f"redis-py {redis.__version__}: {_CONNECTION_MODULE}.parse_url no longer marks rediss:// "
        "with connection_class=SSLConnection; stores/_pipeline.py would connect without TLS"
    )
    assert dict(parse_url("unix:///tmp/r.sock?db=2")).get("path") == "/tmp/r.sock"


def test_the_tls_context_is_built_from_the_url_options() -> None:
    context_class = _private(_CONNECTION_MODULE, "RedisSSLContext")
    accepted = set(inspect.signature(context_class).parameters)
    used = {"cert_reqs", "check_hostname", "ca_certs", "keyfile", "certfile"}
    assert used <= accepted, (
        f"redis-py {redis.__version__}: {_CONNECTION_MODULE}.RedisSSLContext no longer accepts "
        f"{sorted(used - accepted)}; stores/_pipeline.py passes the URL's ssl_* options to it"
    )
    context = context_class(cert_reqs="required", check_hostname=True).get()
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
