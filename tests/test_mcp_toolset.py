"""The MCP toolset (a2a_server/agents/mcp.py) against a real MCP server process (tests/mcp_server.py)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from a2a_server.agents.mcp import McpToolset, open_mcp_toolset, openai_names
from a2a_server.agents.oauth import OAuthTokenCache
from a2a_server.agents.tools import McpServerConfig, Tool, ToolContext
from a2a_server.push_policy import PushUrlPolicy
from a2a_server.stores.base import Scope
from tests.conftest import REPO, free_port
from tests.mcp_process import CLIENT_ID, CLIENT_SECRET, TOKEN, McpServerProcess


@pytest.fixture(scope="module")
def mcp_server() -> Iterator[McpServerProcess]:
    server = McpServerProcess()
    yield server
    server.stop()


ENV = {"MCP_TOKEN": TOKEN, "MCP_CLIENT_ID": CLIENT_ID, "MCP_CLIENT_SECRET": CLIENT_SECRET,
       "MCP_BAD_SECRET": "wrong"}


def context(**overrides: Any) -> ToolContext:
    return ToolContext(Scope("demo", "llm"), "task-1", "ctx-1", **overrides)


def bearer(server: McpServerProcess, **overrides: Any) -> McpServerConfig:
    values: dict[str, Any] = {"name": "tools", "url": server.url, "authorizationType": "bearer",
                              "token_env": "MCP_TOKEN", "timeout_seconds": 10}
    values.update(overrides)
    return McpServerConfig.model_validate(values)


@contextlib.asynccontextmanager
async def opened(config: McpServerConfig, **options: Any) -> Any:
    toolset = open_mcp_toolset(config, environ=ENV, **options)
    try:
        yield toolset
    finally:
        await toolset.aclose()


async def tools_of(toolset: McpToolset, ctx: ToolContext | None = None) -> dict[str, Tool]:
    return {tool.spec.name: tool for tool in await toolset.list_tools(ctx or context())}


async def test_list_tools_maps_names_and_passes_schemas(mcp_server: McpServerProcess) -> None:
    async with opened(bearer(mcp_server)) as toolset:
        tools = await tools_of(toolset)
        assert set(tools) == {"add", "slow", "fail", "big", "traceparent", "dotted_name"}
        assert tools["dotted_name"].mcp_name == "dotted.name"  # type: ignore[attr-defined]
        add = tools["add"].spec
        assert add.description == "Add two integers."
        assert add.parameters["required"] == ["a", "b"]
        assert add.to_openai()["function"]["name"] == "add"
        assert (await tools["dotted_name"].call({}, context())).output == "dotted ok"


async def test_call_tool_structured_result(mcp_server: McpServerProcess) -> None:
    async with opened(bearer(mcp_server)) as toolset:
        result = await (await tools_of(toolset))["add"].call({"a": 2, "b": 3}, context())
        assert not result.is_error
        assert result.output == "5"


async def test_a_tool_error_is_an_error_result_naming_the_server(mcp_server: McpServerProcess) -> None:
    async with opened(bearer(mcp_server)) as toolset:
        tools = await tools_of(toolset)
        failed = await tools["fail"].call({"reason": "boom"}, context())
        assert failed.is_error
        assert "MCP server 'tools', tool 'fail'" in failed.output
        bad_args = await tools["add"].call({"a": "not a number"}, context())
        assert bad_args.is_error


async def test_a_slow_call_times_out_and_the_session_stays_usable(mcp_server: McpServerProcess) -> None:
    async with opened(bearer(mcp_server, timeout_seconds=1)) as toolset:
        tools = await tools_of(toolset)
        slow = await tools["slow"].call({"seconds": 5}, context())
        assert slow.is_error
        assert "timed out" in slow.output
        after = await tools["add"].call({"a": 1, "b": 1}, context())
        assert (after.is_error, after.output) == (False, "2")


async def test_the_task_deadline_bounds_a_call(mcp_server: McpServerProcess) -> None:
    async with opened(bearer(mcp_server, timeout_seconds=30)) as toolset:
        tools = await tools_of(toolset)
        deadline = asyncio.get_running_loop().time() + 1.0
        result = await tools["slow"].call({"seconds": 10}, context(deadline=deadline))
        assert result.is_error
        assert "timed out" in result.output
        past = await tools["add"].call({"a": 1, "b": 1}, context(deadline=deadline - 5))
        assert past.is_error
        assert "deadline" in past.output


async def test_a_huge_result_is_truncated_with_a_note(mcp_server: McpServerProcess) -> None:
    async with opened(bearer(mcp_server), max_result_chars=1000) as toolset:
        result = await (await tools_of(toolset))["big"].call({"size": 50_000}, context())
        assert not result.is_error
        assert result.output.startswith("x" * 1000)
        assert result.output.endswith("[truncated: 1000 of 50000 characters shown]")


async def test_a_server_that_is_down_gives_no_tools_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = McpServerConfig(name="gone", url=f"http://127.0.0.1:{free_port()}/mcp")
    caplog.set_level(logging.WARNING, logger="a2a_server.agents.mcp")
    async with opened(config) as toolset:
        assert await toolset.list_tools(context()) == []
        assert await toolset.list_tools(context()) == []
    warnings = [r.getMessage() for r in caplog.records]
    assert warnings == ["MCP server 'gone' offers no tools: connection refused or unreachable"]


async def test_a_server_that_never_answers_gives_no_tools_within_the_timeout() -> None:
    with socket.socket() as silent:  # accepts connections (backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        config = McpServerConfig(name="mute", url=f"http://127.0.0.1:{silent.getsockname()[1]}/mcp",
                                 timeout_seconds=1)
        async with opened(config) as toolset:
            assert await toolset.list_tools(context()) == []


async def test_a_bad_or_missing_token_gives_no_tools_and_is_never_logged(
    mcp_server: McpServerProcess, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    async with opened(bearer(mcp_server, token_env="MCP_BAD_SECRET")) as toolset:
        assert await toolset.list_tools(context()) == []
    async with opened(bearer(mcp_server, token_env="UNSET_VARIABLE")) as toolset:
        assert await toolset.list_tools(context()) == []
    assert "bearer token variable 'UNSET_VARIABLE' is not set" in caplog.text
    assert TOKEN not in caplog.text and "wrong" not in caplog.text


async def test_inherit_forwards_the_callers_authorization(mcp_server: McpServerProcess) -> None:
    config = McpServerConfig(name="tools", url=mcp_server.url, authorizationType="inherit")
    async with opened(config) as toolset:
        tools = await tools_of(toolset, context(authorization=f"Bearer {TOKEN}"))
        assert (await tools["add"].call({"a": 4, "b": 5}, context())).output == "9"
    async with opened(config) as toolset:
        assert await toolset.list_tools(context(authorization="Bearer someone-else")) == []
    async with opened(config) as toolset:
        assert await toolset.list_tools(context()) == []


async def test_oauth_client_credentials_token_is_fetched_once_and_cached(
    mcp_server: McpServerProcess,
) -> None:
    config = McpServerConfig(
        name="tools", url=mcp_server.url, authorizationType="oauth2.0", authorizationScope="tools",
        token_url=mcp_server.token_url, client_id_env="MCP_CLIENT_ID",
        client_secret_env="MCP_CLIENT_SECRET")
    cache = OAuthTokenCache()
    before = mcp_server.tokens_issued()
    for _ in range(2):
        async with opened(config, token_cache=cache) as toolset:
            tools = await tools_of(toolset)
            assert (await tools["add"].call({"a": 1, "b": 2}, context())).output == "3"
    assert mcp_server.tokens_issued() == before + 1
    refused = config.model_copy(update={"client_secret_env": "MCP_BAD_SECRET"})
    async with opened(refused, token_cache=OAuthTokenCache()) as toolset:
        assert await toolset.list_tools(context()) == []


async def test_stdio_transport_runs_an_operator_defined_server() -> None:
    config = McpServerConfig(name="local", transportType="stdio", command=sys.executable,
                             args=[str(REPO / "tests" / "mcp_server.py"), "--stdio"], timeout_seconds=20)
    async with opened(config) as toolset:
        tools = await tools_of(toolset)
        assert (await tools["add"].call({"a": 20, "b": 22}, context())).output == "42"


async def test_a_server_that_dies_mid_run_fails_the_call_not_the_run() -> None:
    server = McpServerProcess()
    try:
        async with opened(bearer(server)) as toolset:
            tools = await tools_of(toolset)
            assert (await tools["add"].call({"a": 1, "b": 2}, context())).output == "3"
            server.stop()
            result = await tools["add"].call({"a": 1, "b": 2}, context())
            assert result.is_error
            assert result.output.startswith("MCP server 'tools', tool 'add': ")
    finally:
        server.stop()


async def test_the_url_policy_refuses_internal_servers_unless_allowlisted(
    mcp_server: McpServerProcess, caplog: pytest.LogCaptureFixture,
) -> None:
    async with opened(bearer(mcp_server), url_policy=PushUrlPolicy()) as toolset:
        assert await toolset.list_tools(context()) == []
    assert "not in push_url_allowlist" in caplog.text
    allowed = PushUrlPolicy.from_allowlist(["127.0.0.0/8"])
    async with opened(bearer(mcp_server), url_policy=allowed) as toolset:
        assert "add" in await tools_of(toolset)


async def test_stdio_can_be_refused_for_tenant_configurations() -> None:
    config = McpServerConfig(name="local", transportType="stdio", command=sys.executable,
                             args=["-m", "tests.mcp_server", "--stdio"])
    async with opened(config, allow_stdio=False) as toolset:
        assert await toolset.list_tools(context()) == []


def test_openai_names_are_safe_distinct_and_bounded() -> None:
    long = "a" * 100
    names = openai_names(["a.b", "a_b", long, "x y", "ok-name"], prefix="srv")
    assert list(names.values()) == ["a.b", "a_b", long, "x y", "ok-name"]
    assert list(names)[:2] == ["srv_a_b", "srv_a_b_2"]
    assert all(len(n) <= 64 and n.replace("_", "").replace("-", "").isalnum() for n in names)
    assert len(set(names)) == 5
