// Building the DOM without innerHTML: everything a server or an agent sent is set as text.

/**
 * h("a", {href: "#/x", class: "btn"}, "text", child) -> an element.
 * Attributes: "class", "text" (textContent), "on<event>" (listener), booleans, data-*, aria-*.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      el.addEventListener(name.slice(2), value);
    } else if (name === "text") {
      el.textContent = String(value);
    } else if (name === "class") {
      el.className = value;
    } else if (value === true) {
      el.setAttribute(name, "");
    } else {
      el.setAttribute(name, String(value));
    }
  }
  append(el, ...children);
  return el;
}

/** Append children: nodes, strings (as text), arrays; null and undefined are skipped. */
export function append(el, ...children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** Replace an element's children. */
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, ...children);
}

/** A labelled form field: <div class="field"><label for=id>label</label>control</div>. */
export function field(label, control, hint) {
  const id = control.id || `f-${Math.random().toString(36).slice(2, 10)}`;
  control.id = id;
  const parts = [h("label", { for: id, text: label }), control];
  if (hint) {
    const hintId = `${id}-hint`;
    control.setAttribute("aria-describedby", hintId);
    parts.push(h("p", { class: "hint", id: hintId, text: hint }));
  }
  return h("div", { class: "field" }, parts);
}

/** A <select> from [value, label] pairs. */
export function select(attrs, options, selected) {
  const el = h("select", attrs);
  for (const [value, label] of options) {
    el.append(h("option", { value, text: label, selected: String(value) === String(selected ?? "") }));
  }
  return el;
}

/** A short, human date-time in the browser's locale, with the ISO value kept in <time>. */
export function time(iso) {
  if (!iso) return h("span", { class: "muted", text: "—" });
  const date = new Date(iso);
  const text = Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
  return h("time", { datetime: iso, title: iso, text });
}
