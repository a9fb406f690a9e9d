"""The check run: card, credentials, then the probes of every declared interface."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from a2a.types.a2a_pb2 import (
    AgentCard,
    AgentInterface,
    SendMessageResponse,
    StreamResponse,
    Task,
    TaskState,
)
from google.protobuf.json_format import ParseDict, ParseError

from a2a_server.check.bindings import BINDINGS, Answer, Binding, TransportFailure, new_message
from a2a_server.check.card import validate_card
from a2a_server.check.report import FAIL, PASS, SKIP, CheckResult, Report

CARD_PATH = "/.well-known/agent-card.json"
TERMINAL = ("TASK_STATE_COMPLETED", "TASK_STATE_CANCELED", "TASK_STATE_FAILED",
            "TASK_STATE_REJECTED")
INTERRUPTED = ("TASK_STATE_INPUT_REQUIRED", "TASK_STATE_AUTH_REQUIRED")
CREDENTIAL_HEADERS = ("authorization", "cookie")
INVALID = "a2a-check-invalid-credential"


@dataclass
class CheckOptions:
    """What to check and with which credentials."""

    url: str
    headers: dict[str, str] = field(default_factory=dict)
    token_url: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    timeout: float = 30.0
    transport: httpx.BaseTransport | None = None  # tests may inject one

    @property
    def card_url(self) -> str:
        """The card URL: as given if it names a .json file, else the well-known path under it."""
        if self.url.split("?")[0].endswith(".json"):
            return self.url
        return self.url.rstrip("/") + CARD_PATH


class Failed(Exception):
    """A check failed; the message is the reason."""


class Skipped(Exception):
    """A check does not apply; the message says why."""


def _strict(message_type: type[Any], payload: Any, what: str) -> Any:
    parsed = message_type()
    try:
        ParseDict(payload, parsed, ignore_unknown_fields=False)
    except ParseError as exc:
        raise Failed(f"{what} is not valid A2A 1.0 ({message_type.__name__}): {exc}") from exc
    return parsed


class Run:
    """One run of the checks; results accumulate in ``report``."""

    def __init__(self, options: CheckOptions) -> None:
        self.options = options
        self.report = Report(options.card_url)
        self.http = httpx.Client(timeout=options.timeout, follow_redirects=True,
                                 transport=options.transport)
        self.headers = dict(options.headers)
        self.card: AgentCard | None = None

    def check(self, group: str, name: str, probe: Callable[[], str]) -> CheckResult:
        """Run ``probe``; it returns a note (pass) or raises Failed/Skipped/TransportFailure."""
        started = time.monotonic()
        try:
            status, reason = PASS, probe()
        except Skipped as exc:
            status, reason = SKIP, str(exc)
        except (Failed, TransportFailure) as exc:
            status, reason = FAIL, str(exc)
        except Exception as exc:  # noqa: BLE001 - a probe bug is reported, not raised
            status, reason = FAIL, f"unexpected {type(exc).__name__}: {exc}"
        return self.report.add(CheckResult(group, name, status, reason,
                                           time.monotonic() - started))

    # -- the card -----------------------------------------------------------------------

    def fetch_card(self) -> Any:
        """GET the card (with the given headers)."""
        try:
            response = self.http.get(self.options.card_url, headers=self.headers)
        except httpx.HTTPError as exc:
            raise Failed(f"GET {self.options.card_url}: {type(exc).__name__}: {exc}") from exc
        if response.status_code != 200:
            raise Failed(f"GET {self.options.card_url}: HTTP {response.status_code}: "
                         f"{response.text[:200]}")
        try:
            return response.json()
        except ValueError as exc:
            raise Failed(f"the card is not JSON: {response.text[:200]!r}") from exc

    def card_checks(self) -> None:
        """Fetch and validate the card."""
        raw: list[Any] = []

        def fetch() -> str:
            raw.append(self.fetch_card())
            return f"GET {self.options.card_url}: HTTP 200"

        if self.check("card", "fetch", fetch).status != PASS:
            return

        def schema() -> str:
            card, problems, notes = validate_card(raw[0])
            if problems:
                raise Failed("; ".join(problems))
            self.card = card
            return "; ".join(["valid A2A 1.0 AgentCard", *notes])

        self.check("card", "A2A 1.0 schema", schema)

    # -- credentials --------------------------------------------------------------------

    def token_checks(self) -> None:
        """Obtain an OAuth2 client-credentials token when asked to."""
        if not self.options.client_id:
            return

        def token() -> str:
            url = self.options.token_url or self._card_token_url()
            try:
                response = self.http.post(url, data={
                    "grant_type": "client_credentials", "client_id": self.options.client_id,
                    "client_secret": self.options.client_secret or ""})
            except httpx.HTTPError as exc:
                raise Failed(f"POST {url}: {type(exc).__name__}: {exc}") from exc
            if response.status_code != 200 or "access_token" not in response.text:
                raise Failed(f"POST {url}: HTTP {response.status_code}: {response.text[:200]}")
            self.headers["Authorization"] = f"Bearer {response.json()['access_token']}"
            return f"token from {url}"

        self.check("credentials", "OAuth2 client credentials", token)

    def _card_token_url(self) -> str:
        for scheme in (self.card.security_schemes.values() if self.card else ()):
            flows = scheme.oauth2_security_scheme.flows
            if scheme.HasField("oauth2_security_scheme") and flows.HasField("client_credentials"):
                return flows.client_credentials.token_url
        raise Failed("no --token-url given and the card declares no client-credentials flow")

    # -- interfaces ---------------------------------------------------------------------

    def credential_header_names(self) -> set[str]:
        """Headers that carry credentials: Authorization, Cookie and the card's API-key headers."""
        names = set(CREDENTIAL_HEADERS)
        for scheme in (self.card.security_schemes.values() if self.card else ()):
            if scheme.HasField("api_key_security_scheme") and \
                    scheme.api_key_security_scheme.location.lower() == "header":
                names.add(scheme.api_key_security_scheme.name.lower())
        return names

    def interface_checks(self, interface: AgentInterface) -> None:
        """Every probe of one interface."""
        tenant = f" tenant={interface.tenant}" if interface.tenant else ""
        group = f"{interface.protocol_binding} {interface.url}{tenant}"
        binding_type = BINDINGS.get(interface.protocol_binding)
        if binding_type is None:
            self.check(group, "probes", lambda: _skip(
                f"the {interface.protocol_binding} binding is not probed by this tool"))
            return
        if not interface.protocol_version.startswith("1."):
            self.check(group, "probes", lambda: _skip(
                f"protocol version {interface.protocol_version or '(none)'} is not probed; "
                "only 1.x"))
            return
        probes = InterfaceProbes(self, binding_type(self.http, interface, self.headers))
        probes.run(group)

    def run(self) -> Report:
        """Card, credentials, then each interface."""
        try:
            self.card_checks()
            if self.card is None:
                return self.report
            self.token_checks()
            for interface in self.card.supported_interfaces:
                self.interface_checks(interface)
            return self.report
        finally:
            self.http.close()


def _skip(reason: str) -> str:
    raise Skipped(reason)


class InterfaceProbes:
    """The probes of one interface; later probes use the task the first one created."""

    def __init__(self, run: Run, binding: Binding) -> None:
        self.run_ = run
        self.binding = binding
        assert run.card is not None
        self.card: AgentCard = run.card
        self.task: dict[str, Any] | None = None
        self.first: Answer | None = None

    def run(self, group: str) -> None:
        """All probes, in order; if the interface does not answer, the rest are skipped."""
        if self.run_.check(group, "answers", self.answers).status != PASS:
            reason = "the interface did not answer"
            for name in ("send", "get", "historyLength", "streaming", "subscribe", "cancel"):
                self.run_.check(group, name, lambda: _skip(reason))
        else:
            self.run_.check(group, "send", self.send)
            self.run_.check(group, "get", self.get)
            self.run_.check(group, "historyLength", self.history_length)
            self.run_.check(group, "streaming", self.streaming)
            self.run_.check(group, "subscribe", self.subscribe)
            self.run_.check(group, "cancel", self.cancel)
        self.run_.check(group, "security: no credentials refused", self.no_credentials)
        self.run_.check(group, "security: invalid credentials refused", self.bad_credentials)

    # each probe returns a note or raises

    def answers(self) -> str:
        self.first = self.binding.send(new_message("a2a-server check: hello"))
        return f"SendMessage: {self.first.describe()}"

    def send(self) -> str:
        answer = self.first
        assert answer is not None
        if not answer.ok:
            hint = ""
            if answer.http_status in (401, 403) and self.card.security_requirements:
                hint = " (the card requires credentials: pass --header or --client-id)"
            raise Failed(f"SendMessage was refused: {answer.describe()}{hint}")
        parsed = _strict(SendMessageResponse, answer.result, "the SendMessage result")
        kind = parsed.WhichOneof("payload")
        if kind is None:
            raise Failed("the SendMessage result holds neither a task nor a message")
        if kind == "message":
            return "the agent answered with a message (no task)"
        self.task = self._settled(answer.result["task"])
        return f"task {self.task['id']} {self.task['status']['state']}"

    def _settled(self, task: dict[str, Any]) -> dict[str, Any]:
        deadline = time.monotonic() + self.run_.options.timeout
        while task.get("status", {}).get("state") not in TERMINAL + INTERRUPTED:
            if time.monotonic() > deadline:
                raise Failed(f"task {task.get('id')} did not settle: "
                             f"{task.get('status', {}).get('state')}")
            time.sleep(0.2)
            answer = self.binding.get(task["id"])
            if not answer.ok:
                raise Failed(f"GetTask while waiting: {answer.describe()}")
            task = answer.result
        return task

    def _need_task(self) -> dict[str, Any]:
        if self.task is None:
            raise Skipped("no task to use (the agent answered with a message, or send failed)")
        return self.task

    def get(self) -> str:
        task = self._need_task()
        answer = self.binding.get(task["id"])
        if not answer.ok:
            raise Failed(f"GetTask {task['id']}: {answer.describe()}")
        got = _strict(Task, answer.result, "the GetTask result")
        if got.id != task["id"] or got.context_id != task.get("contextId", ""):
            raise Failed(f"GetTask returned task {got.id} / context {got.context_id}, "
                         f"expected {task['id']} / {task.get('contextId')}")
        missing = self.binding.get(f"a2a-check-no-such-task-{uuid.uuid4().hex}")
        if missing.ok or missing.reason != "TASK_NOT_FOUND":
            raise Failed(f"GetTask of an unknown id must fail with TASK_NOT_FOUND, got "
                         f"{missing.describe()}")
        return "GetTask returns the task; an unknown id is TASK_NOT_FOUND"

    def history_length(self) -> str:
        task = self._need_task()

        def history(length: int | None) -> list[str]:
            answer = self.binding.get(task["id"], length)
            if not answer.ok:
                raise Failed(f"GetTask historyLength={length}: {answer.describe()}")
            return [m.get("messageId", "") for m in answer.result.get("history", [])]

        full = history(None)
        if history(0):
            raise Failed("historyLength=0 must return no history")
        last = history(1)
        if last != full[-1:]:
            raise Failed(f"historyLength=1 must return the last message {full[-1:]}, got {last}")
        if history(None) != full:
            raise Failed("a trimmed read changed the stored history")
        negative = self.binding.get(task["id"], -1)
        if negative.ok:
            raise Failed("historyLength=-1 was accepted; it must be refused as invalid")
        note = "" if len(full) > 1 else " (the task has at most one message: trimming not seen)"
        return (f"absent: all {len(full)}; 0: none; 1: the last; -1: refused "
                f"({negative.reason}){note}")

    def streaming(self) -> str:
        if not self.card.capabilities.streaming:
            raise Skipped("the card does not declare streaming")
        answer, events = self.binding.stream(new_message("a2a-server check: stream"))
        if not answer.ok:
            raise Failed(f"the card declares streaming, but SendStreamingMessage was refused: "
                         f"{answer.describe()}")
        if not events:
            raise Failed("the stream ended without an event")
        parsed = [_strict(StreamResponse, e, f"stream event {i}") for i, e in enumerate(events)]
        kinds = [p.WhichOneof("payload") for p in parsed]
        if kinds[0] not in ("task", "message"):
            raise Failed(f"the first stream event must be a task or a message, got {kinds[0]}")
        last = parsed[-1]
        final_state = ""
        if kinds[-1] == "status_update":
            final_state = TaskState.Name(last.status_update.status.state)
        elif kinds[-1] == "task":
            final_state = TaskState.Name(last.task.status.state)
        if kinds[-1] != "message" and final_state not in TERMINAL + INTERRUPTED:
            raise Failed(f"the stream ended in a non-final state ({kinds[-1]} {final_state})")
        return f"{len(events)} events: {', '.join(str(k) for k in kinds)}"

    def subscribe(self) -> str:
        if not self.card.capabilities.streaming:
            raise Skipped("the card does not declare streaming")
        task = self.task
        if task is None or task["status"]["state"] not in TERMINAL:
            raise Skipped("no finished task to subscribe to")
        answer, _ = self.binding.subscribe(task["id"])
        if answer.ok:
            raise Failed(f"SubscribeToTask of a {task['status']['state']} task must fail with "
                         f"UNSUPPORTED_OPERATION, but it streamed ({answer.describe()})")
        if answer.reason != "UNSUPPORTED_OPERATION":
            raise Failed(f"SubscribeToTask of a finished task must fail with "
                         f"UNSUPPORTED_OPERATION, got {answer.describe()}")
        if answer.in_stream:
            raise Failed("SubscribeToTask of a finished task must be refused before the stream "
                         f"starts; the error came as an event of an HTTP {answer.http_status} "
                         "stream")
        return f"a finished task is refused: {answer.describe()}"

    def cancel(self) -> str:
        missing = self.binding.cancel(f"a2a-check-no-such-task-{uuid.uuid4().hex}")
        if missing.ok or missing.reason != "TASK_NOT_FOUND":
            raise Failed(f"CancelTask of an unknown id must fail with TASK_NOT_FOUND, got "
                         f"{missing.describe()}")
        task = self.task
        if task is None or task["status"]["state"] not in TERMINAL:
            return "an unknown id is TASK_NOT_FOUND (no finished task to try)"
        finished = self.binding.cancel(task["id"])
        if finished.ok or finished.reason != "TASK_NOT_CANCELABLE":
            raise Failed(f"CancelTask of a {task['status']['state']} task must fail with "
                         f"TASK_NOT_CANCELABLE, got {finished.describe()}")
        return "an unknown id is TASK_NOT_FOUND; a finished task is TASK_NOT_CANCELABLE"

    def _requires_security(self) -> None:
        if not self.card.security_requirements:
            raise Skipped("the card declares no security requirements")

    def _refused(self, headers: dict[str, str], what: str) -> str:
        try:
            answer = self.binding.send(new_message("a2a-server check: unauthenticated"),
                                       headers=headers)
        except TransportFailure as exc:
            raise Failed(f"{what}: no protocol answer: {exc}") from exc
        if answer.ok:
            raise Failed(f"the card declares security, but a call {what} was accepted "
                         f"({answer.describe()})")
        return f"a call {what} was refused: {answer.describe()}"

    def no_credentials(self) -> str:
        self._requires_security()
        strip = self.run_.credential_header_names()
        headers = {k: v for k, v in self.binding.headers.items() if k.lower() not in strip}
        return self._refused(headers, "without credentials")

    def bad_credentials(self) -> str:
        self._requires_security()
        strip = self.run_.credential_header_names()
        headers = {k: v for k, v in self.binding.headers.items() if k.lower() not in strip}
        for requirement in self.card.security_requirements:
            for name in requirement.schemes:
                scheme = self.card.security_schemes[name]
                if scheme.HasField("api_key_security_scheme"):
                    if scheme.api_key_security_scheme.location.lower() == "header":
                        headers[scheme.api_key_security_scheme.name] = INVALID
                elif scheme.WhichOneof("scheme") in ("oauth2_security_scheme",
                                                     "open_id_connect_security_scheme",
                                                     "http_auth_security_scheme"):
                    headers["Authorization"] = f"Bearer {INVALID}"
        return self._refused(headers, "with invalid credentials")


def run_check(options: CheckOptions) -> Report:
    """Run every check against the card at ``options.url``."""
    return Run(options).run()
