"""Tools a language-model agent offers its model, whatever runs them.

A ``Tool`` is one function the model may call: a server-side Python function, a
tool of an MCP server, or an expert agent (another A2A agent the model delegates
to). A ``Toolset`` lists tools at run time (an MCP server's). Client-side tools
are not ``Tool``s: the server never runs them, it hands the call to the client
through ``input-required`` (see docs/agents.md).

Names follow OpenAI's rule (``[a-zA-Z0-9_-]{1,64}``); an implementation whose
source allows other names maps them and keeps the map.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from a2a_server.agents.usage import Usage
from a2a_server.stores.base import Scope


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """What the model is told about a tool."""

    name: str
    description: str
    parameters: Mapping[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})

    def to_openai(self) -> dict[str, Any]:
        """The Chat Completions ``tools`` entry."""
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description,
                         "parameters": dict(self.parameters)},
        }


@dataclass(frozen=True, slots=True)
class ToolContext:
    """Who calls a tool, for what task, and until when.

    ``authorization`` is the caller's own ``Authorization`` header value, for MCP
    servers whose authorization type is ``inherit``; it is never logged.
    ``deadline`` is a ``loop.time()`` value past which the call must give up.
    """

    scope: Scope
    task_id: str
    context_id: str
    deadline: float | None = None
    authorization: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class ToolResult:
    """What a call gave back: the text fed to the model, and what it cost (experts).

    ``is_error`` results are fed back to the model too (it may recover); they never
    fail the task by themselves.
    """

    output: str
    is_error: bool = False
    usage: Usage | None = None
    model_used: str | None = None
    provider: str | None = None
    reference_task_id: str | None = None  # an expert's task, linked from the caller's


class Tool(Protocol):
    """One callable tool."""

    @property
    def spec(self) -> ToolSpec:
        """Name, description and JSON Schema of the arguments."""
        ...

    async def call(self, arguments: dict[str, Any], context: ToolContext) -> ToolResult:
        """Run the tool; failures are returned as ``is_error`` results, not raised."""
        ...


class Toolset(Protocol):
    """Tools discovered at run time (an MCP server's), open for the length of a run."""

    async def list_tools(self, context: ToolContext) -> list[Tool]:
        """The tools offered now; an unreachable source gives none (and logs why)."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


class McpServerConfig(BaseModel):
    """An MCP server an LLM agent (or expert) may call: Corti's ``mcpServers`` item.

    Secrets are never in the file: ``token_env`` names the environment variable
    holding a bearer token; ``oauth2.0`` reads the client's id and secret from
    ``client_id_env`` / ``client_secret_env`` and fetches a token from
    ``token_url`` (client credentials, ``authorization_scope``). ``inherit``
    forwards the caller's own ``Authorization`` header. ``stdio`` servers are a
    command on this machine: operator-defined only (agent files), never
    accepted from a tenant through the API.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str = Field(min_length=1, max_length=64)
    description: str = ""
    transport_type: Literal["streamable_http", "stdio"] = Field(
        default="streamable_http", alias="transportType")
    url: str | None = None
    authorization_type: Literal["none", "bearer", "inherit", "oauth2.0"] = Field(
        default="none", alias="authorizationType")
    authorization_scope: str | None = Field(default=None, alias="authorizationScope")
    token_env: str | None = None
    token_url: str | None = None
    client_id_env: str | None = None
    client_secret_env: str | None = None
    command: str | None = None
    args: list[str] = []
    timeout_seconds: float = Field(default=30.0, gt=0)
