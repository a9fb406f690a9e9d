"""The provider stand-in speaks Chat Completions as the official ``openai`` client reads it."""

from __future__ import annotations

import openai
import pytest
from openai import AsyncOpenAI

from tests.llm.conftest import Provider


def _client(provider: Provider) -> AsyncOpenAI:
    return AsyncOpenAI(base_url=provider.url, api_key="sk-test", max_retries=0, timeout=5)


async def test_plain_answer_with_usage_and_recorded_request(provider: Provider) -> None:
    provider.script({"kind": "text", "text": "hello there",
                     "usage": {"prompt_tokens": 7, "completion_tokens": 2}})
    async with _client(provider) as client:
        reply = await client.chat.completions.create(
            model="m1", messages=[{"role": "user", "content": "hi"}])
    assert reply.choices[0].message.content == "hello there"
    assert reply.usage is not None and reply.usage.total_tokens == 9
    [request] = provider.requests()
    assert request["body"]["messages"] == [{"role": "user", "content": "hi"}]
    assert request["authorization"] == "Bearer sk-test"


async def test_streamed_chunks_tool_calls_and_usage(provider: Provider) -> None:
    provider.script(
        {"kind": "text", "text": "abcdefghij", "chunk": 3,
         "usage": {"prompt_tokens": 1, "completion_tokens": 4}},
        {"kind": "tool_calls", "calls": [{"id": "c1", "name": "f", "arguments": {"x": 1}},
                                         {"id": "c2", "name": "g", "arguments": {"y": "long"}}]})
    async with _client(provider) as client:
        stream = await client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "x"}], stream=True,
            stream_options={"include_usage": True})
        pieces, usage = [], None
        async with stream:
            async for chunk in stream:
                usage = chunk.usage or usage
                if chunk.choices and chunk.choices[0].delta.content:
                    pieces.append(chunk.choices[0].delta.content)
        assert pieces == ["abc", "def", "ghi", "j"]
        assert usage is not None and usage.completion_tokens == 4
        stream = await client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "x"}], stream=True)
        calls: dict[int, str] = {}
        async with stream:
            async for chunk in stream:
                for call in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
                    calls[call.index] = calls.get(call.index, "") + (call.function.arguments or "")
    assert calls == {0: '{"x": 1}', 1: '{"y": "long"}'}


async def test_errors_hang_and_malformed(provider: Provider) -> None:
    provider.script({"kind": "status", "status": 429, "headers": {"Retry-After": "0"}},
                    {"kind": "status", "status": 500},
                    {"kind": "malformed"},
                    {"kind": "hang", "seconds": 3})
    async with _client(provider) as client:
        with pytest.raises(openai.RateLimitError):
            await client.chat.completions.create(model="m", messages=[])
        with pytest.raises(openai.InternalServerError):
            await client.chat.completions.create(model="m", messages=[])
        with pytest.raises(ValueError):  # openai 3.x lets the JSONDecodeError through
            await client.chat.completions.create(model="m", messages=[])
        with pytest.raises(openai.APITimeoutError):
            await client.with_options(timeout=0.3).chat.completions.create(model="m", messages=[])


async def test_rules_answer_by_content(provider: Provider) -> None:
    provider.rule("weather", {"kind": "text", "text": "sunny"})
    async with _client(provider) as client:
        a = await client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "the weather?"}])
        b = await client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hello"}])
    assert a.choices[0].message.content == "sunny"
    assert b.choices[0].message.content == "stand-in: hello"
