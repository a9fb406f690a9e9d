// One task: status, history (historyLength), artifacts, metadata (usage, model, cost), cancel,
// and a live view that resubscribes (tasks/{id}:subscribe) while the task runs, on any replica.

import { agentBase, request, stream } from "../api.js";
import { field, h, replace, time } from "../dom.js";
import { INTERRUPTED, TERMINAL, renderArtifact, renderMessage, renderStatus, renderUsage, stateName } from "../render.js";

const RETRY_MS = 1000;

function hashFor(agentId, taskId, historyLength) {
  const qs = historyLength === "" ? "" : `?historyLength=${encodeURIComponent(historyLength)}`;
  return `#/tasks/${encodeURIComponent(agentId)}/${encodeURIComponent(taskId)}${qs}`;
}

export async function taskView({ element, params, query, signal, announce }) {
  const [agentId, taskId] = params;
  const raw = query.get("historyLength");
  const historyLength = raw !== null && /^\d+$/.test(raw) ? raw : "";
  const base = `${agentBase(agentId)}/tasks/${encodeURIComponent(taskId)}`;

  const statusEl = h("div", { class: "task-status", "aria-live": "polite" });
  const historyEl = h("div", { class: "history" });
  const artifactsEl = h("div", { class: "artifacts" });
  const metadataEl = h("div", { class: "metadata" });
  const liveEl = h("section", { class: "live", "aria-labelledby": "live-title", hidden: true },
    h("h2", { id: "live-title", text: "Live" }), h("p", { class: "live-state muted" }),
    h("ol", { class: "events", "aria-label": "Live events" }));
  const cancelButton = h("button", { type: "button", class: "danger", text: "Cancel task", hidden: true });
  const facts = h("dl", { class: "facts" });

  const lengthInput = h("input", { name: "historyLength", type: "number", min: "0", step: "1", value: historyLength, inputmode: "numeric" });
  const lengthForm = h("form", { class: "inline", "aria-label": "How many history messages to show", onsubmit: (event) => {
    event.preventDefault();
    const value = lengthInput.value.trim();
    if (value !== "" && !/^\d+$/.test(value)) {
      announce("History length is a whole number of messages (empty: all of them).");
      return;
    }
    location.hash = hashFor(agentId, taskId, value);
  } }, field("History length", lengthInput, "Empty shows every message; 0 shows none."),
  h("button", { type: "submit", text: "Show" }));

  let task = null;
  const show = (next) => {
    task = next;
    replace(facts,
      h("dt", { text: "agent" }), h("dd", {}, h("a", { href: `#/tasks?agent=${encodeURIComponent(agentId)}`, text: agentId })),
      h("dt", { text: "context" }), h("dd", {}, h("a", { class: "mono", href: `#/contexts/${encodeURIComponent(agentId)}/${encodeURIComponent(task.contextId)}`, text: task.contextId })),
      h("dt", { text: "updated" }), h("dd", {}, time(task.status?.timestamp)));
    replace(statusEl, renderStatus(task.status));
    const history = task.history || [];
    replace(historyEl, h("p", { class: "muted", "data-count": history.length,
      text: `${history.length} message(s)${historyLength === "" ? "" : ` (historyLength ${historyLength})`}` }),
    history.map(renderMessage));
    replace(artifactsEl, (task.artifacts || []).length ? task.artifacts.map((a) => renderArtifact(a)) : h("p", { class: "muted", text: "No artifacts." }));
    const usage = renderUsage(task.metadata);
    const extra = Object.keys(task.metadata || {}).length
      ? h("details", {}, h("summary", { text: "All metadata" }), h("pre", { text: JSON.stringify(task.metadata, null, 2) }))
      : null;
    replace(metadataEl, usage || h("p", { class: "muted", text: "No usage recorded for this task." }), extra);
    cancelButton.hidden = TERMINAL.has(task.status?.state);
  };

  const load = () => request("GET", base, { signal, query: { historyLength } }).then(show);

  cancelButton.addEventListener("click", async () => {
    cancelButton.disabled = true;
    try {
      await request("POST", `${base}:cancel`, { signal });
      await load();
      announce(`Task ${taskId} is ${stateName(task.status?.state)}.`, "info");
    } catch (error) {
      if (error.name !== "AbortError") announce(error.message);
    } finally {
      cancelButton.disabled = false;
    }
  });

  element.append(h("h1", {}, "Task ", h("span", { class: "mono", text: taskId })),
    facts, h("div", { class: "actions" }, cancelButton),
    h("section", { "aria-labelledby": "status-title" }, h("h2", { id: "status-title", text: "Status" }), statusEl),
    liveEl,
    h("section", { "aria-labelledby": "artifacts-title" }, h("h2", { id: "artifacts-title", text: "Artifacts" }), artifactsEl),
    h("section", { "aria-labelledby": "history-title" }, h("h2", { id: "history-title", text: "History" }), lengthForm, historyEl),
    h("section", { "aria-labelledby": "metadata-title" }, h("h2", { id: "metadata-title", text: "Usage and metadata" }), metadataEl));

  await load();
  // Submitted or working: follow it. An interrupted task waits for input (nothing to follow).
  const state = task.status?.state;
  if (!TERMINAL.has(state) && !INTERRUPTED.has(state)) follow({ base, liveEl, signal, load, announce, stateOf: () => task?.status?.state });
}

/** Resubscribe while the task is not finished: each event is listed, then the task is re-read. */
async function follow({ base, liveEl, signal, load, announce, stateOf }) {
  const isDone = () => TERMINAL.has(stateOf());
  liveEl.hidden = false;
  const stateLine = liveEl.querySelector(".live-state");
  const events = liveEl.querySelector(".events");
  let lastEventId = null;
  while (!signal.aborted && !isDone()) {
    stateLine.textContent = "Following the task as it runs…";
    try {
      for await (const event of stream("GET", `${base}:subscribe`, { signal, lastEventId })) {
        if (event.id) lastEventId = event.id;
        const data = event.data;
        const state = data.task?.status?.state || data.statusUpdate?.status?.state;
        const what = data.task ? "task" : data.statusUpdate ? "status" : data.artifactUpdate ? "artifact" : "event";
        events.append(h("li", { text: `${event.id ? `#${event.id} ` : ""}${what}${state ? ` · ${stateName(state)}` : ""}` }));
        await load();
      }
      await load();
      if (INTERRUPTED.has(stateOf())) {
        // The stream ends on an interruption: nothing more runs until someone answers.
        stateLine.textContent = `The task is ${stateName(stateOf())}.`;
        return;
      }
      // Otherwise the connection ended early (a replica went away): resume after the last event.
      await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
    } catch (error) {
      if (error.name === "AbortError") return;
      if (error.status && error.status < 500 && error.status !== 429) {
        await load().catch(() => {});
        if (isDone()) break;
        stateLine.textContent = `Could not follow the task: ${error.message}`;
        return;
      }
      announce(error.message);
      await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
    }
  }
  if (isDone()) stateLine.textContent = "The task has finished.";
}
