"""PipelinedRedis against a real redis-server: batching, reply matching, errors, faults, set-up."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from redis import exceptions as rexc

from a2a_server.stores._pipeline import PipelinedRedis, Script
from tests.conftest import RedisProcess, free_port


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[PipelinedRedis]:
    pipe = PipelinedRedis(redis_url)
    yield pipe
    await pipe.aclose()


@pytest.fixture
async def raw(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    """A plain redis-py client on the same server, to look behind the client's back."""
    other = aioredis.Redis.from_url(redis_url)
    yield other
    await other.aclose()


@pytest.fixture
def private_redis() -> Iterator[Callable[..., RedisProcess]]:
    """Start redis-servers of this test alone (to kill, pause or protect with a password)."""
    procs: list[RedisProcess] = []

    def start(*extra: str) -> RedisProcess:
        procs.append(RedisProcess(*extra).start())
        return procs[-1]

    yield start
    for proc in procs:
        proc.cleanup()


def queued_tasks(client: PipelinedRedis, commands: list[tuple[str, ...]]) -> list[asyncio.Task[object]]:
    """One task per command; all send in the same loop tick (the next one)."""
    return [asyncio.create_task(client.execute(*command)) for command in commands]


async def test_thousands_of_concurrent_commands_each_get_their_own_reply(client: PipelinedRedis) -> None:
    async def worker(n: int) -> None:
        for i in range(50):
            assert await client.execute("ECHO", f"{n}:{i}") == f"{n}:{i}".encode()
            await client.execute("INCR", "counter")

    await asyncio.gather(*(worker(n) for n in range(100)))
    assert await client.execute("GET", "counter") == b"5000"


async def assert_one_write_per_tick(client: PipelinedRedis) -> None:
    await client.execute("PING")  # connected
    before = client.writes
    replies = await asyncio.gather(*(client.execute("ECHO", str(i)) for i in range(500)))
    assert replies == [str(i).encode() for i in range(500)]
    assert client.writes == before + 1

    for i in range(3):  # one command per tick: one write each
        await client.execute("ECHO", str(i))
    assert client.writes == before + 4


async def test_commands_issued_in_one_tick_go_out_in_one_write(client: PipelinedRedis) -> None:
    await assert_one_write_per_tick(client)


def test_commands_issued_in_one_tick_go_out_in_one_write_on_uvloop(redis_url: str) -> None:
    uvloop = pytest.importorskip("uvloop")  # what uvicorn runs the server on

    async def scenario() -> None:
        client = PipelinedRedis(redis_url)
        try:
            await assert_one_write_per_tick(client)
        finally:
            await client.aclose()

    uvloop.run(scenario())


async def test_an_error_reply_fails_only_its_command(client: PipelinedRedis) -> None:
    conn_id = await client.execute("CLIENT", "ID")
    replies = await asyncio.gather(
        client.execute("SET", "k", "v"),
        client.execute("INCR", "k"),
        client.execute("EVALSHA", "0" * 40, 0),
        client.execute("GET", "k"),
        return_exceptions=True,
    )
    assert replies[0] == b"OK" and replies[3] == b"v"
    assert type(replies[1]) is rexc.ResponseError and "not an integer" in str(replies[1])
    assert type(replies[2]) is rexc.NoScriptError  # redis-py's own class, from its parser table
    assert await client.execute("CLIENT", "ID") == conn_id  # the connection was kept


async def test_nested_error_replies_are_values_not_exceptions(client: PipelinedRedis) -> None:
    script = Script("return {1, redis.pcall('INCR', KEYS[1])}")
    await client.execute("SET", "k", "v")
    one, error = await client.evalsha(script, ["k"], [])
    assert one == 1 and isinstance(error, rexc.ResponseError)


async def test_evalsha_loads_the_script_after_script_flush(
    client: PipelinedRedis, raw: aioredis.Redis
) -> None:
    script = Script("return {KEYS[1], ARGV[1], ARGV[2]}")
    assert script.sha == await raw.script_load(script.source)
    await raw.script_flush()
    assert await raw.script_exists(script.sha) == [False]

    assert await client.evalsha(script, ["k"], ["a", 2]) == [b"k", b"a", b"2"]
    assert await raw.script_exists(script.sha) == [True]  # loaded on NOSCRIPT
    await raw.script_flush()
    assert await client.evalsha(script, ["k2"], ["b", 3]) == [b"k2", b"b", b"3"]


async def test_a_cancelled_caller_does_not_shift_the_replies_of_others(client: PipelinedRedis) -> None:
    await client.execute("PING")
    before = client.writes
    tasks = queued_tasks(client, [("ECHO", str(i)) for i in range(300)])

    async def cancel_every_third() -> None:  # runs after all sent, before the write goes out
        for task in tasks[::3]:
            task.cancel()

    await asyncio.create_task(cancel_every_third())
    await asyncio.gather(*tasks, return_exceptions=True)
    assert client.writes == before + 1  # the cancelled commands went out too
    for i, task in enumerate(tasks):
        if i % 3 == 0:
            assert task.cancelled()
        else:
            assert task.result() == str(i).encode()
    assert await client.execute("ECHO", "after") == b"after"


async def test_multi_megabyte_values_both_ways(client: PipelinedRedis, raw: aioredis.Redis) -> None:
    big = os.urandom(8 * 1024 * 1024)
    small_before, stored, small_after = await asyncio.gather(
        client.execute("ECHO", "before"), client.execute("SET", "big", big), client.execute("ECHO", "after")
    )
    assert (small_before, stored, small_after) == (b"before", b"OK", b"after")
    assert await raw.get("big") == big
    got, length = await asyncio.gather(client.execute("GET", "big"), client.execute("STRLEN", "big"))
    assert got == big and length == len(big)


async def test_a_killed_server_fails_pending_and_next_commands_until_it_is_back(
    private_redis: Callable[..., RedisProcess],
) -> None:
    proc = private_redis()
    client = PipelinedRedis(proc.url)
    try:
        assert await client.execute("PING") == b"PONG"
        pending = queued_tasks(client, [("ECHO", str(i)) for i in range(10)])
        await asyncio.sleep(0)  # queued, not yet answered
        proc.kill()
        results = await asyncio.gather(*pending, return_exceptions=True)
        assert all(type(r) is rexc.ConnectionError for r in results), results

        with pytest.raises(rexc.ConnectionError):  # reconnect refused
            await client.execute("PING")

        proc.start()  # same port
        assert await client.execute("PING") == b"PONG"
    finally:
        await client.aclose()


async def test_concurrent_first_commands_share_one_connect_and_a_refused_connect_raises(
    redis_proc: RedisProcess, raw: aioredis.Redis
) -> None:
    with pytest.raises(rexc.ConnectionError):
        await PipelinedRedis(f"redis://127.0.0.1:{free_port()}").execute("PING")

    received = (await raw.info("stats"))["total_connections_received"]
    client = PipelinedRedis(redis_proc.url)
    try:
        assert await asyncio.gather(*(client.execute("ECHO", str(i)) for i in range(50))) == [
            str(i).encode() for i in range(50)
        ]
        assert (await raw.info("stats"))["total_connections_received"] == received + 1
    finally:
        await client.aclose()


async def test_a_stalled_server_times_out_pending_commands_and_recovers(
    private_redis: Callable[..., RedisProcess],
) -> None:
    proc = private_redis()
    client = PipelinedRedis(proc.url, socket_timeout=0.5)
    other = aioredis.Redis.from_url(proc.url)
    try:
        conn_id = await client.execute("CLIENT", "ID")
        await other.client_pause(3000, all=True)
        results = await asyncio.gather(
            client.execute("PING"), client.execute("ECHO", "x"), return_exceptions=True
        )
        assert [type(r) for r in results] == [rexc.TimeoutError, rexc.TimeoutError], results

        assert await other.ping()  # answered once the pause is over
        assert await client.execute("ECHO", "back") == b"back"
        assert await client.execute("CLIENT", "ID") != conn_id  # on a new connection
    finally:
        await client.aclose()
        await other.aclose()


@pytest.mark.parametrize("user", ["", "default"])
async def test_auth_and_db_from_the_url_come_before_queued_commands(
    private_redis: Callable[..., RedisProcess], user: str
) -> None:
    proc = private_redis("--requirepass", "pw")
    client = PipelinedRedis(f"redis://{user}:pw@127.0.0.1:{proc.port}/3")
    db3 = aioredis.Redis(port=proc.port, password="pw", db=3)
    db0 = aioredis.Redis(port=proc.port, password="pw", db=0)
    try:
        await asyncio.gather(*(client.execute("SET", f"k{i}", i) for i in range(20)))
        assert await db3.get("k7") == b"7"
        assert await db3.dbsize() == 20 and await db0.dbsize() == 0
    finally:
        await client.aclose()
        await db3.aclose()
        await db0.aclose()


async def test_a_wrong_password_raises_an_authentication_error(
    private_redis: Callable[..., RedisProcess],
) -> None:
    proc = private_redis("--requirepass", "pw")
    client = PipelinedRedis(f"redis://:wrong@127.0.0.1:{proc.port}/0")
    with pytest.raises(rexc.AuthenticationError):
        await client.execute("PING")
    await client.aclose()


async def test_unix_socket_url_with_db(private_redis: Callable[..., RedisProcess], tmp_path: Path) -> None:
    path = tmp_path / "redis.sock"
    proc = private_redis("--unixsocket", str(path), "--unixsocketperm", "700")
    client = PipelinedRedis(f"unix://{path}?db=2")
    other = aioredis.Redis(port=proc.port, db=2)
    try:
        assert await client.execute("SET", "k", "v") == b"OK"
        assert await other.get("k") == b"v"
    finally:
        await client.aclose()
        await other.aclose()


async def test_tls_url(private_redis: Callable[..., RedisProcess], tmp_path: Path) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    ca, cert, key = _certificates(tmp_path)
    tls_port = free_port()
    private_redis("--tls-port", str(tls_port), "--tls-cert-file", str(cert), "--tls-key-file", str(key),
                  "--tls-ca-cert-file", str(ca), "--tls-auth-clients", "no")
    client = PipelinedRedis(f"rediss://127.0.0.1:{tls_port}/0?ssl_ca_certs={ca}")
    try:
        assert await client.execute("ECHO", "over tls") == b"over tls"
    finally:
        await client.aclose()
    untrusted = PipelinedRedis(f"rediss://127.0.0.1:{tls_port}/0")  # the system CAs do not know ours
    with pytest.raises(rexc.ConnectionError):
        await untrusted.execute("PING")


async def test_a_protocol_error_drops_the_connection_and_the_next_command_reconnects(
    caplog: pytest.LogCaptureFixture,
) -> None:
    connections = 0

    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await reader.read(100)
        writer.write(b"?not RESP\r\n")
        await writer.drain()
        await reader.read()  # until the client hangs up
        writer.close()

    server = await asyncio.start_server(garbage, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = PipelinedRedis(f"redis://127.0.0.1:{port}")
    try:
        results = await asyncio.gather(client.execute("PING"), client.execute("PING"), return_exceptions=True)
        assert [type(r) for r in results] == [rexc.ConnectionError] * 2, results
        with pytest.raises(rexc.ConnectionError, match="Protocol error"):
            await client.execute("PING")
        assert connections == 2
        assert not caplog.records  # handled, not left to asyncio's "Fatal error" handler
    finally:
        await client.aclose()
        server.close()
        await server.wait_closed()


async def test_aclose_fails_pending_commands_and_is_final(client: PipelinedRedis) -> None:
    await client.execute("PING")
    pending = queued_tasks(client, [("ECHO", str(i)) for i in range(10)])
    await asyncio.sleep(0)  # queued, not yet answered
    await client.aclose()
    results = await asyncio.gather(*pending, return_exceptions=True)
    assert all(type(r) is rexc.ConnectionError for r in results), results
    await client.aclose()  # idempotent
    with pytest.raises(rexc.ConnectionError, match="closed"):
        await client.execute("PING")


async def test_an_unencodable_argument_fails_alone(client: PipelinedRedis) -> None:
    conn_id = await client.execute("CLIENT", "ID")
    with pytest.raises(TypeError):
        await client.execute("SET", "k", None)
    assert await client.execute("CLIENT", "ID") == conn_id


def _certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A throw-away CA and a server certificate for 127.0.0.1 signed by it."""
    ca, ca_key = directory / "ca.crt", directory / "ca.key"
    cert, key, csr = directory / "server.crt", directory / "server.key", directory / "server.csr"
    ext = directory / "ext.cnf"
    ext.write_text("subjectAltName=IP:127.0.0.1\n")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    for args in (
        ["req", "-x509", *ec, "-keyout", ca_key, "-out", ca, "-days", "1", "-subj", "/CN=test CA"],
        ["req", *ec, "-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1"],
        ["x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-out", cert,
         "-days", "1", "-extfile", ext],
    ):
        subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True)
    return ca, cert, key
