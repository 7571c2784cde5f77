// The journey of one order, in its timeline dialog: every hop on a horizontal track, the time
// it waited in a queue (hatched) apart from the time it was processed (solid). The server
// computes the hops (services/dashboard/journey.py), from the order's trace in Jaeger when
// there is one, else from its events; this only draws them.
import { $, fetchJson, h } from "./dom.js";
import { duration } from "./format.js";
import { serviceColor } from "./palette.js";

const ORIGINS = {
  trace: "From the trace",
  events: "From the events",
};

let shownOrderId = null;

export function startJourney(currentOrderId) {
  $("#journey-open").addEventListener("click", () => showJourney(currentOrderId()));
}

// Another order's timeline: its journey is not asked for until the button is pressed.
export function resetJourney() {
  shownOrderId = null;
  $("#journey-body").replaceChildren();
  $("#journey-body").hidden = true;
  $("#journey-open").textContent = "Show the journey";
}

export async function showJourney(orderId) {
  if (!orderId) return;
  shownOrderId = orderId;
  const button = $("#journey-open");
  button.disabled = true;
  try {
    const journey = await fetchJson(`/api/orders/${encodeURIComponent(orderId)}/journey`);
    if (shownOrderId === orderId) renderJourney(journey);
  } catch (error) {
    if (shownOrderId === orderId) {
      $("#journey-body").replaceChildren(h("p", { class: "banner", role: "alert" }, error.message));
      $("#journey-body").hidden = false;
    }
  } finally {
    button.disabled = false;
    button.textContent = "Refresh";
  }
}

const percent = (ms, total) => `${Math.min(100, Math.max(0, (ms / total) * 100))}%`;

function bar(kind, from, length, total, label) {
  const el = h("span", { class: `hop-bar hop-${kind}`, title: label });
  el.style.left = percent(from, total);
  el.style.width = `max(2px, ${percent(length, total)})`;
  return el;
}

function hopRow(hop, total) {
  const queued = hop.queued_ms ?? 0;
  const times = [
    hop.queued_ms === null ? null : `queued ${duration(hop.queued_ms)}`,
    hop.processing_ms === null ? null : `processed ${duration(hop.processing_ms)}`,
  ].filter(Boolean).join(" · ");
  return h("li", {
    class: "hop",
    vars: { "--svc": serviceColor(hop.service) },
    dataset: { testid: "journey-hop", kind: hop.kind, type: hop.event_types[0] },
  },
  h("div", { class: "hop-label" },
    h("span", { class: "hop-name" }, hop.name),
    h("span", { class: "hop-meta" }, [hop.service, hop.kind, ...hop.event_types.filter((t) => !hop.name.includes(t))].join(" · "))),
  h("div", { class: "hop-track" },
    hop.queued_ms === null ? null : bar("queued", hop.start_ms, queued, total, `queued ${duration(queued)}`),
    hop.processing_ms === null ? null
      : bar("processing", hop.start_ms + queued, hop.processing_ms, total, `processed ${duration(hop.processing_ms)}`)),
  h("span", { class: "hop-times", dataset: { testid: "hop-durations" } }, times || "–"));
}

// The order's events where they were published, above the hops they belong to.
function eventsRow(events, total) {
  return h("li", { class: "hop hop-events" },
    h("div", { class: "hop-label" }, h("span", { class: "hop-name" }, "events"), h("span", { class: "hop-meta" }, "when published")),
    h("div", { class: "hop-track" }, events.map((event) => {
      const dot = h("span", {
        class: "hop-dot",
        vars: { "--svc": serviceColor(event.source) },
        title: `${event.type} +${duration(event.published_ms)} (received +${duration(event.received_ms)})${event.summary ? `: ${event.summary}` : ""}`,
      });
      dot.style.left = percent(event.published_ms, total);
      return dot;
    })),
    h("span", { class: "hop-times" }, `${events.length} published`));
}

function renderJourney(journey) {
  const total = Math.max(1, journey.total_ms);
  const jaeger = journey.jaeger_url
    ? h("a", { class: "button small", href: journey.jaeger_url, target: "_blank", rel: "noopener noreferrer", dataset: { testid: "jaeger-link" } }, "open in Jaeger")
    : null;
  $("#journey-body").replaceChildren(...[
    h("div", { class: "journey-origin" },
      h("span", { class: "journey-badge", dataset: { origin: journey.origin, testid: "journey-origin" } }, ORIGINS[journey.origin] || journey.origin),
      h("span", { class: "journey-note" }, journey.note),
      jaeger),
    journey.trace_problem ? h("p", { class: "journey-problem muted" }, journey.trace_problem) : null,
    journey.trace_id ? h("p", { class: "journey-trace muted" }, "trace ", h("code", {}, journey.trace_id)) : null,
    h("ul", { class: "legend journey-legend", "aria-label": "Legend" },
      h("li", {}, h("span", { class: "hop-swatch hop-queued" }), "queued"),
      h("li", {}, h("span", { class: "hop-swatch hop-processing" }), "processed"),
      h("li", {}, `total ${duration(journey.total_ms)}`)),
    journey.hops.length
      ? h("ol", { class: "hops" }, eventsRow(journey.events, total), journey.hops.map((hop) => hopRow(hop, total)))
      : h("p", { class: "muted" }, "No hop of this order yet."),
    h("div", { class: "hop-axis" }, h("span", {}, "0"), h("span", {}, duration(journey.total_ms))),
  ].filter(Boolean));
  $("#journey-body").hidden = false;
}
