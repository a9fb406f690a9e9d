// Contexts (conversations): their tasks and messages, and delete (scrub) with a confirmation.
// The API has no "list contexts" route: the recent ones are gathered from ListTasks.

import { agentBase, request } from "../api.js";
import { field, h, replace, select, time } from "../dom.js";
import { renderArtifact, renderMessage, stateBadge } from "../render.js";
import { listAgents } from "./agents.js";

const RECENT_TASKS = 100;

function contextHash(agentId, contextId) {
  return `#/contexts/${encodeURIComponent(agentId)}/${encodeURIComponent(contextId)}`;
}

export async function contextsView({ element, query, signal }) {
  element.append(h("h1", { text: "Contexts" }));  // first: a failed listing is shown under it
  const agents = await listAgents();
  if (!agents.length) {
    element.append(h("p", { text: "This tenant has no agents." }));
    return;
  }
  const agentId = agents.some((a) => a.id === query.get("agent")) ? query.get("agent") : agents[0].id;
  const agent = select({ name: "agent" }, agents.map((a) => [a.id, a.name || a.id]), agentId);
  const contextId = h("input", { name: "context", required: true, spellcheck: "false", class: "mono" });
  element.append(h("form", { class: "filters", "aria-label": "Open a context", onsubmit: (event) => {
    event.preventDefault();
    if (contextId.value.trim()) location.hash = contextHash(agent.value, contextId.value.trim());
  } }, field("Agent", agent), field("Context ID", contextId),
  h("div", { class: "field field-button" }, h("button", { type: "submit", text: "Open" }))));
  agent.addEventListener("change", () => {
    location.hash = `#/contexts?agent=${encodeURIComponent(agent.value)}`;
  });

  const page = await request("GET", `${agentBase(agentId)}/tasks`, { signal, query: { pageSize: RECENT_TASKS, historyLength: 0 } });
  const contexts = new Map();
  for (const task of page.tasks || []) {
    const seen = contexts.get(task.contextId) || { tasks: 0, updated: "" };
    seen.tasks += 1;
    if ((task.status?.timestamp || "") > seen.updated) seen.updated = task.status?.timestamp || "";
    contexts.set(task.contextId, seen);
  }
  element.append(h("h2", { text: `Recent contexts of ${agentId}` }));
  if (!contexts.size) {
    element.append(h("p", { text: "No tasks yet, so no contexts." }));
    return;
  }
  element.append(h("table", { class: "contexts" },
    h("thead", {}, h("tr", {}, ["Context", "Tasks (recent)", "Last update"].map((c) => h("th", { scope: "col", text: c })))),
    h("tbody", {}, [...contexts].map(([id, seen]) => h("tr", {},
      h("td", {}, h("a", { class: "mono", href: contextHash(agentId, id), text: id })),
      h("td", { text: String(seen.tasks) }), h("td", {}, time(seen.updated)))))));
}

function renderItem(item, agentId) {
  if (item.message) return renderMessage(item.message);
  const task = item.task;
  return h("section", { class: "context-task card", "aria-label": `task ${task.id}` },
    h("header", {}, h("a", { class: "mono", href: `#/tasks/${encodeURIComponent(agentId)}/${encodeURIComponent(task.id)}`, text: `task ${task.id}` }),
      " ", stateBadge(task.status?.state), " ", time(task.status?.timestamp)),
    (task.history || []).map(renderMessage),
    task.status?.message ? renderMessage(task.status.message) : null,
    (task.artifacts || []).map((a) => renderArtifact(a)));
}

function confirmDialog(contextId) {
  return new Promise((resolve) => {
    const dialog = h("dialog", { "aria-labelledby": "confirm-title", "aria-describedby": "confirm-text" },
      h("form", { method: "dialog" },
        h("h2", { id: "confirm-title", text: "Delete this context?" }),
        h("p", { id: "confirm-text" }, "Every message and artifact of context ", h("code", { text: contextId }),
          " is erased for good; task ids and states are kept for audit."),
        h("div", { class: "actions" },
          h("button", { value: "cancel", class: "secondary", text: "Keep it", autofocus: true }),
          h("button", { value: "delete", class: "danger", text: "Delete context" }))));
    dialog.addEventListener("close", () => {
      resolve(dialog.returnValue === "delete");
      dialog.remove();
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

export async function contextView({ element, params, signal, announce }) {
  const [agentId, contextId] = params;
  const items = h("div", { class: "context-items" });
  const summary = h("p", { class: "muted" });
  const load = async () => {
    const page = await request("GET", `${agentBase(agentId)}/contexts/${encodeURIComponent(contextId)}`, { signal, query: { limit: 100 } });
    replace(summary, `${page.total} item(s) in this context${page.total > page.items.length ? `, the first ${page.items.length} shown` : ""}.`);
    replace(items, page.items.map((item) => renderItem(item, agentId)));
  };
  const remove = h("button", { type: "button", class: "danger", text: "Delete context…", onclick: async () => {
    if (!(await confirmDialog(contextId))) return;
    try {
      await request("DELETE", `${agentBase(agentId)}/contexts/${encodeURIComponent(contextId)}`, { signal });
      announce(`Context ${contextId} was scrubbed.`, "info");
      await load();
    } catch (error) {
      if (error.name !== "AbortError") announce(error.message);
    }
    remove.focus();
  } });
  element.append(h("h1", {}, "Context ", h("span", { class: "mono", text: contextId })),
    h("p", {}, "Agent ", h("a", { href: `#/contexts?agent=${encodeURIComponent(agentId)}`, text: agentId }), " · ",
      h("a", { href: `#/tasks?agent=${encodeURIComponent(agentId)}&context=${encodeURIComponent(contextId)}`, text: "its tasks in the task list" })),
    h("div", { class: "actions" }, remove), summary, items);
  await load();
}
