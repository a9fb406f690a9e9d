"""Tenant configuration: one YAML file per tenant in the tenants directory.

A file looks like::

    name: demo
    agents: ["*"]                 # or a list of agent ids
    clients:                      # OAuth2 client-credentials clients
      - client_id: demo-client
        secret_sha256: <hex sha256 of the secret>
    api_keys:
      - name: local
        sha256: <hex sha256 of the key>
    retention_seconds: null       # TTL of finished tasks and contexts (Redis); null = keep
    default_agent: echo           # optional: the agent Shannon's and agentlin's task APIs use
    limits:                       # optional quotas (tenancy/limits.py, docs/tenants.md)
      requests_per_minute: 600

Secrets are only ever stored as SHA-256 digests. ``a2a-server hash-secret`` prints one.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from a2a_server.field_errors import first_problem
from a2a_server.tenancy.limits import LimitsConfig

_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
logger = logging.getLogger(__name__)
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class ConfigError(Exception):
    """A tenant or agent file is malformed or inconsistent; names the file and field."""


def sha256_hex(secret: str) -> str:
    """The digest under which a secret is stored."""
    return hashlib.sha256(secret.encode("utf-8", "surrogateescape")).hexdigest()


def _check_digest(value: str) -> str:
    value = value.lower()
    if not _HEX64.match(value):
        raise ValueError("must be a 64-character hex SHA-256 digest (never the secret itself)")
    return value


class ClientConfig(BaseModel):
    """An OAuth2 client allowed to obtain tokens for the tenant."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    client_id: str = Field(min_length=1, max_length=128)
    secret_sha256: str
    _v = field_validator("secret_sha256")(_check_digest)


class ApiKeyConfig(BaseModel):
    """A static API key; only its digest is kept."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(min_length=1, max_length=128)
    sha256: str
    _v = field_validator("sha256")(_check_digest)


class TenantConfig(BaseModel):
    """Everything the server knows about one tenant."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    agents: list[str] | Literal["*"] = "*"
    clients: list[ClientConfig] = []
    api_keys: list[ApiKeyConfig] = []
    retention_seconds: int | None = Field(default=None, gt=0)
    default_agent: str | None = None
    limits: LimitsConfig | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("must be lowercase letters, digits and '-', at most 63 characters")
        return value

    @field_validator("agents", mode="before")
    @classmethod
    def _agents(cls, value: object) -> object:
        if value == ["*"]:
            return "*"
        return value

    def allows_agent(self, agent_id: str) -> bool:
        """Whether ``agent_id`` is enabled for this tenant."""
        return self.agents == "*" or agent_id in self.agents

    def check_client(self, client_id: str, secret: str) -> bool:
        """Constant-time check of client credentials."""
        digest = sha256_hex(secret)
        wanted = client_id.encode("utf-8", "surrogateescape")
        ok = False
        for client in self.clients:
            # Compare every entry so timing does not reveal which client ids exist.
            # Bytes: compare_digest refuses str with non-ASCII characters (a TypeError).
            ok |= hmac.compare_digest(client.client_id.encode(), wanted) & hmac.compare_digest(
                client.secret_sha256, digest
            )
        return ok


@dataclass(frozen=True)
class ApiKeyOwner:
    """Who an API key belongs to."""

    tenant: str
    key_name: str


class TenantSnapshot:
    """One generation of the tenant files: the tenants, and an index of API-key digests.

    Immutable once built. API keys that were found are remembered per snapshot
    (bounded, least recently used out first), so a repeated key costs a dictionary
    lookup instead of a SHA-256. That cache is keyed by the key as sent: any digest
    would cost what it saves. It lives in this process's memory only, is never logged or
    written anywhere, and dies with the snapshot: a key removed from a tenant file stops
    working as soon as the next snapshot is in use. Keys that were not found are not
    remembered.
    """

    def __init__(self, tenants: Iterable[TenantConfig], key_cache_size: int = 10_000) -> None:
        """Index ``tenants``; remember up to ``key_cache_size`` valid keys (0 = none)."""
        self._tenants: dict[str, TenantConfig] = {}
        self._keys: dict[str, ApiKeyOwner] = {}
        self._clients: set[tuple[str, str]] = set()
        self._key_cache_size = key_cache_size
        self._found: OrderedDict[str, ApiKeyOwner] = OrderedDict()  # least recently used first
        for tenant in tenants:
            self._tenants[tenant.name] = tenant
            for key in tenant.api_keys:
                self._keys[key.sha256] = ApiKeyOwner(tenant.name, key.name)
            for client in tenant.clients:
                self._clients.add((tenant.name, client.client_id))

    def get(self, name: str) -> TenantConfig | None:
        """The tenant called ``name``, if configured."""
        return self._tenants.get(name)

    def has_client(self, tenant: str, client_id: str) -> bool:
        """Whether ``tenant`` still lists the OAuth client ``client_id``."""
        return (tenant, client_id) in self._clients

    def owner_of_key(self, api_key: str) -> ApiKeyOwner | None:
        """The tenant and key name an API key belongs to, if any."""
        if not self._key_cache_size:
            return self._keys.get(sha256_hex(api_key))
        found = self._found  # no lock: the event loop's thread only, as TokenIssuer.verify
        owner = found.get(api_key)
        if owner is not None:
            found.move_to_end(api_key)
            return owner
        owner = self._keys.get(sha256_hex(api_key))
        if owner is not None:
            found[api_key] = owner
            found.move_to_end(api_key)
            if len(found) > self._key_cache_size:
                found.popitem(last=False)
        return owner

    def cached_keys(self) -> int:
        """How many valid API keys this snapshot remembers."""
        return len(self._found)

    def holds(self, api_key: str) -> bool:
        """Whether ``api_key`` would be answered from the cache."""
        return api_key in self._found

    def __iter__(self) -> Iterator[TenantConfig]:
        return iter(self._tenants.values())

    def __len__(self) -> int:
        return len(self._tenants)


class TenantRegistry:
    """The live tenants: the snapshot in use, swapped whole when the files are reloaded.

    Everything that needs tenants (the authenticator, the gate, the stores' retention,
    the agents' services) holds this one object; ``replace`` swaps the snapshot in one
    assignment, so a reader sees either the old files or the new ones, never a mix. A
    reader that asks more than one question (the authenticator) takes ``current`` once.
    The key cache is the snapshot's: a reload starts it empty (see ``TenantSnapshot``).
    """

    def __init__(self, tenants: Iterable[TenantConfig], key_cache_size: int = 10_000) -> None:
        """The registry of ``tenants``; up to ``key_cache_size`` valid keys cached (0 = none)."""
        self._current = TenantSnapshot(tenants, key_cache_size)
        self.generation = 1  # 1 = as loaded at start-up; +1 per successful reload

    @property
    def current(self) -> TenantSnapshot:
        """The snapshot in use now."""
        return self._current

    def replace(self, other: TenantRegistry) -> None:
        """Use ``other``'s tenants from now on (an atomic swap)."""
        self._current = other.current
        self.generation += 1

    def get(self, name: str) -> TenantConfig | None:
        """The tenant called ``name``, if configured."""
        return self._current.get(name)

    def owner_of_key(self, api_key: str) -> ApiKeyOwner | None:
        """The tenant and key name an API key belongs to, if any."""
        return self._current.owner_of_key(api_key)

    def cached_keys(self) -> int:
        """How many valid API keys the current snapshot remembers."""
        return self._current.cached_keys()

    def holds(self, api_key: str) -> bool:
        """Whether ``api_key`` would be answered from the cache."""
        return self._current.holds(api_key)

    def __iter__(self) -> Iterator[TenantConfig]:
        return iter(self._current)

    def __len__(self) -> int:
        return len(self._current)


def _describe(error: ValidationError) -> str:
    field, message = first_problem(error, "(file)")
    return f"field '{field}': {message}"


def _check_agents(path: Path, tenant: TenantConfig, agents: set[str]) -> None:
    if tenant.agents != "*":
        for index, agent in enumerate(tenant.agents):
            if agent not in agents:
                raise ConfigError(f"{path}: field 'agents.{index}': unknown agent '{agent}'")
    default = tenant.default_agent
    if default is not None and (default not in agents or not tenant.allows_agent(default)):
        raise ConfigError(
            f"{path}: field 'default_agent': '{default}' is not an agent enabled for this tenant"
        )


def _warn_if_implicit(path: Path, raw: dict[str, object], tenant: TenantConfig) -> None:
    """Loadable, but probably not what was meant: say so at start-up (not refused: the
    defaults are documented)."""
    if "agents" not in raw:
        logger.warning("%s: no 'agents' list: every agent is enabled for tenant '%s' "
                       "(write agents: [\"*\"] to say so, or list the agent ids)", path, tenant.name)
    if not tenant.clients and not tenant.api_keys:
        logger.warning("%s: no 'clients' and no 'api_keys': nobody can authenticate as "
                       "tenant '%s'", path, tenant.name)


def _one_line(error: yaml.YAMLError) -> str:
    """A YAML error as one line: where and what (PyYAML's own text spans several lines)."""
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None)
    if mark is not None and problem:
        return f"line {mark.line + 1}, column {mark.column + 1}: {problem}"
    return " ".join(str(error).split())


def tenant_files(directory: Path) -> list[Path]:
    """The tenant files of ``directory`` (``*.yaml`` / ``*.yml``), in name order."""
    return sorted(directory.glob("*.y*ml"))


def read_tenant_file(path: Path, known_agents: set[str]) -> tuple[TenantConfig, dict[str, object]]:
    """One tenant file, parsed and checked against the agents (and its raw mapping).

    Raises:
        ConfigError: naming the file and field of the problem.
    """
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {_one_line(exc)}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot be read: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: must be a mapping with at least 'name'")
    try:
        tenant = TenantConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {_describe(exc)}") from exc
    if tenant.name != path.stem:
        raise ConfigError(f"{path}: field 'name': '{tenant.name}' must match the file name")
    _check_agents(path, tenant, known_agents)
    return tenant, raw


def check_tenant_files(directory: Path, known_agents: Iterable[str],
                       warn: bool = True) -> tuple[list[TenantConfig], list[str]]:
    """Every tenant file of ``directory`` checked as start-up checks it.

    Returns the tenants that loaded and one problem per file that did not (each naming
    the file and field), plus the problems between files (an API key used twice).
    ``warn`` logs the loadable-but-probably-unintended cases.
    """
    agents = set(known_agents)
    if not directory.is_dir():
        return [], [f"{directory}: tenants directory does not exist"]
    tenants: list[TenantConfig] = []
    problems: list[str] = []
    seen_keys: dict[str, str] = {}
    for path in tenant_files(directory):
        try:
            tenant, raw = read_tenant_file(path, agents)
        except ConfigError as exc:
            problems.append(str(exc))
            continue
        duplicate = False
        for index, key in enumerate(tenant.api_keys):
            if key.sha256 in seen_keys:
                problems.append(f"{path}: field 'api_keys.{index}.sha256': already used by tenant "
                                f"'{seen_keys[key.sha256]}'")
                duplicate = True
            seen_keys.setdefault(key.sha256, tenant.name)
        if duplicate:
            continue
        if warn:
            _warn_if_implicit(path, raw, tenant)
        tenants.append(tenant)
    if not tenants and not problems:
        problems.append(f"{directory}: no tenant files (*.yaml)")
    return tenants, problems


def load_tenants(directory: Path, known_agents: Iterable[str],
                 key_cache_size: int = 10_000) -> TenantRegistry:
    """Load and cross-check every ``*.yaml`` tenant file in ``directory``.

    ``key_cache_size`` bounds the registry's cache of valid API keys (0 = none).

    Raises:
        ConfigError: naming the file and field of the first problem found.
    """
    tenants, problems = check_tenant_files(directory, known_agents)
    if problems:
        raise ConfigError(problems[0])
    return TenantRegistry(tenants, key_cache_size)
