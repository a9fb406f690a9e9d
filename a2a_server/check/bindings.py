"""Minimal A2A 1.0 clients for the probes, one per binding, on plain httpx.

They speak the wire format directly (no SDK client), so what is checked is
exactly what the server sends. Answers are JSON; errors are reduced to the
A2A error reason (``TASK_NOT_FOUND``...) from ``google.rpc.ErrorInfo`` when
the server gives one, else from the JSON-RPC code or HTTP status.
"""

from __future__ import annotations

import json
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
from a2a.types.a2a_pb2 import AgentInterface

VERSION_HEADERS = {"A2A-Version": "1.0"}
_JSONRPC_REASONS = {-32001: "TASK_NOT_FOUND", -32002: "TASK_NOT_CANCELABLE",
                    -32003: "PUSH_NOTIFICATION_NOT_SUPPORTED", -32004: "UNSUPPORTED_OPERATION",
                    -32005: "CONTENT_TYPE_NOT_SUPPORTED", -32009: "VERSION_NOT_SUPPORTED",
                    -32602: "INVALID_PARAMS", -32600: "INVALID_REQUEST",
                    -32601: "METHOD_NOT_FOUND", -32603: "INTERNAL"}
_HTTP_REASONS = {400: "INVALID_PARAMS", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
                 404: "TASK_NOT_FOUND", 409: "TASK_NOT_CANCELABLE", 415: "UNSUPPORTED_MEDIA_TYPE"}


class TransportFailure(Exception):
    """No protocol answer at all: connection refused, timeout, or a body that is not JSON."""


@dataclass(frozen=True)
class Answer:
    """A protocol answer: a result, or an error with its reason."""

    http_status: int
    result: Any = None
    reason: str = ""
    message: str = ""
    in_stream: bool = False  # an error delivered as an event of a 200 stream

    @property
    def ok(self) -> bool:
        """A result, no error."""
        return not self.reason

    def describe(self) -> str:
        """``HTTP 404 TASK_NOT_FOUND: Task not found``-style summary."""
        if self.ok:
            return f"HTTP {self.http_status} ok"
        return f"HTTP {self.http_status} {self.reason}: {self.message}".rstrip(": ")


def _error_info_reason(details: Any) -> str:
    if isinstance(details, list):
        for detail in details:
            if isinstance(detail, dict) and isinstance(detail.get("reason"), str):
                return detail["reason"]
    return ""


def new_message(text: str) -> dict[str, Any]:
    """A 1.0 user message."""
    return {"messageId": f"a2a-check-{uuid.uuid4().hex}", "role": "ROLE_USER",
            "parts": [{"text": text}]}


def _json_or_error(response: httpx.Response) -> Any:
    """The response's JSON; an HTTP error without a JSON body becomes an ``Answer``.

    Raises:
        TransportFailure: a success status with a body that is not JSON.
    """
    try:
        return response.json()
    except ValueError as exc:
        if response.status_code >= 400:
            return Answer(response.status_code,
                          reason=_HTTP_REASONS.get(response.status_code, "HTTP_ERROR"),
                          message=response.text[:200])
        raise TransportFailure(f"HTTP {response.status_code}: not JSON: "
                               f"{response.text[:200]!r}") from exc


def _sse_data(lines: Iterator[str]) -> Iterator[tuple[str, str]]:
    """(event, data) pairs of a text/event-stream."""
    event, data = "message", list[str]()
    for line in lines:
        if not line:
            if data:
                yield event, "\n".join(data)
            event, data = "message", []
        elif line.startswith("data:"):
            data.append(line[5:].lstrip(" "))
        elif line.startswith("event:"):
            event = line[6:].strip()
    if data:
        yield event, "\n".join(data)


class Binding(ABC):
    """One interface of the card."""

    name: str

    def __init__(self, http: httpx.Client, interface: AgentInterface, headers: dict[str, str]
                 ) -> None:
        self.http = http
        self.interface = interface
        self.headers = {**headers, **VERSION_HEADERS}

    @abstractmethod
    def send(self, message: dict[str, Any], headers: dict[str, str] | None = None) -> Answer:
        """SendMessage (blocking)."""

    @abstractmethod
    def get(self, task_id: str, history_length: int | None = None) -> Answer:
        """GetTask."""

    @abstractmethod
    def cancel(self, task_id: str) -> Answer:
        """CancelTask."""

    @abstractmethod
    def stream(self, message: dict[str, Any]) -> tuple[Answer, list[dict[str, Any]]]:
        """SendStreamingMessage: the answer (error if refused) and the StreamResponse events."""

    @abstractmethod
    def subscribe(self, task_id: str) -> tuple[Answer, list[dict[str, Any]]]:
        """SubscribeToTask, like ``stream``."""

    def _request(self, method: str, url: str, headers: dict[str, str] | None = None,
                 **kwargs: Any) -> httpx.Response:
        try:
            return self.http.request(method, url, headers=headers or self.headers, **kwargs)
        except httpx.HTTPError as exc:
            raise TransportFailure(f"{method} {url}: {type(exc).__name__}: {exc}") from exc


class JsonRpcBinding(Binding):
    """JSON-RPC 2.0: one URL, A2A 1.0 method names, ``params.tenant``."""

    name = "JSONRPC"

    def _params(self, params: dict[str, Any]) -> dict[str, Any]:
        if self.interface.tenant:
            params = {**params, "tenant": self.interface.tenant}
        return params

    def _body(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        return {"jsonrpc": "2.0", "id": uuid.uuid4().hex, "method": method,
                "params": self._params(params)}

    @staticmethod
    def _answer(status: int, payload: Any) -> Answer:
        if not isinstance(payload, dict):
            raise TransportFailure(f"HTTP {status}: the answer is not a JSON-RPC object")
        error = payload.get("error")
        if isinstance(error, dict):
            code = error.get("code")
            reason = _error_info_reason(error.get("data"))
            if not reason and status in (401, 403):
                reason = _HTTP_REASONS[status]
            reason = reason or _JSONRPC_REASONS.get(
                code if isinstance(code, int) else 0, f"JSON-RPC error {code}")
            return Answer(status, reason=reason, message=str(error.get("message", "")))
        if "result" not in payload:
            if status >= 400:
                return Answer(status, reason=_HTTP_REASONS.get(status, f"HTTP_{status}"),
                              message=str(payload)[:200])
            raise TransportFailure(f"HTTP {status}: a JSON-RPC answer with neither result "
                                   "nor error")
        return Answer(status, result=payload["result"])

    def _call(self, method: str, params: dict[str, Any],
              headers: dict[str, str] | None = None) -> Answer:
        response = self._request("POST", self.interface.url, headers=headers,
                                 json=self._body(method, params))
        payload = _json_or_error(response)
        if isinstance(payload, Answer):
            return payload
        return self._answer(response.status_code, payload)

    def send(self, message: dict[str, Any], headers: dict[str, str] | None = None) -> Answer:
        return self._call("SendMessage", {"message": message}, headers)

    def get(self, task_id: str, history_length: int | None = None) -> Answer:
        params: dict[str, Any] = {"id": task_id}
        if history_length is not None:
            params["historyLength"] = history_length
        return self._call("GetTask", params)

    def cancel(self, task_id: str) -> Answer:
        return self._call("CancelTask", {"id": task_id})

    def stream(self, message: dict[str, Any]) -> tuple[Answer, list[dict[str, Any]]]:
        return self._stream("SendStreamingMessage", {"message": message})

    def subscribe(self, task_id: str) -> tuple[Answer, list[dict[str, Any]]]:
        return self._stream("SubscribeToTask", {"id": task_id})

    def _stream(self, method: str, params: dict[str, Any]
                ) -> tuple[Answer, list[dict[str, Any]]]:
        body = self._body(method, params)
        events: list[dict[str, Any]] = []
        try:
            with self.http.stream("POST", self.interface.url, json=body,
                                  headers={**self.headers, "Accept": "text/event-stream"}
                                  ) as response:
                if "text/event-stream" not in response.headers.get("content-type", ""):
                    response.read()
                    try:
                        return self._answer(response.status_code, response.json()), []
                    except ValueError as exc:
                        raise TransportFailure(f"HTTP {response.status_code}: neither a stream "
                                               "nor JSON") from exc
                for _, data in _sse_data(response.iter_lines()):
                    answer = self._answer(response.status_code, _json(data))
                    if not answer.ok:
                        return Answer(answer.http_status, reason=answer.reason,
                                      message=answer.message, in_stream=True), events
                    events.append(answer.result)
                return Answer(response.status_code, result=events), events
        except httpx.HTTPError as exc:
            raise TransportFailure(f"stream: {type(exc).__name__}: {exc}") from exc


def _json(data: str) -> Any:
    try:
        return json.loads(data)
    except ValueError as exc:
        raise TransportFailure(f"an SSE event is not JSON: {data[:200]!r}") from exc


class RestBinding(Binding):
    """HTTP+JSON: ``{url}[/{tenant}]/message:send`` and friends."""

    name = "HTTP+JSON"

    @property
    def base(self) -> str:
        """The interface URL, with the tenant path segment when the card names one."""
        url = self.interface.url.rstrip("/")
        return f"{url}/{self.interface.tenant}" if self.interface.tenant else url

    @staticmethod
    def _answer(response: httpx.Response) -> Answer:
        payload = _json_or_error(response)
        if isinstance(payload, Answer):
            return payload
        if response.status_code >= 400:
            error = payload.get("error") if isinstance(payload, dict) else None
            reason, message = "", str(payload)[:200]
            if isinstance(error, dict):
                reason = _error_info_reason(error.get("details"))
                message = str(error.get("message", message))
            status = response.status_code
            reason = reason or _HTTP_REASONS.get(status, f"HTTP_{status}")
            return Answer(status, reason=reason, message=message)
        return Answer(response.status_code, result=payload)

    def send(self, message: dict[str, Any], headers: dict[str, str] | None = None) -> Answer:
        return self._answer(self._request("POST", f"{self.base}/message:send", headers=headers,
                                          json={"message": message}))

    def get(self, task_id: str, history_length: int | None = None) -> Answer:
        params = {} if history_length is None else {"historyLength": str(history_length)}
        return self._answer(self._request("GET", f"{self.base}/tasks/{task_id}", params=params))

    def cancel(self, task_id: str) -> Answer:
        return self._answer(self._request("POST", f"{self.base}/tasks/{task_id}:cancel",
                                          json={}))

    def stream(self, message: dict[str, Any]) -> tuple[Answer, list[dict[str, Any]]]:
        return self._stream(f"{self.base}/message:stream", {"message": message})

    def subscribe(self, task_id: str) -> tuple[Answer, list[dict[str, Any]]]:
        return self._stream(f"{self.base}/tasks/{task_id}:subscribe", {})

    def _stream(self, url: str, body: dict[str, Any]) -> tuple[Answer, list[dict[str, Any]]]:
        events: list[dict[str, Any]] = []
        try:
            with self.http.stream("POST", url, json=body,
                                  headers={**self.headers, "Accept": "text/event-stream"}
                                  ) as response:
                if "text/event-stream" not in response.headers.get("content-type", ""):
                    response.read()
                    answer = self._answer(response)
                    if answer.ok:
                        return Answer(response.status_code, reason="NOT_A_STREAM",
                                      message="the answer is not text/event-stream"), []
                    return answer, []
                for event, data in _sse_data(response.iter_lines()):
                    payload = _json(data)
                    if event == "error" or (isinstance(payload, dict) and "error" in payload):
                        error = payload.get("error", {}) if isinstance(payload, dict) else {}
                        return Answer(response.status_code,
                                      reason=_error_info_reason(error.get("details"))
                                      or "STREAM_ERROR",
                                      message=str(error.get("message", data))[:200],
                                      in_stream=True), events
                    events.append(payload)
                return Answer(response.status_code, result=events), events
        except httpx.HTTPError as exc:
            raise TransportFailure(f"stream: {type(exc).__name__}: {exc}") from exc


BINDINGS: dict[str, type[Binding]] = {"JSONRPC": JsonRpcBinding, "HTTP+JSON": RestBinding}
