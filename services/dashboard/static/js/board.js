// The order board: one card per order, in the column of its status, moved as events arrive.
import { $, h, keepingFocus } from "./dom.js";
import { ago, short } from "./format.js";
import { session } from "./session.js";
import { openTimeline } from "./timeline.js";

const CARDS_SHOWN = 60;
// The live stream masks every customer's email; an order placed from this page shows the one typed here.
const emailsTypedHere = new Map(); // order id → email

export function rememberEmailTypedHere(orderId, email) {
  emailsTypedHere.set(orderId, email);
  // the stream may have brought the order before the answer to its POST: show the email now
  const shown = document.querySelector(`.cards > li[data-order="${CSS.escape(orderId)}"] .card-email`);
  if (shown) shown.textContent = email;
}

export function emailOf(order) {
  return emailsTypedHere.get(order.order_id) || order.customer_email;
}
// The board's columns, as the page lays them out: PENDING first, then the end states.
const STATUSES = [...document.querySelectorAll("[data-cards]")].map((list) => list.dataset.cards);

function cardSteps(order) {
  const paid = order.payment === "authorized" ? "true" : order.payment === "declined" ? "failed" : "false";
  const label = `placed, payment ${order.payment || "pending"}, ${order.notified ? "customer notified" : "not notified yet"}`;
  return h("span", { class: "card-steps", title: label },
    h("span", { dataset: { done: order.placed_at ? "true" : "false" } }),
    h("span", { dataset: { done: paid } }),
    h("span", { dataset: { done: order.notified ? "true" : "false" } }));
}

function cardElement(order, fresh) {
  const id = short(order.order_id);
  return h("li", { dataset: { order: order.order_id } },
    h("button", {
      class: fresh ? "card fresh" : "card",
      type: "button",
      dataset: { focusKey: `card:${order.order_id}`, testid: "order-card", status: order.status },
      "aria-label": `Order ${id}, ${order.status.toLowerCase()}: open its timeline`,
      onclick: () => openTimeline(order.order_id),
    },
    h("span", { class: "card-top" },
      h("span", { class: "card-id" }, `#${id}`),
      h("span", { class: "card-age", dataset: { since: order.placed_at || order.updated_at } }, ago(order.placed_at || order.updated_at))),
    h("span", { class: "card-email" }, emailOf(order) || "placed before this view"),
    h("span", { class: "card-bottom" },
      h("span", { class: "card-total" }, order.total_text ?? "–"),
      cardSteps(order)),
    order.status === "CANCELLED" && order.reason ? h("span", { class: "card-reason" }, order.reason) : null));
}

export function renderBoard() {
  const columns = Object.fromEntries(STATUSES.map((s) => [s, []]));
  for (const order of session.orders.values()) (columns[order.status] || columns.PENDING).push(order);
  keepingFocus(() => {
    for (const status of STATUSES) {
      const list = columns[status].sort((a, b) => (b.updated_at || 0) - (a.updated_at || 0));
      $(`[data-cards="${status}"]`).replaceChildren(...list.slice(0, CARDS_SHOWN).map((o) => cardElement(o, false)));
    }
  });
  updateCounts();
}

// Every state an order passes through is rendered, in the order the events arrived.
export function updateBoard(orders) {
  for (const order of orders) {
    document.querySelector(`.cards > li[data-order="${CSS.escape(order.order_id)}"]`)?.remove();
    const column = $(`[data-cards="${order.status}"]`) || $('[data-cards="PENDING"]');
    column.prepend(cardElement(order, true));
    while (column.children.length > CARDS_SHOWN) column.lastElementChild.remove();
  }
  updateCounts();
}

function updateCounts() {
  const counts = Object.fromEntries(STATUSES.map((s) => [s, 0]));
  for (const order of session.orders.values()) counts[order.status] = (counts[order.status] || 0) + 1;
  for (const status of STATUSES) $(`[data-count="${status}"]`).textContent = counts[status];
}

export function refreshAges() {
  document.querySelectorAll(".card-age[data-since]").forEach((el) => {
    el.textContent = ago(Number(el.dataset.since));
  });
}
