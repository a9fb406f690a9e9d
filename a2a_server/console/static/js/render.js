// How A2A 1.0 objects look on the page: states, parts, messages, artifacts, usage.

import { h, time } from "./dom.js";

export const TERMINAL = new Set(["TASK_STATE_COMPLETED", "TASK_STATE_CANCELED", "TASK_STATE_FAILED",
                                 "TASK_STATE_REJECTED"]);
export const INTERRUPTED = new Set(["TASK_STATE_INPUT_REQUIRED", "TASK_STATE_AUTH_REQUIRED"]);
export const STATES = ["TASK_STATE_SUBMITTED", "TASK_STATE_WORKING", "TASK_STATE_INPUT_REQUIRED",
                       "TASK_STATE_AUTH_REQUIRED", "TASK_STATE_COMPLETED", "TASK_STATE_CANCELED",
                       "TASK_STATE_FAILED", "TASK_STATE_REJECTED"];

/** "TASK_STATE_INPUT_REQUIRED" -> "input required". */
export function stateName(state) {
  return (state || "TASK_STATE_UNSPECIFIED").replace(/^TASK_STATE_/, "").replaceAll("_", " ").toLowerCase();
}

export function stateBadge(state) {
  const name = stateName(state);
  return h("span", { class: `badge state-${name.replaceAll(" ", "-")}`, "data-state": state, text: name });
}

function base64ToBlob(raw, mediaType) {
  const bytes = Uint8Array.from(atob(raw), (c) => c.charCodeAt(0));
  return new Blob([bytes], { type: mediaType || "application/octet-stream" });
}

/** One Part: text, a file (raw bytes or URL) or data. */
export function renderPart(part) {
  if (typeof part.text === "string" && part.text !== "") {
    return h("span", { class: "part part-text", text: part.text });
  }
  if (part.raw !== undefined || part.url) {
    const name = part.filename || (part.url ? part.url.split("/").pop() : "file");
    const label = `${name}${part.mediaType ? ` (${part.mediaType})` : ""}`;
    let href;
    try {
      href = part.url ? new URL(part.url, location.href) : null;
    } catch {
      href = null;
    }
    const link = part.url
      ? (href && ["http:", "https:"].includes(href.protocol)
        ? h("a", { href: href.href, rel: "noopener noreferrer", target: "_blank", text: label })
        : h("span", { text: label }))
      : h("a", { href: URL.createObjectURL(base64ToBlob(part.raw, part.mediaType)), download: name, text: label });
    return h("div", { class: "part part-file" }, h("span", { class: "part-kind", text: "file" }), " ", link);
  }
  if (part.data !== undefined) {
    return h("div", { class: "part part-data" },
      h("span", { class: "part-kind", text: "data" }),
      h("pre", { text: JSON.stringify(part.data, null, 2) }));
  }
  return h("span", { class: "part part-text muted", text: "(empty)" });
}

/** Parts side by side: consecutive text parts (streamed chunks) read as one text. */
export function renderParts(parts) {
  return h("div", { class: "parts" }, (parts || []).map(renderPart));
}

export function roleName(role) {
  return role === "ROLE_USER" ? "user" : role === "ROLE_AGENT" ? "agent" : "unknown";
}

export function renderMessage(message) {
  const role = roleName(message.role);
  return h("article", { class: `message message-${role}`, "aria-label": `${role} message` },
    h("header", {}, h("span", { class: "role", text: role }),
      message.messageId ? h("span", { class: "muted mono", text: message.messageId }) : null),
    renderParts(message.parts),
    renderUsage(message.metadata));
}

export function renderArtifact(artifact, { streaming = false } = {}) {
  return h("section", { class: "artifact", "data-artifact-id": artifact.artifactId, "aria-label": `artifact ${artifact.name || artifact.artifactId}` },
    h("header", {},
      h("span", { class: "artifact-name", text: artifact.name || "artifact" }),
      h("span", { class: "muted mono", text: artifact.artifactId }),
      streaming ? h("span", { class: "badge streaming", text: "streaming…" }) : null),
    artifact.description ? h("p", { class: "muted", text: artifact.description }) : null,
    renderParts(artifact.parts));
}

/** Usage, model, provider and error from Task/Message metadata (a2a_server/agents/usage.py). */
export function renderUsage(metadata) {
  if (!metadata) return null;
  const rows = [];
  const usage = metadata.usage;
  if (usage && typeof usage === "object") {
    rows.push(["input tokens", usage.input_tokens], ["output tokens", usage.output_tokens],
              ["total tokens", usage.total_tokens]);
    if (usage.estimated_cost !== undefined) {
      rows.push(["estimated cost", `${Number(usage.estimated_cost).toFixed(6)} ${usage.currency || "USD"}`]);
    }
  }
  if (metadata.model_used) rows.push(["model", metadata.model_used]);
  if (metadata.provider) rows.push(["provider", metadata.provider]);
  if (metadata.error) rows.push(["error", `${metadata.error.code || ""}: ${metadata.error.message || ""}`]);
  if (!rows.length) return null;
  return h("dl", { class: "usage" }, rows.filter(([, v]) => v !== undefined).map(([k, v]) => [h("dt", { text: k }), h("dd", { text: String(v) })]));
}

export function renderStatus(status) {
  return h("div", { class: "status" },
    stateBadge(status?.state), " ", time(status?.timestamp),
    status?.message ? renderMessage(status.message) : null);
}

/** The text of a task's latest message (its status message, else the last in its history), for lists. */
export function taskSummary(task) {
  const message = task.status?.message || (task.history || []).at(-1);
  const text = (message?.parts || []).map((p) => p.text || "").join(" ").trim();
  return text.length > 80 ? `${text.slice(0, 79)}…` : text;
}

/** A client tool call asked for in an input-required status message, or null. */
export function toolCallOf(task) {
  if (task?.status?.state !== "TASK_STATE_INPUT_REQUIRED") return null;
  for (const part of task.status.message?.parts || []) {
    const data = part.data;
    if (data && typeof data === "object" && data.type === "tool_call" && data.call_id) return data;
  }
  return null;
}
