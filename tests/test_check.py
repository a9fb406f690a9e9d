"""``a2a-server check``: contract tests driven by agent cards.

Against this server's agents every check passes; against a plain a2a-sdk
reference server (tests/interop/reference_server.py, nothing of ours) too.
Deliberately broken deployments fail with the reason named.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from a2a_server.check import CheckOptions, Report, run_check
from a2a_server.check.card import validate_card
from a2a_server.check.report import FAIL, PASS, SKIP
from a2a_server.cli import main
from tests.conftest import DEMO, free_port
from tests.interop.reference_server import ReferenceServer

PROBES = ("answers", "send", "get", "historyLength", "streaming", "subscribe", "cancel",
          "security: no credentials refused", "security: invalid credentials refused")


@pytest.fixture
def reference_factory() -> Iterator[Callable[..., ReferenceServer]]:
    """Start plain a2a-sdk servers (see reference_server.py for the fault switches)."""
    servers: list[ReferenceServer] = []

    def start(**options: Any) -> ReferenceServer:
        server = ReferenceServer(free_port(), **options).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def _statuses(report: Report, group_prefix: str) -> dict[str, str]:
    return {r.name: r.status for r in report.results if r.group.startswith(group_prefix)}


def _assert_all_pass(report: Report) -> None:
    assert report.ok, report.render()
    for binding in ("JSONRPC", "HTTP+JSON"):
        assert _statuses(report, binding) == dict.fromkeys(PROBES, PASS), report.render()


def test_every_agent_of_ours_passes(backend: str, live_server_factory: Callable[..., Any]) -> None:
    server = live_server_factory(backend)
    agents = httpx.get(f"{server.url}/agents", headers=DEMO).json()
    assert agents, "no agents to check"
    for agent in agents:
        report = run_check(CheckOptions(f"{server.url}/agents/{agent['id']}/v1",
                                        headers={"X-API-Key": "demo-key"}))
        _assert_all_pass(report)
        groups = {r.group for r in report.results}
        assert f"JSONRPC {server.url}/agents/{agent['id']}/v1 tenant=demo" in groups


def test_oauth2_token_url_from_the_card(backend: str,
                                        live_server_factory: Callable[..., Any]) -> None:
    """Anonymous card fetch naming the tenant; the token URL comes from the card."""
    server = live_server_factory(backend)
    report = run_check(CheckOptions(f"{server.url}/agents/echo/agent-card.json",
                                    headers={"Tenant-Name": "demo"}, client_id="demo-client",
                                    client_secret="demo-secret"))
    _assert_all_pass(report)
    token = report.find("credentials", "OAuth2 client credentials")
    assert token.status == PASS
    assert token.reason == f"token from {server.url}/realms/demo/protocol/openid-connect/token"


def test_cli_report_exit_status_and_junit(backend: str, live_server_factory: Callable[..., Any],
                                          tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                          ) -> None:
    server = live_server_factory(backend)
    junit = tmp_path / "ok.xml"
    assert main(["check", f"{server.url}/agents/echo/v1", "--header", "X-API-Key: demo-key",
                 "--junit", str(junit)]) == 0
    out = capsys.readouterr().out
    assert "PASS  streaming" in out and ", 0 failed," in out
    root = ET.parse(junit).getroot()
    assert root.get("failures") == "0" and int(root.get("tests", "0")) == 2 + 2 * len(PROBES)

    # Without credentials: the probes are refused, the run fails, and says why.
    junit = tmp_path / "fail.xml"
    assert main(["check", f"{server.url}/agents/echo/v1", "--junit", str(junit)]) == 1
    out = capsys.readouterr().out
    assert "FAIL  send: SendMessage was refused: HTTP 401" in out
    assert "pass --header or --client-id" in out
    failures = ET.parse(junit).getroot().findall(".//testcase/failure")
    assert failures and all(f.get("message") for f in failures)


def test_interfaces_that_do_not_answer_fail(backend: str,
                                            live_server_factory: Callable[..., Any]) -> None:
    """A deployment whose public URL is wrong: the card points at a port nobody listens on."""
    dead = f"http://127.0.0.1:{free_port()}"
    server = live_server_factory(backend, public_url=dead)
    report = run_check(CheckOptions(f"{server.url}/agents/echo/v1",
                                    headers={"X-API-Key": "demo-key"}))
    assert not report.ok
    answers = report.find("JSONRPC", "answers")
    assert answers.status == FAIL
    assert f"POST {dead}/agents/echo/v1: ConnectError" in answers.reason
    assert report.find("HTTP+JSON", "send").status == SKIP


def test_streaming_declared_but_refused_fails(backend: str,
                                              live_server_factory: Callable[..., Any]) -> None:
    """The echo card declares streaming; the agent's handler is made to refuse it."""
    server = live_server_factory(backend)
    # Simulates an agent whose route refuses what its card promises: the SDK handler checks
    # its own copy of the card's capabilities before streaming.
    handler_card = server.app.state.server.runtimes["echo"].handler._agent_card
    handler_card.capabilities.streaming = False
    report = run_check(CheckOptions(f"{server.url}/agents/echo/v1",
                                    headers={"X-API-Key": "demo-key"}))
    for binding in ("JSONRPC", "HTTP+JSON"):
        streaming = report.find(binding, "streaming")
        assert streaming.status == FAIL
        assert streaming.reason.startswith(
            "the card declares streaming, but SendStreamingMessage was refused:")
        assert "UNSUPPORTED_OPERATION" in streaming.reason
        assert report.find(binding, "send").status == PASS


def test_plain_sdk_reference_server_passes(reference_factory: Callable[..., ReferenceServer]
                                           ) -> None:
    """A server we did not write: only the SDK's routes, handler and in-memory store."""
    server = reference_factory(card_api_key_header="X-API-Key", require_api_key="ref-key")
    report = run_check(CheckOptions(server.url, headers={"X-API-Key": "ref-key"}))
    _assert_all_pass(report)
    assert report.find("JSONRPC", "historyLength").reason.startswith("absent: all 2;")


def test_reference_server_without_security_skips_security_checks(
        reference_factory: Callable[..., ReferenceServer]) -> None:
    server = reference_factory()
    report = run_check(CheckOptions(server.url))
    assert report.ok, report.render()
    security = report.find("HTTP+JSON", "security: no credentials refused")
    assert security.status == SKIP
    assert security.reason == "the card declares no security requirements"


def test_security_declared_but_not_enforced_fails(
        reference_factory: Callable[..., ReferenceServer]) -> None:
    server = reference_factory(card_api_key_header="X-API-Key", require_api_key=None)
    report = run_check(CheckOptions(server.url, headers={"X-API-Key": "anything"}))
    assert not report.ok
    for binding in ("JSONRPC", "HTTP+JSON"):
        for name in ("security: no credentials refused", "security: invalid credentials refused"):
            result = report.find(binding, name)
            assert result.status == FAIL
            assert result.reason.startswith("the card declares security, but a call ")
            assert "was accepted" in result.reason
    assert report.find("JSONRPC", "send").status == PASS


def test_reference_server_refusing_declared_streaming_fails(
        reference_factory: Callable[..., ReferenceServer]) -> None:
    server = reference_factory(card_streaming=True, handler_streaming=False)
    report = run_check(CheckOptions(server.url))
    assert [r.name for r in report.failures] == ["streaming", "streaming"]
    assert all("UNSUPPORTED_OPERATION" in r.reason for r in report.failures)


def test_card_schema_violations_are_named() -> None:
    base = {
        "name": "x", "description": "d", "version": "1",
        "capabilities": {}, "defaultInputModes": ["text/plain"],
        "defaultOutputModes": ["text/plain"],
        "skills": [{"id": "s", "name": "S", "description": "d", "tags": ["t"]}],
        "supportedInterfaces": [{"url": "https://a.example/rpc", "protocolBinding": "JSONRPC",
                                 "protocolVersion": "1.0"}],
    }
    card, problems, _ = validate_card(base)
    assert card is not None and problems == []

    _, problems, _ = validate_card({**base, "skills": [{"id": "s", "name": "S"}]})
    assert "required field missing or empty: skills[0].description" in problems
    assert "required field missing or empty: skills[0].tags" in problems

    _, problems, _ = validate_card({**base, "supportedInterfaces": []})
    assert problems == ["required field missing or empty: supportedInterfaces"]

    _, problems, _ = validate_card({**base, "bogus": 1})
    assert len(problems) == 1 and 'no field named "bogus"' in problems[0]

    _, problems, _ = validate_card({**base, "securityRequirements": [{"schemes": {"k": {}}}]})
    assert problems == ["securityRequirements[0] names scheme 'k', which securitySchemes does "
                        "not declare"]

    _, problems, _ = validate_card({**base, "supportedInterfaces": [
        {"url": "/relative", "protocolBinding": "JSONRPC", "protocolVersion": "1.0"}]})
    assert problems == ["supportedInterfaces[0].url '/relative' is not an absolute http(s) URL"]

    # The SDK's 0.3 compatibility fields are set aside (noted), not rejected.
    card, problems, notes = validate_card({**base, "url": "https://a.example/rpc",
                                           "protocolVersion": "0.3"})
    assert problems == [] and notes == ["A2A 0.3 compatibility fields present: url, "
                                        "protocolVersion"]


def test_cli_explicit_token_url(backend: str, live_server_factory: Callable[..., Any],
                                capsys: pytest.CaptureFixture[str]) -> None:
    server = live_server_factory(backend)
    token_url = f"{server.url}/realms/demo/protocol/openid-connect/token"
    assert main(["check", f"{server.url}/agents/echo/v1", "--token-url", token_url,
                 "--client-id", "demo-client", "--client-secret", "demo-secret"]) == 0
    assert f"PASS  OAuth2 client credentials: token from {token_url}" in capsys.readouterr().out
    assert main(["check", f"{server.url}/agents/echo/v1", "--token-url", token_url,
                 "--client-id", "demo-client", "--client-secret", "wrong"]) == 1
    assert "FAIL  OAuth2 client credentials: POST " in capsys.readouterr().out
    assert main(["check", server.url, "--token-url", token_url]) == 2


def test_junit_without_a_file_writes_outside_the_working_tree() -> None:
    import argparse

    from a2a_server.check.cli import DEFAULT_JUNIT, register

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(["check", "http://127.0.0.1:9/", "--junit"])
    assert args.junit == DEFAULT_JUNIT and not DEFAULT_JUNIT.is_relative_to(Path.cwd())
    assert parser.parse_args(["check", "http://x/", "--junit", "r.xml"]).junit == Path("r.xml")
