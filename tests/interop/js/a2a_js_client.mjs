// The A2A JavaScript SDK (@a2a-js/sdk) client, unmodified, against an a2a-server agent.
//
// Usage: node a2a_js_client.mjs <card-url> <binding: JSONRPC|HTTP+JSON> <tenant|-> <auth: apikey:KEY|oauth:ID:SECRET>
// Discovers the agent from its card (fetched anonymously, naming the tenant with Tenant-Name
// like any header-capable client would; "-" names none, so the card's interfaces carry no
// tenant and the credentials alone select it), then over the chosen binding: send, get with
// historyLength, stream, cancel. Prints one JSON line per step; exits 1 if any step failed.
import { ClientFactory, ClientFactoryOptions, DefaultAgentCardResolver, JsonRpcTransportFactory, RestTransportFactory } from "@a2a-js/sdk/client";
import { Role, TaskState } from "@a2a-js/sdk";
import { randomUUID } from "node:crypto";

const [cardUrl, binding, tenantArg, auth] = process.argv.slice(2);
const tenant = tenantArg === "-" ? "" : tenantArg;
if (!cardUrl || !binding || !tenantArg || !auth) {
  console.error("usage: node a2a_js_client.mjs <card-url> <JSONRPC|HTTP+JSON> <tenant|-> <apikey:KEY|oauth:ID:SECRET>");
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

// Discovery: the card is public; Tenant-Name makes it name our tenant in its interfaces.
const anonymousFetch = (input, init = {}) => {
  const headers = new Headers(init.headers);
  if (tenant) headers.set("Tenant-Name", tenant);
  return fetch(input, { ...init, headers });
};
let card;
await step("discover", async () => {
  const resolver = new DefaultAgentCardResolver({ fetchImpl: anonymousFetch });
  const found = await resolver.resolve(cardUrl, "");
  const mine = found.supportedInterfaces.find((i) => i.protocolBinding === binding);
  check(mine, `the card declares no ${binding} interface: ${JSON.stringify(found.supportedInterfaces)}`);
  check((mine.tenant ?? "") === tenant, `the ${binding} interface names tenant '${mine.tenant}', expected '${tenant}'`);
  card = found;
  return { interfaces: found.supportedInterfaces.map((i) => `${i.protocolBinding} ${i.url} tenant=${i.tenant ?? ""}`) };
});
if (!card) process.exit(1);

// Credentials, as the card's security schemes describe them. The resolver hands over a pure
// A2A 1.0 card (ProtoJSON, sent for A2A-Version: 1.0) in the SDK's own model, where a scheme
// is {scheme: {$case, value}}; a card with the JSON-Schema "type" keys stays as served.
const schemeOf = (s, kind) => s[kind] ?? (s.scheme?.$case === kind ? s.scheme.value : undefined);
const findScheme = (kind) => Object.values(card.securitySchemes).map((s) => schemeOf(s, kind)).find(Boolean);
let authHeaders;
if (auth.startsWith("apikey:")) {
  const name = findScheme("apiKeySecurityScheme")?.name;
  check(name, "the card declares no API-key scheme");
  authHeaders = { [name]: auth.slice("apikey:".length) };
} else {
  const [, clientId, clientSecret] = auth.split(":");
  let token;
  await step("oauth2 token (token URL from the card)", async () => {
    const flows = findScheme("oauth2SecurityScheme")?.flows;
    const tokenUrl = (flows?.clientCredentials ?? (flows?.flow?.$case === "clientCredentials"
      ? flows.flow.value : undefined))?.tokenUrl;
    check(tokenUrl, "the card declares no client-credentials flow");
    const res = await fetch(tokenUrl, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "client_credentials", client_id: clientId, client_secret: clientSecret, scope: "openid" }),
    });
    check(res.ok, `token endpoint answered ${res.status}`);
    token = (await res.json()).access_token;
    return { tokenUrl };
  });
  if (!token) process.exit(1);
  authHeaders = { Authorization: `Bearer ${token}` };
}
const sentRequests = [];
const authedFetch = (input, init = {}) => {
  sentRequests.push({ url: typeof input === "string" ? input : input.url, body: typeof init.body === "string" ? init.body : "" });
  const headers = new Headers(init.headers);
  for (const [k, v] of Object.entries(authHeaders)) headers.set(k, v);
  return fetch(input, { ...init, headers });
};

const factory = new ClientFactory(ClientFactoryOptions.createFrom(ClientFactoryOptions.default, {
  transports: [new JsonRpcTransportFactory({ fetchImpl: authedFetch }), new RestTransportFactory({ fetchImpl: authedFetch })],
  preferredTransports: [binding],
}));
const client = await factory.createFromAgentCard(card);
check(client.transport.protocolName === binding || client.transport.base?.protocolName === binding,
  `selected transport ${client.transport.protocolName}`);

const message = (text) => ({
  message: { messageId: randomUUID(), role: Role.ROLE_USER, parts: [{ content: { $case: "text", value: text } }] },
});
const textOf = (task) => task.artifacts.flatMap((a) => a.parts).map((p) => p.content?.value).join("");

const sent = await step("send", async () => {
  const result = await client.sendMessage(message("slow hello"));
  check("status" in result, `expected a task, got ${JSON.stringify(result)}`);
  check(result.status.state === TaskState.TASK_STATE_COMPLETED, `state ${result.status.state}`);
  check(textOf(result) === "echo: slow hello", `artifact text '${textOf(result)}'`);
  return { taskId: result.id };
});

if (sent) {
  await step("get (historyLength)", async () => {
    const full = await client.getTask({ id: sent.taskId });
    check(full.history.length === 2, `expected 2 messages in history, got ${full.history.length}`);
    const last = await client.getTask({ id: sent.taskId, historyLength: 1 });
    check(last.history.length === 1 && last.history[0].messageId === full.history[1].messageId,
      `historyLength=1 gave ${JSON.stringify(last.history)}`);
    const none = await client.getTask({ id: sent.taskId, historyLength: 0 });
    check(none.history.length === 0, `historyLength=0 gave ${none.history.length} messages`);
    return { full: full.history.length, last: last.history.length, none: none.history.length };
  });
}

await step("stream", async () => {
  const kinds = [];
  let final;
  for await (const event of client.sendMessageStream(message("stream me"))) {
    kinds.push(event.payload?.$case);
    if (event.payload?.$case === "statusUpdate") final = event.payload.value.status.state;
  }
  check(kinds[0] === "task", `first event ${kinds[0]}`);
  check(kinds.includes("artifactUpdate"), `no artifact update in ${kinds}`);
  check(final === TaskState.TASK_STATE_COMPLETED, `final state ${final}`);
  return { events: kinds };
});

await step("cancel", async () => {
  const stream = client.sendMessageStream(message("slow, then cancel"));
  const first = await stream.next();
  check(first.value?.payload?.$case === "task", `first event ${JSON.stringify(first.value)}`);
  const taskId = first.value.payload.value.id;
  const canceled = await client.cancelTask({ id: taskId });
  check(canceled.status.state === TaskState.TASK_STATE_CANCELED, `cancel gave state ${canceled.status.state}`);
  await stream.return(undefined);
  const stored = await client.getTask({ id: taskId });
  check(stored.status.state === TaskState.TASK_STATE_CANCELED, `stored state ${stored.status.state}`);
  return { taskId };
});

await step("tenant carried as the A2A binding says", async () => {
  // HTTP+JSON: {url}/{tenant}/...; JSON-RPC: params.tenant.
  // Without a tenant in the card: no tenant segment, no params.tenant.
  const base = new URL(card.supportedInterfaces.find((i) => i.protocolBinding === binding).url).pathname;
  const after = (r) => new URL(r.url).pathname.slice(base.length + 1);
  const carried = binding === "HTTP+JSON"
    ? sentRequests.every((r) => (tenant ? after(r).startsWith(`${tenant}/`) : /^(message:|tasks\/)/.test(after(r))))
    : sentRequests.every((r) => (JSON.parse(r.body).params?.tenant ?? "") === tenant);
  check(sentRequests.length > 0 && carried, `requests: ${JSON.stringify(sentRequests.map((r) => r.url))}`);
  return { requests: sentRequests.length, example: sentRequests[0].url };
});

process.exit(failed ? 1 : 0);
