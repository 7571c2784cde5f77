// The order timeline: one order's events in a dialog, as lanes per service and as steps,
// and below them its journey (journey.js).
import { emailOf } from "./board.js";
import { $, h } from "./dom.js";
import { clock, duration } from "./format.js";
import { resetJourney, startJourney } from "./journey.js";
import { serviceColor } from "./palette.js";
import { session } from "./session.js";

let shownOrderId = null;

export function startTimeline() {
  $("#timeline").addEventListener("close", () => { shownOrderId = null; });
  startJourney(() => shownOrderId);
}

export function openTimeline(orderId) {
  if (orderId !== shownOrderId) resetJourney();
  shownOrderId = orderId;
  renderTimeline();
  const dialog = $("#timeline");
  if (!dialog.open) dialog.showModal();
}

export function updateTimeline(orders) {
  if (shownOrderId && orders.some((o) => o.order_id === shownOrderId)) renderTimeline();
}

export function renderTimeline() {
  const orderId = shownOrderId;
  if (!orderId) return;
  const events = session.items.filter((i) => i.order_id === orderId).sort((a, b) => a.time - b.time);
  const order = session.orders.get(orderId) || { order_id: orderId, status: "PENDING" };
  const origin = order.placed_at || (events[0] && events[0].time) || Date.now();
  const span = Math.max(1, ...events.map((e) => e.time - origin));

  $("#timeline-title").textContent = orderId;
  $("#timeline-summary").replaceChildren(...[
    h("span", { class: "status-pill", dataset: { status: order.status, testid: "timeline-status" } }, order.status),
    emailOf(order) ? h("span", {}, emailOf(order)) : null,
    order.total_text ? h("span", {}, order.total_text) : null,
    order.placed_at ? h("span", {}, `placed ${clock(order.placed_at)}`) : null,
    order.reason ? h("span", { class: "card-reason" }, order.reason) : null,
  ].filter(Boolean));

  const services = [...new Set(events.map((e) => e.source))];
  $("#timeline-lanes").replaceChildren(
    ...services.map((service) => h("div", { class: "lane", vars: { "--svc": serviceColor(service) } },
      h("span", { class: "lane-name" }, service),
      h("span", { class: "lane-track" }, ...events.filter((e) => e.source === service).map((e) => {
        const dot = h("span", { class: "lane-dot", title: `${e.type} +${duration(e.time - origin)}` });
        dot.style.left = `${Math.min(100, ((e.time - origin) / span) * 100)}%`;
        return dot;
      })))),
    h("div", { class: "lane-axis" }, h("span", {}, "0"), h("span", {}, duration(span))));
  $("#timeline-lanes").hidden = events.length === 0;

  $("#timeline-steps").replaceChildren(...(events.length ? events.map((e) => h("li", {
    class: "step", vars: { "--svc": serviceColor(e.source) }, dataset: { testid: "timeline-step", type: e.type },
  },
  h("span", { class: "step-offset" }, `+${duration(Math.max(0, e.time - origin))}`),
  h("span", { class: "step-rail" }),
  h("div", { class: "step-body" },
    h("div", { class: "step-type" }, e.type),
    h("div", { class: "step-meta" }, `${e.source} · ${clock(e.time)}${e.summary ? ` · ${e.summary}` : ""}`)))) : [
    h("li", { class: "muted" }, "No events of this order in the current view."),
  ]));
}
