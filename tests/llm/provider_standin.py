"""An OpenAI-compatible Chat Completions provider stand-in: a real HTTP server process.

Run as ``python -m tests.llm.provider_standin --port N``. It serves
``POST /v1/chat/completions`` (plain JSON or SSE when the request says
``"stream": true``) from a script the test writes through a control API:

- ``POST /_script``  ``{"responses": [R, ...]}``: answer the next requests with these, in order.
- ``POST /_rules``   ``{"contains": "word", "response": R}``: answer every request whose last
  user message contains ``word`` with R (rules are checked after the script is used up;
  concurrent tests key their answers this way).
- ``GET /_requests``: every completion request received, in order:
  ``{"body", "authorization", "aborted", "first_token_at"}`` (``aborted``: the client went
  away mid-answer; ``first_token_at``: ``time.monotonic()`` when the first text chunk was sent).
- ``POST /_reset``: forget script, rules and requests.

A response R is one of (``kind``):

- ``text``: ``{"text", "chunk": 4, "delay": 0.0, "usage": {"prompt_tokens", "completion_tokens"}}``;
  streamed in pieces of ``chunk`` characters, ``delay`` seconds apart (a streamed answer of
  any kind waits ``first_delay`` seconds, default 0, before it starts: a provider's time to
  its first token).
- ``tool_calls``: ``{"calls": [{"id", "name", "arguments": {...}}], "usage"}``; streamed as
  fragments (id and name first, then the arguments in pieces), as OpenAI does.
- ``status``: ``{"status": 429, "headers": {"Retry-After": "1"}, "body": {...}}``.
- ``hang``: ``{"seconds": 30}`` before anything is sent; ``stall`` sends the first
  ``chunk`` of a text stream and then hangs.
- ``malformed``: a 200 whose body is not JSON.

Without a script or rule it answers ``stand-in: <last user text>``.
"""

from __future__ import annotations

import argparse
import json
import socket
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_lock = threading.Lock()
_script: list[dict[str, Any]] = []
_rules: list[tuple[str, dict[str, Any]]] = []
_requests: list[dict[str, Any]] = []


def _last_user_text(body: dict[str, Any]) -> str:
    for message in reversed(body.get("messages") or []):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):
                return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
            return str(content or "")
    return ""


def _choose(body: dict[str, Any]) -> dict[str, Any]:
    with _lock:
        if _script:
            return _script.pop(0)
        text = _last_user_text(body)
        for word, response in _rules:
            if word in text:
                return response
    return {"kind": "text", "text": f"stand-in: {text}"}


def _usage(response: dict[str, Any]) -> dict[str, int] | None:
    usage = response.get("usage")
    if usage is None:
        return None
    prompt, completion = int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0))
    return {"prompt_tokens": prompt, "completion_tokens": completion,
            "total_tokens": prompt + completion}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    _record: dict[str, Any]

    def setup(self) -> None:
        super().setup()
        # Small SSE writes go out at once (Nagle would hold one back for the client's ACK).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        del format, args

    def _json(self, status: int, value: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, header in (headers or {}).items():
            self.send_header(name, header)
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b"{}"
        return json.loads(raw or b"{}")

    def do_GET(self) -> None:
        if self.path == "/_requests":
            with _lock:
                self._json(200, list(_requests))
            return
        self._json(404, {"error": {"message": "not found"}})

    def do_POST(self) -> None:
        body = self._body()
        if self.path == "/_script":
            with _lock:
                _script.extend(body["responses"])
            self._json(200, {"ok": True})
        elif self.path == "/_rules":
            with _lock:
                _rules.append((body["contains"], body["response"]))
            self._json(200, {"ok": True})
        elif self.path == "/_reset":
            with _lock:
                _script.clear()
                _rules.clear()
                _requests.clear()
            self._json(200, {"ok": True})
        elif self.path.endswith("/chat/completions"):
            record = {"body": body, "authorization": self.headers.get("Authorization"),
                      "aborted": False, "first_token_at": None}
            self._record = record
            with _lock:
                _requests.append(record)
            try:
                self._complete(body, _choose(body))
            except (BrokenPipeError, ConnectionResetError):
                record["aborted"] = True
        else:
            self._json(404, {"error": {"message": f"no route {self.path}"}})

    def _complete(self, body: dict[str, Any], response: dict[str, Any]) -> None:
        kind = response.get("kind", "text")
        if kind == "status":
            self._json(int(response["status"]), response.get("body") or {
                "error": {"message": f"stand-in status {response['status']}", "type": "server_error"}},
                response.get("headers"))
            return
        if kind == "hang":
            time.sleep(float(response.get("seconds", 30)))
            self._json(200, {"error": "too late"})
            return
        if kind == "malformed":
            data = b"<html>not json</html>"
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        if body.get("stream"):
            self._stream(body, response)
        else:
            self._json(200, self._completion(body, response))

    def _completion(self, body: dict[str, Any], response: dict[str, Any]) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": None}
        finish = "stop"
        if response.get("kind") == "tool_calls":
            finish = "tool_calls"
            message["tool_calls"] = [
                {"id": c["id"], "type": "function",
                 "function": {"name": c["name"], "arguments": json.dumps(c.get("arguments", {}))}}
                for c in response["calls"]]
        else:
            message["content"] = response.get("text", "")
        out: dict[str, Any] = {
            "id": f"chatcmpl-{uuid.uuid4().hex[:8]}", "object": "chat.completion",
            "created": int(time.time()), "model": response.get("model", body.get("model", "m")),
            "choices": [{"index": 0, "message": message, "finish_reason": finish}]}
        usage = _usage(response)
        if usage is not None:
            out["usage"] = usage
        return out

    def _chunk(self, body: dict[str, Any], delta: dict[str, Any] | None, finish: str | None,
               usage: dict[str, int] | None = None) -> bytes:
        chunk: dict[str, Any] = {
            "id": "chatcmpl-stream", "object": "chat.completion.chunk", "created": int(time.time()),
            "model": body.get("model", "m"),
            "choices": [] if delta is None else [
                {"index": 0, "delta": delta, "finish_reason": finish}]}
        if usage is not None:
            chunk["usage"] = usage
        return f"data: {json.dumps(chunk)}\n\n".encode()

    def _send(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _stream(self, body: dict[str, Any], response: dict[str, Any]) -> None:
        time.sleep(float(response.get("first_delay", 0.0)))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        delay = float(response.get("delay", 0.0))
        size = int(response.get("chunk", 4))
        self._send(self._chunk(body, {"role": "assistant", "content": ""}, None))
        if response.get("kind") == "tool_calls":
            for index, call in enumerate(response["calls"]):
                self._send(self._chunk(body, {"tool_calls": [{
                    "index": index, "id": call["id"], "type": "function",
                    "function": {"name": call["name"], "arguments": ""}}]}, None))
                arguments = json.dumps(call.get("arguments", {}))
                for start in range(0, len(arguments), 5):
                    self._send(self._chunk(body, {"tool_calls": [{
                        "index": index, "function": {"arguments": arguments[start:start + 5]}}]},
                        None))
            finish = "tool_calls"
        else:
            text = str(response.get("text", ""))
            for start in range(0, len(text), size):
                self._send(self._chunk(body, {"content": text[start:start + size]}, None))
                if start == 0:  # CLOCK_MONOTONIC is system-wide: the bench compares it
                    self._record["first_token_at"] = time.monotonic()
                if response.get("kind") == "stall":
                    time.sleep(float(response.get("seconds", 30)))
                    return
                time.sleep(delay)
            finish = "stop"
        self._send(self._chunk(body, {}, finish))
        usage = _usage(response)
        if usage is not None and (body.get("stream_options") or {}).get("include_usage"):
            self._send(self._chunk(body, None, None, usage))
        self._send(b"data: [DONE]\n\n")
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


class _Server(ThreadingHTTPServer):
    # socketserver's listen backlog is 5: 500 streams connecting at once (bench/llm_stream.py)
    # were refused by the kernel and failed as provider errors. A real provider takes them.
    request_queue_size = 1024
    daemon_threads = True


def main() -> None:
    """Serve on 127.0.0.1 until killed."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    _Server(("127.0.0.1", args.port), _Handler).serve_forever()


if __name__ == "__main__":
    main()
