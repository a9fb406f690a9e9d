"""Schemathesis against /openapi.json on a live server, both stores, with valid credentials.

Checks: no 5xx, every status and content type documented, every response body valid
against its documented schema (and documented headers). Not run: ``negative_data_rejection``
(the 0.3 shapes accept unknown members, as A2A's forward compatibility asks, and JSON-RPC
protocol errors ride HTTP 200) and ``positive_data_acceptance`` (a schema-valid request
still names tasks that do not exist, or breaks a rule no schema states: a 4xx by design).

Short by default (the ``ci`` profile below); the long run is documented in
docs/observability.md: ``SCHEMATHESIS_EXAMPLES=2000 pytest tests/observability/test_schemathesis.py``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, settings

from tests.conftest import LiveServer, RedisProcess, free_port, make_settings

EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "5"))
LONG = "SCHEMATHESIS_EXAMPLES" in os.environ  # the long run adds the coverage phase
CHECKS = ("not_a_server_error", "status_code_conformance", "content_type_conformance",
          "response_schema_conformance", "response_headers_conformance")
RAW_CONFIG: dict[str, Any] = {
    "headers": {"X-API-Key": "demo-key"},
    "parameters": {"header.Tenant-Name": "demo", "path.agent_id": "echo", "path.tenant": "demo"},
    "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
    "phases": {"coverage": {"enabled": LONG}},
}


def tenant_agents_file(directory: Path) -> Path:
    """The operator's file that lets tenants create agents (so the agent CRUD routes answer
    what they answer in production, not 403). No send reaches the model: the URL is closed."""
    path = directory / "tenant-agents.yaml"
    path.write_text(yaml.safe_dump({
        "kinds": ["llm", "remote"],
        "llm": {"base_url": f"http://127.0.0.1:{free_port()}/v1", "model": "m", "retries": 0}}))
    return path


@pytest.fixture(scope="module", params=["memory", "redis"])
def live_schema(request: pytest.FixtureRequest,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[schemathesis.BaseSchema]:
    redis: RedisProcess | None = RedisProcess().start() if request.param == "redis" else None
    port = free_port()
    server = LiveServer(make_settings(
        port=port, public_url=f"http://127.0.0.1:{port}", redis_url=redis.url if redis else None,
        tenant_agents_file=tenant_agents_file(tmp_path_factory.mktemp("operator")))).start()
    try:
        # /agents/{agent_id} on agents the tenant created ("echo" is an operator agent, which
        # only answers 403 to PATCH and DELETE); DELETE on its own, so PATCH meets a live one.
        def created() -> str:
            made = httpx.post(f"{server.url}/agents", headers={"X-API-Key": "demo-key"},
                              json={"name": "Schemathesis", "description": "made by the test"})
            assert made.status_code == 201, made.text
            return str(made.json()["id"])

        config = schemathesis.Config.from_dict({**RAW_CONFIG, "operations": [
            {"include-name": f"{method} /agents/{{agent_id}}",
             "parameters": {"path.agent_id": created()}} for method in ("GET", "PATCH", "DELETE")]})
        yield schemathesis.openapi.from_url(f"{server.url}/openapi.json", config=config)
    finally:
        server.stop()
        if redis is not None:
            redis.cleanup()


schema = schemathesis.pytest.from_fixture("live_schema")


@schema.parametrize()
@pytest.mark.timeout(1800)  # every operation is a subtest of this one test
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_document(case: schemathesis.Case) -> None:
    case.call_and_validate()
