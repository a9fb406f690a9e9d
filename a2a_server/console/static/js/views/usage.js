// Usage per agent and day, from GET /agents/{id}/usage (a2a_server/protocol/usage.py):
// {"agent", "from", "to", "totals": {...}, "days": [{"date": "2026-12-01", "input_tokens": 10,
// "output_tokens": 5, "total_tokens": 15, "calls": 2, "currency": "USD", "models": {...},
// "estimated_cost"?: 0.0001}, ...]}; only days with usage are listed.

import { ApiError, request } from "../api.js";
import { h } from "../dom.js";
import { listAgents } from "./agents.js";

const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const child of children) if (child) el.append(child);
  return el;
}

function number(value) {
  return typeof value === "number" && Number.isFinite(value) && value >= 0 ? value : 0;
}

/** The usage answer as {days: [{date, input, output, total, cost, currency, calls}], totals}. */
export function readUsage(body) {
  const row = (item) => ({
    date: String(item.date || ""),
    input: number(item.input_tokens),
    output: number(item.output_tokens),
    total: number(item.total_tokens),
    cost: typeof item.estimated_cost === "number" ? item.estimated_cost : null,
    currency: item.currency || "USD",
    calls: number(item.calls),
  });
  const days = Array.isArray(body?.days) ? body.days.map(row) : [];
  return { days, totals: days.length && body?.totals ? row(body.totals) : null };
}

function chart(agentId, days) {
  const width = 640;
  const height = 220;
  const pad = { left: 56, right: 12, top: 12, bottom: 40 };
  const max = Math.max(1, ...days.map((d) => d.total));
  const slot = (width - pad.left - pad.right) / days.length;
  const bar = Math.max(4, Math.min(48, slot * 0.6));
  const y = (v) => pad.top + (height - pad.top - pad.bottom) * (1 - v / max);
  const title = `Tokens per day for ${agentId}`;
  const el = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": title, class: "chart" },
    svg("title", {}, document.createTextNode(title)),
    svg("line", { x1: pad.left, x2: width - pad.right, y1: y(0), y2: y(0), class: "axis" }),
    svg("text", { x: pad.left - 6, y: y(max) + 4, "text-anchor": "end", class: "tick" }, document.createTextNode(String(max))),
    svg("text", { x: pad.left - 6, y: y(0) + 4, "text-anchor": "end", class: "tick" }, document.createTextNode("0")));
  days.forEach((d, i) => {
    const x = pad.left + slot * i + (slot - bar) / 2;
    const inputTop = y(d.input);
    el.append(
      svg("rect", { x, y: inputTop, width: bar, height: y(0) - inputTop, class: "bar-input" },
        svg("title", {}, document.createTextNode(`${d.date}: ${d.input} input tokens`))),
      svg("rect", { x, y: y(d.input + d.output), width: bar, height: inputTop - y(d.input + d.output), class: "bar-output" },
        svg("title", {}, document.createTextNode(`${d.date}: ${d.output} output tokens`))),
      svg("text", { x: x + bar / 2, y: height - pad.bottom + 16, "text-anchor": "middle", class: "tick" }, document.createTextNode(d.date.slice(5))));
  });
  return h("figure", { class: "chart-box" }, el,
    h("figcaption", {}, h("span", { class: "key key-input", "aria-hidden": "true" }), " input tokens ",
      h("span", { class: "key key-output", "aria-hidden": "true" }), " output tokens"));
}

function table(agentId, days, totals) {
  const cost = (r) => (r.cost === null ? "—" : `${r.cost.toFixed(6)} ${r.currency}`);
  const rowOf = (label, r) => h("tr", {}, h("th", { scope: "row", text: label }),
    [r.input, r.output, r.total].map((v) => h("td", { class: "num", text: String(v) })),
    h("td", { class: "num", text: cost(r) }), h("td", { class: "num", text: String(r.calls) }));
  return h("table", { class: "usage-table" },
    h("caption", { text: `Usage of ${agentId}` }),
    h("thead", {}, h("tr", {}, ["Day", "Input tokens", "Output tokens", "Total tokens", "Estimated cost", "Model calls"].map((c) => h("th", { scope: "col", text: c })))),
    h("tbody", {}, days.map((d) => rowOf(d.date, d)), totals ? rowOf("Total", totals) : null));
}

export async function usageView({ element, signal }) {
  element.append(h("h1", { text: "Usage" }));
  const agents = await listAgents();
  for (const agent of agents) {
    const section = h("section", { class: "card usage-agent", "data-agent": agent.id, "aria-labelledby": `usage-${agent.id}` },
      h("h2", { id: `usage-${agent.id}`, text: agent.name || agent.id }));
    element.append(section);
    try {
      const { days, totals } = readUsage(await request("GET", `/agents/${encodeURIComponent(agent.id)}/usage`, { signal }));
      if (!days.length && !totals) {
        section.append(h("p", { text: "No usage recorded yet." }));
        continue;
      }
      if (days.length) section.append(chart(agent.id, days));
      section.append(table(agent.id, days, totals));
    } catch (error) {
      if (error.name === "AbortError") return;
      const missing = error instanceof ApiError && [404, 405, 501].includes(error.status);
      section.append(h("p", { class: missing ? "muted usage-missing" : "notice notice-error", text: missing ? "Usage not available on this server." : error.message }));
    }
  }
}
