"""``GET /agents/{agent_id}/usage``: a tenant's usage counters of one agent, by UTC day.

Query: ``from`` and ``to`` (``YYYY-MM-DD``, inclusive, UTC; a date-time is read as
its date). Default: the last 30 days up to today. At most 366 days per request.
Scoped like everything else: another tenant's agent, or one not enabled for the
caller, is a 404 exactly like a missing one.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from a2a_server.errors import BadRequest, NotFound, json_response
from a2a_server.protocol.gate import authenticate_counted, state_of
from a2a_server.protocol.rest import rest_endpoint
from a2a_server.stores.base import Scope
from a2a_server.stores.usage import MAX_DAYS, UsageDay, today

_DEFAULT_DAYS = 30


def _day(raw: str | None, name: str) -> date | None:
    if raw is None or raw == "":
        return None
    try:
        if len(raw) == 10:
            return date.fromisoformat(raw)
        return datetime.fromisoformat(raw.replace("Z", "+00:00")).date()
    except ValueError:
        raise BadRequest(f"'{name}' must be a date (YYYY-MM-DD), got '{raw[:40]}'") from None


def _range(request: Request) -> tuple[date, date]:
    last = _day(request.query_params.get("to"), "to") or today()
    first = _day(request.query_params.get("from"), "from") or last - timedelta(
        days=_DEFAULT_DAYS - 1)
    if first > last:
        raise BadRequest(f"'from' ({first}) is after 'to' ({last})")
    if (last - first).days + 1 > MAX_DAYS:
        raise BadRequest(f"the range covers more than {MAX_DAYS} days; ask for less")
    return first, last


def _totals(days: list[UsageDay]) -> dict[str, Any]:
    total = UsageDay(date.min)
    for day in days:
        total.input_tokens += day.input_tokens
        total.output_tokens += day.output_tokens
        total.calls += day.calls
        total.cost_nanos += day.cost_nanos
        total.priced = total.priced or day.priced
        total.currency = day.currency
        for model, counts in day.models.items():
            into = total.models.setdefault(model, {"input_tokens": 0, "output_tokens": 0,
                                                   "calls": 0})
            for key, value in counts.items():
                into[key] += value
    out = total.to_json()
    del out["date"]
    return out


@rest_endpoint
async def agent_usage(request: Request) -> Response:
    """The agent's usage for the caller's tenant: totals and per-day buckets."""
    server = state_of(request)
    principal, tenant = await authenticate_counted(request)
    agent_id = request.path_params["agent_id"]
    runtime = server.runtimes.get(agent_id)
    if runtime is None or not runtime.agent.enabled_for(tenant):
        raise NotFound(f"agent '{agent_id}' not found")
    first, last = _range(request)
    days = await server.stores.usage.days(Scope(principal.tenant, agent_id), first, last)
    return json_response({
        "agent": agent_id, "from": first.isoformat(), "to": last.isoformat(),
        "totals": _totals(days), "days": [day.to_json() for day in days]})
