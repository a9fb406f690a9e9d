// The console's shell: sign-in, navigation, and a small hash router (#/agents, #/tasks?...).

import { clearSession, loadSession } from "./api.js";
import { h, replace } from "./dom.js";
import { agentsView } from "./views/agents.js";
import { chatView } from "./views/chat.js";
import { contextView, contextsView } from "./views/contexts.js";
import { signInView } from "./views/signin.js";
import { taskView } from "./views/task.js";
import { tasksView } from "./views/tasks.js";
import { usageView } from "./views/usage.js";

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const who = document.getElementById("who");
const notice = document.getElementById("notice");

const ROUTES = [
  [/^agents$/, () => agentsView],
  [/^chat(?:\/([^/]+))?$/, () => chatView],
  [/^tasks$/, () => tasksView],
  [/^tasks\/([^/]+)\/([^/]+)$/, () => taskView],
  [/^contexts$/, () => contextsView],
  [/^contexts\/([^/]+)\/([^/]+)$/, () => contextView],
  [/^usage$/, () => usageView],
];

const NAV = [["agents", "Agents"], ["chat", "Chat"], ["tasks", "Tasks"], ["contexts", "Contexts"], ["usage", "Usage"]];

let leave = null; // the current view's clean-up (abort its streams)

/** Show a message to the person (errors: role=alert; others: polite status). */
export function announce(message, kind = "error") {
  replace(notice, message ? h("p", { class: `notice notice-${kind}`, role: kind === "error" ? "alert" : "status", text: message }) : null);
}

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, "");
  const [path, qs] = raw.split("?", 2);
  return { path: path || "agents", query: new URLSearchParams(qs || "") };
}

function renderNav(current) {
  replace(nav, h("ul", {}, NAV.map(([path, label]) => h("li", {},
    h("a", { href: `#/${path}`, "aria-current": current === path ? "page" : false, text: label })))));
}

function signedInAs(session) {
  replace(who, h("span", { text: `Tenant ${session.tenant} · ${session.method === "oauth2" ? `client ${session.clientId}` : "API key"}` }),
    " ", h("button", { type: "button", class: "secondary", onclick: signOut, text: "Sign out" }));
}

function signOut() {
  clearSession();
  location.hash = "#/agents";
  route();
  announce("Signed out.", "info");
}

async function route() {
  if (leave) {
    leave();
    leave = null;
  }
  const session = loadSession();
  if (!session) {
    replace(nav);
    replace(who);
    const view = signInView(() => route());
    replace(main, view.element);
    view.focus?.();
    return;
  }
  const { path, query } = parseHash();
  signedInAs(session);
  renderNav(path.split("/")[0]);
  for (const [pattern, load] of ROUTES) {
    const found = pattern.exec(path);
    if (!found) continue;
    announce(null);
    const controller = new AbortController();
    leave = () => controller.abort();
    const view = load();
    const element = h("div", { class: "view" });
    replace(main, element);
    try {
      await view({ element, params: found.slice(1).map((p) => p && decodeURIComponent(p)), query, signal: controller.signal, announce, session });
    } catch (error) {
      // A 401 has already gone back to sign-in (and said why).
      if (error.name !== "AbortError" && error.status !== 401) announce(error.message);
      if (error.status === 401) return;
    }
    const heading = element.querySelector("h1");
    if (heading && !document.activeElement?.closest?.(".view form")) {
      heading.tabIndex = -1;
      heading.focus({ preventScroll: true });
    }
    return;
  }
  replace(main, h("h1", { text: "Not found" }), h("p", {}, h("a", { href: "#/agents", text: "Back to the agents" })));
}

document.querySelector(".skip").addEventListener("click", (event) => {
  event.preventDefault(); // the hash is the router's
  main.focus();
});
window.addEventListener("hashchange", route);
window.addEventListener("console:signed-out", (event) => {
  route();
  announce(event.detail.message);
});
route();
