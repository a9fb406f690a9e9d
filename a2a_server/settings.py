"""Process settings, read once (CLI or test) and passed into ``create_app``.

Every field can be set from the environment with the ``A2A_SERVER_`` prefix,
for example ``A2A_SERVER_REDIS_URL=redis://localhost:6379/0``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from a2a_server.push_policy import parse_allowlist

_REPO_ROOT = Path(__file__).resolve().parent.parent

_PLACEHOLDER_KEYS = {"", "changeme", "secret", "dev", "test"}


class Settings(BaseSettings):
    """Configuration of one server process."""

    model_config = SettingsConfigDict(env_prefix="A2A_SERVER_", extra="ignore", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
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
    tenants_dir: Path = _REPO_ROOT / "tenants"
    agents_dir: Path = _REPO_ROOT / "agent_cards"
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
    lease_seconds: float = Field(
        default=15.0, gt=0, description="How long a replica's claim on a running task lasts."
    )
    finished_events_seconds: float = Field(
        default=300.0, ge=0,
        description="How long a finished task's event log is kept for Last-Event-ID resumes "
        "(Redis; 0 = as long as the task). After it, a resume gets the final task instead.",
    )
    idempotency_ttl_seconds: int = Field(
        default=86_400, gt=0, le=30 * 86_400,
        description="How long an Idempotency-Key is remembered: a retry with it within this "
        "time gets the first request's task instead of running the agent again.",
    )
    replica_id: str | None = Field(default=None, description="Defaults to host:pid:random.")
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

    @field_validator("push_url_allowlist", mode="before")
    @classmethod
    def _split_allowlist(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [entry.strip() for entry in value.split(",") if entry.strip()]
        if isinstance(value, list):
            parse_allowlist(value)  # a bad entry fails at start-up, naming itself
        return value

    @model_validator(mode="after")
    def _check_signing_key(self) -> Settings:
        if self.jwt_secret is not None and self.jwt_secret.strip().lower() in _PLACEHOLDER_KEYS:
            raise ValueError("jwt_secret is a placeholder; set a random value of 32+ characters")
        if self.jwt_secret is not None and len(self.jwt_secret) < 32:
            raise ValueError("jwt_secret must be at least 32 characters")
        if self.jwt_secret is None and not self.dev_mode:
            raise ValueError(
                "A2A_SERVER_JWT_SECRET is required when dev mode is off "
                "(A2A_SERVER_DEV_MODE=false)"
            )
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
