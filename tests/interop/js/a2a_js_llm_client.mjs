// The A2A JavaScript SDK (@a2a-js/sdk) client, unmodified, against an a2a-server LLM agent.
//
// Usage: node a2a_js_llm_client.mjs <card-url> <binding: JSONRPC|HTTP+JSON> <api-key>
// The agent answers from the provider stand-in, scripted by the test that runs this script:
// 1. a streamed answer to "I am Ada" (several chunks),
// 2. a call of the client tool "lookup" to "How old am I?" in the same context,
// 3. a text answer once the tool's result is sent back.
// Steps: discover, stream (artifact chunks in order), a second turn in the same context that
// ends input-required with a tool_call DataPart, the tool_result DataPart sent back to the same
// task, and the task read back with its usage. Prints one JSON line per step with what it saw
// (the test checks the values); exits 1 if any step failed.
import { ClientFactory, ClientFactoryOptions, DefaultAgentCardResolver, JsonRpcTransportFactory, RestTransportFactory } from "@a2a-js/sdk/client";
import { Role, TaskState } from "@a2a-js/sdk";
import { randomUUID } from "node:crypto";

const [cardUrl, binding, apiKey] = process.argv.slice(2);
if (!cardUrl || !binding || !apiKey) {
  console.error("usage: node a2a_js_llm_client.mjs <card-url> <JSONRPC|HTTP+JSON> <api-key>");
  process.exit(2);
}

let failed = false;
async function step(name, fn) {
  try {
    const detail = await fn();
    console.log(JSON.stringify({ step: name, ok: true, detail }));
    return detail;
  } catch (err) {
    failed = true;
    console.log(JSON.stringify({ step: name, ok: false, error: `${err?.constructor?.name}: ${err?.message}` }));
    return undefined;
  }
}
function check(condition, message) {
  if (!condition) throw new Error(message);
}
const stateName = (state) => TaskState[state] ?? String(state);

// The card is public; Tenant-Name makes its interfaces name the tenant.
const anonymousFetch = (input, init = {}) => {
  const headers = new Headers(init.headers);
  headers.set("Tenant-Name", "demo");
  return fetch(input, { ...init, headers });
};
const card = await step("discover", async () => {
  const found = await new DefaultAgentCardResolver({ fetchImpl: anonymousFetch }).resolve(cardUrl, "");
  check(found.capabilities?.streaming, "the card does not declare streaming");
  check(found.supportedInterfaces.some((i) => i.protocolBinding === binding), `no ${binding} interface`);
  return found;
});
if (!card) process.exit(1);
const schemeOf = (s, kind) => s[kind] ?? (s.scheme?.$case === kind ? s.scheme.value : undefined);
const keyHeader = Object.values(card.securitySchemes).map((s) => schemeOf(s, "apiKeySecurityScheme")).find(Boolean)?.name;
const authedFetch = (input, init = {}) => {
  const headers = new Headers(init.headers);
  headers.set(keyHeader ?? "X-API-Key", apiKey);
  return fetch(input, { ...init, headers });
};
const factory = new ClientFactory(ClientFactoryOptions.createFrom(ClientFactoryOptions.default, {
  transports: [new JsonRpcTransportFactory({ fetchImpl: authedFetch }), new RestTransportFactory({ fetchImpl: authedFetch })],
  preferredTransports: [binding],
}));
const client = await factory.createFromAgentCard(card);

const message = (part, extra = {}) => ({
  message: { messageId: randomUUID(), role: Role.ROLE_USER, parts: [{ content: part }], ...extra },
});
const text = (value) => ({ $case: "text", value });
const data = (value) => ({ $case: "data", value });
const textOf = (msg) => (msg?.parts ?? []).filter((p) => p.content?.$case === "text").map((p) => p.content.value).join("");
const dataOf = (msg) => (msg?.parts ?? []).filter((p) => p.content?.$case === "data").map((p) => p.content.value);

async function collect(stream) {
  const events = [];
  for await (const event of stream) events.push(event.payload);
  return events;
}

const first = await step("stream (artifact chunks in order)", async () => {
  const events = await collect(client.sendMessageStream(message(text("I am Ada"))));
  check(events[0]?.$case === "task", `first event ${events[0]?.$case}`);
  const task = events[0].value;
  const updates = events.filter((e) => e.$case === "artifactUpdate").map((e) => e.value);
  check(updates.length >= 2, `expected several artifact updates, got ${updates.length}`);
  const chunks = updates.slice(0, -1);
  const last = updates[updates.length - 1];
  check(chunks.every((u) => u.artifact.artifactId === last.artifact.artifactId), "chunks of different artifacts");
  check(!chunks[0].append && chunks.slice(1).every((u) => u.append), "append must be false on the first chunk, true after");
  check(last.lastChunk && !last.append, "the last update must replace the artifact with lastChunk");
  check(chunks.map((u) => textOf(u.artifact)).join("") === textOf(last.artifact), "the chunks do not add up to the answer");
  const final = events[events.length - 1];
  check(final.$case === "statusUpdate", `last event ${final.$case}`);
  check(final.value.status.state === TaskState.TASK_STATE_COMPLETED, `final state ${stateName(final.value.status.state)}`);
  return {
    taskId: task.id, contextId: task.contextId,
    kinds: events.map((e) => e.$case),
    chunks: chunks.map((u) => textOf(u.artifact)),
    answer: textOf(final.value.status.message),
    usage: final.value.status.message?.metadata?.usage,
  };
});

const asked = first && await step("second turn: input-required with a tool_call", async () => {
  const result = await client.sendMessage(message(text("How old am I?"), { contextId: first.contextId }));
  check("status" in result, `expected a task, got ${JSON.stringify(result)}`);
  check(result.contextId === first.contextId, "a different context");
  check(result.id !== first.taskId, "the second turn must be a new task of the context");
  check(result.status.state === TaskState.TASK_STATE_INPUT_REQUIRED, `state ${stateName(result.status.state)}`);
  const calls = dataOf(result.status.message).filter((d) => d?.type === "tool_call");
  check(calls.length === 1, `expected one tool_call DataPart, got ${JSON.stringify(dataOf(result.status.message))}`);
  return { taskId: result.id, call: calls[0] };
});

const answered = asked && await step("tool_result DataPart back to the same task", async () => {
  const reply = { type: "tool_result", call_id: asked.call.call_id, output: { age: 36 } };
  const result = await client.sendMessage(message(data(reply), { taskId: asked.taskId, contextId: first.contextId }));
  check("status" in result, `expected a task, got ${JSON.stringify(result)}`);
  check(result.id === asked.taskId, `answered task ${result.id}, not ${asked.taskId}`);
  check(result.status.state === TaskState.TASK_STATE_COMPLETED, `state ${stateName(result.status.state)}`);
  return { answer: textOf(result.status.message) };
});

if (answered) {
  await step("usage in the task's metadata", async () => {
    const task = await client.getTask({ id: asked.taskId });
    const usage = task.metadata?.usage;
    check(usage && typeof usage.total_tokens === "number", `no usage in ${JSON.stringify(task.metadata)}`);
    const firstTask = await client.getTask({ id: first.taskId });
    return { usage, model_used: task.metadata.model_used, provider: task.metadata.provider,
      first: firstTask.metadata?.usage };
  });
}

process.exit(failed ? 1 : 0);
