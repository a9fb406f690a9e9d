"""Process settings, read once (CLI or test) and passed into ``create_app``.

Every field can be set from the environment with the ``A2A_SERVER_`` prefix,
for example ``A2A_SERVER_REDIS_URL=redis://localhost:6379/0``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from a2a_server.push_policy import parse_allowlist

_REPO_ROOT = Path(__file__).resolve().parent.parent

_PLACEHOLDER_KEYS = {"", "changeme", "secret", "dev", "test"}


class Settings(BaseSettings):
    """Configuration of one server process."""

    model_config = SettingsConfigDict(env_prefix="A2A_SERVER_", extra="ignore", frozen=True)

    host: str = Field(default="127.0.0.1", description="Address to listen on.")
    port: int = Field(default=8080, ge=0, le=65535, description="TCP port to listen on.")
    public_url: str | None = Field(
        default=None,
        description="Base URL clients use to reach this server; defaults to http://host:port.",
    )
    grpc_port: int | None = Field(
        default=None, ge=0, le=65535,
        description="Serve A2A over gRPC (lf.a2a.v1.A2AService) for every agent on this port; "
        "unset = off (cards then declare no GRPC interface).",
    )
    grpc_host: str | None = Field(default=None, description="gRPC listen address; default: host.")
    grpc_public_address: str | None = Field(
        default=None,
        description="host:port clients use for gRPC (the cards' GRPC interface URL); defaults "
        "to public_url's host name and grpc_port.",
    )
    grpc_tls_cert_file: Path | None = Field(
        default=None, description="PEM certificate chain: serve gRPC over TLS (with the key)."
    )
    grpc_tls_key_file: Path | None = Field(default=None, description="PEM private key for gRPC TLS.")
    tenants_dir: Path = Field(default=_REPO_ROOT / "tenants",
                              description="Directory of tenant files (*.yaml).")
    agents_dir: Path = Field(default=_REPO_ROOT / "agent_cards",
                             description="Directory of agent cards (*.json) and bindings.")
    tenant_agents_file: Path | None = Field(
        default=None,
        description="YAML file saying what tenants may create through POST /agents (kinds, the "
        "model tenant LLM agents use, limits); unset = tenants cannot create agents "
        "(docs/tenants.md, \"Agents through the API\").",
    )
    redis_url: str | None = Field(
        default=None, description="redis:// or rediss:// URL; unset = embedded in-memory store."
    )
    redis_cluster: bool = Field(default=False, description="Treat redis_url as a Redis Cluster.")
    redis_prefix: str = Field(
        default="a2a", pattern=r"^[A-Za-z0-9_.-]{1,32}$",
        description="First segment of every Redis key (several deployments may share a Redis).",
    )
    jwt_secret: str | None = Field(
        default=None, description="HMAC key for access tokens (>= 32 chars). Required outside dev."
    )
    dev_mode: bool = Field(
        default=True,
        description="Dev mode generates a signing key when none is set. Turn off in production.",
    )
    token_ttl_seconds: int = Field(default=300, gt=0, le=86400)
    max_body_bytes: int = Field(default=1_048_576, gt=0)
    card_max_age_seconds: int = Field(default=300, ge=0)
    push_url_allowlist: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Host names or CIDR networks push-notification URLs may target although "
        "they are not public (loopback, private, link-local...); comma-separated in the "
        "environment. Everything else must resolve to public addresses (SSRF guard).",
    )
    push_signing_keys: Annotated[list[Path], NoDecode] = Field(
        default_factory=list,
        description="PEM files of EC P-256 private keys that sign push deliveries (JWS); the "
        "first signs, all are published at /.well-known/jwks.json (rotation: add the new key "
        "second, then move it first, then drop the old one); comma-separated in the "
        "environment. Unset: dev mode generates one (kept in Redis so replicas agree); "
        "outside dev mode they are required when an agent offers push notifications.",
    )
    push_max_age_seconds: float = Field(
        default=86_400.0, gt=0,
        description="How long a push notification is retried before it is given up.")
    push_retry_base_seconds: float = Field(
        default=1.0, gt=0, description="First retry delay (doubled per failure, jittered).")
    push_retry_max_seconds: float = Field(
        default=600.0, gt=0, description="Longest delay between two attempts.")
    push_timeout_seconds: float = Field(
        default=10.0, gt=0,
        description="Total deadline of one delivery request, connect to last byte.")
    push_max_body_bytes: int = Field(
        default=1_048_576, gt=0, description="Largest notification body sent (else failed).")
    push_per_host: int = Field(
        default=4, gt=0, description="Delivery requests in flight per webhook host.")
    push_per_tenant: int = Field(
        default=8, gt=0, description="Delivery requests in flight per tenant.")
    push_poll_seconds: float = Field(
        default=1.0, gt=0,
        description="How often a replica looks for due notifications (commits on the same "
        "replica wake it at once).")
    push_lease_seconds: float = Field(
        default=30.0, gt=0,
        description="How long a replica's claim on a task's outbox lasts (renewed while it "
        "delivers; another replica takes over once it lapses).")
    push_sweep_seconds: float = Field(
        default=60.0, gt=0,
        description="Redis Cluster: how often one replica (under a lease) looks for tasks whose "
        "committed notifications were never marked due (a replica died between the save and "
        "the due mark) and marks them.")
    lease_seconds: float = Field(
        default=15.0, gt=0, description="How long a replica's claim on a running task lasts."
    )
    tenants_reload_seconds: float = Field(
        default=5.0, ge=0, le=3600,
        description="How often the tenant files are checked for changes (size, mtime, inode) "
        "and reloaded when they changed (0 = only on SIGHUP). A key removed from a file stops "
        "working on this replica within this time.",
    )
    credential_cache_size: int = Field(
        default=10_000, ge=0, le=1_000_000,
        description="Verified bearer tokens, and valid API keys, remembered per process so a "
        "repeated credential is not verified again (0 = verify every time). A token is served "
        "from it until its own expiry, never beyond; a new signing key or tenant files empty it.",
    )
    task_cache_mb: int = Field(
        default=64, ge=0, le=65_536,
        description="Redis store: MiB of whole tasks each of its two per-replica caches (tasks "
        "read or written last, task objects handed back by finished runs) may hold "
        "(0 = none: every read goes to Redis).",
    )
    memory_max_finished_tasks: int = Field(
        default=10_000, ge=1, le=10_000_000,
        description="In-memory store: finished tasks kept (oldest finished dropped first, with "
        "their event logs, push configs and context entries), and as many contexts of direct "
        "messages only; running and input-required tasks are never dropped. A tenant's "
        "retention_seconds applies too.",
    )
    finished_events_seconds: float = Field(
        default=300.0, ge=0,
        description="How long a finished task's event log is kept for Last-Event-ID resumes "
        "(either store; 0 = as long as the task). After it, a resume gets the final task "
        "instead.",
    )
    idempotency_ttl_seconds: int = Field(
        default=86_400, gt=0, le=30 * 86_400,
        description="How long an Idempotency-Key is remembered: a retry with it within this "
        "time gets the first request's task instead of running the agent again.",
    )
    replica_id: str | None = Field(
        default=None, description="Defaults to host:pid:random; with several workers, each "
        "worker's id is this value plus '-' and its pid.")
    workers: int = Field(
        default=1, ge=1, le=256,
        description="Worker processes sharing the port (uvicorn's supervisor restarts one that "
        "dies); each is a replica on the Redis store. More than 1 needs the Redis store.")
    worker_header: bool = Field(
        default=False,
        description="Add 'A2A-Server-Worker: <pid>' to every HTTP answer: which worker process "
        "served it (debugging, tests). Off by default: it names a process id.")
    memory_trim_seconds: float = Field(
        default=30.0, ge=0,
        description="A replica quiet this long (under 1 request/s, health checks not counted) "
        "empties its print caches and gives freed memory back to the operating system (glibc "
        "malloc_trim, in a thread); 0 = never.")
    log_level: str = "info"
    access_log: bool = Field(default=True, description="uvicorn's per-request access log.")
    gc_tuning: bool = Field(
        default=True,
        description="After start-up, move every object built so far out of the garbage "
        "collector's full passes (gc.freeze()) and collect less often (thresholds 50,000 / "
        "20 / 100): full passes otherwise stall requests for tens of ms.",
    )
    telemetry: bool = Field(
        default=False,
        description="FastAPI's native OpenTelemetry (traces, metrics, logs through the global "
        "providers). Off by default: with no providers configured it only costs time.",
    )

    metrics: bool = Field(default=True, description="Prometheus metrics at GET /metrics.")
    metrics_tenant_label: bool = Field(
        default=False,
        description="Label request, task and token metrics by tenant (one series per tenant).",
    )
    metrics_token: str | None = Field(
        default=None, min_length=16,
        description="If set, GET /metrics requires 'Authorization: Bearer <this>'; else it is "
        "open (keep it off the public listener: see docs/observability.md).",
    )
    log_format: Literal["text", "json"] = Field(
        default="text",
        description="json: one JSON object per log line, one access line per request with a "
        "request id (X-Request-ID accepted and returned), uvicorn's access log off.",
    )
    tracing: bool = Field(
        default=False,
        description="OpenTelemetry spans exported over OTLP/HTTP (configure the endpoint with "
        "the standard OTEL_EXPORTER_OTLP_* variables).",
    )

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: str | None) -> str | None:
        if value is None:
            return value
        from redis.connection import parse_url

        try:
            parse_url(value)  # type: ignore[no-untyped-call]
        except ValueError:  # its message may quote the URL, password included: not shown
            raise ValueError(
                "not a Redis URL; expected redis://[[user]:password@]host[:port][/db], "
                "rediss://... or unix:///path"
            ) from None
        return value

    @field_validator("push_url_allowlist", mode="before")
    @classmethod
    def _split_allowlist(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [entry.strip() for entry in value.split(",") if entry.strip()]
        if isinstance(value, list):
            parse_allowlist(value)  # a bad entry fails at start-up, naming itself
        return value

    @field_validator("push_signing_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [entry.strip() for entry in value.split(",") if entry.strip()]
        return value

    @model_validator(mode="after")
    def _check_signing_key(self) -> Settings:
        if self.jwt_secret is not None and self.jwt_secret.strip().lower() in _PLACEHOLDER_KEYS:
            raise ValueError("A2A_SERVER_JWT_SECRET is a placeholder; set a random value of 32+ characters")
        if self.jwt_secret is not None and len(self.jwt_secret) < 32:
            raise ValueError("A2A_SERVER_JWT_SECRET must be at least 32 characters")
        if self.jwt_secret is None and not self.dev_mode:
            raise ValueError(
                "A2A_SERVER_JWT_SECRET is required when dev mode is off "
                "(A2A_SERVER_DEV_MODE=false)"
            )
        return self

    @model_validator(mode="after")
    def _check_workers(self) -> Settings:
        if self.workers > 1 and self.redis_url is None:
            raise ValueError(
                "--workers / A2A_SERVER_WORKERS: more than one worker needs the Redis store "
                "(--redis-url): the in-memory store lives in one process")
        if self.workers > 1 and self.grpc_port == 0:
            raise ValueError(
                "--grpc-port / A2A_SERVER_GRPC_PORT: 0 (any free port) would give every worker "
                "its own port; give a port number with --workers")
        return self

    @model_validator(mode="after")
    def _check_grpc_tls(self) -> Settings:
        if (self.grpc_tls_cert_file is None) != (self.grpc_tls_key_file is None):
            raise ValueError("grpc_tls_cert_file and grpc_tls_key_file go together: set both")
        return self

    @property
    def grpc_url(self) -> str | None:
        """The GRPC interface URL cards declare (``host:port``), or None when gRPC is off."""
        if self.grpc_port is None:
            return None
        if self.grpc_public_address:
            return self.grpc_public_address
        host = urlsplit(self.base_url).hostname or self.host
        return f"{host}:{self.grpc_port}"

    @property
    def base_url(self) -> str:
        """The public base URL without a trailing slash."""
        if self.public_url:
            return self.public_url.rstrip("/")
        return f"http://{self.host}:{self.port}"
