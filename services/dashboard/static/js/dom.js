// Building and updating the page: elements from data, focus kept across re-renders, toasts,
// and the one way the panels call the dashboard's JSON endpoints (fetchJson).
import { operatorToken } from "./session.js";

export const $ = (selector) => document.querySelector(selector);

// An element with its properties and children; children are set as text, never as HTML.
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "dataset") Object.entries(value).forEach(([k, v]) => { if (v !== null && v !== undefined) el.dataset[k] = v; });
    else if (key === "vars") Object.entries(value).forEach(([k, v]) => el.style.setProperty(k, v));
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

export function toast(text) {
  const el = h("div", { class: "toast", role: "status" }, text);
  $("#toasts").append(el);
  setTimeout(() => el.remove(), 4000);
}

// Re-rendering replaces elements; keep the keyboard focus where it was.
export function keepingFocus(render) {
  const key = document.activeElement && document.activeElement.dataset
    ? document.activeElement.dataset.focusKey : null;
  render();
  if (key && !document.activeElement?.dataset?.focusKey) {
    const again = document.querySelector(`[data-focus-key="${CSS.escape(key)}"]`);
    if (again) again.focus({ preventScroll: true });
  }
}

// A JSON endpoint's answer; a refusal throws an Error with the server's detail and `status`.
// `operator: true` marks an operator action: it sends the operator token, asking for it
// first if this tab has none, and once more if the server refuses the one it has.
export async function fetchJson(url, { method = "GET", body, headers = {}, operator = false } = {}) {
  const send = (token) => fetch(url, {
    method,
    cache: "no-store",
    headers: {
      ...(body === undefined ? {} : { "Content-Type": "application/json" }),
      ...headers,
      ...(token ? { Authorization: `Bearer ${token}` } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let response = await send(operator ? await ensureOperatorToken() : null);
  if (operator && response.status === 401) {
    operatorToken.forget();
    response = await send(await ensureOperatorToken("That token was refused."));
  }
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const detail = data.detail || data.error || `HTTP ${response.status}`;
    throw Object.assign(new Error(typeof detail === "string" ? detail : JSON.stringify(detail)), {
      status: response.status,
    });
  }
  return data;
}

let asking = null; // one question at a time, however many requests wait for its answer

// This tab's operator token, asked for in the operator dialog if there is none yet.
export function ensureOperatorToken(why = "") {
  const known = operatorToken.get();
  if (known) return Promise.resolve(known);
  asking ??= new Promise((resolve, reject) => {
    const dialog = $("#operator-dialog");
    const input = $("#operator-token");
    $("#operator-why").textContent = why;
    input.value = "";
    dialog.returnValue = "";
    dialog.addEventListener("close", () => {
      asking = null;
      const token = input.value.trim();
      if (dialog.returnValue === "ok" && token) {
        operatorToken.set(token);
        resolve(token);
      } else {
        reject(Object.assign(new Error("this is an operator action: it needs the operator token"), { status: 401 }));
      }
    }, { once: true });
    dialog.showModal();
    input.focus();
  });
  return asking;
}
