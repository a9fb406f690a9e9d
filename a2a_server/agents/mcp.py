"""An MCP server's tools as a ``Toolset``, through the official ``mcp`` package (2.x).

How an LLM agent (or an expert) uses one, for the length of a run::

    toolset = open_mcp_toolset(config)          # config: tools.McpServerConfig
    try:
        tools = await toolset.list_tools(ctx)    # ctx: tools.ToolContext; [] if unreachable
        specs = [tool.spec.to_openai() for tool in tools]
        ...
        result = await tool.call(arguments, ctx) # a ToolResult, never raises
    finally:
        await toolset.aclose()

Nothing connects before the first ``list_tools``: an ``inherit`` server needs the
caller's ``Authorization`` (``ToolContext.authorization``). One MCP session then
serves every call of the run; it is owned by a background task, so the toolset
may be used and closed from any task.

- **Transports**: ``streamable_http`` (``url``) and ``stdio`` (``command`` +
  ``args``, run on this machine with only the ``mcp`` package's safe default
  environment: operator-defined servers only).
- **Auth** (``authorization_type``): ``none``; ``bearer`` (the token is read from
  the environment variable ``token_env``); ``inherit`` (the caller's own
  ``Authorization`` header is forwarded); ``oauth2.0`` (client credentials: id and
  secret from ``client_id_env`` / ``client_secret_env``, posted to ``token_url``
  with ``authorization_scope``; the token is cached process-wide until shortly
  before it expires, see ``a2a_server.agents.oauth``). Tokens are never logged.
- **Names**: MCP allows ``[A-Za-z0-9._-]{1,128}``, OpenAI ``[a-zA-Z0-9_-]{1,64}``:
  names are mapped (``.`` and other characters become ``_``, long names are cut
  and given a hash suffix, collisions a counter), optionally prefixed
  (``name_prefix``), and each tool keeps its MCP name for the call.
- **Failures never raise**: a server that is down, refuses the credentials, hangs
  or is misconfigured gives no tools (one warning per toolset); a call that
  times out, fails in transport or is answered with an error gives an
  ``is_error`` ``ToolResult`` whose text names the server and what happened. A
  call that timed out leaves the session usable.
- **Trust**: ``url_policy`` (the push-webhook policy, ``push_url_allowlist``) judges
  the URLs of servers a tenant configured; ``allow_stdio=False`` refuses stdio
  servers for such configurations.
- **Bounds**: connecting and every call are bounded by ``timeout_seconds`` and by
  ``ToolContext.deadline``; at most ``MAX_TOOLS`` tools are listed, descriptions
  are cut at ``MAX_DESCRIPTION_CHARS``, a tool whose schema is larger than
  ``MAX_SCHEMA_BYTES`` is skipped, and a result longer than ``max_result_chars``
  is truncated with a note saying so.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import re
from collections.abc import Mapping
from typing import Any, cast

import httpx2
import mcp.types as mcp_types
from mcp import Client, MCPError, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from opentelemetry.trace import StatusCode

from a2a_server.agents.oauth import DEFAULT_TOKEN_CACHE, OAuthTokenCache, TokenError
from a2a_server.agents.tools import McpServerConfig, Tool, ToolContext, ToolResult, ToolSpec
from a2a_server.observability.tracing import inject_into, outbound_span
from a2a_server.push_policy import PushUrlPolicy

logger = logging.getLogger(__name__)

MAX_TOOLS = 128
MAX_PAGES = 16
MAX_DESCRIPTION_CHARS = 2048
MAX_SCHEMA_BYTES = 64 * 1024
DEFAULT_MAX_RESULT_CHARS = 32_000
_CLOSE_TIMEOUT_S = 5.0
_HTTP_READ_TIMEOUT_S = 300.0
_OPENAI_NAME = re.compile(r"[^a-zA-Z0-9_-]")


class McpUnavailable(Exception):
    """The toolset cannot reach its server (the message says why; no secrets in it)."""


def _leaf(exc: BaseException) -> BaseException:
    """The first non-group exception in a (nested) ``ExceptionGroup``."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def _describe(exc: BaseException) -> str:
    """A short, secret-free account of a transport or protocol failure."""
    leaf = _leaf(exc)
    if isinstance(leaf, McpUnavailable | TokenError):
        return str(leaf)
    if isinstance(leaf, TimeoutError | httpx2.TimeoutException):
        return "timed out"
    if isinstance(leaf, httpx2.ConnectError):
        return "connection refused or unreachable"
    if isinstance(leaf, httpx2.HTTPStatusError):
        return f"HTTP {leaf.response.status_code}"
    if isinstance(leaf, MCPError):
        return f"MCP error {leaf.error.code}: {leaf.error.message}"[:300]
    if isinstance(leaf, httpx2.HTTPError | OSError):
        return f"{type(leaf).__name__}"
    return f"unexpected {type(leaf).__name__}"


def openai_names(mcp_names: list[str], prefix: str | None = None) -> dict[str, str]:
    """Map MCP tool names to distinct OpenAI-safe names: ``{openai_name: mcp_name}``."""
    mapping: dict[str, str] = {}
    for name in mcp_names:
        base = _OPENAI_NAME.sub("_", f"{prefix}_{name}" if prefix else name) or "tool"
        if len(base) > 64:
            base = f"{base[:55]}_{hashlib.sha256(name.encode()).hexdigest()[:8]}"
        candidate, counter = base, 2
        while candidate in mapping:
            suffix = f"_{counter}"
            candidate, counter = f"{base[:64 - len(suffix)]}{suffix}", counter + 1
        mapping[candidate] = name
    return mapping


def result_text(result: mcp_types.CallToolResult, limit: int) -> str:
    """The text a model is shown for a tool result (structured content when no text)."""
    pieces: list[str] = []
    for block in result.content:
        if isinstance(block, mcp_types.TextContent):
            pieces.append(block.text)
        elif isinstance(block, mcp_types.ImageContent | mcp_types.AudioContent):
            pieces.append(f"[{block.type}: {block.mime_type}, {len(block.data)} base64 characters]")
        elif isinstance(block, mcp_types.EmbeddedResource):
            resource = block.resource
            if isinstance(resource, mcp_types.TextResourceContents):
                pieces.append(resource.text)
            else:
                pieces.append(f"[resource {resource.uri}: binary]")
        elif isinstance(block, mcp_types.ResourceLink):
            pieces.append(f"[resource link: {block.uri}]")
    if not pieces and result.structured_content is not None:
        pieces.append(json.dumps(result.structured_content, ensure_ascii=False, default=str))
    text = "\n".join(pieces)
    if len(text) > limit:
        text = f"{text[:limit]}\n[truncated: {limit} of {len(text)} characters shown]"
    return text


# -- the toolset -------------------------------------------------------------------------


def _remaining(context: ToolContext, limit: float) -> float:
    """Seconds left for a step: ``limit``, cut by the context's deadline (at least 0)."""
    if context.deadline is None:
        return limit
    return max(0.0, min(limit, context.deadline - asyncio.get_running_loop().time()))


class McpTool:
    """One tool of an MCP server, under its OpenAI-safe name."""

    def __init__(self, toolset: McpToolset, spec: ToolSpec, mcp_name: str) -> None:
        self._toolset = toolset
        self._spec = spec
        self.mcp_name = mcp_name

    @property
    def spec(self) -> ToolSpec:
        """Name (OpenAI-safe), description and argument schema."""
        return self._spec

    async def call(self, arguments: dict[str, Any], context: ToolContext) -> ToolResult:
        """Call the tool on its server; every failure is an ``is_error`` result."""
        return await self._toolset.call(self.mcp_name, arguments, context)


class McpToolset:
    """The tools of one MCP server for one run (see the module docstring)."""

    def __init__(
        self,
        config: McpServerConfig,
        *,
        environ: Mapping[str, str] | None = None,
        token_cache: OAuthTokenCache | None = None,
        name_prefix: str | None = None,
        max_result_chars: int = DEFAULT_MAX_RESULT_CHARS,
        url_policy: PushUrlPolicy | None = None,
        allow_stdio: bool = True,
    ) -> None:
        self.config = config
        self._policy = url_policy
        self._allow_stdio = allow_stdio
        self._environ = os.environ if environ is None else environ
        self._tokens = token_cache or DEFAULT_TOKEN_CACHE
        self._prefix = name_prefix
        self._max_result_chars = max_result_chars
        self._client: Client | None = None
        self._owner: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._tools: list[Tool] | None = None
        self._failure: str | None = None
        self._lock = asyncio.Lock()

    @property
    def name(self) -> str:
        """The server's configured name."""
        return self.config.name

    async def list_tools(self, context: ToolContext) -> list[Tool]:
        """The server's tools (listed once per toolset); none if it cannot be reached."""
        async with self._lock:
            if self._tools is not None:
                return self._tools
            if self._failure is not None:
                return []
            try:
                self._tools = await self._discover(context)
            except Exception as exc:  # noqa: BLE001 - any failure means "no tools", logged once
                self._failure = _describe(exc)
                logger.warning("MCP server '%s' offers no tools: %s", self.name, self._failure)
                self._forget_token()
                await self._shutdown()
                return []
            return self._tools

    async def _discover(self, context: ToolContext) -> list[Tool]:
        budget = _remaining(context, self.config.timeout_seconds)
        async with asyncio.timeout(budget):
            client = await self._connect(context, budget)
            listed: list[mcp_types.Tool] = []
            cursor: str | None = None
            for _ in range(MAX_PAGES):
                page = await client.list_tools(cursor=cursor)
                listed.extend(page.tools)
                cursor = page.next_cursor
                if cursor is None or len(listed) >= MAX_TOOLS:
                    break
        if len(listed) > MAX_TOOLS:
            logger.warning("MCP server '%s' lists %d tools; the first %d are offered",
                           self.name, len(listed), MAX_TOOLS)
            listed = listed[:MAX_TOOLS]
        kept = [tool for tool in listed if self._schema_fits(tool)]
        names = openai_names([tool.name for tool in kept], self._prefix)
        by_mcp_name = {tool.name: tool for tool in kept}
        tools: list[Tool] = []
        for openai_name, mcp_name in names.items():
            tool = by_mcp_name[mcp_name]
            description = (tool.description or tool.title or mcp_name)[:MAX_DESCRIPTION_CHARS]
            spec = ToolSpec(openai_name, description, tool.input_schema)
            tools.append(McpTool(self, spec, mcp_name))
        return tools

    def _schema_fits(self, tool: mcp_types.Tool) -> bool:
        size = len(json.dumps(tool.input_schema, default=str))
        if size > MAX_SCHEMA_BYTES:
            logger.warning("MCP server '%s': tool '%s' skipped, its schema has %d bytes",
                           self.name, tool.name[:128], size)
            return False
        return True

    def _forget_token(self) -> None:
        """After a failed connect, an OAuth token the server may have refused is fetched anew."""
        config = self.config
        client_id = self._environ.get(config.client_id_env or "")
        if config.authorization_type == "oauth2.0" and config.token_url and client_id:
            self._tokens.forget(config.token_url, client_id, config.authorization_scope)

    async def _headers(self, context: ToolContext, time_limit: float) -> dict[str, str]:
        config = self.config
        kind = config.authorization_type
        if kind == "none":
            return {}
        if kind == "bearer":
            token = self._environ.get(config.token_env or "")
            if not token:
                raise McpUnavailable(f"bearer token variable '{config.token_env}' is not set")
            return {"Authorization": f"Bearer {token}"}
        if kind == "inherit":
            if not context.authorization:
                raise McpUnavailable("authorization 'inherit' but the caller sent no Authorization")
            return {"Authorization": context.authorization}
        client_id = self._environ.get(config.client_id_env or "")
        secret = self._environ.get(config.client_secret_env or "")
        if not config.token_url or not client_id or not secret:
            raise McpUnavailable("oauth2.0 needs token_url and the variables named by "
                                 "client_id_env and client_secret_env")
        token = await self._tokens.token(config.token_url, client_id, secret,
                                         config.authorization_scope, time_limit=time_limit)
        return {"Authorization": f"Bearer {token}"}

    async def _check_url(self, url: str) -> None:
        if self._policy is not None and not await self._policy.for_delivery(url):
            raise McpUnavailable(f"{url} is not allowed: its host is not public and not in "
                                 f"push_url_allowlist")

    async def _connect(self, context: ToolContext, budget: float) -> Client:
        config = self.config
        server: Any
        if config.transport_type == "stdio":
            if not self._allow_stdio:
                raise McpUnavailable("stdio servers are not allowed here (operator-defined only)")
            if not config.command:
                raise McpUnavailable("stdio transport needs a command")
            server = StdioServerParameters(command=config.command, args=list(config.args))
            http = None
        else:
            if not config.url:
                raise McpUnavailable("streamable_http transport needs a url")
            await self._check_url(config.url)
            if config.authorization_type == "oauth2.0" and config.token_url:
                await self._check_url(config.token_url)
            headers = await self._headers(context, budget)
            # Calls are bounded by the session (read_timeout_seconds) and asyncio.timeout; a
            # short HTTP read timeout would also end the idle server-to-client stream.
            http = httpx2.AsyncClient(headers=headers,
                                      timeout=httpx2.Timeout(budget, read=_HTTP_READ_TIMEOUT_S))
            server = streamable_http_client(config.url, http_client=http)
        client = Client(server, read_timeout_seconds=config.timeout_seconds, cache=None)
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._owner = asyncio.create_task(self._own(client, http, ready),
                                          name=f"mcp:{config.name}")
        await ready  # raises what the connection raised
        self._client = client
        return client

    async def _own(self, client: Client, http: httpx2.AsyncClient | None,
                   ready: asyncio.Future[None]) -> None:
        """Hold the session open in one task (anyio scopes must exit where they entered)."""
        try:
            async with contextlib.AsyncExitStack() as stack:
                if http is not None:
                    await stack.enter_async_context(http)
                await stack.enter_async_context(client)
                ready.set_result(None)
                await self._stop.wait()
        except BaseException as exc:  # handed to the waiting connect, or logged
            if not ready.done():
                ready.set_exception(McpUnavailable(_describe(exc)))
            elif not isinstance(exc, asyncio.CancelledError):
                logger.warning("MCP server '%s': session ended: %s", self.name, _describe(exc))
            if isinstance(exc, asyncio.CancelledError):
                raise
        finally:
            self._client = None
        if not ready.done():
            ready.set_exception(McpUnavailable("session closed"))

    async def call(self, mcp_name: str, arguments: dict[str, Any],
                   context: ToolContext) -> ToolResult:
        """Call ``mcp_name``; failures and timeouts are ``is_error`` results naming the server."""
        where = f"MCP server '{self.name}', tool '{mcp_name}'"
        client = self._client
        if client is None:
            return ToolResult(f"{where}: not connected", is_error=True)
        timeout = _remaining(context, self.config.timeout_seconds)
        if timeout <= 0:
            return ToolResult(f"{where}: no time left before the task's deadline", is_error=True)
        with outbound_span(f"tools/call {mcp_name}", {
                "mcp.method.name": "tools/call", "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": mcp_name, "a2a.mcp.server": self.name}) as span:
            meta: dict[str, str] | None = None
            if span is not None:  # MCP carries W3C trace context in the request's _meta
                meta = {}
                inject_into(meta, span)
            result_or_error = await self._call_tool(client, mcp_name, arguments, timeout, where,
                                                    meta)
            if span is not None and (isinstance(result_or_error, ToolResult)
                                     or result_or_error.is_error):
                span.set_status(StatusCode.ERROR)
                span.set_attribute("error.type", "tool_error")
        if isinstance(result_or_error, ToolResult):
            return result_or_error
        result = result_or_error
        text = result_text(result, self._max_result_chars)
        if result.is_error:
            return ToolResult(f"{where} answered with an error: {text}", is_error=True)
        return ToolResult(text)

    async def _call_tool(self, client: Client, mcp_name: str, arguments: dict[str, Any],
                         seconds: float, where: str, meta: dict[str, str] | None
                         ) -> mcp_types.CallToolResult | ToolResult:
        """The tool's result within ``seconds``, or a failed call as an ``is_error`` result."""
        timeout = seconds
        try:
            async with asyncio.timeout(timeout + 1.0):  # the session's own timeout fires first
                return await client.call_tool(mcp_name, arguments, read_timeout_seconds=timeout,
                                              meta=cast(Any, meta))
        except MCPError as exc:
            if "timed out" in exc.error.message:
                return ToolResult(f"{where}: timed out after {timeout:g} s", is_error=True)
            return ToolResult(f"{where}: {_describe(exc)}", is_error=True)
        except TimeoutError:
            return ToolResult(f"{where}: timed out after {timeout:g} s", is_error=True)
        except Exception as exc:  # noqa: BLE001 - a transport failure fails this call only
            return ToolResult(f"{where}: {_describe(exc)}", is_error=True)

    async def _shutdown(self) -> None:
        self._stop.set()
        owner, self._owner = self._owner, None
        if owner is None:
            return
        try:
            async with asyncio.timeout(_CLOSE_TIMEOUT_S):
                await asyncio.shield(owner)
        except TimeoutError:
            owner.cancel()
            with contextlib.suppress(BaseException):
                await owner
        except Exception:  # noqa: BLE001 - already logged by the owner
            pass

    async def aclose(self) -> None:
        """Close the session (and the stdio process); idempotent."""
        await self._shutdown()


def open_mcp_toolset(
    config: McpServerConfig,
    *,
    environ: Mapping[str, str] | None = None,
    token_cache: OAuthTokenCache | None = None,
    name_prefix: str | None = None,
    max_result_chars: int = DEFAULT_MAX_RESULT_CHARS,
    url_policy: PushUrlPolicy | None = None,
    allow_stdio: bool = True,
) -> McpToolset:
    """A toolset for ``config``; it connects on its first ``list_tools``.

    Args:
        config: the server (transport, URL or command, authorization, timeout).
        environ: where ``token_env`` / ``client_id_env`` / ``client_secret_env`` are read
            (``os.environ`` by default).
        token_cache: OAuth tokens shared across runs (a process-wide cache by default).
        name_prefix: prepended (``<prefix>_<name>``) to every tool name, to keep the tools
            of several servers apart.
        max_result_chars: a longer tool result is truncated, with a note.
        url_policy: when given, the server's URL (and token URL) must pass it, as push
            webhooks must (``AgentServices.url_policy``): pass it for servers a tenant
            configured, so they cannot reach the deployment's internal network.
        allow_stdio: False refuses ``stdio`` servers (they run a command here): for
            configurations that came from a tenant rather than the operator.
    """
    return McpToolset(config, environ=environ, token_cache=token_cache,
                      name_prefix=name_prefix, max_result_chars=max_result_chars,
                      url_policy=url_policy, allow_stdio=allow_stdio)
