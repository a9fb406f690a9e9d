// A chat with any agent over message:stream: events shown as they arrive, artifacts (and their
// streamed chunks) rendered in place, input-required and client tool calls answered, cancel,
// and every turn in one context until "New conversation".

import { agentBase, request, stream } from "../api.js";
import { field, h, replace, select } from "../dom.js";
import {
  INTERRUPTED, TERMINAL, renderArtifact, renderMessage, stateBadge, stateName, toolCallOf,
} from "../render.js";
import { listAgents, sessionKey } from "./agents.js";

/** A random id (crypto.randomUUID needs a secure context; a console on plain http://host has none). */
function newId() {
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const hex = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The conversation survives navigating away and back, but not a change of session. */
let chat = null;

function newChat(agentId) {
  return { key: sessionKey(), agentId, contextId: null, task: null, log: h("div", { class: "chat-log", role: "log", "aria-live": "polite", "aria-label": "Conversation" }), busy: false };
}

function eventLine(event) {
  const data = event.data;
  const id = event.id ? `#${event.id} ` : "";
  if (data.task) return `${id}task · ${stateName(data.task.status?.state)}`;
  if (data.statusUpdate) return `${id}status · ${stateName(data.statusUpdate.status?.state)}`;
  if (data.artifactUpdate) {
    const u = data.artifactUpdate;
    const flags = [u.append ? "append" : null, u.lastChunk ? "last chunk" : null].filter(Boolean).join(", ");
    return `${id}artifact · ${u.artifact?.name || u.artifact?.artifactId}${flags ? ` (${flags})` : ""}`;
  }
  if (data.message) return `${id}message`;
  return `${id}event`;
}

/** One agent turn: what the stream says, kept up to date as events arrive. */
class Turn {
  constructor(onToolResult) {
    this.onToolResult = onToolResult;
    this.artifacts = new Map();
    this.head = h("header", { class: "turn-head" }, h("span", { class: "muted", text: "waiting for the agent…" }));
    this.events = h("ol", { class: "events", "aria-label": "Stream events" });
    this.status = h("div", { class: "turn-status" });
    this.artifactsEl = h("div", { class: "turn-artifacts" });
    this.tool = h("div", { class: "turn-tool" });
    this.element = h("section", { class: "turn", "aria-label": "Agent turn" }, this.head, this.status, this.artifactsEl, this.tool,
      h("details", { class: "events-box", open: true }, h("summary", { text: "Events" }), this.events));
  }

  setTask(task, agentId) {
    this.task = task;
    replace(this.head,
      h("a", { href: `#/tasks/${encodeURIComponent(agentId)}/${encodeURIComponent(task.id)}`, class: "mono", text: `task ${task.id}` }),
      " ", stateBadge(task.status?.state));
  }

  apply(event, agentId) {
    this.events.append(h("li", { text: eventLine(event) }));
    const data = event.data;
    if (data.task) {
      this.setTask(data.task, agentId);
      for (const artifact of data.task.artifacts || []) this.artifact({ artifact, lastChunk: true });
      this.showStatus(data.task.status);
    } else if (data.statusUpdate) {
      const task = { ...(this.task || { id: data.statusUpdate.taskId, contextId: data.statusUpdate.contextId }), status: data.statusUpdate.status };
      this.setTask(task, agentId);
      this.showStatus(data.statusUpdate.status);
    } else if (data.artifactUpdate) {
      this.artifact(data.artifactUpdate);
    } else if (data.message) {
      replace(this.head, h("span", { text: "direct message (no task)" }));
      replace(this.status, renderMessage(data.message));
    }
  }

  showStatus(status) {
    replace(this.status, status?.message ? renderMessage(status.message) : null);
  }

  artifact(update) {
    const artifact = update.artifact;
    const known = this.artifacts.get(artifact.artifactId);
    const merged = update.append && known ? { ...known.artifact, parts: [...(known.artifact.parts || []), ...(artifact.parts || [])] } : artifact;
    // ProtoJSON leaves out false: a first chunk says neither append nor lastChunk, so an
    // artifact counts as still streaming until its last chunk or the end of the stream.
    const streaming = !update.lastChunk;
    const element = renderArtifact(merged, { streaming });
    if (known) known.element.replaceWith(element);
    else this.artifactsEl.append(element);
    this.artifacts.set(artifact.artifactId, { artifact: merged, element });
  }

  finish() {
    for (const { element } of this.artifacts.values()) element.querySelector(".streaming")?.remove();
    const call = toolCallOf(this.task);
    if (!call) return;
    const output = h("textarea", { rows: 3, name: "tool_output", required: true });
    let args = call.arguments;
    try {
      if (typeof args === "string") args = JSON.parse(args);
    } catch {
      // shown as the agent sent it
    }
    const form = h("form", { class: "tool-form", "aria-label": `Tool call ${call.name}`, onsubmit: (event) => {
      event.preventDefault();
      if (!output.value) return;
      form.querySelector("button").disabled = true;
      this.onToolResult(call, output.value);
    } },
    h("p", {}, "The agent asks this client to run the tool ", h("code", { text: call.name }), " (call ",
      h("code", { text: call.call_id }), ") with:"),
    h("pre", { text: typeof args === "string" ? args : JSON.stringify(args, null, 2) }),
    field(`Result of ${call.name}`, output, "Sent back as a tool_result data part in the same task."),
    h("button", { type: "submit", text: "Send tool result" }));
    replace(this.tool, form);
    output.focus();
  }
}

export async function chatView({ element, params, announce }) {
  element.append(h("h1", { text: "Chat" }));  // first: a failed listing is shown under it
  const agents = await listAgents();
  if (!agents.length) {
    element.append(h("p", { text: "This tenant has no agents." }));
    return;
  }
  const wanted = params[0] && agents.some((a) => a.id === params[0]) ? params[0] : (chat?.agentId || agents[0].id);
  if (!chat || chat.key !== sessionKey() || chat.agentId !== wanted) chat = newChat(wanted);
  const state = chat;

  const agentSelect = select({ name: "agent" }, agents.map((a) => [a.id, a.name || a.id]), state.agentId);
  agentSelect.addEventListener("change", () => {
    location.hash = `#/chat/${encodeURIComponent(agentSelect.value)}`;
  });
  const text = h("textarea", { name: "message", rows: 3, placeholder: "Say something (the echo agent takes a few seconds for “slow”)" });
  const sendButton = h("button", { type: "submit", text: "Send" });
  const cancelButton = h("button", { type: "button", class: "danger", text: "Cancel task", disabled: true });
  const context = h("p", { class: "muted context-line" });

  const refresh = () => {
    const task = state.task;
    const open = task && !TERMINAL.has(task.status?.state);
    cancelButton.disabled = !open;
    sendButton.disabled = state.busy;
    replace(context, state.contextId
      ? ["Context ", h("a", { class: "mono", href: `#/contexts/${encodeURIComponent(state.agentId)}/${encodeURIComponent(state.contextId)}`, text: state.contextId }),
        open && INTERRUPTED.has(task.status?.state) ? " · the next message continues the task" : ""]
      : "A new conversation: the first message starts a context.");
  };

  const send = async (parts) => {
    const message = { role: "ROLE_USER", messageId: newId(), parts };
    if (state.contextId) message.contextId = state.contextId;
    const task = state.task;
    if (task && INTERRUPTED.has(task.status?.state)) message.taskId = task.id;
    state.log.append(renderMessage(message));
    const turn = new Turn((call, output) => send([{ data: { type: "tool_result", call_id: call.call_id, output } }]));
    state.log.append(turn.element);
    state.busy = true;
    refresh();
    try {
      for await (const event of stream("POST", `${agentBase(state.agentId)}/message:stream`, { body: { message } })) {
        turn.apply(event, state.agentId);
        const data = event.data;
        state.contextId = data.task?.contextId || data.statusUpdate?.contextId || data.message?.contextId || state.contextId;
        if (turn.task) state.task = turn.task;
        state.log.scrollTop = state.log.scrollHeight;
        refresh();
      }
      turn.finish();
    } catch (error) {
      turn.element.append(h("p", { class: "notice notice-error", role: "alert", text: error.message }));
      if (error.status === 429 || error.status === 503) announce(error.message);
    } finally {
      state.busy = false;
      refresh();
    }
  };

  cancelButton.addEventListener("click", async () => {
    const task = state.task;
    if (!task) return;
    cancelButton.disabled = true;
    try {
      const canceled = await request("POST", `${agentBase(state.agentId)}/tasks/${encodeURIComponent(task.id)}:cancel`);
      state.task = canceled;
      announce(`Task ${canceled.id} is ${stateName(canceled.status?.state)}.`, "info");
    } catch (error) {
      announce(error.message);
    }
    refresh();
  });

  const form = h("form", { class: "composer", "aria-label": "Send a message", onsubmit: (event) => {
    event.preventDefault();
    const value = text.value.trim();
    if (!value || state.busy) return;
    text.value = "";
    send([{ text: value }]);
  } },
  field("Message", text, "Ctrl+Enter sends."),
  h("div", { class: "actions" }, sendButton, cancelButton,
    h("button", { type: "button", class: "secondary", text: "New conversation", onclick: () => {
      chat = newChat(state.agentId);
      location.hash = `#/chat/${encodeURIComponent(state.agentId)}`;
      window.dispatchEvent(new HashChangeEvent("hashchange"));
    } })));
  text.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) form.requestSubmit();
  });

  element.append(
    h("div", { class: "chat-top" }, field("Agent", agentSelect), context),
    state.log, form);
  refresh();
  text.focus();
}
