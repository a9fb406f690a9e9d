"""The options of an ``executor: llm`` binding (validated at start-up, errors name the field)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from a2a_server.agents.tools import McpServerConfig
from a2a_server.agents.usage import DEFAULT_CURRENCY, Usage
from a2a_server.field_errors import first_problem

_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_FUNCTION = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Price(_Strict):
    """What a model costs, per million tokens (in the binding's currency)."""

    input: float = Field(ge=0)
    output: float = Field(ge=0)


class ClientTool(_Strict):
    """A tool the client runs: the model's call goes to the client through input-required."""

    name: str
    description: str = ""
    parameters: dict[str, Any] = Field(
        default_factory=lambda: {"type": "object", "properties": {}})

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _TOOL_NAME.match(value):
            raise ValueError("a tool name is 1-64 characters of [a-zA-Z0-9_-]")
        return value


class ServerTool(_Strict):
    """A Python function the server runs for the model (``package.module:function``)."""

    function: str
    name: str | None = None
    description: str | None = None
    parameters: dict[str, Any] | None = None

    @field_validator("function")
    @classmethod
    def _function(cls, value: str) -> str:
        if not _FUNCTION.match(value):
            raise ValueError("expected 'package.module:function'")
        return value

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is not None and not _TOOL_NAME.match(value):
            raise ValueError("a tool name is 1-64 characters of [a-zA-Z0-9_-]")
        return value


class ProviderOptions(_Strict):
    """How to reach one OpenAI-compatible model (shared by agents and inline experts)."""

    base_url: str = "https://api.openai.com/v1"
    model: str = Field(min_length=1)
    api_key_env: str | None = None
    provider: str | None = None
    system_prompt: str = ""
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_output_tokens: int | None = Field(default=None, gt=0)
    timeout_seconds: float = Field(default=120.0, gt=0, le=3600)
    retries: int = Field(default=2, ge=0, le=10)
    prices: dict[str, Price] = {}
    currency: str = Field(default=DEFAULT_CURRENCY, pattern=r"^[A-Z]{3}$")

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("expected an http(s) URL such as http://localhost:11434/v1")
        return value.rstrip("/")

    @field_validator("api_key_env")
    @classmethod
    def _env(cls, value: str | None) -> str | None:
        if value is not None and not _ENV_NAME.match(value):
            raise ValueError("the NAME of an environment variable (the key itself never goes here)")
        return value

    @property
    def provider_name(self) -> str:
        """The provider's name in metadata and messages (default: the base URL's host)."""
        return self.provider or (urlsplit(self.base_url).hostname or "provider")

    def cost(self, model: str, input_tokens: int, output_tokens: int) -> Usage:
        """Usage of one call, priced if the model (or the configured one) has a price."""
        price = self.prices.get(model) or self.prices.get(self.model)
        cost = None
        if price is not None:
            cost = (input_tokens * price.input + output_tokens * price.output) / 1_000_000
        return Usage(input_tokens, output_tokens, cost, self.currency)


class InlineExpertOptions(ProviderOptions):
    """An inline expert: its own model and system prompt and, like Corti's experts, MCP servers."""

    mcp_servers: list[McpServerConfig] = []


class ExpertOptions(_Strict):
    """An expert the model may delegate to: another agent of the tenant, or defined inline."""

    name: str
    description: str = ""
    agent: str | None = None  # a reference: the agent id, same tenant
    # A reference only: appended to the referenced LLM agent's system prompt for its task.
    system_prompt: str | None = None
    llm: InlineExpertOptions | None = None  # inline: its own model, system prompt, MCP servers

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not re.match(r"^[a-zA-Z0-9_-]{1,50}$", value):
            raise ValueError("an expert name is 1-50 characters of [a-zA-Z0-9_-]")
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> ExpertOptions:
        if (self.agent is None) == (self.llm is None):
            raise ValueError("an expert has exactly one of 'agent' (a reference) or 'llm' (inline)")
        if self.system_prompt is not None and self.llm is not None:
            raise ValueError("'system_prompt' is for a reference ('agent'); an inline expert "
                             "has its own in 'llm.system_prompt'")
        return self


class LlmOptions(ProviderOptions):
    """Every option of ``executor: llm``; see docs/agents.md."""

    context_messages: int | None = Field(default=50, ge=0, le=10_000)
    context_tokens: int | None = Field(default=None, gt=0)
    max_tool_rounds: int = Field(default=8, ge=1, le=100)
    client_tools: list[ClientTool] = []
    server_tools: list[str | ServerTool] = []
    experts: list[ExpertOptions] = []
    mcp_servers: list[McpServerConfig] = []

    @field_validator("server_tools")
    @classmethod
    def _server_tools(cls, value: list[str | ServerTool]) -> list[str | ServerTool]:
        for item in value:
            if isinstance(item, str) and not _FUNCTION.match(item):
                raise ValueError(f"'{item}': expected 'package.module:function'")
        return value


def validation_message(exc: Exception) -> str:
    """A pydantic error as ``field 'a.b': message`` (the first error)."""
    if not isinstance(exc, ValidationError):
        return str(exc)
    where, message = first_problem(exc, "(options)")
    return f"field 'options.{where}': {message}"
