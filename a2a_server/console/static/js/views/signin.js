// Sign in with the tenant's OAuth2 client credentials or an API key.

import { signIn } from "../api.js";
import { field, h, replace } from "../dom.js";

export function signInView(done) {
  const tenant = h("input", { name: "tenant", required: true, autocomplete: "organization", spellcheck: "false" });
  const clientId = h("input", { name: "client_id", autocomplete: "username", spellcheck: "false" });
  const clientSecret = h("input", { name: "client_secret", type: "password", autocomplete: "current-password" });
  const apiKey = h("input", { name: "api_key", type: "password", autocomplete: "current-password" });
  const error = h("div", { class: "form-error", "aria-live": "assertive" });

  const oauth = h("fieldset", { class: "method-fields" }, h("legend", { text: "OAuth2 client credentials" }),
    field("Client ID", clientId), field("Client secret", clientSecret));
  const key = h("fieldset", { class: "method-fields", hidden: true }, h("legend", { text: "API key" }), field("API key", apiKey));

  const method = (value, label, checked) => h("label", { class: "radio" },
    h("input", { type: "radio", name: "method", value, checked, onchange: () => {
      oauth.hidden = value !== "oauth2";
      key.hidden = value !== "api_key";
    } }), ` ${label}`);

  const button = h("button", { type: "submit", text: "Sign in" });
  // method=post and no action: whatever happens, credentials never go into a URL.
  const form = h("form", { method: "post", class: "signin", "aria-labelledby": "signin-title", onsubmit: async (event) => {
    event.preventDefault();
    replace(error);
    const chosen = form.querySelector("input[name=method]:checked").value;
    const values = { tenant: tenant.value.trim(), method: chosen, clientId: clientId.value.trim(),
                     clientSecret: clientSecret.value, apiKey: apiKey.value };
    const missing = chosen === "oauth2" ? (!values.clientId || !values.clientSecret) : !values.apiKey;
    if (!values.tenant || missing) {
      replace(error, h("p", { role: "alert", text: "Fill in the tenant and the credentials." }));
      return;
    }
    button.disabled = true;
    try {
      await signIn(values);
      done();
    } catch (failure) {
      const text = failure.status === 401 || failure.status === 403
        ? "Sign-in refused: check the tenant and the credentials."
        : failure.message;
      replace(error, h("p", { role: "alert", text }));
    } finally {
      button.disabled = false;
    }
  } },
  h("h1", { id: "signin-title", text: "Sign in" }),
  h("p", { class: "muted", text: "Your credentials stay in this browser tab (session storage) and are sent to this server only." }),
  field("Tenant", tenant),
  h("fieldset", { class: "methods" }, h("legend", { text: "Sign in with" }),
    method("oauth2", "OAuth2 client credentials", true), method("api_key", "An API key", false)),
  oauth, key, error, button);

  return { element: h("div", { class: "view narrow" }, form), focus: () => tenant.focus() };
}
