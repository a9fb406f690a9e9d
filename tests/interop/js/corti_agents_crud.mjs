// Corti's published JavaScript client (@corti/sdk), unmodified: agent CRUD against an a2a-server.
//
// Usage: node corti_agents_crud.mjs <server-url> <tenant> <client-id> <client-secret>
// Prints one JSON line per step: {"step", "ok", "detail"|"error"}; exits 1 if any step failed.
// Every response is parsed by the client itself, and re-validated here with the SDK's own
// serialization schemas in strict mode.
import { CortiClient } from "@corti/sdk";
import * as serializers from "@corti/sdk/serialization";

const [server, tenantName, clientId, clientSecret] = process.argv.slice(2);
if (!server || !tenantName || !clientId || !clientSecret) {
  console.error("usage: node corti_agents_crud.mjs <server-url> <tenant> <client-id> <client-secret>");
  process.exit(2);
}

const received = [];
async function recordingFetch(input, init) {
  const response = await fetch(input, init);
  const url = typeof input === "string" ? input : input.url;
  received.push({ url, method: init?.method ?? "GET", status: response.status, text: await response.clone().text() });
  return response;
}
function lastBody(method, pathPart) {
  const hit = [...received].reverse().find((r) => r.method === method && new URL(r.url).pathname.endsWith(pathPart));
  if (!hit) throw new Error(`no response recorded for ${method} ${pathPart}`);
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

function strict(schema, body, step) {
  const result = schema.parse(body, {
    unrecognizedObjectKeys: "fail",
    allowUnrecognizedUnionMembers: false,
    allowUnrecognizedEnumValues: false,
    skipValidation: false,
  });
  if (!result.ok) {
    throw new Error(`${step}: the response does not match the Corti SDK schema: ` +
      result.errors.map((e) => `${e.path.join(".") || "(root)"}: ${e.message}`).join("; "));
  }
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

const created = await step("agents.create", async () => {
  const agent = await client.agents.create({
    name: "Coding assistant",
    description: "Assigns codes to notes.",
    systemPrompt: "You assign ICD-10 codes.",
    experts: [
      { type: "reference", id: "echo" },
      { type: "new", name: "summariser", description: "Summarises notes.", systemPrompt: "Be short.",
        mcpServers: [{ name: "codes", transportType: "streamable_http", authorizationType: "none",
                       url: "https://mcp.example.com/mcp" }] },
    ],
  });
  strict(serializers.AgentsAgent, lastBody("POST", "/agents"), "agents.create");
  if (!agent.id || agent.name !== "Coding assistant") throw new Error(`unexpected ${JSON.stringify(agent)}`);
  if (agent.experts?.length !== 2) throw new Error(`experts ${JSON.stringify(agent.experts)}`);
  return { id: agent.id, experts: agent.experts.map((e) => e.type) };
});

if (created) {
  await step("agents.update", async () => {
    const agent = await client.agents.update(created.id, { name: "Coder", systemPrompt: "Codes only." });
    strict(serializers.AgentsAgent, lastBody("PATCH", `/agents/${created.id}`), "agents.update");
    if (agent.name !== "Coder" || agent.systemPrompt !== "Codes only." || agent.description !== "Assigns codes to notes.") {
      throw new Error(`unexpected ${JSON.stringify(agent)}`);
    }
    return { name: agent.name };
  });

  await step("agents.list", async () => {
    const list = await client.agents.list({ limit: 100, offset: 0 });
    strict(serializers.agents.list.Response, lastBody("GET", "/agents"), "agents.list");
    const mine = list.find((a) => a.id === created.id);
    if (!mine || mine.name !== "Coder") throw new Error(`not listed: ${JSON.stringify(list.map((a) => a.id))}`);
    return { ids: list.map((a) => a.id) };
  });

  await step("agents.get", async () => {
    const agent = await client.agents.get(created.id);
    strict(serializers.AgentsAgentResponse, lastBody("GET", `/agents/${created.id}`), "agents.get");
    if (agent.id !== created.id) throw new Error(`wrong agent ${agent.id}`);
    return { name: agent.name };
  });

  await step("agents.getCard", async () => {
    const card = await client.agents.getCard(created.id);
    if (card.name !== "Coder" || card.url !== `${server}/agents/${created.id}/v1`) {
      throw new Error(`card ${card.name} ${card.url}`);
    }
    return { name: card.name, url: card.url };
  });

  await step("agents.delete", async () => {
    await client.agents.delete(created.id);
    return { id: created.id };
  });

  await step("agents.get after delete: 404", async () => {
    try {
      await client.agents.get(created.id);
    } catch (err) {
      if (err?.constructor?.name === "NotFoundError" || err?.statusCode === 404) return { status: 404 };
      throw err;
    }
    throw new Error("the deleted agent is still there");
  });
}

process.exit(failed ? 1 : 0);
