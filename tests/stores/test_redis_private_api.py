"""The redis-py internals ``stores/_pipeline.py`` is built on, checked one by one.

``PipelinedRedis`` uses redis-py's private parser module (``redis._parsers.base``) for
its reply-error table, and ``redis.asyncio.connection``'s ``parse_url``,
``SSLConnection`` and ``RedisSSLContext`` for URLs and TLS; ``_redis_base.pipelined_for``
reads where a redis-py client connects from its pool (``connection_class``,
``connection_kwargs``). None of these is public API:
pyproject.toml pins the redis-py range they were checked with. When a redis-py release
changes one, these tests fail with a message naming the module and what changed, before
anything subtler breaks in the store.
"""

from __future__ import annotations

import importlib
import inspect
import ssl
from pathlib import Path
from typing import Any

import hiredis
import pytest
import redis
import redis.asyncio as aioredis
from redis import exceptions as rexc

from a2a_server.stores._redis_base import pipelined_for
from tests.conftest import RedisProcess

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


@pytest.mark.parametrize("where", ["tcp", "unix"])
async def test_pipelined_for_reaches_the_redis_and_db_of_the_client_it_is_given(
    where: str, tmp_path: Path
) -> None:
    password = "p@ss:w/rd %"  # every character the URL it builds must quote
    sock = tmp_path / "redis.sock"
    proc = RedisProcess("--requirepass", password, "--unixsocket", str(sock),
                        "--unixsocketperm", "700").start()
    client = (aioredis.Redis(host="127.0.0.1", port=proc.port, db=3, username="default",
                             password=password, socket_timeout=2.5)
              if where == "tcp" else
              aioredis.Redis(unix_socket_path=str(sock), db=3, password=password,
                             socket_timeout=2.5))
    pipe = pipelined_for(client)
    try:
        assert pipe is not None, (f"redis-py {redis.__version__}: pipelined_for found no "
                                  f"single-Redis {where} connection in the client's pool")
        assert pipe.socket_timeout == 2.5, (
            f"redis-py {redis.__version__}: the pool's connection_kwargs no longer carry "
            "socket_timeout; pipelined_for reads it from there")
        try:
            await pipe.execute("SET", "written-through-the-pipeline", where)
        except rexc.RedisError as exc:
            pytest.fail(f"redis-py {redis.__version__}: the connection pipelined_for built from "
                        f"the pool's connection_class/connection_kwargs failed: {exc!r}")
        assert await client.get("written-through-the-pipeline") == where.encode(), (
            f"redis-py {redis.__version__}: pipelined_for reached another server or database "
            "than the client's (connection_kwargs: host, port, path, db)")
    finally:
        if pipe is not None:
            await pipe.aclose()
        await client.aclose()
        proc.cleanup()


def test_pipelined_for_leaves_tls_to_redis_py() -> None:
    client = aioredis.Redis(host="127.0.0.1", port=1, ssl=True)
    assert pipelined_for(client) is None, (
        f"redis-py {redis.__version__}: a TLS client's pool no longer has an SSLConnection "
        "connection_class; pipelined_for would connect to it without TLS")
