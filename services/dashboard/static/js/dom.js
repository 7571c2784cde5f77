// Building and updating the page: elements from data, focus kept across re-renders, toasts.

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
