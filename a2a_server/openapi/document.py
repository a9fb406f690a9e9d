"""The OpenAPI 3.1 document of every route the server answers, served at ``/openapi.json``.

The protocol routes are dispatched before FastAPI (``protocol.routing``), so
FastAPI cannot describe them; this module does, from one table: ``OPERATIONS``
maps ``(method, path template)`` to an ``Operation``. The agent interface routes
are expanded from ``routing.REST_ROUTES`` for both families (Corti v1 ``/v1``, v2
``/a2a``) and the ``/{tenant}`` form, so a suffix added there needs one entry in
``AGENT_OPERATIONS``. Any other route is one ``register(...)`` call (see
docs/observability.md); a test fails while a served route is undocumented or a
documented one is not served.

Shapes: A2A 1.0 (``A2A-Version: 1.0``) bodies are ProtoJSON of the SDK's protobuf
messages (``protoschema``); without the header (or with 0.3) they are the A2A 0.3
JSON of Corti's v1 API (the SDK's compat pydantic types). Where one path serves
both, the schema is ``anyOf`` the two.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from a2a.compat.v0_3 import types as v03
from a2a.types import a2a_pb2 as pb
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from a2a_server.openapi.protoschema import Schema, message_schema
from a2a_server.protocol.routing import REST_ROUTES, V1, V2

_PARAM = re.compile(r"\{([A-Za-z_]+)\}")
JSON = "application/json"
A2A_JSON = "application/a2a+json"


@dataclass(frozen=True)
class Operation:
    """One documented operation (a method on a path template)."""

    summary: str
    tag: str
    responses: dict[int, tuple[str, Schema | str | None]]  # status -> (description, schema|ref)
    request: Schema | str | None = None  # schema or component name
    request_type: str = JSON
    query: tuple[tuple[str, Schema, str], ...] = ()
    headers: tuple[str, ...] = ()  # names of components.parameters
    secured: bool = True
    response_type: str = JSON
    extra: dict[str, Any] = field(default_factory=dict)


OPERATIONS: dict[tuple[str, str], Operation] = {}


def register(method: str, path: str, operation: Operation) -> None:
    """Document ``method path`` (a Starlette path template) as ``operation``."""
    OPERATIONS[(method.upper(), path)] = operation


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _either(v1: str, v03_name: str) -> Schema:
    return {"anyOf": [_ref(v1), _ref(v03_name)]}


_INT = {"type": "integer", "minimum": 0}
_PAGING = (("limit", _INT, "page size (default 100, at most 1000)"),
           ("offset", _INT, "items to skip"))
_HISTORY = (("historyLength", _INT, "last N messages of each task's history"),)
_AGENT_HEADERS = ("A2A-Version", "Tenant-Name")
_ERRORS = {400: ("Invalid request or parameters", "Error"),
           401: ("Missing or invalid credentials", "Error"),
           403: ("The credentials belong to another tenant", "Error"),
           404: ("No such agent, task or context in the caller's tenant", "Error"),
           413: ("Request body too large", "Error"),
           415: ("Content-Type is not JSON", "Error"),
           429: ("A limit of the tenant (docs/tenants.md): Retry-After, RateLimit and "
                 "RateLimit-Policy say which and when to retry", "Error"),
           503: ("The store is unavailable; retry", "Error")}
_SSE = "text/event-stream"
_STREAM = {"type": "object", "description": "Server-sent events: each `data:` is one JSON "
           "object, a StreamResponse (1.0) or a 0.3 event; ids resume with Last-Event-ID"}


def _agent(summary: str, ok: tuple[str, Schema | str | None], *, request: Schema | str | None = None,
           query: tuple[tuple[str, Schema, str], ...] = (), status: int = 200,
           response_type: str = JSON, more: dict[int, tuple[str, Schema | str | None]] | None = None
           ) -> Operation:
    responses: dict[int, tuple[str, Schema | str | None]] = {status: ok, **_ERRORS, **(more or {})}
    return Operation(summary, "A2A HTTP+JSON", responses, request=request, query=query,
                     headers=_AGENT_HEADERS, response_type=response_type)


# Suffix (as in routing.REST_ROUTES) and method -> the operation on every interface prefix.
AGENT_OPERATIONS: dict[tuple[str, str], Operation] = {
    ("POST", "/message:send"): _agent(
        "Send a message (blocking unless returnImmediately)",
        ("The task, or the agent's direct message", _either("v1.SendMessageResponse", "v0.3.SendResult")),
        request=_either("v1.SendMessageRequest", "v0.3.MessageSendParams")),
    ("POST", "/message:stream"): _agent(
        "Send a message and stream the task's events",
        ("Event stream", _STREAM), request=_either("v1.SendMessageRequest", "v0.3.MessageSendParams"),
        response_type=_SSE),
    ("GET", "/tasks"): _agent(
        "List the caller's tasks of this agent", ("A page of tasks", _either(
            "v1.ListTasksResponse", "v0.3.TaskPage")),
        query=(("contextId", {"type": "string"}, "only this context"),
               ("status", {"type": "string", "enum": list(pb.TaskState.keys())}, "only this state"),
               ("pageSize", {"type": "integer", "minimum": 0, "maximum": 2**31 - 1}, "page size"),
               ("pageToken", {"type": "string"}, "from a previous page"),
               ("historyLength", {"type": "integer", "minimum": 0, "maximum": 2**31 - 1},
                "messages per task"),
               ("includeArtifacts", {"type": "boolean"}, "include artifacts"))),
    ("POST", "/tasks/{id}:cancel"): _agent(
        "Cancel a task", ("The canceled task", _either("v1.Task", "v0.3.Task")),
        more={409: ("The task cannot be canceled", "Error")}),
    ("GET", "/tasks/{id}:subscribe"): _agent(
        "Subscribe to a task's events (Last-Event-ID resumes)", ("Event stream", _STREAM),
        response_type=_SSE),
    ("POST", "/tasks/{id}:subscribe"): _agent(
        "Subscribe to a task's events (POST form)", ("Event stream", _STREAM), response_type=_SSE),
    ("GET", "/tasks/{id}"): _agent(
        "Get a task (history trimmed to historyLength)", ("The task", _either("v1.Task", "v0.3.Task")),
        query=_HISTORY),
    ("POST", "/tasks/{id}/pushNotificationConfigs"): _agent(
        "Register a push-notification webhook for a task (A2A 1.0)",
        ("The stored config", "v1.TaskPushNotificationConfig"),
        request="v1.TaskPushNotificationConfig"),
    ("GET", "/tasks/{id}/pushNotificationConfigs"): _agent(
        "List a task's push-notification configs (A2A 1.0)",
        ("The configs", "v1.ListTaskPushNotificationConfigsResponse"),
        query=(("pageSize", {"type": "integer", "minimum": 0, "maximum": 2**31 - 1}, "page size"),
               ("pageToken", {"type": "string"}, "from a previous page"))),
    ("GET", "/tasks/{id}/pushNotificationConfigs/{push_id}"): _agent(
        "Get one push-notification config (A2A 1.0)", ("The config", "v1.TaskPushNotificationConfig")),
    ("DELETE", "/tasks/{id}/pushNotificationConfigs/{push_id}"): _agent(
        "Delete one push-notification config (A2A 1.0)", ("Deleted", {"type": "object"})),
    ("GET", "/tasks/{id}/pushNotificationConfigs/{push_id}/deliveries"): _agent(
        "A push config's delivery state and last attempts (docs/push.md)",
        ("State, reason, next retry and the last attempts", {"type": "object"})),
    ("GET", "/extendedAgentCard"): _agent(
        "The agent's extended card for the caller's tenant (A2A 1.0)", ("The card", "AgentCard")),
}

_JSONRPC = Operation(
    "A2A JSON-RPC 2.0 (every A2A method; 0.3 method names too)", "A2A JSON-RPC",
    {200: ("A JSON-RPC response (protocol errors ride HTTP 200), or an event stream for "
           "streaming methods", "JsonRpcResponse"),
     **{s: (d, "JsonRpcResponse") for s, (d, _) in _ERRORS.items() if s in (401, 403, 404, 413, 429, 503)}},
    request="JsonRpcRequest", headers=_AGENT_HEADERS)


def _context_op(summary: str) -> Operation:
    return Operation(summary, "Contexts", {200: ("A page of the context's items", "ContextPage"),
                                           **_ERRORS},
                     query=(*_PAGING, *_HISTORY), headers=_AGENT_HEADERS)


def _card_op(summary: str) -> Operation:
    return Operation(summary, "Cards", {200: ("The agent card (ETag, Cache-Control)", "AgentCard"),
                                        304: ("Not modified (If-None-Match)", None),
                                        **{k: v for k, v in _ERRORS.items() if k != 429}},
                     headers=("Tenant-Name",), secured=False,
                     extra={"security": [{}, {"ApiKey": []}, {"BearerToken": []}]})


def _builtin_operations() -> None:
    for prefix in (V1, V2):
        for suffix, methods, _ in REST_ROUTES:
            for method in methods:
                operation = AGENT_OPERATIONS[(method, suffix)]
                register(method, f"{prefix}{suffix}", operation)
                register(method, f"{prefix}/{{tenant}}{suffix}", operation)
        register("POST", prefix, _JSONRPC)
        register("POST", f"{prefix}/", _JSONRPC)
    register("GET", f"{V1}/contexts/{{context_id}}", _context_op("A context's tasks and messages, in order"))
    register("DELETE", f"{V1}/contexts/{{context_id}}", Operation(
        "Scrub a context: drop its messages and its tasks' messages and artifacts", "Contexts",
        {204: ("Scrubbed", None), **_ERRORS}, headers=_AGENT_HEADERS))
    register("GET", "/agentic/contexts/{context_id}",
             _context_op("A tenant's context across its agents (Corti v2)"))
    for path in (f"{V1}/.well-known/agent-card.json", f"{V1}/{{tenant}}/.well-known/agent-card.json",
                 "/agents/{agent_id}/agent-card.json", "/agents/{agent_id}/.well-known/agent-card.json",
                 "/agentic/agents/{agent_id}/.well-known/agent-card.json"):
        register("GET", path, _card_op("The agent's card (public; tenant-specific with credentials)"))
    _flag = {"type": "boolean"}
    register("GET", "/agents", Operation(
        "The tenant's agents: the operator's it may use, then its own (Corti agent objects)",
        "Agents", {200: ("Agents", {"type": "array", "items": _ref("Agent")}), **_ERRORS},
        query=(*_PAGING, ("ephemeral", _flag, "include ephemeral agents")),
        headers=("Tenant-Name",)))
    register("POST", "/agents", Operation(
        "Create an agent of the caller's tenant (Corti AgentsCreateAgent; docs/tenants.md)",
        "Agents", {201: ("The agent", "Agent"), **_ERRORS,
                   403: ("Creating agents is not enabled on this server", "Error"),
                   409: ("The tenant has as many agents as it may", "Error")},
        request="AgentCreate", query=(("ephemeral", _flag, "not listed; deleted after a while"),),
        headers=("Tenant-Name",)))
    register("GET", "/agents/{agent_id}", Operation(
        "One agent (Corti agent object)", "Agents", {200: ("The agent", "Agent"), **_ERRORS},
        headers=("Tenant-Name",)))
    register("PATCH", "/agents/{agent_id}", Operation(
        "Change the caller's agent: the members given (Corti AgentsUpdateAgent)", "Agents",
        {200: ("The agent", "Agent"), **_ERRORS,
         403: ("An operator agent: read-only through the API", "Error"),
         409: ("The agent changed meanwhile", "Error")},
        request="AgentUpdate", headers=("Tenant-Name",)))
    register("DELETE", "/agents/{agent_id}", Operation(
        "Delete the caller's agent: new sends get 404, its open tasks are cancelled", "Agents",
        {204: ("Deleted", None), **_ERRORS,
         403: ("An operator agent: read-only through the API", "Error")},
        headers=("Tenant-Name",)))
    register("POST", "/realms/{tenant}/protocol/openid-connect/token", Operation(
        "OAuth2 client-credentials token for a tenant (HTTP Basic or form credentials)", "Auth",
        {200: ("An access token", "TokenResponse"), 400: ("Bad grant or form", "OAuthError"),
         401: ("Invalid client credentials", "OAuthError")},
        request="TokenRequest", request_type="application/x-www-form-urlencoded", secured=False,
        extra={"security": [{}, {"ClientBasic": []}]}))
    register("GET", "/healthz", Operation("Liveness", "Health", {200: ("Alive", "Health")},
                                          secured=False))
    register("GET", "/readyz", Operation("Readiness: the store answers", "Health",
                                         {200: ("Ready", "Health"), 503: ("Not ready", "Health")},
                                         secured=False))
    register("GET", "/metrics", Operation(
        "Prometheus metrics (text format; OpenMetrics by Accept)", "Operations",
        {200: ("Metrics", {"type": "string"}), 401: ("The metrics token is required", "Error")},
        secured=False, response_type="text/plain", extra={"security": [{}, {"MetricsToken": []}]}))
    register("GET", "/openapi.json", Operation("This document", "Operations",
                                               {200: ("OpenAPI 3.1", {"type": "object"})}, secured=False))
    register("GET", "/docs", Operation("Swagger UI for this document", "Operations",
                                       {200: ("HTML", {"type": "string"})}, secured=False,
                                       response_type="text/html"))
    register("GET", "/static-docs/{path}", Operation(
        "Swagger UI's assets (served locally: no CDN)", "Operations",
        {200: ("An asset", {"type": "string"}), 404: ("No such asset", None)}, secured=False,
        response_type="application/octet-stream"))


_OBJECT: Schema = {"type": "object"}
_SHANNON_ERRORS = {status: (text, "SeedError") for status, text in (
    (400, "Invalid request"), (401, "Missing or invalid credentials"),
    (403, "The credentials belong to another tenant"),
    (404, "Task not found (also another tenant's task)"), (413, "Request body too large"),
    (429, "A limit of the tenant: Retry-After and RateLimit fields"),
    (503, "The store is unavailable; retry"))}


def _added_operations() -> None:
    """Routes beside the A2A interface: usage, experts, the seed APIs, the console."""
    usage = Operation(
        "The tenant's model usage of an agent: totals and UTC days (from, to: YYYY-MM-DD)",
        "Usage", {200: ("Totals and the days with usage", "Usage"), **_ERRORS},
        query=(("from", {"type": "string", "format": "date"}, "first day (default: 29 days ago)"),
               ("to", {"type": "string", "format": "date"}, "last day (default: today)")),
        headers=("Tenant-Name",))
    register("GET", "/agents/{agent_id}/usage", usage)
    register("GET", "/agentic/agents/{agent_id}/usage", usage)
    register("GET", "/agents/registry/experts", Operation(
        "What the tenant may use as experts (Corti)", "Agents",
        {200: ("Experts", {"type": "object", "required": ["experts"], "properties": {
            "experts": {"type": "array", "items": _OBJECT}}}), **_ERRORS},
        query=_PAGING, headers=("Tenant-Name",)))
    register("POST", "/api/v1/tasks", Operation(
        "Shannon: submit a query as a new A2A task (session_id is the contextId)", "Seed APIs",
        {200: ("The task id and status (X-Workflow-ID)", _OBJECT),
         502: ("The agent answered with a message, not a task", "SeedError"), **_SHANNON_ERRORS},
        request={"type": "object", "required": ["query"], "properties": {
            "query": {"type": "string", "minLength": 1}, "session_id": {"type": "string"}}},
        headers=("X-Agent-ID",)))
    register("GET", "/api/v1/tasks/{task_id}", Operation(
        "Shannon: a task's flat status (TASK_STATUS_*, result, usage, ...)", "Seed APIs",
        {200: ("The task (X-Workflow-ID)", _OBJECT), **_SHANNON_ERRORS},
        headers=("X-Agent-ID",)))
    register("POST", "/api/v1/tasks/{task_id}/cancel", Operation(
        "Shannon: cancel a task", "Seed APIs",
        {202: ("Cancelled", _OBJECT), 409: ("The task has already finished", "SeedError"),
         **_SHANNON_ERRORS}, headers=("X-Agent-ID",)))
    register("GET", "/tasks/{task_id}", Operation(
        "agentlin: a task in a JSON-RPC 2.0 envelope (result.object = task)", "Seed APIs",
        {200: ("The envelope: a result or a JSON-RPC error", _OBJECT),
         401: ("Missing or invalid credentials", _OBJECT),
         403: ("The credentials belong to another tenant", _OBJECT),
         404: ("No such agent (X-Agent-ID) for the caller's tenant", _OBJECT),
         413: ("Too large", _OBJECT),
         429: ("A limit of the tenant: Retry-After and RateLimit fields", _OBJECT),
         503: ("The store is unavailable", _OBJECT)}, headers=("X-Agent-ID",)))
    register("GET", "/.well-known/jwks.json", Operation(
        "The public keys push deliveries are signed with (JWKS)", "Push",
        {200: ("A JSON Web Key Set", {"type": "object", "required": ["keys"], "properties": {
            "keys": {"type": "array", "items": _OBJECT}}})}, secured=False))
    register("GET", "/console", Operation(
        "The web console (redirects to /console/)", "Console",
        {308: ("To /console/", None)}, secured=False, response_type="text/html"))
    register("GET", "/console/{path}", Operation(
        "The web console's files (served from the package: no CDN)", "Console",
        {200: ("A file", {"type": "string"}), 404: ("No such file", None)}, secured=False,
        response_type="application/octet-stream"))


def _v03_components() -> dict[str, Schema]:
    models: list[type[BaseModel]] = [v03.MessageSendParams, v03.Task, v03.Message]
    _, top = models_json_schema([(m, "validation") for m in models],
                                ref_template="#/components/schemas/v0.3.{model}")
    components = {f"v0.3.{name}": schema for name, schema in top.get("$defs", {}).items()}
    components["v0.3.SendResult"] = {"oneOf": [
        {"type": "object", "properties": {"task": _ref("v0.3.Task")}, "required": ["task"]},
        {"type": "object", "properties": {"message": _ref("v0.3.Message")}, "required": ["message"]}]}
    components["v0.3.TaskPage"] = {"type": "object", "properties": {
        "tasks": {"type": "array", "items": _ref("v0.3.Task")}, "nextPageToken": {"type": "string"},
        "pageSize": {"type": "integer"}, "totalSize": {"type": "integer"}}, "required": ["tasks"]}
    return components


_ERROR = {"type": "object", "required": ["error"], "properties": {"error": {
    "type": "object", "required": ["code", "message"],
    "properties": {"code": {"type": "integer"}, "status": {"type": "string"},
                   "message": {"type": "string"}, "details": {"type": "array"}}}},
    "description": "google.rpc.Status-style error (REST bindings)"}
_OTHER_COMPONENTS: dict[str, Schema] = {
    "Error": _ERROR,
    "SeedError": {"type": "object", "required": ["error"],
                  "properties": {"error": {"type": "string"}},
                  "description": "Shannon's error body"},
    "Usage": {"type": "object", "required": ["agent", "from", "to", "totals", "days"], "properties": {
        "agent": {"type": "string"}, "from": {"type": "string"}, "to": {"type": "string"},
        "totals": {"type": "object"}, "days": {"type": "array", "items": {"type": "object"}}}},
    "OAuthError": {"type": "object", "required": ["error"], "properties": {
        "error": {"type": "string"}, "error_description": {"type": "string"}}},
    "TokenRequest": {"type": "object", "required": ["grant_type"], "properties": {
        "grant_type": {"type": "string", "enum": ["client_credentials"]},
        "client_id": {"type": "string"}, "client_secret": {"type": "string"}}},
    "TokenResponse": {"type": "object", "required": ["access_token", "token_type", "expires_in"],
                      "properties": {"access_token": {"type": "string"},
                                     "token_type": {"type": "string", "enum": ["Bearer"]},
                                     "expires_in": {"type": "integer"}, "scope": {"type": "string"}}},
    "Health": {"type": "object", "required": ["status"], "properties": {
        "status": {"type": "string"}, "store": {"type": "string"}}},
    "Agent": {"type": "object", "required": ["id", "name"], "properties": {
        "id": {"type": "string"}, "name": {"type": "string"}, "description": {"type": "string"},
        "systemPrompt": {"type": "string"}, "experts": {"type": "array"},
        "remote": {"type": "object"}, "ephemeral": {"type": "boolean"}}},
    "AgentCreate": {"type": "object", "required": ["name", "description"],
                    "additionalProperties": False, "properties": {
        "name": {"type": "string", "minLength": 1}, "description": {"type": "string"},
        "systemPrompt": {"type": "string"},
        "agentType": {"enum": ["expert", "orchestrator", "interviewing-expert"]},
        "experts": {"type": "array", "items": {"$ref": "#/components/schemas/ExpertIn"}},
        "remote": {"type": "object", "required": ["cardUrl"], "additionalProperties": False,
                   "properties": {"cardUrl": {"type": "string", "format": "uri"}}},
        "ephemeral": {"type": "boolean"}}},
    "AgentUpdate": {"type": "object", "additionalProperties": False, "properties": {
        "name": {"type": "string", "minLength": 1}, "description": {"type": "string"},
        "systemPrompt": {"type": "string"},
        "experts": {"type": "array", "items": {"$ref": "#/components/schemas/ExpertIn"}},
        "remote": {"type": "object", "required": ["cardUrl"], "additionalProperties": False,
                   "properties": {"cardUrl": {"type": "string", "format": "uri"}}}}},
    "ExpertIn": {"type": "object", "additionalProperties": False,
                 "description": "An inline expert (type new) or a reference to an agent",
                 "properties": {
        "type": {"enum": ["new", "reference"]}, "id": {"type": "string"},
        "name": {"type": "string"}, "description": {"type": "string"},
        "systemPrompt": {"type": "string"},
        "mcpServers": {"type": "array", "items": {"type": "object", "required": ["name", "url"],
                       "properties": {
            "name": {"type": "string", "pattern": "^[a-zA-Z0-9_-]{1,64}$"},
            "description": {"type": "string"},
            "transportType": {"enum": ["streamable_http"]},
            "authorizationType": {"enum": ["none", "inherit"]},
            "authorizationScope": {"type": "string"}, "url": {"type": "string", "format": "uri"},
            "redirectUrl": {"type": "string"}}}}}},
    "ContextPage": {"type": "object", "required": ["id", "items", "total", "limit", "offset"],
                    "properties": {"id": {"type": "string"}, "items": {"type": "array"},
                                   "total": {"type": "integer"}, "limit": {"type": "integer"},
                                   "offset": {"type": "integer"}}},
    "JsonRpcRequest": {"type": "object", "required": ["jsonrpc", "method"], "properties": {
        "jsonrpc": {"const": "2.0"}, "id": {"type": ["string", "integer", "null"]},
        "method": {"type": "string", "examples": ["SendMessage", "GetTask", "message/send"]},
        "params": {"type": "object"}}},
    "JsonRpcResponse": {"type": "object", "required": ["jsonrpc"], "properties": {
        "jsonrpc": {"const": "2.0"}, "id": {"type": ["string", "integer", "null"]},
        "result": {}, "error": {"type": "object", "required": ["code", "message"], "properties": {
            "code": {"type": "integer"}, "message": {"type": "string"}, "data": {}}}}},
}
_PARAMETERS = {
    "A2A-Version": {"name": "A2A-Version", "in": "header", "required": False,
                    "description": "1.0 for A2A 1.0 ProtoJSON; absent or 0.3 for the 0.3 (Corti) shapes",
                    "schema": {"type": "string", "enum": ["1.0", "0.3"]}},
    "Tenant-Name": {"name": "Tenant-Name", "in": "header", "required": False,
                    "description": "The tenant (must be the credentials' tenant)",
                    "schema": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,62}$"}},
    "X-Agent-ID": {"name": "X-Agent-ID", "in": "header", "required": False,
                   "description": "The agent that answers (default: the tenant's default_agent)",
                   "schema": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,62}$"}},
}


def _responses(op: Operation) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for status, (description, schema) in op.responses.items():
        entry: dict[str, Any] = {"description": description}
        if schema is not None:
            body = {"schema": _ref(schema) if isinstance(schema, str) else schema}
            content = op.response_type if status < 300 else JSON
            entry["content"] = {content: body}
            if content == JSON and op.tag.startswith("A2A"):  # 1.0 answers may use A2A's type
                entry["content"][A2A_JSON] = body
        out[str(status)] = entry
    return out


def _operation_id(method: str, path: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9]+", "_", path).strip("_")
    return f"{method.lower()}_{slug}{'_slash' if path.endswith('/') else ''}"


def _operation(method: str, path: str, op: Operation) -> dict[str, Any]:
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
        for name in _PARAM.findall(path)]
    params += [{"$ref": f"#/components/parameters/{name}"} for name in op.headers]
    params += [{"name": n, "in": "query", "required": False, "schema": s, "description": d}
               for n, s, d in op.query]
    doc: dict[str, Any] = {"summary": op.summary, "tags": [op.tag], "responses": _responses(op),
                           "operationId": _operation_id(method, path)}
    if params:
        doc["parameters"] = params
    if op.request is not None:
        schema = _ref(op.request) if isinstance(op.request, str) else op.request
        doc["requestBody"] = {"required": True, "content": {op.request_type: {"schema": schema}}}
    if op.secured:
        doc["security"] = [{"ApiKey": []}, {"BearerToken": []}, {"OAuth2": []}]
    doc.update(op.extra)
    return doc


def _loose(schema: Schema) -> Schema:
    if "$ref" in schema or schema.get("type") == "object":
        return {"type": "object"}
    if schema.get("type") == "array":
        return {"type": "array"}
    return schema


def _served_card(card: Schema) -> Schema:
    """The card as served: 1.0 members, plus the 0.3 ones (url, preferredTransport,
    protocolVersion, 0.3 security schemes...) for 0.3 clients, so nested members are
    checked for their kind only."""
    return {"type": "object", "required": card.get("required", []),
            "properties": {k: _loose(v) for k, v in card["properties"].items()},
            "description": "An A2A 1.0 agent card that also carries the A2A 0.3 members"}


def build_document(*, title: str, version: str, token_url: str) -> dict[str, Any]:
    """The whole document (``token_url``: the client-credentials URL template, with {tenant})."""
    components: dict[str, Schema] = {}
    for message in (pb.SendMessageRequest, pb.SendMessageResponse, pb.Task, pb.ListTasksResponse,
                    pb.TaskPushNotificationConfig, pb.ListTaskPushNotificationConfigsResponse,
                    pb.AgentCard, pb.StreamResponse):
        message_schema(message.DESCRIPTOR, components)
    components["AgentCard"] = _served_card(components["v1.AgentCard"])
    components.update(_v03_components())
    components.update(_OTHER_COMPONENTS)
    paths: dict[str, dict[str, Any]] = {}
    for (method, path), op in sorted(OPERATIONS.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        paths.setdefault(path, {})[method.lower()] = _operation(method, path, op)
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version,
                 "description": "Multi-tenant A2A agent server (Corti-style routing). A2A 1.0 "
                 "HTTP+JSON and JSON-RPC, with A2A 0.3 shapes when A2A-Version is absent or 0.3."},
        "paths": paths,
        "components": {
            "schemas": components,
            "parameters": _PARAMETERS,
            "securitySchemes": {
                "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                "BearerToken": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT or API key"},
                "OAuth2": {"type": "oauth2", "description": "Client credentials, one realm per tenant: "
                           f"{token_url}", "flows": {"clientCredentials": {
                               "tokenUrl": token_url.replace("{tenant}", "demo"), "scopes": {}}}},
                "ClientBasic": {"type": "http", "scheme": "basic"},
                "MetricsToken": {"type": "http", "scheme": "bearer"},
            },
        },
    }


_builtin_operations()
_added_operations()
