// The architecture map, as the broker reports it: producers → shop.events → queues → consumers.
import { showDeadLetters } from "./dead-letters.js";
import { $, h } from "./dom.js";
import { perSecond } from "./format.js";
import { serviceColor } from "./palette.js";

const MAP_POLL_MS = 2000;
const TREND_WINDOW_MS = 30000;
let subscribersByService = new Map();
const depthSamples = new Map(); // queue → [{t, depth}] over the trend window

export async function pollMap() {
  try {
    const response = await fetch("/api/map", { cache: "no-store" });
    const data = await response.json();
    if (!response.ok) throw new Error(data.detail || data.error || `HTTP ${response.status}`);
    subscribersByService = new Map(data.subscribers.map((s) => [s.service, s]));
    $("#map-error").hidden = true;
    renderMap(data);
    showDeadLetters(data.subscribers);
  } catch (error) {
    $("#map-error").hidden = false;
    $("#map-error").textContent = `The broker's management API does not answer: ${error.message}`;
  } finally {
    setTimeout(pollMap, MAP_POLL_MS);
  }
}

function depthTrend(queue, depth) {
  const now = Date.now();
  const samples = (depthSamples.get(queue) || []).filter((s) => s.t > now - TREND_WINDOW_MS);
  samples.push({ t: now, depth });
  depthSamples.set(queue, samples);
  const oldest = samples[0].depth;
  return depth > oldest ? "growing" : depth < oldest ? "draining" : "steady";
}

function processList(processes) {
  if (!processes.length) return h("ul", { class: "processes" }, h("li", { class: "none" }, "no process connected"));
  return h("ul", { class: "processes" }, ...processes.map((p) => h("li", {
    class: p.replicas ? null : "none", dataset: { process: p.name, replicas: p.replicas },
  }, `${p.name} `, h("strong", {}, `×${p.replicas}`))));
}

function renderMap({ producers, subscribers, exchange, log }) {
  const maxDepth = Math.max(10, ...subscribers.map((s) => s.queue.depth));

  $("#map-producers").replaceChildren(
    h("p", { class: "map-col-title" }, "Producers"),
    ...(producers.length ? producers.map((p) => h("div", {
      class: "node producer", vars: { "--svc": serviceColor(p.service) },
      dataset: { producer: p.service, rate: p.rate, testid: "producer" },
    },
    h("div", { class: "node-title" }, h("span", { class: "swatch" }), p.service),
    h("div", { class: "node-meta" }, h("span", {}, h("strong", {}, perSecond(p.rate)), " events")))) : [
      h("p", { class: "muted" }, "No events published yet."),
    ]));

  $("#map-hub").replaceChildren(
    h("p", { class: "map-col-title" }, "Exchange"),
    h("div", { class: "node exchange", id: "node-exchange", dataset: { rate: exchange.rate_in } },
      h("div", { class: "node-title" }, h("span", { class: "swatch" }), exchange.name, h("span", { class: "node-kind" }, "topic")),
      h("div", { class: "node-meta" }, exchange.exists
        ? h("span", {}, h("strong", {}, perSecond(exchange.rate_in)), " in")
        : h("span", {}, "not declared yet"))),
    h("div", { class: "node log-node", id: "node-log" },
      h("div", { class: "node-title" }, h("span", { class: "swatch" }), log.name, h("span", { class: "node-kind" }, "stream")),
      h("div", { class: "node-meta" }, h("span", {}, h("strong", {}, log.messages.toLocaleString()), " events kept"))));

  $("#map-subscribers").replaceChildren(
    h("p", { class: "map-col-title" }, "Queues → consumers"),
    ...(subscribers.length ? subscribers.map((s) => subscriberRow(s, maxDepth)) : [
      h("p", { class: "muted" }, "No service has subscribed yet."),
    ]));
  requestAnimationFrame(drawWires);
}

function subscriberRow(s, maxDepth) {
  const trend = depthTrend(s.queue.name, s.queue.depth);
  const bar = h("span");
  bar.style.width = `${Math.min(100, (s.queue.depth / maxDepth) * 100)}%`;
  return h("div", { class: "subscriber", dataset: { service: s.service }, vars: { "--svc": serviceColor(s.service) } },
    h("div", {
      class: "node queue",
      dataset: {
        queue: s.queue.name, depth: s.queue.depth, consumers: s.queue.consumers,
        growing: trend === "growing" ? "true" : "false", testid: "queue",
      },
      title: `bound to ${s.bindings.join(", ")}`,
    },
    h("div", { class: "node-title" }, h("span", { class: "swatch" }), s.queue.name, h("span", { class: "node-kind" }, "queue")),
    h("div", { class: "queue-depth" },
      h("strong", {}, s.queue.depth.toLocaleString()),
      h("span", {}, s.queue.depth === 1 ? "message waiting" : "messages waiting"),
      trend === "growing" ? h("span", { class: "trend" }, "▲ growing") : null,
      trend === "draining" ? h("span", { class: "trend", vars: { color: "var(--confirmed)" } }, "▼ draining") : null),
    h("div", { class: "depth-bar" }, bar),
    h("div", { class: "node-meta" },
      h("span", {}, h("strong", {}, s.queue.consumers), s.queue.consumers === 1 ? " consumer" : " consumers"),
      h("span", {}, "in ", h("strong", {}, perSecond(s.queue.rate_in)), " · out ", h("strong", {}, perSecond(s.queue.rate_out)))),
    h("div", { class: "badges" },
      h("span", { class: "badge", title: "Routing keys this queue is bound with" }, s.bindings.join(" ")),
      s.retrying ? h("span", { class: "badge warn" }, `${s.retrying} retrying`) : null,
      s.dead_letters ? h("a", {
        class: "badge bad", href: "#dead-letters", dataset: { focusKey: `dlq-link:${s.service}` },
      }, `${s.dead_letters} dead-lettered`) : null)),
    h("div", {
      class: "node service", dataset: { status: s.status, testid: "service", service: s.service },
      "aria-label": `${s.service}: ${s.status}`,
    },
    h("div", { class: "node-title" }, h("span", { class: "swatch" }), s.service,
      h("span", { class: "service-state" }, h("span", { class: "status-dot", dataset: { status: s.status } }), s.status)),
    processList(s.processes),
    s.tasks ? h("div", { class: "node-meta" },
      h("span", {}, h("code", {}, s.tasks.name), " ", h("strong", {}, s.tasks.depth), " waiting")) : null));
}

// The wires are drawn between the boxes where the layout put them, so again on every resize.
export function drawWires() {
  const canvas = $("#map-canvas");
  const svg = $("#map-wires");
  const exchange = $("#node-exchange");
  if (!exchange || getComputedStyle(svg).display === "none") {
    svg.replaceChildren();
    return;
  }
  const base = canvas.getBoundingClientRect();
  const box = (el) => {
    const r = el.getBoundingClientRect();
    return { left: r.left - base.left, right: r.right - base.left, top: r.top - base.top, bottom: r.bottom - base.top, mid: r.top - base.top + r.height / 2 };
  };
  const curve = (x1, y1, x2, y2) => {
    const dx = Math.max(20, (x2 - x1) / 2);
    return `M${x1},${y1} C${x1 + dx},${y1} ${x2 - dx},${y2} ${x2},${y2}`;
  };
  const path = (d, cls) => {
    const p = document.createElementNS("http://www.w3.org/2000/svg", "path");
    p.setAttribute("d", d);
    if (cls) p.setAttribute("class", cls);
    return p;
  };
  const ex = box(exchange);
  const wires = [];
  document.querySelectorAll("#map-producers .producer").forEach((el) => {
    const b = box(el);
    wires.push(path(curve(b.right, b.mid, ex.left, ex.mid), Number(el.dataset.rate) > 0 ? "flowing" : null));
  });
  const log = $("#node-log");
  if (log) {
    const l = box(log);
    const x = (ex.left + ex.right) / 2;
    wires.push(path(`M${x},${ex.bottom} L${x},${l.top}`, Number(exchange.dataset.rate) > 0 ? "flowing" : null));
  }
  document.querySelectorAll("#map-subscribers .subscriber").forEach((row) => {
    const s = subscribersByService.get(row.dataset.service);
    const queue = box(row.querySelector(".queue"));
    const service = box(row.querySelector(".service"));
    wires.push(path(curve(ex.right, ex.mid, queue.left, queue.mid), s && s.queue.rate_in > 0 ? "flowing" : null));
    const blocked = s && s.status === "down";
    wires.push(path(`M${queue.right},${queue.mid} L${service.left},${queue.mid}`,
      blocked ? "blocked" : s && s.queue.rate_out > 0 ? "flowing" : null));
  });
  svg.replaceChildren(...wires);
}
