"""scripts/tck_credentials.py: the TCK's requests carry tenant and credentials, to the SUT only."""

from __future__ import annotations

import sys
from collections.abc import Callable

import httpx
import pytest

from tests.conftest import REPO, LiveServer

sys.path.insert(0, str(REPO / "scripts"))
import tck_credentials

V1 = {"A2A-Version": "1.0"}


def test_oauth_token_and_tenant_reach_the_conformance_agent(
    live_server_factory: Callable[..., LiveServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("A2A_TCK_TENANT", "A2A_TCK_CLIENT_ID", "A2A_TCK_CLIENT_SECRET",
                 "A2A_TCK_TOKEN_URL"):
        monkeypatch.delenv(name, raising=False)
    server = live_server_factory("memory")
    credentials = tck_credentials.TenantCredentials(f"{server.url}/agents/conformance/v1")
    with httpx.Client(event_hooks={"request": [credentials]}) as http:
        anonymous = httpx.get(f"{server.url}/agents/conformance/v1/tasks/nope", headers=V1)
        assert anonymous.status_code == 401
        for _ in range(2):
            found = http.get(f"{server.url}/agents/conformance/v1/tasks/nope", headers=V1)
            assert found.status_code == 404, found.text  # authenticated: the task is just unknown
            assert found.request.headers["tenant-name"] == "demo"
            assert found.request.headers["authorization"].startswith("Bearer ey")
    assert credentials.tokens_fetched == 1  # the token is reused until it nears expiry


def test_api_key_mode(live_server_factory: Callable[..., LiveServer],
                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("A2A_TCK_CLIENT_ID", "")
    monkeypatch.setenv("A2A_TCK_API_KEY", "demo-key")
    server = live_server_factory("memory")
    credentials = tck_credentials.TenantCredentials(f"{server.url}/agents/conformance/v1")
    with httpx.Client(event_hooks={"request": [credentials]}) as http:
        found = http.get(f"{server.url}/agents/conformance/v1/tasks/nope", headers=V1)
    assert found.status_code == 404, found.text
    assert found.request.headers["x-api-key"] == "demo-key"
    assert "authorization" not in found.request.headers


def test_other_origins_get_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("A2A_TCK_CLIENT_ID", "")
    credentials = tck_credentials.TenantCredentials("http://127.0.0.1:8080/agents/conformance/v1")
    for url in ("http://localhost:8080/webhook", "http://127.0.0.1:9999/x",
                "https://127.0.0.1:8080/x"):
        request = httpx.Request("POST", url)
        credentials(request)
        assert "x-api-key" not in request.headers and "tenant-name" not in request.headers
    same = httpx.Request("POST", "http://127.0.0.1:8080/agents/conformance/v1/")
    credentials(same)
    assert same.headers["tenant-name"] == "demo" and same.headers["x-api-key"] == "demo-key"


def test_the_grpc_channel_gets_metadata_and_the_interface_tenant(
    live_server_factory: Callable[..., LiveServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    import grpc
    from a2a.types import a2a_pb2_grpc
    from a2a.types.a2a_pb2 import GetTaskRequest

    from tests.conftest import free_port

    for name in ("A2A_TCK_TENANT", "A2A_TCK_CLIENT_ID", "A2A_TCK_CLIENT_SECRET",
                 "A2A_TCK_TOKEN_URL"):
        monkeypatch.delenv(name, raising=False)
    port = free_port()
    server = live_server_factory("memory", grpc_port=port,
                                 grpc_public_address=f"127.0.0.1:{port}")
    credentials = tck_credentials.TenantCredentials(f"{server.url}/agents/conformance/v1")
    assert credentials.grpc_interface() == (f"127.0.0.1:{port}", "demo/conformance")
    monkeypatch.setattr(grpc, "insecure_channel", grpc.insecure_channel)  # undone after the test
    tck_credentials._install_grpc(credentials)
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = a2a_pb2_grpc.A2AServiceStub(channel)
        with pytest.raises(grpc.RpcError) as failed:  # as the TCK sends it: no tenant, no auth
            stub.GetTask(GetTaskRequest(id="nope"), metadata=(("a2a-version", "1.0"),))
    # Routed to the conformance agent and authenticated: only the task is unknown.
    assert failed.value.code() == grpc.StatusCode.NOT_FOUND, failed.value.details()
    assert "agent" not in (failed.value.details() or "")


def test_the_card_fetch_says_it_is_a_10_client(
    live_server_factory: Callable[..., LiveServer]
) -> None:
    server = live_server_factory("memory")
    credentials = tck_credentials.TenantCredentials(f"{server.url}/agents/conformance/v1")
    with httpx.Client(event_hooks={"request": [credentials]}) as http:
        card = http.get(f"{server.url}/agents/conformance/v1/.well-known/agent-card.json")
        other = http.get(f"{server.url}/agents/conformance/v1/tasks/nope")
    assert card.request.headers["a2a-version"] == "1.0" and "protocolVersion" not in card.json()
    assert "a2a-version" not in other.request.headers  # only the card fetch
