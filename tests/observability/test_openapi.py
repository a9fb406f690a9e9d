"""The OpenAPI document is valid 3.1 and true: every served route is in it, and only those."""

from __future__ import annotations

import re
from typing import Any

import httpx
from openapi_spec_validator import validate
from starlette.routing import Mount, Route

from tests.conftest import DEMO, make_settings, running_app


def _served(app: Any) -> set[tuple[str, str]]:
    served: set[tuple[str, str]] = set()
    for route in app.router.routes:
        if isinstance(route, Route):
            served |= {(m, route.path) for m in route.methods or () if m != "HEAD"}
        elif isinstance(route, Mount):
            served.add(("GET", f"{route.path}/{{path}}"))
    return served


async def test_every_served_route_is_documented_and_every_documented_route_is_served() -> None:
    async with running_app(make_settings()) as app:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            got = await http.get("/openapi.json")
            assert got.status_code == 200
            doc = got.json()
            validate(doc)  # OpenAPI 3.1, every $ref resolves
            documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
            assert documented == _served(app)
            for method, path in sorted(documented):
                concrete = re.sub(r"\{[^}]+\}", "x", path).replace("/x/", "/echo/", 1)
                concrete = concrete.replace("/static-docs/x", "/static-docs/swagger-ui.css")
                answer = await http.request(method, concrete, headers=DEMO)
                # The router's own 404/405 (no route) says "Not Found"/"Method Not Allowed".
                assert answer.status_code != 405, (method, path)
                if answer.status_code == 404 and not path.startswith("/console/"):
                    error = answer.json()["error"]  # Shannon's error is a plain string
                    message = error["message"] if isinstance(error, dict) else error
                    assert message != "Not Found", (method, path)


async def test_document_shapes_security_and_docs_page_without_a_cdn() -> None:
    async with running_app(make_settings()) as app:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            doc = (await http.get("/openapi.json")).json()
            page = await http.get("/docs")
            js = re.search(r'src="([^"]+swagger-ui-bundle\.js)"', page.text)
            assert page.status_code == 200 and js is not None
            assert "//" not in js.group(1)  # a local path, not a CDN
            asset = await http.get(js.group(1))
    assert doc["openapi"] == "3.1.0"
    send = doc["paths"]["/agents/{agent_id}/v1/message:send"]["post"]
    assert send["requestBody"]["content"]["application/json"]["schema"] == {"anyOf": [
        {"$ref": "#/components/schemas/v1.SendMessageRequest"},
        {"$ref": "#/components/schemas/v0.3.MessageSendParams"}]}
    assert {"401", "404", "503"} <= set(send["responses"])
    schemes = doc["components"]["securitySchemes"]
    assert schemes["ApiKey"] == {"type": "apiKey", "in": "header", "name": "X-API-Key"}
    assert "clientCredentials" in schemes["OAuth2"]["flows"]
    message = doc["components"]["schemas"]["v1.Message"]
    assert {"messageId", "role", "parts"} <= set(message["required"])
    assert asset.status_code == 200 and len(asset.content) > 100_000


async def test_agentlin_task_route_documents_what_it_answers() -> None:
    """GET /tasks/{task_id} answers 404 for an unknown X-Agent-ID and 403 for another tenant's
    Tenant-Name: a longer schemathesis run found both undocumented."""
    async with running_app(make_settings()) as app:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            responses = (await http.get("/openapi.json")).json()["paths"]["/tasks/{task_id}"][
                "get"]["responses"]
            unknown = await http.get("/tasks/0", headers={**DEMO, "X-Agent-ID": "nope"})
            other = await http.get("/tasks/0", headers={**DEMO, "Tenant-Name": "acme"})
    assert (unknown.status_code, other.status_code) == (404, 403)
    assert {"403", "404"} <= set(responses)
