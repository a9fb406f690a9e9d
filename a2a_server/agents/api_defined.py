"""Agents tenants define through the API (Corti's ``POST /agents``): the operator's policy,
the request shapes, validation, and the definition a replica serves.

The operator decides what tenants may create in one YAML file (``tenant_agents_file``;
docs/tenants.md, "Agents through the API"): which kinds (``llm``, ``remote``), the model
every tenant LLM agent uses (the provider part of an ``executor: llm`` binding: tenants
never choose a base URL, a key or a model), and the limits. A tenant's definition can name
a system prompt, experts (references to agents it may use, or inline experts with their
own system prompt and MCP servers) and, for a remote agent, the remote's card URL; never
Python (no server tools, no executor by module path) and never a ``stdio`` MCP server (a
command on this machine). Every URL it names must pass the outbound-URL policy
(``push_url_allowlist``) when it is written, and again whenever the server calls it.

Corti's inline experts are a model with their own system prompt and MCP servers; here each
is an inline expert (``llm`` with the operator's model, the expert's prompt and its MCP
servers), run as a task of the agent like any inline expert (docs/agents.md).
"""

from __future__ import annotations

import logging
import os
import re
import uuid
from pathlib import Path
from typing import Any, Literal

import httpx
import yaml
from a2a.types.a2a_pb2 import AgentCapabilities, AgentCard, AgentSkill
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from a2a_server.agents.llm_options import LlmOptions
from a2a_server.agents.registry import AgentDefinition, Binding
from a2a_server.field_errors import first_problem
from a2a_server.push_policy import PushUrlPolicy
from a2a_server.stores.agents import StoredAgent
from a2a_server.tenancy.config import ConfigError

logger = logging.getLogger(__name__)

AGENT_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_TENANT_OWNED = ("system_prompt", "experts", "mcp_servers")
_URL_MAX = 2048


class InvalidAgent(Exception):
    """A definition a tenant may not have: ``field`` names the JSON member (400)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"field '{field}': {message}")
        self.field = field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TenantAgentPolicy(_Strict):
    """The operator's ``tenant_agents_file``: what tenants may create, and the limits."""

    kinds: list[Literal["llm", "remote"]] = ["llm"]
    llm: dict[str, Any] | None = None  # the provider part of an executor: llm binding
    default_system_prompt: str = "You are a helpful assistant."
    max_agents_per_tenant: int = Field(default=100, ge=1, le=10_000)
    max_name_chars: int = Field(default=200, ge=1, le=10_000)
    max_description_chars: int = Field(default=2_000, ge=1, le=100_000)
    max_system_prompt_chars: int = Field(default=20_000, ge=1, le=1_000_000)
    max_experts: int = Field(default=16, ge=0, le=256)
    max_mcp_servers: int = Field(default=8, ge=0, le=256)
    ephemeral_ttl_seconds: int = Field(default=86_400, ge=60)
    # How long a deleted agent's tasks stay readable when its tenant keeps tasks forever
    # (no retention_seconds); otherwise the tenant's retention_seconds.
    deleted_retention_seconds: int = Field(default=7 * 86_400, ge=60)
    cache_seconds: float = Field(default=30.0, gt=0, le=3_600)
    max_cached_agents: int = Field(default=10_000, ge=1)  # runtimes per replica (LRU, idle)

    @field_validator("llm")
    @classmethod
    def _llm(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is None:
            return None
        owned = [key for key in _TENANT_OWNED if key in value]
        if owned:
            raise ValueError(f"'{owned[0]}' comes from each tenant's definition, not from here")
        LlmOptions.model_validate(value)  # raises ValidationError naming the field
        return value

    @property
    def enabled(self) -> bool:
        """Whether tenants may create agents at all."""
        return bool(self.kinds) and ("llm" not in self.kinds or self.llm is not None)


DISABLED = TenantAgentPolicy(kinds=[])


def load_policy(path: Path | None) -> TenantAgentPolicy:
    """The operator's file, validated (``None``: tenants cannot create agents).

    Raises:
        ConfigError: the file is missing or malformed (names the field).
    """
    if path is None:
        return DISABLED
    try:
        raw = yaml.safe_load(path.read_text())
        policy = TenantAgentPolicy.model_validate(raw or {})
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    except ValidationError as exc:
        where, message = first_problem(exc, "(file)")
        raise ConfigError(f"{path}: field '{where}': {message}") from exc
    if "llm" in policy.kinds and policy.llm is None:
        raise ConfigError(f"{path}: field 'llm': required when kinds includes llm (the model "
                          "tenant LLM agents use)")
    key_env = (policy.llm or {}).get("api_key_env") if "llm" in policy.kinds else None
    if key_env and not os.environ.get(str(key_env)):
        # as for an operator agent's binding: said once at start-up, not only when a
        # tenant's first agent fails
        logger.warning("%s: llm.api_key_env names %s, which is not set: the LLM agents "
                       "tenants create will fail with provider_not_configured", path, key_env)
    return policy


# -- Corti's request shapes ---------------------------------------------------------------


class McpServerIn(_Strict):
    """``AgentsCreateMcpServer``."""

    name: str = Field(pattern=r"^[a-zA-Z0-9_-]{1,64}$")
    description: str | None = Field(default=None, max_length=2_000)
    transportType: Literal["streamable_http", "stdio", "sse"] = "streamable_http"
    authorizationType: Literal["none", "bearer", "inherit", "oauth2.0"] = "none"
    authorizationScope: str | None = Field(default=None, max_length=1_000)
    url: str = Field(min_length=1, max_length=_URL_MAX)
    redirectUrl: str | None = Field(default=None, max_length=_URL_MAX)
    token: str | None = Field(default=None, max_length=8_192, repr=False)


class ExpertIn(_Strict):
    """``AgentsCreateExpert`` (``type: new``) or ``AgentsCreateExpertReference``."""

    type: Literal["new", "reference", "expert"] | None = None
    id: str | None = Field(default=None, max_length=64)
    name: str | None = Field(default=None, min_length=1)
    description: str | None = None
    systemPrompt: str | None = None
    mcpServers: list[McpServerIn] | None = None

    @property
    def inline(self) -> bool:
        """An inline expert (else a reference to an agent)."""
        if self.type is not None:
            return self.type != "reference"
        return self.id is None and self.description is not None


class RemoteIn(_Strict):
    """Our extension: a remote A2A agent, by its card URL."""

    cardUrl: str = Field(min_length=1, max_length=_URL_MAX)


class AgentCreate(_Strict):
    """``AgentsCreateAgent`` (plus ``remote``)."""

    name: str = Field(min_length=1)
    description: str
    systemPrompt: str | None = None
    agentType: Literal["expert", "orchestrator", "interviewing-expert"] | None = None
    experts: list[ExpertIn] | None = None
    remote: RemoteIn | None = None
    ephemeral: bool | None = None  # Corti sends it as a query parameter; accepted here too


class AgentUpdate(_Strict):
    """``AgentsUpdateAgent``: only the members given change."""

    name: str | None = Field(default=None, min_length=1)
    description: str | None = None
    systemPrompt: str | None = None
    experts: list[ExpertIn] | None = None
    remote: RemoteIn | None = None


def parse(model: type[BaseModel], body: Any) -> Any:
    """``body`` as ``model``; the first error names its field.

    Raises:
        InvalidAgent: the body does not fit.
    """
    if not isinstance(body, dict):
        raise InvalidAgent("(body)", "expected a JSON object")
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise InvalidAgent(*first_problem(exc, "(body)")) from None


# -- validation against the policy, and the stored spec ----------------------------------


# A name is one line shown in cards, lists, consoles and logs: no control characters, line
# separators or bidirectional overrides (they can disguise it, or forge a log line). A
# description or prompt may have lines and tabs, but no other control character.
_NOT_IN_NAMES = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NOT_IN_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def _limit(field: str, value: str | None, most: int, *, name: bool = False) -> None:
    if value is None:
        return
    if len(value) > most:
        raise InvalidAgent(field, f"at most {most} characters (got {len(value)})")
    found = (_NOT_IN_NAMES if name else _NOT_IN_TEXT).search(value)
    if found:
        kinds = ("control, line-separator and direction-override characters" if name
                 else "control characters other than tab and line breaks")
        raise InvalidAgent(field, f"must not contain U+{ord(found.group()):04X} (at "
                           f"{found.start()}): {kinds} are refused")


def _parse_url(field: str, url: str) -> None:
    """An http(s) URL an HTTP client can send to (``httpx.URL`` judges), with a port in range
    and no credentials (they would be stored and shown wherever the URL is: agent objects,
    task messages, logs)."""
    if not url.startswith(("http://", "https://")):
        raise InvalidAgent(field, "must be an http:// or https:// URL")
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise InvalidAgent(field, f"not a valid URL: {exc}") from None
    if parsed.port is not None and not 0 < parsed.port < 65_536:
        raise InvalidAgent(field, f"not a valid URL: port {parsed.port} is out of range")
    if parsed.userinfo:
        raise InvalidAgent(field, "credentials in the URL (user:password@host) are not "
                           "supported: they would be stored and shown wherever the URL is")


async def _check_url(policy: PushUrlPolicy, field: str, url: str) -> None:
    """A URL the server will call: ``_parse_url``, and a host the outbound-URL policy allows."""
    _parse_url(field, url)
    if not await policy.for_registration(url):
        raise InvalidAgent(field, "this URL is not allowed: its host is not public (loopback, "
                           "private, link-local...) and not in the server's push_url_allowlist")


async def _mcp_spec(server: McpServerIn, field: str, url_policy: PushUrlPolicy) -> dict[str, Any]:
    if server.transportType == "stdio":
        raise InvalidAgent(f"{field}.transportType", "'stdio' MCP servers run a command on the "
                           "server's machine: only the operator can define them (agent files)")
    if server.transportType == "sse":
        raise InvalidAgent(f"{field}.transportType", "'sse' is not supported; use "
                           "'streamable_http'")
    if server.authorizationType in ("bearer", "oauth2.0") or server.token is not None:
        where = "token" if server.token is not None else "authorizationType"
        raise InvalidAgent(f"{field}.{where}", "MCP servers defined through the API support "
                           "authorizationType 'none' and 'inherit' (the caller's own credentials); "
                           "stored secrets are not supported")
    _limit(f"{field}.description", server.description, 2_000)
    _limit(f"{field}.authorizationScope", server.authorizationScope, 1_000, name=True)
    await _check_url(url_policy, f"{field}.url", server.url)
    spec: dict[str, Any] = {"id": str(uuid.uuid4()), "name": server.name,
                            "transportType": server.transportType,
                            "authorizationType": server.authorizationType, "url": server.url}
    if server.description is not None:
        spec["description"] = server.description
    if server.authorizationScope is not None:
        spec["authorizationScope"] = server.authorizationScope
    if server.redirectUrl is not None:  # the client's, never called by the server
        _parse_url(f"{field}.redirectUrl", server.redirectUrl)
        spec["redirectUrl"] = server.redirectUrl
    return spec


async def experts_spec(experts: list[ExpertIn], policy: TenantAgentPolicy,
                       url_policy: PushUrlPolicy, visible: dict[str, str]) -> list[dict[str, Any]]:
    """The stored experts (Corti's ``AgentsExpert`` / ``AgentsExpertReference`` shapes).

    ``visible`` maps the agents the tenant may reference, id -> name.

    Raises:
        InvalidAgent: too many, an unknown reference, a refused MCP server...
    """
    if len(experts) > policy.max_experts:
        raise InvalidAgent("experts", f"at most {policy.max_experts} experts (got {len(experts)})")
    out: list[dict[str, Any]] = []
    servers = 0
    by_name = {name: agent_id for agent_id, name in visible.items()}
    for index, expert in enumerate(experts):
        field = f"experts.{index}"
        _limit(f"{field}.name", expert.name, policy.max_name_chars, name=True)
        _limit(f"{field}.description", expert.description, policy.max_description_chars)
        _limit(f"{field}.systemPrompt", expert.systemPrompt, policy.max_system_prompt_chars)
        if not expert.inline:
            if expert.mcpServers:
                raise InvalidAgent(f"{field}.mcpServers", "a reference uses the agent's own tools")
            agent_id = expert.id or by_name.get(expert.name or "")
            if agent_id is None or agent_id not in visible:
                raise InvalidAgent(f"{field}.id" if expert.id else f"{field}.name",
                                   "no such agent for this tenant (see GET /agents and "
                                   "GET /agents/registry/experts)")
            item: dict[str, Any] = {"type": "reference", "id": agent_id, "name": visible[agent_id]}
            if expert.systemPrompt:
                item["systemPrompt"] = expert.systemPrompt
            out.append(item)
            continue
        if "llm" not in policy.kinds:
            raise InvalidAgent(f"{field}.type", "inline experts need the llm kind, which this "
                               "server does not offer to tenants")
        if not expert.name:
            raise InvalidAgent(f"{field}.name", "required")
        if expert.description is None:
            raise InvalidAgent(f"{field}.description", "required")
        mcp = expert.mcpServers or []
        servers += len(mcp)
        if servers > policy.max_mcp_servers:
            raise InvalidAgent(f"{field}.mcpServers",
                               f"at most {policy.max_mcp_servers} MCP servers per agent")
        out.append({"type": "expert", "id": str(uuid.uuid4()), "name": expert.name,
                    "description": expert.description,
                    "systemPrompt": expert.systemPrompt or "",
                    "mcpServers": [await _mcp_spec(s, f"{field}.mcpServers.{n}", url_policy)
                                   for n, s in enumerate(mcp)]})
    names = [e["name"] for e in out]
    for index, name in enumerate(names):
        if name in names[:index]:
            raise InvalidAgent(f"experts.{index}.name", f"'{name}' is used by another expert")
    return out


async def build_spec(body: AgentCreate | AgentUpdate, base: dict[str, Any] | None,
                     policy: TenantAgentPolicy, url_policy: PushUrlPolicy,
                     visible: dict[str, str]) -> dict[str, Any]:
    """The stored spec: ``base`` (PATCH: the current one) with ``body``'s members applied.

    Raises:
        InvalidAgent: the definition is not one this tenant may have.
    """
    spec = dict(base or {})
    given = body.model_dump(exclude_unset=True)
    if "name" in given and given["name"] is None:  # PATCH {"name": null}
        raise InvalidAgent("name", "an agent keeps a name: give a new one or leave it out")
    for key in ("name", "description", "systemPrompt"):
        if key in given:
            spec[key] = given[key] if given[key] is not None else ""
    if isinstance(body, AgentCreate) and body.agentType is not None:
        spec["agentType"] = body.agentType
    _limit("name", spec.get("name"), policy.max_name_chars, name=True)
    _limit("description", spec.get("description"), policy.max_description_chars)
    _limit("systemPrompt", spec.get("systemPrompt"), policy.max_system_prompt_chars)
    if body.remote is not None:
        if "remote" not in policy.kinds:
            raise InvalidAgent("remote", "this server does not let tenants define remote agents")
        await _check_url(url_policy, "remote.cardUrl", body.remote.cardUrl)
        spec["remote"] = {"cardUrl": body.remote.cardUrl}
    if body.experts is not None:
        spec["experts"] = await experts_spec(body.experts, policy, url_policy, visible)
    spec.setdefault("experts", [])
    spec.setdefault("systemPrompt", "")
    if "remote" in spec:
        if spec["experts"]:
            raise InvalidAgent("experts", "a remote agent has no experts (the remote has its own)")
    elif "llm" not in policy.kinds:
        raise InvalidAgent("remote", "this server lets tenants define remote agents only: give "
                           "remote.cardUrl")
    return spec


# -- what a replica serves ----------------------------------------------------------------


def _expert_tool_name(name: str, taken: set[str]) -> str:
    base = re.sub(r"[^a-zA-Z0-9_-]", "_", name)[:44] or "expert"
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base[:40]}_{n}", n + 1
    taken.add(candidate)
    return candidate


def binding_of(spec: dict[str, Any], policy: TenantAgentPolicy) -> Binding:
    """The executor binding of a stored spec (``llm`` or ``remote``)."""
    if "remote" in spec:
        return Binding(executor="remote", options={"card_url": spec["remote"]["cardUrl"]})
    llm = dict(policy.llm or {})
    taken: set[str] = set()
    experts: list[dict[str, Any]] = []
    for expert in spec.get("experts", []):
        name = _expert_tool_name(expert["name"], taken)
        if expert["type"] == "reference":
            reference = {"name": name, "description": f"Ask the agent '{expert['name']}'.",
                         "agent": expert["id"]}
            if expert.get("systemPrompt"):
                reference["system_prompt"] = expert["systemPrompt"]
            experts.append(reference)
            continue
        experts.append({"name": name, "description": expert["description"],
                        "llm": {**{k: v for k, v in llm.items()
                                   if k in _PROVIDER_KEYS},
                                "system_prompt": expert.get("systemPrompt") or "",
                                "mcp_servers": [_mcp_binding(server)
                                                for server in expert.get("mcpServers", [])]}})
    options = {**llm, "system_prompt": spec.get("systemPrompt") or policy.default_system_prompt,
               "experts": experts}
    return Binding(executor="llm", options=options)


def _mcp_binding(server: dict[str, Any]) -> dict[str, Any]:
    """A stored MCP server (Corti's shape) as an inline expert's ``mcp_servers`` entry."""
    entry = {"name": server["name"], "url": server["url"], "transportType": "streamable_http",
             "authorizationType": server["authorizationType"]}
    for key in ("description", "authorizationScope"):
        if server.get(key):
            entry[key] = server[key]
    return entry


_PROVIDER_KEYS = frozenset({"base_url", "model", "api_key_env", "provider", "temperature",
                            "max_output_tokens", "timeout_seconds", "retries", "prices",
                            "currency"})


def card_of(stored: StoredAgent) -> AgentCard:
    """The card template of a created agent (interfaces and security are filled per request)."""
    spec = stored.spec
    card = AgentCard(name=spec["name"], description=spec.get("description") or spec["name"],
                     version=str(stored.version),
                     capabilities=AgentCapabilities(streaming=True))
    card.default_input_modes.append("text/plain")
    card.default_output_modes.append("text/plain")
    card.skills.append(AgentSkill(id="chat", name=spec["name"],
                                  description=spec.get("description") or spec["name"],
                                  tags=["remote" if "remote" in spec else "llm"]))
    return card


def definition_of(stored: StoredAgent, policy: TenantAgentPolicy) -> AgentDefinition:
    """What a replica serves for ``stored``: an ``AgentDefinition`` owned by its tenant.

    Raises:
        ValueError: the spec no longer fits (for example the operator's model was removed).
    """
    from a2a_server.agents.llm import LlmAgentExecutor
    from a2a_server.agents.remote import RemoteAgentExecutor

    binding = binding_of(stored.spec, policy)
    executor_class: Any = LlmAgentExecutor if binding.executor == "llm" else RemoteAgentExecutor
    executor_class(**binding.options)  # fail here, not on the first request

    def make() -> Any:
        executor = executor_class(**binding.options)
        executor.tenant_defined = True  # MCP servers: URL policy, no stdio
        return executor

    return AgentDefinition(stored.agent_id, card_of(stored), binding, make, owner=stored.tenant,
                           deleted=stored.deleted)


def agent_object(stored: StoredAgent) -> dict[str, Any]:
    """Corti's ``AgentsAgent``: ``{id, name, description, systemPrompt, experts}``."""
    spec = stored.spec
    experts = [{**e, "mcpServers": [{k: v for k, v in s.items() if k != "description"}
                                    for s in e["mcpServers"]]} if "mcpServers" in e else e
               for e in spec.get("experts", [])]  # Corti's AgentsMcpServer has no description
    out: dict[str, Any] = {"id": stored.agent_id, "name": spec["name"],
                           "description": spec.get("description", ""),
                           "systemPrompt": spec.get("systemPrompt", ""), "experts": experts}
    if "agentType" in spec:
        out["agentType"] = spec["agentType"]
    if "remote" in spec:
        out["remote"] = spec["remote"]
    if stored.ephemeral:
        out["ephemeral"] = True
    return out


def created_expert(stored: StoredAgent) -> dict[str, Any]:
    """A created agent as an entry of ``GET /agents/registry/experts`` (Corti's registry
    shape): usable as a reference expert. Its own MCP servers are none (an inline expert's
    belong to that expert)."""
    spec = stored.spec
    return {"id": stored.agent_id, "name": spec["name"],
            "description": spec.get("description", ""), "mcpServers": []}
