"""Run by tests/interop/test_adk_client.py in a venv holding Google ADK (``google-adk[a2a]``).

ADK's ``RemoteA2aAgent``, unmodified, as the root agent of an ADK ``Runner``
(no model involved: the remote agent answers): the card from this server's
well-known URL, the tenant's API key on ADK's HTTP client. Prints one JSON
object with the texts the ADK events carried.

Usage: python adk_client.py BASE_URL AGENT API_KEY
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import httpx
from google.adk.agents.remote_a2a_agent import RemoteA2aAgent
from google.adk.runners import Runner
from google.adk.sessions import InMemorySessionService
from google.genai import types


async def main(base: str, agent: str, key: str) -> dict[str, Any]:
    headers = {"X-API-Key": key, "Tenant-Name": "demo"}
    async with httpx.AsyncClient(headers=headers, timeout=30) as http:
        remote = RemoteA2aAgent(
            name=agent, agent_card=f"{base}/agents/{agent}/v1/.well-known/agent-card.json",
            httpx_client=http)
        sessions = InMemorySessionService()
        runner = Runner(app_name="interop", agent=remote, session_service=sessions)
        session = await sessions.create_session(app_name="interop", user_id="u1")
        texts: list[str] = []
        errors: list[str] = []
        for turn in ("hello from adk", "second turn"):
            message = types.Content(role="user", parts=[types.Part(text=turn)])
            async for event in runner.run_async(user_id="u1", session_id=session.id,
                                                new_message=message):
                if event.error_message:
                    errors.append(event.error_message)
                for part in (event.content.parts if event.content else None) or []:
                    if part.text:
                        texts.append(part.text)
    return {"texts": texts, "errors": errors}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(*sys.argv[1:4]))))
