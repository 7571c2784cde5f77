// The events panel: the newest events first, filtered by type, order id or email, pausable.
import { emailOf } from "./board.js";
import { $, h, keepingFocus } from "./dom.js";
import { clock, duration, short } from "./format.js";
import { serviceColor, typeColor } from "./palette.js";
import { session } from "./session.js";
import { openTimeline } from "./timeline.js";

const ROWS_SHOWN = 250;
const SLOW_MS = 2000;
const types = new Set(); // every type listed by the contract or seen, in that order
const hiddenTypes = new Set();
let filter = "";
let paused = false;
let missedWhilePaused = 0;

export function startEventsPanel(listedTypes) {
  $("#stream-filter").addEventListener("input", (e) => {
    filter = e.target.value.trim().toLowerCase();
    renderStream();
  });
  $("#pause").addEventListener("click", (e) => {
    paused = !paused;
    e.currentTarget.setAttribute("aria-pressed", String(paused));
    e.currentTarget.textContent = paused ? "Resume" : "Pause";
    missedWhilePaused = 0;
    if (!paused) renderStream();
  });
  document.addEventListener("keydown", (e) => {
    const typing = /^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement.tagName);
    if (e.key === "/" && !typing) {
      e.preventDefault();
      $("#stream-filter").focus();
    }
  });
  learnTypes(listedTypes);
  renderStream();
}

// A type the contract does not list yet gets its filter chip once its first event arrives.
export function learnTypes(seen) {
  const before = types.size;
  seen.forEach((type) => types.add(type));
  if (types.size > before) renderTypeFilters();
}

function matches(item) {
  if (hiddenTypes.has(item.type)) return false;
  if (!filter) return true;
  const order = session.orders.get(item.order_id);
  return item.order_id.toLowerCase().includes(filter)
    || (order ? emailOf(order) || "" : "").toLowerCase().includes(filter);
}

function rowElement(item, fresh) {
  const slow = item.latency_ms !== null && item.latency_ms > SLOW_MS;
  return h("tr", { class: fresh ? "fresh" : null, dataset: { type: item.type, order: item.order_id, testid: "event-row" } },
    h("td", { class: "time", title: new Date(item.time).toISOString() }, clock(item.time)),
    h("td", {}, h("span", { class: "type-tag", vars: { "--type": typeColor(item.type) } }, item.type)),
    h("td", { class: "source-cell" }, h("span", { class: "source-tag", vars: { "--svc": serviceColor(item.source) } }, item.source)),
    h("td", {}, h("button", {
      class: "order-link", type: "button",
      dataset: { focusKey: `row:${item.id}` },
      "aria-label": `Open the timeline of order ${short(item.order_id)}`,
      onclick: () => openTimeline(item.order_id),
    }, `#${short(item.order_id)}`)),
    h("td", { class: "num latency", dataset: { slow: slow ? "true" : null } }, duration(item.latency_ms)),
    h("td", { class: "details", title: item.summary }, item.summary));
}

export function renderStream() {
  const rows = [];
  for (let i = session.items.length - 1; i >= 0 && rows.length < ROWS_SHOWN; i--) {
    if (matches(session.items[i])) rows.push(rowElement(session.items[i], false));
  }
  keepingFocus(() => $("#events-body").replaceChildren(...rows));
  $("#events-empty").hidden = rows.length > 0;
  $("#events-empty").textContent = session.items.length ? "No event matches the filter." : "No events yet: place an order.";
}

export function prependRows(items) {
  if (paused) {
    missedWhilePaused += items.filter(matches).length;
    $("#pause").textContent = `Resume (${missedWhilePaused} new)`;
    return;
  }
  const body = $("#events-body");
  const rows = items.filter(matches).map((item) => rowElement(item, true)).reverse();
  if (!rows.length) return;
  body.prepend(...rows.slice(0, ROWS_SHOWN));
  while (body.children.length > ROWS_SHOWN) body.lastElementChild.remove();
  $("#events-empty").hidden = true;
}

function renderTypeFilters() {
  const chips = [...types].map((type) => h("button", {
    class: "chip", type: "button",
    "aria-pressed": hiddenTypes.has(type) ? "false" : "true",
    vars: { "--type": typeColor(type) },
    dataset: { focusKey: `chip:${type}`, type },
    onclick: () => {
      if (hiddenTypes.has(type)) hiddenTypes.delete(type);
      else hiddenTypes.add(type);
      renderTypeFilters();
      renderStream();
    },
  }, type));
  keepingFocus(() => $("#type-filters").replaceChildren(...chips));
}
