"""Generated hostile input on Corti's agent CRUD (issue 10's standard on issue 11's routes).

Bodies of ``POST /agents`` and ``PATCH /agents/{id}`` (valid and malformed Corti payloads,
wrong types, huge strings, deep nesting, non-finite numbers, control characters and odd
Unicode, unknown members, duplicate expert names, URLs of every form in
``mcpServers[].url`` and ``remote.cardUrl``), ids that are not UUIDs or are another
tenant's, and ``GET /agents`` query strings, against a live server on each store with the
operator's ``tenant_agents_file``. Each asserts: no 5xx; an error is the route's
``{"error": {code, status, message}}`` and names the field; a refused request stores
nothing; and afterwards every read of the tenant (``GET /agents``, each created agent's
``GET`` and card, a send to it through the provider stand-in) answers 200.

The number of examples comes from the hypothesis profile (tests/conftest.py): ``ci`` by
default, ``HYPOTHESIS_PROFILE=long`` for a long run (docs/hardening.md).
"""

from __future__ import annotations

import ipaddress
import re
import urllib.parse
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from tests.conftest import ACME, DEMO, V1, LiveServer, user_message_v1
from tests.llm.conftest import Provider
from tests.llm.test_agent_crud import policy_file
from tests.protocol.bindings import encode
from tests.protocol.test_generated_input import SCALARS, json_depth, mostly, nested

JSON_HEADERS = {**DEMO, "Content-Type": "application/json"}


# -- strings ------------------------------------------------------------------------------

ODD = st.sampled_from(["\x00", "\r\n", "\x1b[31m", "\u202e", "\ufeff", "\u200b", "\U0001f600",
                       "\u0661\u0662", "e\u0301", "\ud800", "\udcff", "\t", "\x7f", "\u2028"])
HUGE = st.sampled_from([10, 201, 2_001, 20_001, 200_000]).map(lambda n: "x" * n)
PRINTABLE = st.text(st.characters(exclude_categories=("Cc", "Cs", "Cf", "Zl", "Zp")),
                    min_size=1, max_size=16)
TEXT = mostly(PRINTABLE,
              st.one_of(st.lists(ODD | st.text(max_size=3), min_size=1, max_size=4).map("".join),
                        HUGE, st.just("")))
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
NAME_POOL = st.sampled_from(["Alpha", "Beta", "alpha", "Alpha ", "Al pha", "Al_pha", "echo"])

# -- URLs ---------------------------------------------------------------------------------

# Hosts whose every address is not public: the server must never store a URL naming one.
PRIVATE_HOSTS = [
    "127.0.0.1", "10.1.2.3", "192.168.0.1", "169.254.169.254", "0.0.0.0", "localhost",
    "127.1", "2130706433", "0x7f000001", "[::1]", "[::]", "[::ffff:127.0.0.1]",
    "[::ffff:7f00:1]", "[::127.0.0.1]", "[2002:7f00:1::1]", "[2002:a01:203::]",
    "[64:ff9b::7f00:1]", "[64:ff9b::a01:203]", "[64:ff9b:1::a01:203]",
    "[2001:0:4136:e378:8000:63bf:80ff:fffe]", "[fe80::1]", "[fc00::1]", "[fe80::1%25eth0]",
]
OTHER_HOSTS = ["mcp.example.com", "remote.example.org", "mcp.example.com", "mcp.example.com",
               "remote.example.org", "8.8.8.8", "[2606:4700:4700::1111]",
               "ex\u00e4mple.com", "xn--nxasmq6b.com", "a" * 64 + ".com", "a.b", "", " ",
               "h\u0000st", "exa mple.com", "[::ffff:8.8.8.8]", "[2002:808:808::]"]
SCHEMES = ["HTTP", "HtTpS", "ftp", "file", "javascript", "gopher", "ws", "data", ""]
USERINFO = ["user@", "user:pass@", "evil.com@", "127.0.0.1@", "a%40b:c@", "\u0000@"]
PORTS = [":80", ":443", ":0", ":65535", ":65536", ":99999", ":-1", ":abc", ":"]


@st.composite
def urls(draw: st.DrawFn) -> str:
    """A URL of every form (or a string that is no URL at all)."""
    if draw(st.integers(1, 10)) == 1:
        return str(draw(TEXT))
    host = draw(st.sampled_from(PRIVATE_HOSTS) | st.sampled_from(OTHER_HOSTS))
    scheme = draw(mostly(st.sampled_from(["http", "https"]), st.sampled_from(SCHEMES), 4))
    userinfo = draw(mostly(st.just(""), st.sampled_from(USERINFO), 4))
    port = draw(mostly(st.just(""), st.sampled_from(PORTS), 4))
    path = draw(st.sampled_from(["", "/", "/mcp", "/.well-known/agent-card.json"])
                | st.text(max_size=10).map(lambda t: "/" + t) | HUGE.map(lambda t: "/" + t))
    return f"{scheme}://{userinfo}{host}{port}{path}"


def names_private_host(url: str) -> bool:
    """``url``'s host is one of PRIVATE_HOSTS (as urllib reads it)."""
    try:
        host = urllib.parse.urlsplit(url).hostname or ""
    except ValueError:
        return False
    host = host.split("%", 1)[0]
    literal = {h.strip("[]").lower().split("%", 1)[0] for h in PRIVATE_HOSTS}
    if host in literal:
        return True
    try:
        return not ipaddress.ip_address(host).is_global
    except ValueError:
        return False


def never_stored(url: str) -> bool:
    """A URL no created agent may hold: a private host, or credentials in it."""
    try:
        userinfo = "@" in urllib.parse.urlsplit(url).netloc
    except ValueError:
        userinfo = False
    return userinfo or names_private_host(url)


def urls_in(body: Any) -> list[str]:
    """Every ``url`` / ``cardUrl`` string in a generated body."""
    found: list[str] = []
    if isinstance(body, dict):
        for key, value in body.items():
            if key in ("url", "cardUrl") and isinstance(value, str):
                found.append(value)
            else:
                found += urls_in(value)
    elif isinstance(body, list):
        for item in body:
            found += urls_in(item)
    return found


# -- Corti payloads -----------------------------------------------------------------------

ODD_VALUES = SCALARS | json_depth(2) | st.integers(15, 60).map(nested)


def field(usual: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A member's value: usually of its type, sometimes anything."""
    return mostly(usual, ODD_VALUES, one_in=30)


def mcp_servers() -> st.SearchStrategy[Any]:
    return with_unknown(st.fixed_dictionaries(
        {"name": field(mostly(st.sampled_from(["docs", "search", "docs"]),
                              st.sampled_from(["a b", "x" * 65, "", "\u00e9", "a\n"]))),
         "url": field(urls())},
        optional={"transportType": field(st.sampled_from(["streamable_http", "stdio", "sse", "x"])),
                  "authorizationType": field(st.sampled_from(["none", "inherit", "bearer",
                                                              "oauth2.0", "basic"])),
                  "description": field(TEXT), "token": field(TEXT),
                  "authorizationScope": field(TEXT), "redirectUrl": field(urls()),
                  }))


def experts(references: list[str]) -> st.SearchStrategy[Any]:
    inline = st.fixed_dictionaries(
        {"name": field(NAME_POOL | TEXT), "description": field(TEXT)},
        optional={"type": field(st.sampled_from(["new", "expert", "reference", "other"])),
                  "systemPrompt": field(TEXT),
                  "mcpServers": field(st.lists(mcp_servers(), max_size=3))})
    reference = st.fixed_dictionaries(
        {"id": field(st.sampled_from(references) | st.text(max_size=70))},
        optional={"type": field(st.just("reference")), "name": field(NAME_POOL),
                  "systemPrompt": field(TEXT)})
    by_name = st.fixed_dictionaries({"type": st.just("reference"), "name": NAME_POOL})
    return mostly(inline | reference | by_name, ODD_VALUES)


def agent_bodies(references: list[str], *, create: bool) -> st.SearchStrategy[Any]:
    members = {"name": field(NAME_POOL | TEXT), "description": field(TEXT)}
    optional: dict[str, st.SearchStrategy[Any]] = {
        "systemPrompt": field(TEXT),
        "experts": field(st.lists(experts(references), max_size=5)),
        "remote": field(st.fixed_dictionaries({"cardUrl": field(urls())})),
    }
    if create:
        optional["agentType"] = field(st.sampled_from(["expert", "orchestrator",
                                                       "interviewing-expert", "robot"]))
        optional["ephemeral"] = field(st.booleans())
        body = st.fixed_dictionaries(members, optional=optional)
    else:
        body = st.fixed_dictionaries({}, optional={  # PATCH: null is a value too
            key: mostly(value, st.none(), 6) for key, value in {**members, **optional}.items()})
    return mostly(with_unknown(body), json_depth(3) | st.integers(15, 1100).map(nested))


@st.composite
def with_unknown(draw: st.DrawFn, body: st.SearchStrategy[dict[str, Any]]) -> dict[str, Any]:
    """``body``, with an unknown member (refused at once) in about one draw in eight."""
    drawn = dict(draw(body))
    if draw(st.integers(1, 8)) == 1:
        drawn[draw(st.sampled_from(["unknown", "Name", "", "system_prompt"]))] = draw(ODD_VALUES)
    return drawn


# -- checks -------------------------------------------------------------------------------


def check_error(response: httpx.Response) -> str:
    """A REST error of the route's format; its message."""
    assert response.status_code < 500, response.text
    error = response.json()["error"]
    assert error["code"] == response.status_code and error["status"], error
    message: str = error["message"]
    assert message and "Traceback" not in message
    return message


def check_validation_error(response: httpx.Response) -> None:
    """A refused body: 400 naming the member (or saying the body is not JSON)."""
    message = check_error(response)
    if response.status_code == 400:
        assert "field '" in message or "not valid JSON" in message, message


def created_ids(http: httpx.Client, headers: dict[str, str] = DEMO) -> dict[str, dict[str, Any]]:
    """The tenant's created agents (ephemeral ones included), by id."""
    listed = http.get("/agents", params={"ephemeral": "true", "limit": "1000"}, headers=headers)
    assert listed.status_code == 200, listed.text
    return {a["id"]: a for a in listed.json() if len(a["id"]) == 36}


def check_agent_reads(http: httpx.Client, agent: dict[str, Any]) -> None:
    """The agent's GET, its card, and a send to it (LLM agents: the provider stand-in)."""
    agent_id = agent["id"]
    got = http.get(f"/agents/{agent_id}", headers=DEMO)
    assert got.status_code == 200, got.text
    assert got.json() == agent
    card = http.get(f"/agents/{agent_id}/agent-card.json", headers=DEMO)
    assert card.status_code == 200, card.text
    assert card.json()["name"] == agent["name"] != ""  # A2A requires a name and a description
    assert card.json()["description"]
    sent = http.post(f"/agents/{agent_id}/v1/message:send", json=user_message_v1("hello"),
                     headers={**DEMO, **V1})
    assert sent.status_code == 200, sent.text
    state = sent.json()["task"]["status"]["state"]
    # A remote agent names a public host nobody reaches from here: its task fails, cleanly.
    assert state == ("TASK_STATE_FAILED" if "remote" in agent else "TASK_STATE_COMPLETED"), sent.text


def check_tenant_reads(http: httpx.Client) -> int:
    """Every read of the demo tenant answers 200; how many created agents it has."""
    agents = created_ids(http)
    for agent in agents.values():
        check_agent_reads(http, agent)
    return len(agents)


@pytest.fixture
def live(backend: str, live_server_factory: Any, tmp_path: Path, provider: Provider,
         monkeypatch: pytest.MonkeyPatch) -> LiveServer:
    monkeypatch.setenv("STANDIN_API_KEY", "sk-standin")
    provider.rule("hello", {"text": "Hi", "usage": {"prompt_tokens": 1, "completion_tokens": 1}})
    policy = policy_file(tmp_path, provider, max_agents_per_tenant=10_000, max_experts=4,
                         max_mcp_servers=4, max_system_prompt_chars=20_000, max_name_chars=200)
    return live_server_factory(backend, tenant_agents_file=policy)


def setup_agents(http: httpx.Client) -> tuple[str, str]:
    """demo's agent and acme's agent (named so a reference by name could find it)."""
    mine = http.post("/agents", json={"name": "Alpha", "description": "d"}, headers=DEMO)
    theirs = http.post("/agents", json={"name": "Beta", "description": "acme's"}, headers=ACME)
    assert mine.status_code == theirs.status_code == 201, (mine.text, theirs.text)
    return str(mine.json()["id"]), str(theirs.json()["id"])


@pytest.mark.timeout(900)  # a failure is shrunk against the live server
def test_generated_creates(live: LiveServer) -> None:
    with httpx.Client(base_url=live.url, timeout=30) as http:
        mine, theirs = setup_agents(http)
        references = ["echo", mine, theirs, theirs.upper(), str(uuid.uuid4()), "Beta"]

        queries = mostly(st.sampled_from(["", "", "?ephemeral=true"]),
                         st.sampled_from(["?ephemeral=1e3", "?ephemeral=\u0661", "?ephemeral="]))

        @given(agent_bodies(references, create=True), queries)
        def one(body: Any, query: str) -> None:
            before = created_ids(http)
            response = http.post(f"/agents{query}", content=encode(body), headers=JSON_HEADERS)
            after = created_ids(http)
            event(f"POST {response.status_code}")
            if response.status_code != 201:
                check_validation_error(response)
                assert after == before  # nothing stored by a refused request
                return
            agent = response.json()
            assert set(after) == {*before, agent["id"]}
            assert not any(never_stored(u) for u in urls_in(body)), body
            names = [e["name"] for e in agent["experts"]]
            assert not any(CONTROL.search(n) for n in [agent["name"], *names]), agent
            assert len(names) == len(set(names))
            assert theirs not in [e["id"] for e in agent["experts"]]
            check_agent_reads(http, agent)

        one()
        assert check_tenant_reads(http) > 1  # the generator makes valid bodies too
        assert http.get(f"/agents/{theirs}", headers=ACME).status_code == 200


@pytest.mark.timeout(900)
def test_generated_updates(live: LiveServer) -> None:
    with httpx.Client(base_url=live.url, timeout=30) as http:
        mine, theirs = setup_agents(http)
        references = ["echo", theirs, str(uuid.uuid4()), "Beta", "echo"]

        @given(agent_bodies(references, create=False))
        def one(body: Any) -> None:
            before = http.get(f"/agents/{mine}", headers=DEMO).json()
            response = http.patch(f"/agents/{mine}", content=encode(body), headers=JSON_HEADERS)
            after = http.get(f"/agents/{mine}", headers=DEMO)
            event(f"PATCH {response.status_code}")
            assert after.status_code == 200, after.text
            if response.status_code != 200:
                check_validation_error(response)
                assert after.json() == before  # nothing changed by a refused request
                return
            assert after.json() == response.json()
            assert not any(never_stored(u) for u in urls_in(body)), body
            assert not CONTROL.search(response.json()["name"])
            check_agent_reads(http, response.json())

        one()
        check_tenant_reads(http)
        assert http.get(f"/agents/{theirs}", headers=ACME).json()["name"] == "Beta"


@pytest.mark.timeout(900)
def test_generated_ids_get_the_hidden_404(live: LiveServer) -> None:
    """Ids that are not UUIDs, not the caller's or another tenant's: GET, PATCH, DELETE, the
    card and a send answer like a missing agent (an operator agent: read-only), and change
    nothing."""
    with httpx.Client(base_url=live.url, timeout=30) as http:
        mine, theirs = setup_agents(http)
        ids = (st.sampled_from([theirs, mine.upper(), f" {mine}", f"{mine}\n", mine[:-1],
                                str(uuid.uuid4()), "echo", "ECHO", "%00", "%2e%2e", mine + "0",
                                "\u0661" * 36, theirs.replace("-", "")])
               # "/" (even as %2F) and dot segments name other routes
               | st.text(min_size=1, max_size=40).filter(
                   lambda t: "/" not in t and t.strip(".") != ""))

        # (method, suffix): the CRUD routes, the card and a send
        routes = st.sampled_from([("GET", ""), ("PATCH", ""), ("DELETE", ""),
                                  ("GET", "/agent-card.json"), ("POST", "/v1/message:send")])

        def call(method: str, agent_id: str, suffix: str) -> httpx.Response:
            body = (encode({"name": "Changed"}) if method == "PATCH" else
                    encode(user_message_v1("hello")) if method == "POST" else None)
            return http.request(method, f"/agents/{urllib.parse.quote(agent_id, safe='')}{suffix}",
                                content=body, headers={**JSON_HEADERS, **V1})

        @given(ids, routes)
        def one(agent_id: str, route: tuple[str, str]) -> None:
            method, suffix = route
            response = call(method, agent_id, suffix)
            if response.status_code < 400:  # only an operator agent the tenant may use
                assert agent_id == "echo" and (method, suffix) != ("PATCH", ""), response.text
                assert (method, suffix) != ("DELETE", ""), response.text
                return
            message = check_error(response)
            if agent_id == theirs:  # exactly what a missing id answers
                missing = str(uuid.uuid4())
                other = call(method, missing, suffix)
                assert (response.status_code, message.replace(theirs, missing)) == (
                    other.status_code, check_error(other))

        one()
        assert http.get(f"/agents/{theirs}", headers=ACME).json()["name"] == "Beta"
        assert http.get(f"/agents/{mine}", headers=DEMO).json()["name"] == "Alpha"
        check_tenant_reads(http)


@pytest.mark.timeout(600)
def test_generated_list_queries(live: LiveServer) -> None:
    values = (st.text(max_size=6) | st.integers(-(2**40), 2**40).map(str)
              | st.sampled_from(["+1", "1e3", "\u0661", "\u0661\u0662", " 1", "0x10", "1.0",
                                 "-0", "", "NaN", "9" * 10, "9" * 5000, "true", "TRUE", "yes"]))
    names = st.sampled_from(["limit", "offset", "ephemeral", "pageSize", "tenant"])
    with httpx.Client(base_url=live.url, timeout=30) as http:
        setup_agents(http)
        total = len(http.get("/agents", params={"ephemeral": "true"}, headers=DEMO).json())

        @given(st.dictionaries(names, values, max_size=3))
        def one(query: dict[str, str]) -> None:
            response = http.get("/agents", params=query, headers=DEMO)
            if response.status_code != 200:
                message = check_error(response)
                assert response.status_code in (400, 403), message
                assert any(name in message for name in query), message
                return
            listed = response.json()
            limit = int(query.get("limit") or 100)
            assert len(listed) <= min(limit, 1000, total)

        one()
        page = http.get("/agents", params={"limit": "1", "offset": str(total - 1)}, headers=DEMO)
        assert page.status_code == 200 and len(page.json()) == 1
        check_tenant_reads(http)


def test_no_agent_stored_names_a_private_host(live: LiveServer) -> None:
    """Every private form, as an MCP server of an inline expert and as a remote card URL,
    is refused naming the field (the generated tests draw them at random)."""
    with httpx.Client(base_url=live.url, timeout=30) as http:
        for host in PRIVATE_HOSTS:
            for url in (f"http://{host}/mcp", f"https://user:pass@{host}:8443/x"):
                expert = {"name": "E", "description": "d",
                          "mcpServers": [{"name": "m", "url": url}]}
                made = http.post("/agents", json={"name": "A", "description": "d",
                                                  "experts": [expert]}, headers=DEMO)
                assert made.status_code == 400, (url, made.text)
                assert "field 'experts.0.mcpServers.0.url'" in check_error(made)
                remote = http.post("/agents", json={"name": "R", "description": "d",
                                                    "remote": {"cardUrl": url}}, headers=DEMO)
                assert remote.status_code == 400, (url, remote.text)
                assert "field 'remote.cardUrl'" in check_error(remote)
        assert created_ids(http) == {}
