// Corti's published JavaScript client (@corti/sdk), unmodified, pointed at an a2a-server.
//
// Usage: node corti_client.mjs <server-url> <tenant> <client-id> <client-secret>
// Prints one JSON line per step: {"step", "ok", "detail"|"error"}; exits 1 if any step failed.
// Every response is parsed by the client itself (lenient), and re-validated here with the
// SDK's own serialization schemas in strict mode, so a shape the client would silently
// accept but not understand is reported too.
import { CortiClient } from "@corti/sdk";
import * as serializers from "@corti/sdk/serialization";
import { randomUUID } from "node:crypto";

const [server, tenantName, clientId, clientSecret] = process.argv.slice(2);
if (!server || !tenantName || !clientId || !clientSecret) {
  console.error("usage: node corti_client.mjs <server-url> <tenant> <client-id> <client-secret>");
  process.exit(2);
}

// Every response body the client receives, recorded (a copy) so it can be validated strictly.
const received = [];
async function recordingFetch(input, init) {
  const response = await fetch(input, init);
  const url = typeof input === "string" ? input : input.url;
  received.push({ url, status: response.status, text: await response.clone().text() });
  return response;
}
function lastBody(pathPart) {
  const hit = [...received].reverse().find((r) => new URL(r.url).pathname.endsWith(pathPart));
  if (!hit) throw new Error(`no response recorded for ${pathPart}`);
  return JSON.parse(hit.text);
}

const client = new CortiClient({
  environment: { base: server, wss: server.replace(/^http/, "ws"), login: `${server}/realms`, agents: server },
  tenantName,
  auth: { clientId, clientSecret },
  fetch: recordingFetch,
});

let failed = false;
function report(step, ok, extra) {
  if (!ok) failed = true;
  console.log(JSON.stringify({ step, ok, ...extra }));
}

// Where Corti's published schema contradicts the A2A 0.3 specification, the server follows
// A2A (other clients depend on it); these paths are reported, not failed.
//  - skills[].examples: A2A 0.3 says string[]; Corti's schema says Message[].
//  - security: A2A 0.3 says a list of {scheme: scopes}; Corti's schema says an object.
const KNOWN_DEVIATIONS = [/^skills\.\[\d+\]\.examples\.\[\d+\]$/, /^security$/];

function strict(schema, body, step) {
  const result = schema.parse(body, {
    unrecognizedObjectKeys: "passthrough",
    allowUnrecognizedUnionMembers: false,
    allowUnrecognizedEnumValues: false,
    skipValidation: false,
  });
  if (result.ok) return [];
  const errors = result.errors.map((e) => ({ path: e.path.join("."), message: e.message }));
  const known = errors.filter((e) => KNOWN_DEVIATIONS.some((re) => re.test(e.path)));
  const unknown = errors.filter((e) => !known.includes(e));
  if (unknown.length) {
    throw new Error(`${step}: the response does not match the Corti SDK schema: ` +
      unknown.map((e) => `${e.path || "(root)"}: ${e.message}`).join("; "));
  }
  return known.map((e) => `${e.path}: ${e.message}`);
}

async function step(name, fn) {
  try {
    const detail = await fn();
    report(name, true, { detail });
    return detail;
  } catch (err) {
    const body = err?.body !== undefined ? ` body=${JSON.stringify(err.body)}` : "";
    report(name, false, { error: `${err?.constructor?.name}: ${err?.message}${body}` });
    return undefined;
  }
}

const token = await step("authenticate", async () => {
  const headers = await client.getAuthHeaders();
  const auth = headers.get("Authorization") ?? "";
  if (!auth.startsWith("Bearer ")) throw new Error(`no bearer token: ${auth}`);
  if (headers.get("Tenant-Name") !== tenantName) throw new Error("no Tenant-Name header");
  return { tokenType: "Bearer", tenant: headers.get("Tenant-Name") };
});

const agents = await step("agents.list", async () => {
  const list = await client.agents.list({ limit: 10, offset: 0, ephemeral: false });
  if (!Array.isArray(list) || list.length === 0) throw new Error(`expected a non-empty list, got ${JSON.stringify(list)}`);
  strict(serializers.agents.list.Response, lastBody("/agents"), "agents.list");
  return { ids: list.map((a) => a.id) };
});
const agentId = agents?.ids.includes("echo") ? "echo" : agents?.ids[0] ?? "echo";

await step("agents.get", async () => {
  const agent = await client.agents.get(agentId);
  if (agent.id !== agentId) throw new Error(`expected agent ${agentId}, got ${JSON.stringify(agent)}`);
  strict(serializers.AgentsAgentResponse, lastBody(`/agents/${agentId}`), "agents.get");
  return { id: agent.id, name: agent.name };
});

await step("agents.getCard", async () => {
  const card = await client.agents.getCard(agentId);
  const deviations = strict(serializers.AgentsAgentCard, lastBody(`/agents/${agentId}/agent-card.json`), "agents.getCard");
  if (!card.url || !card.protocolVersion) throw new Error(`card lacks url/protocolVersion: ${JSON.stringify(card)}`);
  if (card.url !== `${server}/agents/${agentId}/v1`) throw new Error(`card url ${card.url}`);
  return { name: card.name, url: card.url, protocolVersion: card.protocolVersion, deviations };
});

const sent = await step("agents.messageSend", async () => {
  const response = await client.agents.messageSend(agentId, {
    message: {
      role: "user",
      kind: "message",
      messageId: randomUUID(),
      parts: [{ kind: "text", text: "slow hello from the Corti SDK" }],
    },
  });
  strict(serializers.agents.AgentsMessageSendResponse, lastBody(`/agents/${agentId}/v1/message:send`), "agents.messageSend");
  const task = response.task;
  if (!task) throw new Error(`expected a task, got ${JSON.stringify(response)}`);
  if (task.kind !== "task" || task.status.state !== "completed") throw new Error(`unexpected task ${JSON.stringify(task)}`);
  const text = task.artifacts?.[0]?.parts?.[0]?.text;
  if (text !== "echo: slow hello from the Corti SDK") throw new Error(`unexpected artifact text ${text}`);
  return { taskId: task.id, contextId: task.contextId, state: task.status.state };
});

if (sent) {
  await step("agents.getTask(historyLength=1)", async () => {
    const task = await client.agents.getTask(agentId, sent.taskId, { historyLength: 1 });
    strict(serializers.AgentsTask, lastBody(`/v1/tasks/${sent.taskId}`), "agents.getTask");
    if (task.id !== sent.taskId) throw new Error(`wrong task ${task.id}`);
    if (!task.status || !(task.status.timestamp instanceof Date)) throw new Error(`status.timestamp did not parse as a Date: ${JSON.stringify(task.status)}`);
    if ((task.history ?? []).length !== 1) throw new Error(`historyLength=1 gave ${task.history?.length} messages`);
    if (task.history[0].role !== "agent") throw new Error(`historyLength=1 must keep the last (agent) message, got ${task.history[0].role}`);
    return { state: task.status.state, history: task.history.length };
  });

  await step("agents.getTask", async () => {
    const task = await client.agents.getTask(agentId, sent.taskId);
    strict(serializers.AgentsTask, lastBody(`/v1/tasks/${sent.taskId}`), "agents.getTask");
    // "slow" makes the echo agent post a progress message: user + agent in the history.
    if ((task.history ?? []).length !== 2) throw new Error(`expected 2 messages without historyLength, got ${task.history?.length}`);
    return { history: task.history.length };
  });

  await step("agents.getContext", async () => {
    const context = await client.agents.getContext(agentId, sent.contextId, { limit: 10, offset: 0 });
    strict(serializers.AgentsContext, lastBody(`/v1/contexts/${sent.contextId}`), "agents.getContext");
    if (context.id !== sent.contextId) throw new Error(`wrong context ${context.id}`);
    const ids = (context.items ?? []).map((item) => item.id ?? item.messageId);
    if (!ids.includes(sent.taskId)) throw new Error(`context items ${JSON.stringify(ids)} lack task ${sent.taskId}`);
    return { items: ids.length };
  });
}

process.exit(failed ? 1 : 0);
