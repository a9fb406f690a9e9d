// The tenant's agents (GET /agents) with their cards, as a person would read them.

import { loadSession, request } from "../api.js";
import { h } from "../dom.js";

/** The signed-in tenant's agents, kept per session (selects on other pages use them). */
let cache = null;

export function sessionKey() {
  const session = loadSession();
  return session ? `${session.tenant}\n${session.method}\n${session.clientId || ""}` : "";
}

export async function listAgents() {
  const key = sessionKey();
  if (!cache || cache.key !== key) {
    const promise = request("GET", "/agents", { query: { limit: 1000 } }).catch((error) => {
      cache = null;
      throw error;
    });
    cache = { key, promise };
  }
  return cache.promise;
}

export function forgetAgents() {
  cache = null;
}

function yesNo(value) {
  return value ? "yes" : "no";
}

function list(items, render) {
  return items?.length ? h("ul", {}, items.map((item) => h("li", {}, render(item)))) : h("p", { class: "muted", text: "none" });
}

function renderCard(card) {
  const capabilities = card.capabilities || {};
  return h("div", { class: "card-body" },
    h("dl", { class: "facts" },
      h("dt", { text: "version" }), h("dd", { text: card.version || "—" }),
      h("dt", { text: "provider" }), h("dd", { text: card.provider?.organization || "—" }),
      h("dt", { text: "streaming" }), h("dd", { text: yesNo(capabilities.streaming) }),
      h("dt", { text: "push notifications" }), h("dd", { text: yesNo(capabilities.pushNotifications) }),
      h("dt", { text: "input modes" }), h("dd", { text: (card.defaultInputModes || []).join(", ") || "—" }),
      h("dt", { text: "output modes" }), h("dd", { text: (card.defaultOutputModes || []).join(", ") || "—" }),
      h("dt", { text: "security" }), h("dd", { text: Object.keys(card.securitySchemes || {}).join(", ") || "none" })),
    h("h3", { text: "Skills" }),
    list(card.skills, (skill) => [
      h("strong", { text: skill.name || skill.id }), skill.description ? ` — ${skill.description}` : "",
      skill.tags?.length ? h("span", { class: "tags" }, skill.tags.map((t) => h("span", { class: "tag", text: t }))) : null,
      skill.examples?.length ? h("p", { class: "muted", text: `e.g. ${skill.examples.join(" · ")}` }) : null,
    ]),
    h("h3", { text: "Bindings" }),
    list(card.supportedInterfaces, (iface) => [
      h("strong", { text: iface.protocolBinding }), ` ${iface.protocolVersion || ""} `,
      h("code", { text: iface.url }), iface.tenant ? ` (tenant ${iface.tenant})` : ""]),
    h("details", {}, h("summary", { text: "Card JSON" }), h("pre", { text: JSON.stringify(card, null, 2) })));
}

export async function agentsView({ element, signal }) {
  element.append(h("h1", { text: "Agents" }));
  forgetAgents();
  const agents = await listAgents(signal);
  if (!agents.length) {
    element.append(h("p", { text: "This tenant has no agents." }));
    return;
  }
  const cards = await Promise.all(agents.map((agent) =>
    request("GET", `/agents/${encodeURIComponent(agent.id)}/agent-card.json`, { signal }).catch((error) => ({ error }))));
  element.append(h("div", { class: "agents" }, agents.map((agent, i) => {
    const card = cards[i];
    return h("section", { class: "agent card", "aria-labelledby": `agent-${agent.id}`, "data-agent": agent.id },
      h("header", {},
        h("h2", { id: `agent-${agent.id}`, text: agent.name || agent.id }),
        h("span", { class: "muted mono", text: agent.id })),
      h("p", { text: agent.description || "" }),
      h("p", { class: "actions" },
        h("a", { class: "button", href: `#/chat/${encodeURIComponent(agent.id)}`, text: `Chat with ${agent.name || agent.id}` }),
        h("a", { class: "button secondary", href: `#/tasks?agent=${encodeURIComponent(agent.id)}`, text: "Tasks" })),
      card.error ? h("p", { role: "alert", text: `Card: ${card.error.message}` }) : renderCard(card));
  })));
}
