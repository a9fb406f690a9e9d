"""One Chat Completions call to an OpenAI-compatible provider: streamed, retried, priced.

The official ``openai`` client does the HTTP; this module owns what it does not:

- the run's deadline (the client's ``timeout`` limits each read, not the call), so
  every attempt and every wait between attempts fits in the time left;
- retries (the client's own are off): connection errors, timeouts, 408/409/429/5xx
  and unparseable answers are retried with exponential backoff and jitter,
  honouring ``Retry-After`` (``retry-after-ms``) when it fits in the time left;
  an answer that has already streamed text is never retried (the client saw it);
- every failure becomes a ``ProviderError`` whose message a person can act on
  (which provider, what happened), never a traceback.

Cancelling the calling task closes the HTTP response (``async with stream``), so
the provider stops generating.

With tracing on, each attempt is a CLIENT span ``chat <model>`` carrying the OpenTelemetry
GenAI attributes (``gen_ai.operation.name``, ``gen_ai.provider.name``, request and response
model, token usage, finish reasons); no prompt or completion text is recorded.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import openai
from openai import AsyncOpenAI

from a2a_server.agents.llm_options import ProviderOptions
from a2a_server.agents.usage import Usage
from a2a_server.observability.tracing import outbound_span

logger = logging.getLogger(__name__)

_RETRY_STATUS = frozenset({408, 409, 429})
_BACKOFF_S = 0.5
_BACKOFF_CAP_S = 8.0


class ProviderError(Exception):
    """A provider call that failed for good; ``code`` goes to ``metadata.error.code``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class ToolCall:
    """One function call the model asked for."""

    call_id: str
    name: str
    arguments: dict[str, Any]
    raw_arguments: str = ""


@dataclass
class Completion:
    """What one call produced."""

    text: str
    tool_calls: list[ToolCall]
    usage: Usage
    model: str
    streamed: bool = field(default=False)


OnText = Callable[[str], Awaitable[None]]


def _retry_after(exc: openai.APIStatusError) -> float | None:
    headers = exc.response.headers
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            return max(float(raw_ms) / 1000, 0.0)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(float(raw), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, openai.APIStatusError):
        detail = ""
        body = exc.body
        if isinstance(body, dict):
            error = body.get("error", body)
            if isinstance(error, dict) and isinstance(error.get("message"), str):
                detail = f": {error['message'][:200]}"
        return f"answered HTTP {exc.status_code}{detail}"
    if isinstance(exc, openai.APITimeoutError):
        return "did not answer in time"
    if isinstance(exc, openai.APIConnectionError):
        return "could not be reached (connection refused or dropped)"
    if isinstance(exc, ValueError | openai.APIResponseValidationError):
        return "answered with a body that is not a Chat Completions response"
    return f"failed ({type(exc).__name__})"


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code in _RETRY_STATUS or exc.status_code >= 500
    return isinstance(exc, openai.APIConnectionError | openai.APIResponseValidationError | ValueError)


class ProviderClient:
    """Calls one provider with one API key; shared by every run of an agent."""

    def __init__(self, options: ProviderOptions, api_key: str) -> None:
        self.options = options
        self._api_key = api_key
        self._client_instance: AsyncOpenAI | None = None  # built on first use, in the loop

    @property
    def _client(self) -> AsyncOpenAI:
        if self._client_instance is None:
            self._client_instance = AsyncOpenAI(
                base_url=self.options.base_url, api_key=self._api_key, max_retries=0,
                timeout=self.options.timeout_seconds)
        return self._client_instance

    @property
    def name(self) -> str:
        """The provider's name (for metadata and messages)."""
        return self.options.provider_name

    def _where(self) -> str:
        return f"provider '{self.name}' ({self.options.base_url}, model {self.options.model})"

    async def complete(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        on_text: OnText,
        deadline: float,
    ) -> Completion:
        """Stream one completion, calling ``on_text`` with each piece of text.

        Raises:
            ProviderError: retries exhausted, the time left is too short, or a bad answer.
        """
        loop = asyncio.get_running_loop()
        attempts = self.options.retries + 1
        for attempt in range(attempts):
            streamed = [False]

            async def relay(piece: str, streamed: list[bool] = streamed) -> None:
                streamed[0] = True
                await on_text(piece)

            try:
                return await self._attempt(messages, tools, relay)
            except (openai.OpenAIError, ValueError) as exc:
                left = deadline - loop.time()
                if streamed[0] or not _retryable(exc) or attempt == attempts - 1:
                    raise self._failure(exc, attempt + 1, streamed[0]) from exc
                wait = min(_BACKOFF_S * 2**attempt, _BACKOFF_CAP_S) * (1 + random.random() / 4)
                if isinstance(exc, openai.APIStatusError):
                    after = _retry_after(exc)
                    if after is not None:
                        wait = after
                if wait >= left:
                    raise ProviderError("provider_error", (
                        f"{self._where()} {_describe(exc)}; the next retry (in {wait:.1f} s) "
                        f"would pass the agent's timeout of {self.options.timeout_seconds:g} s. "
                        "Try again later, or raise the provider's rate limit.")) from exc
                logger.info("%s %s; retry %d in %.2f s", self._where(), _describe(exc),
                            attempt + 1, wait)
                await asyncio.sleep(wait)
        raise AssertionError("unreachable")

    def _failure(self, exc: BaseException, tries: int, streamed: bool) -> ProviderError:
        logger.warning("%s %s after %d attempt(s)", self._where(), _describe(exc), tries)
        if streamed:
            return ProviderError("provider_error", (
                f"{self._where()} broke off its answer mid-stream: {_describe(exc)}. "
                "Send the message again."))
        if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
            return ProviderError("provider_error", (
                f"{self._where()} refused the API key ({_describe(exc)}). Check the key in "
                f"the environment variable {self.options.api_key_env or '(none configured)'}."))
        if isinstance(exc, openai.NotFoundError):
            return ProviderError("provider_error", (
                f"{self._where()} {_describe(exc)}. Check the agent's base_url and model."))
        if isinstance(exc, openai.APIStatusError) and exc.status_code < 500 and exc.status_code \
                not in _RETRY_STATUS:
            return ProviderError("provider_error", f"{self._where()} {_describe(exc)}.")
        return ProviderError("provider_error", (
            f"{self._where()} {_describe(exc)} ({tries} attempt{'s' if tries > 1 else ''}). "
            "Try again later; if it persists, check the provider's status."))

    def _span_attributes(self) -> dict[str, Any]:
        """The GenAI semantic conventions' request attributes of a call."""
        options = self.options
        where = urlsplit(options.base_url)
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "chat", "gen_ai.provider.name": self.name,
            "gen_ai.request.model": options.model, "server.address": where.hostname or ""}
        if where.port:
            attributes["server.port"] = where.port
        if options.temperature is not None:
            attributes["gen_ai.request.temperature"] = options.temperature
        if options.max_output_tokens is not None:
            attributes["gen_ai.request.max_tokens"] = options.max_output_tokens
        return attributes

    async def _attempt(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]],
                       on_text: OnText) -> Completion:
        with outbound_span(f"chat {self.options.model}", self._span_attributes()) as span:
            finish: list[str] = []
            completion = await self._call(messages, tools, on_text, finish)
            if span is not None:
                span.set_attribute("gen_ai.response.model", completion.model)
                span.set_attribute("gen_ai.usage.input_tokens", completion.usage.input_tokens)
                span.set_attribute("gen_ai.usage.output_tokens", completion.usage.output_tokens)
                if finish:
                    span.set_attribute("gen_ai.response.finish_reasons", finish)
            return completion

    async def _call(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]],
                    on_text: OnText, finish: list[str]) -> Completion:
        options = self.options
        kwargs: dict[str, Any] = {}
        if options.temperature is not None:
            kwargs["temperature"] = options.temperature
        if options.max_output_tokens is not None:
            kwargs["max_tokens"] = options.max_output_tokens
        if tools:
            kwargs["tools"] = tools
        create: Any = self._client.chat.completions.create  # messages are plain dicts here
        stream = await create(model=options.model, messages=messages, stream=True,
                              stream_options={"include_usage": True}, **kwargs)
        text: list[str] = []
        calls: dict[int, dict[str, str]] = {}
        usage = None
        model = options.model
        chunks = 0
        async with stream:  # closes the response on every exit, cancellation included
            async for chunk in stream:
                chunks += 1
                model = chunk.model or model
                if chunk.usage is not None:
                    usage = chunk.usage
                if not chunk.choices:
                    continue
                if chunk.choices[0].finish_reason:
                    finish.append(chunk.choices[0].finish_reason)
                delta = chunk.choices[0].delta
                if delta.content:
                    text.append(delta.content)
                    await on_text(delta.content)
                for call in delta.tool_calls or []:
                    entry = calls.setdefault(call.index, {"id": "", "name": "", "arguments": ""})
                    entry["id"] = call.id or entry["id"]
                    if call.function is not None:
                        entry["name"] += call.function.name or ""
                        entry["arguments"] += call.function.arguments or ""
        if not chunks:  # e.g. a 200 whose body is not an event stream at all
            raise ValueError("the answer held no completion chunk")
        tool_calls = [self._tool_call(index, entry) for index, entry in sorted(calls.items())]
        priced = options.cost(model, usage.prompt_tokens if usage else 0,
                              usage.completion_tokens if usage else 0)
        return Completion("".join(text), tool_calls, priced, model)

    def _tool_call(self, index: int, entry: dict[str, str]) -> ToolCall:
        raw = entry["arguments"] or "{}"
        try:
            arguments = json.loads(raw)
        except ValueError:
            arguments = None
        if not isinstance(arguments, dict):
            # Fed back to the model as a tool error (it may correct itself).
            arguments = {"_unparsed": raw}
        return ToolCall(entry["id"] or f"call_{index}", entry["name"], arguments, raw)

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        if self._client_instance is not None:
            await self._client_instance.close()
            self._client_instance = None
