// Tasks: ListTasks (GET /agents/{id}/v1/tasks) with filters (agent, state, context, time) and paging.

import { agentBase, request } from "../api.js";
import { field, h, select, time } from "../dom.js";
import { STATES, stateBadge, stateName, taskSummary } from "../render.js";
import { listAgents } from "./agents.js";

const PAGE_SIZES = [10, 25, 50, 100];
/** Page tokens of the pages before the current one, per filter set ("Previous page"). */
const trail = new Map();

function toLocalInput(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "";
  const local = new Date(date.getTime() - date.getTimezoneOffset() * 60_000);
  return local.toISOString().slice(0, 16);
}

function hashFor(values) {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(values)) if (value) params.set(key, value);
  return `#/tasks?${params}`;
}

export async function tasksView({ element, query, signal }) {
  element.append(h("h1", { text: "Tasks" }));  // first: a failed listing is shown under it
  const agents = await listAgents();
  if (!agents.length) {
    element.append(h("p", { text: "This tenant has no agents." }));
    return;
  }
  const filters = {
    agent: agents.some((a) => a.id === query.get("agent")) ? query.get("agent") : agents[0].id,
    status: STATES.includes(query.get("status")) ? query.get("status") : "",
    context: query.get("context") || "",
    after: query.get("after") || "",
    size: PAGE_SIZES.includes(Number(query.get("size"))) ? query.get("size") : "25",
  };
  const pageToken = query.get("page") || "";
  const filterKey = JSON.stringify(filters);

  const agent = select({ name: "agent" }, agents.map((a) => [a.id, a.name || a.id]), filters.agent);
  const status = select({ name: "status" }, [["", "any state"], ...STATES.map((s) => [s, stateName(s)])], filters.status);
  const context = h("input", { name: "context", value: filters.context, spellcheck: "false", class: "mono" });
  const after = h("input", { name: "after", type: "datetime-local", value: toLocalInput(filters.after) });
  const size = select({ name: "size" }, PAGE_SIZES.map((n) => [n, String(n)]), filters.size);
  const form = h("form", { class: "filters", "aria-label": "Filter tasks", onsubmit: (event) => {
    event.preventDefault();
    location.hash = hashFor({ agent: agent.value, status: status.value, context: context.value.trim(),
                              after: after.value ? new Date(after.value).toISOString() : "", size: size.value });
  } },
  field("Agent", agent), field("State", status), field("Context ID", context),
  field("Updated after", after), field("Per page", size),
  h("div", { class: "field field-button" }, h("button", { type: "submit", text: "Apply filters" })));
  element.append(form);

  const page = await request("GET", `${agentBase(filters.agent)}/tasks`, { signal, query: {
    status: filters.status, contextId: filters.context, statusTimestampAfter: filters.after,
    pageSize: filters.size, pageToken, historyLength: 1,
  } });
  const tasks = page.tasks || [];
  // The tokens of the pages seen so far: tokens[i] opens page i + 1 ("" is the first page).
  let tokens = trail.get(filterKey) || [""];
  let depth = tokens.indexOf(pageToken);
  if (depth < 0) {
    tokens = pageToken ? ["", pageToken] : [""];
    depth = tokens.length - 1;
  }
  trail.set(filterKey, tokens);

  element.append(h("p", { class: "muted", role: "status", "data-total": page.totalSize ?? tasks.length,
    text: `${page.totalSize ?? tasks.length} task(s) match; showing ${tasks.length} on page ${depth + 1}.` }));
  if (tasks.length) {
    element.append(h("table", { class: "tasks" },
      h("caption", { class: "visually-hidden", text: `Tasks of ${filters.agent}` }),
      h("thead", {}, h("tr", {}, ["Task", "State", "Updated", "Context", "Latest message"].map((c) => h("th", { scope: "col", text: c })))),
      h("tbody", {}, tasks.map((task) => h("tr", { "data-task-id": task.id },
        h("td", {}, h("a", { class: "mono", href: `#/tasks/${encodeURIComponent(filters.agent)}/${encodeURIComponent(task.id)}`, text: task.id })),
        h("td", {}, stateBadge(task.status?.state)),
        h("td", {}, time(task.status?.timestamp)),
        h("td", {}, h("a", { class: "mono", href: `#/contexts/${encodeURIComponent(filters.agent)}/${encodeURIComponent(task.contextId)}`, text: task.contextId })),
        h("td", { text: taskSummary(task) }))))));
  } else {
    element.append(h("p", { text: "No tasks match these filters." }));
  }

  const nav = h("nav", { class: "paging", "aria-label": "Pages" });
  if (depth > 0) {
    nav.append(h("a", { class: "button secondary", href: hashFor({ ...filters, page: tokens[depth - 1] }), text: "Previous page" }));
  }
  if (page.nextPageToken) {
    nav.append(h("a", { class: "button secondary", href: hashFor({ ...filters, page: page.nextPageToken }), rel: "next", text: "Next page",
      onclick: () => trail.set(filterKey, [...tokens.slice(0, depth + 1), page.nextPageToken]) }));
  }
  if (nav.childElementCount) element.append(nav);
}
