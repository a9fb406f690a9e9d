// Corti's published JavaScript client (@corti/sdk), unmodified, against an a2a-server LLM agent.
//
// Usage: node corti_llm_client.mjs <server-url> <tenant> <client-id> <client-secret> <agent-id>
// The agent answers from the provider stand-in, scripted by the test that runs this script:
// 1. a text answer to "I am Ada", 2. a call of the client tool "lookup" to "How old am I?" (same
// context), 3. a text answer once the tool's result is sent back. The SDK has no streaming call
// (agents.messageSend is its only send), so this covers the multi-turn conversation, the tool
// round trip through input-required, usage in the task's metadata and the context's items.
// Every response is re-validated with the SDK's own serialization schemas in strict mode.
// Prints one JSON line per step {"step", "ok", "detail"|"error"}; exits 1 if any step failed.
import { CortiClient } from "@corti/sdk";
import * as serializers from "@corti/sdk/serialization";
import { randomUUID } from "node:crypto";

const [server, tenantName, clientId, clientSecret, agentId] = process.argv.slice(2);
if (!server || !tenantName || !clientId || !clientSecret || !agentId) {
  console.error("usage: node corti_llm_client.mjs <server-url> <tenant> <client-id> <client-secret> <agent-id>");
  process.exit(2);
}

const received = [];
async function recordingFetch(input, init) {
  const response = await fetch(input, init);
  const url = typeof input === "string" ? input : input.url;
  received.push({ url, text: await response.clone().text() });
  return response;
}
function lastBody(pathPart) {
  const hit = [...received].reverse().find((r) => new URL(r.url).pathname.endsWith(pathPart));
  if (!hit) throw new Error(`no response recorded for ${pathPart}`);
  return JSON.parse(hit.text);
}
function strict(schema, body, what) {
  const result = schema.parse(body, {
    unrecognizedObjectKeys: "passthrough", allowUnrecognizedUnionMembers: false,
    allowUnrecognizedEnumValues: false, skipValidation: false,
  });
  if (!result.ok) {
    throw new Error(`${what}: the response does not match the Corti SDK schema: ` +
      result.errors.map((e) => `${e.path.join(".") || "(root)"}: ${e.message}`).join("; "));
  }
}

const client = new CortiClient({
  environment: { base: server, wss: server.replace(/^http/, "ws"), login: `${server}/realms`, agents: server },
  tenantName,
  auth: { clientId, clientSecret },
  fetch: recordingFetch,
});

let failed = false;
async function step(name, fn) {
  try {
    const detail = await fn();
    console.log(JSON.stringify({ step: name, ok: true, detail }));
    return detail;
  } catch (err) {
    failed = true;
    const body = err?.body !== undefined ? ` body=${JSON.stringify(err.body)}` : "";
    console.log(JSON.stringify({ step: name, ok: false, error: `${err?.constructor?.name}: ${err?.message}${body}` }));
    return undefined;
  }
}
function check(condition, message) {
  if (!condition) throw new Error(message);
}
const textOf = (msg) => (msg?.parts ?? []).filter((p) => p.kind === "text").map((p) => p.text).join("");
const dataOf = (msg) => (msg?.parts ?? []).filter((p) => p.kind === "data").map((p) => p.data);

async function send(parts, extra = {}) {
  const response = await client.agents.messageSend(agentId, {
    message: { role: "user", kind: "message", messageId: randomUUID(), parts, ...extra },
  });
  strict(serializers.agents.AgentsMessageSendResponse, lastBody(`/agents/${agentId}/v1/message:send`), "messageSend");
  check(response.task, `expected a task, got ${JSON.stringify(response)}`);
  return response.task;
}

const first = await step("first turn", async () => {
  const task = await send([{ kind: "text", text: "I am Ada" }]);
  check(task.status.state === "completed", `state ${task.status.state}`);
  return { taskId: task.id, contextId: task.contextId, answer: textOf(task.status.message),
    artifact: task.artifacts?.[0]?.parts?.[0]?.text };
});

const asked = first && await step("second turn: input-required with a tool_call", async () => {
  const task = await send([{ kind: "text", text: "How old am I?" }], { contextId: first.contextId });
  check(task.contextId === first.contextId, "a different context");
  check(task.status.state === "input-required", `state ${task.status.state}`);
  const calls = dataOf(task.status.message).filter((d) => d.type === "tool_call");
  check(calls.length === 1, `expected one tool_call DataPart, got ${JSON.stringify(task.status.message)}`);
  return { taskId: task.id, call: calls[0] };
});

const answered = asked && await step("tool_result DataPart back to the same task", async () => {
  const task = await send(
    [{ kind: "data", data: { type: "tool_result", call_id: asked.call.call_id, output: { age: 36 } } }],
    { taskId: asked.taskId, contextId: first.contextId });
  check(task.id === asked.taskId, `answered task ${task.id}, not ${asked.taskId}`);
  check(task.status.state === "completed", `state ${task.status.state}`);
  return { answer: textOf(task.status.message) };
});

if (answered) {
  await step("agents.getTask: usage in the metadata", async () => {
    const task = await client.agents.getTask(agentId, asked.taskId);
    strict(serializers.AgentsTask, lastBody(`/v1/tasks/${asked.taskId}`), "getTask");
    const usage = task.metadata?.usage;
    check(usage && typeof usage.total_tokens === "number", `no usage in ${JSON.stringify(task.metadata)}`);
    return { usage, model_used: task.metadata.model_used, provider: task.metadata.provider,
      history: (task.history ?? []).map((m) => m.role) };
  });

  await step("agents.getContext: both turns", async () => {
    const context = await client.agents.getContext(agentId, first.contextId, { limit: 50, offset: 0 });
    strict(serializers.AgentsContext, lastBody(`/v1/contexts/${first.contextId}`), "getContext");
    const ids = (context.items ?? []).map((item) => item.id ?? item.messageId);
    check(ids.includes(first.taskId) && ids.includes(asked.taskId), `context items ${JSON.stringify(ids)}`);
    return { tasks: ids.filter((id) => id === first.taskId || id === asked.taskId).length };
  });
}

process.exit(failed ? 1 : 0);
