// The console's only way to the server: the same origin's HTTP API, A2A 1.0 JSON throughout.
//
// Credentials live in sessionStorage (this tab only, gone when it closes), are sent as
// headers only, and are never put in a URL or written to the console log.

const SESSION_KEY = "a2a-console.session";
const REFRESH_MARGIN_MS = 30_000;

export const A2A_HEADERS = { "A2A-Version": "1.0" };

/** An HTTP error from the API, with the message the server gave. */
export class ApiError extends Error {
  constructor(status, message, detail = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.detail = detail;
  }
}

export function loadSession() {
  try {
    const raw = sessionStorage.getItem(SESSION_KEY);
    return raw ? JSON.parse(raw) : null;
  } catch {
    return null;
  }
}

function saveSession(session) {
  sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
}

export function clearSession() {
  sessionStorage.removeItem(SESSION_KEY);
}

/** The person's credentials were refused: forget them and go back to sign-in. */
function signedOut(message) {
  clearSession();
  window.dispatchEvent(new CustomEvent("console:signed-out", { detail: { message } }));
}

function describe(status, body, retryAfter) {
  const server = body?.error?.message || body?.error_description || (typeof body?.error === "string" ? body.error : "");
  if (status === 429) {
    const wait = retryAfter ? ` Retry after ${retryAfter} s.` : "";
    return `Too many requests (429): the server is rate limiting this tenant.${wait}${server ? ` ${server}` : ""}`;
  }
  if (status === 503) {
    return `Service unavailable (503): the server cannot serve this now; try again shortly.${server ? ` ${server}` : ""}`;
  }
  return server ? `${server} (${status})` : `The server answered ${status}.`;
}

async function errorOf(response, { signOutOn401 = true } = {}) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  const message = describe(response.status, body, response.headers.get("Retry-After"));
  if (response.status === 401 && signOutOn401) signedOut("Your session was refused by the server (401): sign in again.");
  return new ApiError(response.status, message, body?.error || {});
}

async function fetchToken(tenant, clientId, clientSecret) {
  const form = new URLSearchParams({ grant_type: "client_credentials", client_id: clientId,
                                     client_secret: clientSecret, scope: "openid" });
  const response = await fetch(`/realms/${encodeURIComponent(tenant)}/protocol/openid-connect/token`, {
    method: "POST", body: form, credentials: "omit", cache: "no-store",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
  });
  if (!response.ok) throw await errorOf(response, { signOutOn401: false });
  const token = await response.json();
  return { token: token.access_token, expiresAt: Date.now() + token.expires_in * 1000 };
}

/**
 * Sign in: with OAuth2 client credentials (a token from the tenant's token endpoint) or an
 * API key. The credentials are checked against GET /agents before they are kept.
 */
export async function signIn({ tenant, method, clientId, clientSecret, apiKey }) {
  let session;
  if (method === "oauth2") {
    session = { tenant, method, clientId, clientSecret, ...(await fetchToken(tenant, clientId, clientSecret)) };
  } else {
    session = { tenant, method: "api_key", apiKey };
  }
  const response = await fetch("/agents", { headers: authHeadersOf(session), credentials: "omit", cache: "no-store" });
  if (!response.ok) throw await errorOf(response, { signOutOn401: false });
  saveSession(session);
  return session;
}

function authHeadersOf(session) {
  const headers = { "Tenant-Name": session.tenant };
  if (session.method === "oauth2") headers.Authorization = `Bearer ${session.token}`;
  else headers["X-API-Key"] = session.apiKey;
  return headers;
}

async function authHeaders() {
  let session = loadSession();
  if (!session) {
    signedOut("Sign in first.");
    throw new ApiError(401, "Not signed in.");
  }
  if (session.method === "oauth2" && session.expiresAt - Date.now() < REFRESH_MARGIN_MS) {
    try {
      session = { ...session, ...(await fetchToken(session.tenant, session.clientId, session.clientSecret)) };
      saveSession(session);
    } catch (error) {
      if (error.status === 401) signedOut("The client credentials were refused (401): sign in again.");
      throw error;
    }
  }
  return authHeadersOf(session);
}

function target(path, query) {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== "") params.set(key, String(value));
  }
  const qs = params.toString();
  return qs ? `${path}?${qs}` : path;
}

/** A JSON request; resolves to the parsed body (null for 204), rejects with ApiError. */
export async function request(method, path, { query, body, signal } = {}) {
  const headers = { ...(await authHeaders()), ...A2A_HEADERS, Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(target(path, query), {
    method, headers, signal, credentials: "omit", cache: "no-store",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok) throw await errorOf(response);
  if (response.status === 204) return null;
  return response.json();
}

/**
 * Server-sent events over fetch (EventSource cannot send auth headers): yields
 * {id, event, data} for each event as it arrives; an `error` event rejects with ApiError.
 */
export async function* stream(method, path, { body, signal, lastEventId } = {}) {
  const headers = { ...(await authHeaders()), ...A2A_HEADERS, Accept: "text/event-stream" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (lastEventId) headers["Last-Event-ID"] = lastEventId;
  const response = await fetch(path, {
    method, headers, signal, credentials: "omit", cache: "no-store",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok) throw await errorOf(response);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let fields = {};
  let data = [];
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let newline;
      while ((newline = buffer.search(/\r\n|\r|\n/)) >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + (buffer.startsWith("\r\n", newline) ? 2 : 1));
        if (line === "") {
          if (data.length) {
            const event = { id: fields.id ?? null, event: fields.event ?? "message", data: JSON.parse(data.join("\n")) };
            if (event.event === "error") {
              const error = event.data?.error || {};
              throw new ApiError(error.code || 500, `${error.message || "the stream failed"} (${error.status || "error"})`, error);
            }
            yield event;
          }
          fields = {};
          data = [];
        } else if (!line.startsWith(":")) {
          const colon = line.indexOf(":");
          const name = colon < 0 ? line : line.slice(0, colon);
          const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
          if (name === "data") data.push(value);
          else fields[name] = value;
        }
      }
    }
  } finally {
    // Closes the connection when the consumer stops early (a cancel, leaving the page).
    reader.cancel().catch(() => {});
  }
}

/** The base path of an agent's A2A interface (REST binding). */
export function agentBase(agentId) {
  return `/agents/${encodeURIComponent(agentId)}/v1`;
}
