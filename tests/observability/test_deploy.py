"""The Grafana dashboard and the alert rules only name metrics the server exports."""

from __future__ import annotations

import json
import re

import httpx
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import REPO, make_settings, running_app

_NAME = re.compile(r"\ba2a_[a-z_]+")


async def test_dashboard_and_alerts_use_exported_metric_names() -> None:
    async with running_app(make_settings()) as app:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            text = (await http.get("/metrics")).text
    exported: set[str] = set()
    for family in text_string_to_metric_families(text):
        exported.add(family.name)
        suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum")}
        exported |= {family.name + s for s in suffixes.get(family.type, ())}
    dashboard = json.loads((REPO / "deploy/grafana/dashboards/a2a-server.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    alerts = yaml.safe_load((REPO / "deploy/alerts.yml").read_text())
    exprs += [rule["expr"] for group in alerts["groups"] for rule in group["rules"]]
    used = {name for expr in exprs for name in _NAME.findall(expr)}
    assert used and used <= exported, used - exported
