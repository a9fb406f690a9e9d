"""Agent definitions: ``agent_cards/<id>.json`` (an A2A 1.0 AgentCard) plus a binding.

The binding lives beside the card as ``agent_cards/<id>.binding.yaml``::

    executor: echo                      # a built-in kind, or "package.module:Class"
    options: {slow_seconds: 3}          # keyword arguments for the executor

Built-in kinds: ``echo``, ``conformance``, ``llm`` and ``remote`` (docs/agents.md,
docs/agents-remote-mcp.md). An executor that defines ``bind(services, agent_id)``
is given the stores, the tenants, the other agents and the outbound-URL policy
once it is built (``agents/services.py``).
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from a2a.server.agent_execution import AgentExecutor
from a2a.types.a2a_pb2 import AgentCard
from google.protobuf.json_format import ParseDict, ParseError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from a2a_server.field_errors import first_problem
from a2a_server.tenancy.config import ConfigError

if TYPE_CHECKING:
    from a2a_server.tenancy.config import TenantConfig

_AGENT_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


def _builtin(path: str) -> Callable[..., AgentExecutor]:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


BUILTIN_EXECUTORS: dict[str, str] = {
    "echo": "a2a_server.agents.echo:EchoAgentExecutor",
    "conformance": "a2a_server.agents.conformance:ConformanceAgentExecutor",
    "llm": "a2a_server.agents.llm:LlmAgentExecutor",
    "remote": "a2a_server.agents.remote:RemoteAgentExecutor",
}


class Binding(BaseModel):
    """How an agent's requests are executed."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    executor: str = Field(min_length=1)
    options: dict[str, Any] = {}


@dataclass(frozen=True)
class AgentDefinition:
    """A validated agent: its id, its card template and a factory for its executor."""

    agent_id: str
    card: AgentCard
    binding: Binding
    make_executor: Callable[[], AgentExecutor] = field(repr=False)
    # The tenant that created it through the API (Corti's agent CRUD); None: an agent file.
    owner: str | None = None
    # Deleted by its owner: takes no new messages; its tasks stay readable (retention).
    deleted: bool = False

    def enabled_for(self, tenant: TenantConfig) -> bool:
        """Whether ``tenant`` may use this agent: its own created agent, or a file agent its
        tenant file enables (a created agent is its owner's only, whatever ``agents:`` says)."""
        if self.owner is not None:
            return self.owner == tenant.name
        return tenant.allows_agent(self.agent_id)


class AgentRegistry:
    """The agents this deployment can serve (enabled per tenant in tenant files)."""

    def __init__(self, agents: list[AgentDefinition]) -> None:
        self._agents = {agent.agent_id: agent for agent in agents}

    def get(self, agent_id: str) -> AgentDefinition | None:
        """The agent called ``agent_id``, if defined."""
        return self._agents.get(agent_id)

    def ids(self) -> list[str]:
        """Every agent id, sorted."""
        return sorted(self._agents)

    def __iter__(self) -> Iterator[AgentDefinition]:
        return iter(self._agents[agent_id] for agent_id in self.ids())


def _load_card(path: Path) -> AgentCard:
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: an AgentCard must be a JSON object")
    card = AgentCard()
    try:
        ParseDict(raw, card)
    except ParseError as exc:
        raise ConfigError(f"{path}: not an A2A 1.0 AgentCard: {exc}") from exc
    for required in ("name", "description", "version"):
        if not getattr(card, required):
            raise ConfigError(f"{path}: field '{required}': required")
    if not card.skills:
        raise ConfigError(f"{path}: field 'skills': at least one skill is required")
    for index, skill in enumerate(card.skills):
        if not skill.id or not skill.name:
            raise ConfigError(f"{path}: field 'skills.{index}': id and name are required")
    if not card.default_input_modes or not card.default_output_modes:
        raise ConfigError(f"{path}: field 'defaultInputModes/defaultOutputModes': required")
    return card


def _load_binding(path: Path) -> Binding:
    if not path.exists():
        raise ConfigError(f"{path}: missing; every card needs a binding (executor: echo | ...)")
    try:
        raw = yaml.safe_load(path.read_text())
        return Binding.model_validate(raw)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    except ValidationError as exc:
        where, message = first_problem(exc, "(file)")
        raise ConfigError(f"{path}: field '{where}': {message}") from exc


def _executor_factory(path: Path, binding: Binding) -> Callable[[], AgentExecutor]:
    target = BUILTIN_EXECUTORS.get(binding.executor, binding.executor)
    if ":" not in target:
        raise ConfigError(
            f"{path}: field 'executor': '{binding.executor}' is neither a built-in "
            f"({', '.join(sorted(BUILTIN_EXECUTORS))}) nor 'package.module:Class'"
        )
    try:
        cls = _builtin(target)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"{path}: field 'executor': cannot import '{target}': {exc}") from exc
    try:
        cls(**binding.options)  # fail at start-up, not on the first request
    except (TypeError, ValueError) as exc:
        text = str(exc)  # an executor's own message may already name the field
        where = "" if text.startswith("field '") else "field 'options': "
        raise ConfigError(f"{path}: {where}{text}") from exc
    return lambda: cls(**binding.options)


def load_agents(directory: Path) -> AgentRegistry:
    """Load and validate every ``<id>.json`` card and its binding in ``directory``."""
    if not directory.is_dir():
        raise ConfigError(f"{directory}: agents directory does not exist")
    agents: list[AgentDefinition] = []
    for card_path in sorted(directory.glob("*.json")):
        agent_id = card_path.stem
        if not _AGENT_ID.match(agent_id):
            raise ConfigError(f"{card_path}: the file name must be a valid agent id ([a-z0-9_-])")
        card = _load_card(card_path)
        binding_path = card_path.with_name(f"{agent_id}.binding.yaml")
        binding = _load_binding(binding_path)
        agents.append(
            AgentDefinition(agent_id, card, binding, _executor_factory(binding_path, binding))
        )
    if not agents:
        raise ConfigError(f"{directory}: no agent cards (*.json)")
    return AgentRegistry(agents)
