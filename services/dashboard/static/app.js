// Event-driven shop dashboard: renders what the server computes, pushed over Server-Sent Events.
// Plain DOM and canvas, no framework and no build step. Every string from the server is set as
// text, never as HTML.
"use strict";

(() => {
  const ROWS_SHOWN = 250;
  const CARDS_SHOWN = 60;
  const MAX_ITEMS = 5000;
  const CHART_WINDOW_MS = 5 * 60 * 1000;
  const BUCKET_MS = 5000;
  const MAP_POLL_MS = 2000;
  const EVENT_TYPES = [
    "order.placed", "payment.authorized", "payment.declined",
    "order.confirmed", "order.cancelled", "notification.sent",
  ];
  const STATUSES = ["PENDING", "CONFIRMED", "CANCELLED"];
  const KNOWN_SERVICES = ["orders", "payments", "notifications", "dashboard", "loyalty"];
  const DOMAIN_OF_TYPE = { order: "orders", payment: "payments", notification: "notifications" };

  const state = {
    orders: new Map(),
    items: [],
    placed: [],
    endToEnd: [],
    types: new Set(EVENT_TYPES),
    hiddenTypes: new Set(),
    filter: "",
    paused: false,
    missedWhilePaused: 0,
    pending: [],
    timelineOrder: null,
    catalog: [],
    quantities: new Map(),
    map: null,
    depthSamples: new Map(),
    deadLetters: new Map(),
    deadLetterFetches: new Set(),
  };

  // ---- small helpers ---------------------------------------------------------------------

  const $ = (selector, root = document) => root.querySelector(selector);

  function h(tag, props, ...children) {
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

  const short = (id) => String(id || "").replace(/-/g, "").slice(0, 8);
  const pad = (n, width = 2) => String(n).padStart(width, "0");

  function clock(ms) {
    const d = new Date(ms);
    return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
  }

  function ago(ms) {
    if (!ms) return "";
    const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
    if (s < 5) return "just now";
    if (s < 60) return `${s}s ago`;
    if (s < 3600) return `${Math.floor(s / 60)}m ago`;
    return `${Math.floor(s / 3600)}h ago`;
  }

  function duration(ms) {
    if (ms === null || ms === undefined) return "–";
    if (ms < 1000) return `${Math.round(ms)} ms`;
    if (ms < 60000) return `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`;
    return `${Math.floor(ms / 60000)}m ${Math.round((ms % 60000) / 1000)}s`;
  }

  function money(cents, currency) {
    if (cents === null || cents === undefined) return "–";
    try {
      return new Intl.NumberFormat(undefined, { style: "currency", currency: currency || "EUR" }).format(cents / 100);
    } catch (e) {
      return `${(cents / 100).toFixed(2)} ${currency || ""}`.trim();
    }
  }

  function hashHue(text) {
    let hash = 0;
    for (const ch of text) hash = (hash * 31 + ch.charCodeAt(0)) >>> 0;
    return hash % 360;
  }

  function serviceColor(service) {
    return KNOWN_SERVICES.includes(service) ? `var(--svc-${service})` : `hsl(${hashHue(service)} 62% 62%)`;
  }

  function typeColor(type) {
    if (/declined|cancelled|failed/.test(type)) return "var(--cancelled)";
    const domain = type.split(".")[0];
    return serviceColor(DOMAIN_OF_TYPE[domain] || domain);
  }

  function toast(text) {
    const el = h("div", { class: "toast", role: "status" }, text);
    $("#toasts").append(el);
    setTimeout(() => el.remove(), 4000);
  }

  function cssVar(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }

  // Re-rendering replaces elements; keep the keyboard focus where it was.
  function keepingFocus(render) {
    const key = document.activeElement && document.activeElement.dataset
      ? document.activeElement.dataset.focusKey : null;
    render();
    if (key && !document.activeElement?.dataset?.focusKey) {
      const again = document.querySelector(`[data-focus-key="${CSS.escape(key)}"]`);
      if (again) again.focus({ preventScroll: true });
    }
  }

  // ---- live stream -------------------------------------------------------------------------

  function connect() {
    const source = new EventSource("/api/stream");
    const status = $("#connection");
    source.addEventListener("snapshot", (message) => {
      applySnapshot(JSON.parse(message.data));
      status.dataset.state = "live";
      status.textContent = "Live";
    });
    source.addEventListener("updates", (message) => {
      state.pending.push(...JSON.parse(message.data));
      schedule();
    });
    source.addEventListener("error", () => {
      status.dataset.state = "reconnecting";
      status.textContent = "Reconnecting…";
    });
  }

  function applySnapshot(snapshot) {
    state.orders = new Map(snapshot.orders.map((o) => [o.order_id, o]));
    state.items = snapshot.items;
    state.placed = snapshot.placed;
    state.endToEnd = snapshot.end_to_end;
    state.pending = [];
    snapshot.items.forEach((item) => state.types.add(item.type));
    renderTypeFilters();
    renderBoard();
    renderStream();
    renderTimeline();
    drawCharts();
  }

  let scheduled = false;
  function schedule() {
    if (scheduled) return;
    scheduled = true;
    requestAnimationFrame(() => {
      scheduled = false;
      applyUpdates(state.pending.splice(0));
    });
  }

  function applyUpdates(updates) {
    if (!updates.length) return;
    const orders = [];
    const newItems = [];
    for (const update of updates) {
      const { item, order, points } = update;
      state.items.push(item);
      state.orders.set(order.order_id, order);
      orders.push(order);
      if (points.placed) state.placed.push(points.placed);
      if (points.end_to_end) state.endToEnd.push(points.end_to_end);
      if (!state.types.has(item.type)) {
        state.types.add(item.type);
        renderTypeFilters();
      }
      newItems.push(item);
    }
    if (state.items.length > MAX_ITEMS) state.items.splice(0, state.items.length - MAX_ITEMS);
    keepingFocus(() => {
      updateBoard(orders);
      prependRows(newItems);
    });
    if (state.timelineOrder && orders.some((o) => o.order_id === state.timelineOrder)) renderTimeline();
  }

  // ---- order board -----------------------------------------------------------------------------

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
      h("span", { class: "card-email" }, order.customer_email || "placed before this view"),
      h("span", { class: "card-bottom" },
        h("span", { class: "card-total" }, money(order.total_cents, order.currency)),
        cardSteps(order)),
      order.status === "CANCELLED" && order.reason ? h("span", { class: "card-reason" }, order.reason) : null));
  }

  function renderBoard() {
    const columns = Object.fromEntries(STATUSES.map((s) => [s, []]));
    for (const order of state.orders.values()) (columns[order.status] || columns.PENDING).push(order);
    keepingFocus(() => {
      for (const status of STATUSES) {
        const list = columns[status].sort((a, b) => (b.updated_at || 0) - (a.updated_at || 0));
        $(`[data-cards="${status}"]`).replaceChildren(...list.slice(0, CARDS_SHOWN).map((o) => cardElement(o, false)));
      }
    });
    updateCounts();
  }

  // Every state an order passes through is rendered, in the order the events arrived.
  function updateBoard(orders) {
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
    for (const order of state.orders.values()) counts[order.status] = (counts[order.status] || 0) + 1;
    for (const status of STATUSES) $(`[data-count="${status}"]`).textContent = counts[status];
  }

  function refreshAges() {
    document.querySelectorAll(".card-age[data-since]").forEach((el) => {
      el.textContent = ago(Number(el.dataset.since));
    });
  }

  // ---- event stream ------------------------------------------------------------------------------

  function matches(item) {
    if (state.hiddenTypes.has(item.type)) return false;
    if (!state.filter) return true;
    const order = state.orders.get(item.order_id);
    return item.order_id.toLowerCase().includes(state.filter)
      || (order?.customer_email || "").toLowerCase().includes(state.filter);
  }

  function rowElement(item, fresh) {
    const slow = item.latency_ms !== null && item.latency_ms > 2000;
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

  function renderStream() {
    const rows = [];
    for (let i = state.items.length - 1; i >= 0 && rows.length < ROWS_SHOWN; i--) {
      if (matches(state.items[i])) rows.push(rowElement(state.items[i], false));
    }
    keepingFocus(() => $("#events-body").replaceChildren(...rows));
    $("#events-empty").hidden = rows.length > 0;
    $("#events-empty").textContent = state.items.length ? "No event matches the filter." : "No events yet: place an order.";
  }

  function prependRows(items) {
    if (state.paused) {
      state.missedWhilePaused += items.filter(matches).length;
      $("#pause").textContent = `Resume (${state.missedWhilePaused} new)`;
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
    const chips = [...state.types].map((type) => h("button", {
      class: "chip", type: "button",
      "aria-pressed": state.hiddenTypes.has(type) ? "false" : "true",
      vars: { "--type": typeColor(type) },
      dataset: { focusKey: `chip:${type}`, type },
      onclick: () => {
        if (state.hiddenTypes.has(type)) state.hiddenTypes.delete(type);
        else state.hiddenTypes.add(type);
        renderTypeFilters();
        renderStream();
      },
    }, type));
    keepingFocus(() => $("#type-filters").replaceChildren(...chips));
  }

  // ---- order timeline ----------------------------------------------------------------------------

  function openTimeline(orderId) {
    state.timelineOrder = orderId;
    renderTimeline();
    const dialog = $("#timeline");
    if (!dialog.open) dialog.showModal();
  }

  function renderTimeline() {
    const orderId = state.timelineOrder;
    if (!orderId) return;
    const events = state.items.filter((i) => i.order_id === orderId).sort((a, b) => a.time - b.time);
    const order = state.orders.get(orderId) || { order_id: orderId, status: "PENDING" };
    const origin = order.placed_at || (events[0] && events[0].time) || Date.now();
    const span = Math.max(1, ...events.map((e) => e.time - origin));

    $("#timeline-title").textContent = orderId;
    $("#timeline-summary").replaceChildren(...[
      h("span", { class: "status-pill", dataset: { status: order.status, testid: "timeline-status" } }, order.status),
      order.customer_email ? h("span", {}, order.customer_email) : null,
      order.total_cents !== null && order.total_cents !== undefined ? h("span", {}, money(order.total_cents, order.currency)) : null,
      order.payment_token ? h("span", { class: "mono" }, order.payment_token) : null,
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

  // ---- charts --------------------------------------------------------------------------------------

  // An axis maximum of four round steps (1, 2 or 5 times a power of ten) above `value`.
  function niceMax(value) {
    const rough = Math.max(value, 1e-9) / 4;
    const exponent = 10 ** Math.floor(Math.log10(rough));
    const step = [1, 2, 5, 10].map((m) => m * exponent).find((s) => s >= rough);
    return step * 4;
  }

  function prepareCanvas(canvas) {
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.clientWidth;
    const height = canvas.clientHeight;
    if (canvas.width !== Math.round(width * ratio) || canvas.height !== Math.round(height * ratio)) {
      canvas.width = Math.round(width * ratio);
      canvas.height = Math.round(height * ratio);
    }
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    return { ctx, width, height };
  }

  function drawFrame(ctx, plot, yMax, formatY, from, to) {
    ctx.font = `11px ${cssVar("--font") || "sans-serif"}`;
    ctx.fillStyle = cssVar("--faint");
    ctx.strokeStyle = cssVar("--border");
    ctx.lineWidth = 1;
    ctx.textBaseline = "middle";
    ctx.textAlign = "right";
    for (let i = 0; i <= 4; i++) {
      const y = plot.top + plot.height - (plot.height * i) / 4;
      ctx.beginPath();
      ctx.moveTo(plot.left, Math.round(y) + 0.5);
      ctx.lineTo(plot.left + plot.width, Math.round(y) + 0.5);
      ctx.stroke();
      ctx.fillText(formatY((yMax * i) / 4), plot.left - 6, y);
    }
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    const minutes = Math.round((to - from) / 60000);
    for (let m = 0; m <= minutes; m++) {
      const x = plot.left + (plot.width * (minutes - m)) / minutes;
      ctx.fillText(m === 0 ? "now" : `-${m}m`, x, plot.top + plot.height + 6);
    }
  }

  function percentile(sorted, p) {
    if (!sorted.length) return null;
    return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
  }

  function drawCharts() {
    const now = Date.now();
    const from = now - CHART_WINDOW_MS;
    state.placed = state.placed.filter((t) => t >= from - BUCKET_MS);
    state.endToEnd = state.endToEnd.filter(([t]) => t >= from - BUCKET_MS);
    drawRateChart(now, from);
    drawLatencyChart(now, from);
  }

  function drawRateChart(now, from) {
    const buckets = new Array(CHART_WINDOW_MS / BUCKET_MS).fill(0);
    for (const t of state.placed) {
      const i = Math.floor((t - from) / BUCKET_MS);
      if (i >= 0 && i < buckets.length) buckets[i] += 1;
    }
    const rates = buckets.map((n) => n / (BUCKET_MS / 1000));
    const recent = state.placed.filter((t) => t > now - 10000).length / 10;
    $("#rate-now").textContent = `${recent.toFixed(1)} /s now`;

    const { ctx, width, height } = prepareCanvas($("#chart-rate"));
    const plot = { left: 40, top: 12, width: width - 52, height: height - 36 };
    const yMax = niceMax(Math.max(...rates, 0.2));
    drawFrame(ctx, plot, yMax, (v) => (v >= 10 ? v.toFixed(0) : v.toFixed(1)), from, now);
    const barWidth = plot.width / rates.length;
    ctx.fillStyle = cssVar("--accent");
    rates.forEach((rate, i) => {
      if (!rate) return;
      const barHeight = (rate / yMax) * plot.height;
      ctx.fillRect(plot.left + i * barWidth + 1, plot.top + plot.height - barHeight, Math.max(1, barWidth - 2), barHeight);
    });
  }

  function drawLatencyChart(now, from) {
    const points = state.endToEnd.filter(([t]) => t >= from);
    const sorted = points.map(([, ms]) => ms).sort((a, b) => a - b);
    const p50 = percentile(sorted, 0.5);
    const p95 = percentile(sorted, 0.95);
    $("#latency-now").textContent = sorted.length ? `p50 ${duration(p50)} · p95 ${duration(p95)}` : "–";

    const { ctx, width, height } = prepareCanvas($("#chart-latency"));
    const plot = { left: 48, top: 12, width: width - 60, height: height - 36 };
    const yMax = niceMax(Math.max(100, ...sorted));
    drawFrame(ctx, plot, yMax, (v) => (v < 1000 ? `${Math.round(v)}ms` : `${+(v / 1000).toFixed(1)}s`), from, now);
    const x = (t) => plot.left + ((t - from) / CHART_WINDOW_MS) * plot.width;
    const y = (ms) => plot.top + plot.height - (Math.min(ms, yMax) / yMax) * plot.height;
    ctx.fillStyle = cssVar("--svc-notifications");
    ctx.globalAlpha = 0.75;
    for (const [t, ms] of points) {
      ctx.beginPath();
      ctx.arc(x(t), y(ms), 2.6, 0, Math.PI * 2);
      ctx.fill();
    }
    ctx.globalAlpha = 1;
    if (p50 !== null) {
      ctx.strokeStyle = cssVar("--text");
      ctx.setLineDash([4, 4]);
      ctx.beginPath();
      ctx.moveTo(plot.left, y(p50));
      ctx.lineTo(plot.left + plot.width, y(p50));
      ctx.stroke();
      ctx.setLineDash([]);
      ctx.fillStyle = cssVar("--muted");
      ctx.textAlign = "left";
      ctx.textBaseline = "bottom";
      ctx.fillText("p50", plot.left + 4, y(p50) - 3);
    }
  }

  // ---- architecture map ---------------------------------------------------------------------------

  async function pollMap() {
    try {
      const response = await fetch("/api/map", { cache: "no-store" });
      const data = await response.json();
      if (!response.ok) throw new Error(data.detail || data.error || `HTTP ${response.status}`);
      state.map = data;
      $("#map-error").hidden = true;
      renderMap();
      renderDeadLetters();
      refreshDeadLetters();
    } catch (error) {
      $("#map-error").hidden = false;
      $("#map-error").textContent = `The broker's management API does not answer: ${error.message}`;
    } finally {
      setTimeout(pollMap, MAP_POLL_MS);
    }
  }

  function depthTrend(queue, depth) {
    const now = Date.now();
    const samples = (state.depthSamples.get(queue) || []).filter((s) => s.t > now - 30000);
    samples.push({ t: now, depth });
    state.depthSamples.set(queue, samples);
    const oldest = samples[0].depth;
    return depth > oldest ? "growing" : depth < oldest ? "draining" : "steady";
  }

  function processList(processes) {
    if (!processes.length) return h("ul", { class: "processes" }, h("li", { class: "none" }, "no process connected"));
    return h("ul", { class: "processes" }, ...processes.map((p) => h("li", {
      class: p.replicas ? null : "none", dataset: { process: p.name, replicas: p.replicas },
    }, `${p.name} `, h("strong", {}, `×${p.replicas}`))));
  }

  function rate(value, unit = "/s") {
    return `${Number(value || 0).toFixed(value >= 10 ? 0 : 1)}${unit}`;
  }

  function renderMap() {
    const { producers, subscribers, exchange, log } = state.map;
    const maxDepth = Math.max(10, ...subscribers.map((s) => s.queue.depth));

    $("#map-producers").replaceChildren(
      h("p", { class: "map-col-title" }, "Producers"),
      ...(producers.length ? producers.map((p) => h("div", {
        class: "node producer", vars: { "--svc": serviceColor(p.service) },
        dataset: { producer: p.service, rate: p.rate, testid: "producer" },
      },
      h("div", { class: "node-title" }, h("span", { class: "swatch" }), p.service),
      h("div", { class: "node-meta" }, h("span", {}, h("strong", {}, rate(p.rate)), " events")))) : [
        h("p", { class: "muted" }, "No events published yet."),
      ]));

    $("#map-hub").replaceChildren(
      h("p", { class: "map-col-title" }, "Exchange"),
      h("div", { class: "node exchange", id: "node-exchange", dataset: { rate: exchange.rate_in } },
        h("div", { class: "node-title" }, h("span", { class: "swatch" }), exchange.name, h("span", { class: "node-kind" }, "topic")),
        h("div", { class: "node-meta" }, exchange.exists
          ? h("span", {}, h("strong", {}, rate(exchange.rate_in)), " in")
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
    const statusText = { up: "up", degraded: "degraded", down: "down" }[s.status] || s.status;
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
        h("span", {}, "in ", h("strong", {}, rate(s.queue.rate_in)), " · out ", h("strong", {}, rate(s.queue.rate_out)))),
      h("div", { class: "badges" },
        h("span", { class: "badge", title: "Routing keys this queue is bound with" }, s.bindings.join(" ")),
        s.retrying ? h("span", { class: "badge warn" }, `${s.retrying} retrying`) : null,
        s.dead_letters ? h("a", {
          class: "badge bad", href: "#dead-letters", dataset: { focusKey: `dlq-link:${s.service}` },
        }, `${s.dead_letters} dead-lettered`) : null)),
      h("div", {
        class: "node service", dataset: { status: s.status, testid: "service", service: s.service },
        "aria-label": `${s.service}: ${statusText}`,
      },
      h("div", { class: "node-title" }, h("span", { class: "swatch" }), s.service,
        h("span", { class: "service-state" }, h("span", { class: "status-dot", dataset: { status: s.status } }), statusText)),
      processList(s.processes),
      s.tasks ? h("div", { class: "node-meta" },
        h("span", {}, h("code", {}, s.tasks.name), " ", h("strong", {}, s.tasks.depth), " waiting")) : null));
  }

  function drawWires() {
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
    const subscribers = new Map((state.map?.subscribers || []).map((s) => [s.service, s]));
    document.querySelectorAll("#map-subscribers .subscriber").forEach((row) => {
      const s = subscribers.get(row.dataset.service);
      const queue = box(row.querySelector(".queue"));
      const service = box(row.querySelector(".service"));
      wires.push(path(curve(ex.right, ex.mid, queue.left, queue.mid), s && s.queue.rate_in > 0 ? "flowing" : null));
      const blocked = s && s.status === "down";
      wires.push(path(`M${queue.right},${queue.mid} L${service.left},${queue.mid}`,
        blocked ? "blocked" : s && s.queue.rate_out > 0 ? "flowing" : null));
    });
    svg.replaceChildren(...wires);
  }

  // ---- dead letters ----------------------------------------------------------------------------------

  function renderDeadLetters() {
    const subscribers = state.map ? state.map.subscribers : [];
    const total = subscribers.reduce((sum, s) => sum + shownDeadLetterCount(s), 0);
    const badge = $("#nav-dlq-count");
    badge.hidden = total === 0;
    badge.textContent = total;
    if (!subscribers.length) return;
    keepingFocus(() => $("#dlq-list").replaceChildren(...subscribers.map(deadLetterQueue)));
  }

  function shownDeadLetterCount(subscriber) {
    const peeked = state.deadLetters.get(subscriber.service);
    return peeked ? peeked.depth : subscriber.dead_letters;
  }

  function deadLetterQueue(s) {
    const count = shownDeadLetterCount(s);
    const peeked = state.deadLetters.get(s.service);
    const letters = peeked && count ? peeked.messages : [];
    return h("section", {
      class: "dlq", vars: { "--svc": serviceColor(s.service) },
      dataset: { service: s.service, count, testid: "dlq" }, "aria-label": `${s.service} dead letters`,
    },
    h("div", { class: "dlq-head" },
      h("span", { class: "swatch" }),
      h("span", { class: "dlq-name" }, s.service),
      h("span", { class: "dlq-queue" }, `${s.service}.dlq`),
      h("span", { class: "dlq-count", dataset: { testid: "dlq-count" } }, count),
      h("button", {
        class: "button small", type: "button", disabled: count === 0,
        dataset: { focusKey: `replay-all:${s.service}` },
        onclick: (e) => replay(s.service, null, e.currentTarget),
      }, "Replay all")),
    letters.length ? h("ul", { class: "letters" }, ...letters.map((letter) => deadLetter(s.service, letter))) : null,
    count > letters.length && letters.length ? h("p", { class: "letter-meta", vars: { padding: "0 12px 10px" } },
      `${count - letters.length} more not shown`) : null);
  }

  function deadLetter(service, letter) {
    const what = letter.event_type
      ? `${letter.event_type}${letter.order_id ? ` · #${short(letter.order_id)}` : ""}`
      : "undecodable message";
    const meta = [
      letter.attempts !== null ? `attempt ${letter.attempts}` : null,
      letter.dead_lettered_at ? `dead-lettered ${clock(Date.parse(letter.dead_lettered_at))}` : null,
      letter.replays ? `replayed ${letter.replays}×` : null,
    ].filter(Boolean).join(" · ");
    return h("li", { class: "letter", dataset: { key: letter.key, testid: "dead-letter" } },
      h("div", { class: "letter-top" },
        h("span", { class: "reason", dataset: { testid: "dead-letter-reason" } }, letter.reason),
        h("span", { class: "letter-what" }, what),
        h("button", {
          class: "button small", type: "button", dataset: { focusKey: `replay:${letter.key}` },
          "aria-label": `Replay ${what} to ${service}`,
          onclick: (e) => replay(service, letter.key, e.currentTarget),
        }, "Replay")),
      letter.error ? h("div", { class: "letter-error" }, letter.error) : null,
      meta ? h("div", { class: "letter-meta" }, meta) : null);
  }

  // The map's counts lag the broker by a few seconds; a peek is exact. Peek again when they disagree.
  function refreshDeadLetters() {
    for (const s of state.map.subscribers) {
      const peeked = state.deadLetters.get(s.service);
      const stale = !peeked
        ? s.dead_letters > 0
        : peeked.mapCount !== s.dead_letters || (peeked.depth !== s.dead_letters && Date.now() - peeked.at > 3000);
      if (stale) peekDeadLetters(s.service, s.dead_letters);
    }
  }

  async function peekDeadLetters(service, mapCount) {
    if (state.deadLetterFetches.has(service)) return;
    state.deadLetterFetches.add(service);
    try {
      const response = await fetch(`/api/dead-letters/${encodeURIComponent(service)}`, { cache: "no-store" });
      if (response.ok) {
        const data = await response.json();
        const known = state.deadLetters.get(service);
        state.deadLetters.set(service, {
          depth: data.depth, messages: data.messages, at: Date.now(),
          mapCount: mapCount === undefined ? (known ? known.mapCount : data.depth) : mapCount,
        });
        renderDeadLetters();
      }
    } finally {
      state.deadLetterFetches.delete(service);
    }
  }

  async function replay(service, key, button) {
    button.disabled = true;
    try {
      const response = await fetch(`/api/dead-letters/${encodeURIComponent(service)}/replay`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(key ? { key } : {}),
      });
      const data = await response.json();
      if (!response.ok) throw new Error(data.detail || data.error);
      toast(`Replayed ${data.replayed} message${data.replayed === 1 ? "" : "s"} to the ${service} queue.`);
    } catch (error) {
      toast(`Replay failed: ${error.message}`);
    } finally {
      button.disabled = false;
      await peekDeadLetters(service);
      setTimeout(() => peekDeadLetters(service), 1500);
    }
  }

  // ---- shop ----------------------------------------------------------------------------------------------

  async function loadCatalog() {
    const list = $("#catalog");
    try {
      const response = await fetch("/api/shop/catalog", { cache: "no-store" });
      const data = await response.json();
      if (!response.ok) throw new Error(data.detail || data.error || `HTTP ${response.status}`);
      const products = Array.isArray(data) ? data : data.products || data.items || data.catalog || [];
      state.catalog = products;
      if (!state.quantities.size && products.length) state.quantities.set(products[0].sku, 1);
      renderCatalog();
    } catch (error) {
      list.replaceChildren(h("li", { class: "muted" }, `Catalog unavailable: ${error.message}. Retrying…`));
      setTimeout(loadCatalog, 4000);
    }
  }

  function price(product) {
    return product.unit_price_cents ?? product.price_cents ?? 0;
  }

  function renderCatalog() {
    keepingFocus(() => $("#catalog").replaceChildren(...state.catalog.map((product) => {
      const qty = state.quantities.get(product.sku) || 0;
      const change = (delta) => () => {
        state.quantities.set(product.sku, Math.max(0, Math.min(20, qty + delta)));
        renderCatalog();
      };
      return h("li", { class: "product", dataset: { sku: product.sku, selected: qty > 0 ? "true" : "false" } },
        h("span", { class: "product-name", title: product.name }, product.name || product.sku),
        h("span", { class: "product-price" }, money(price(product), product.currency)),
        h("span", { class: "stepper" },
          h("button", {
            type: "button", "aria-label": `One ${product.name} less`, dataset: { focusKey: `less:${product.sku}` },
            onclick: change(-1),
          }, "−"),
          h("output", { "aria-label": `Quantity of ${product.name}` }, qty),
          h("button", {
            type: "button", "aria-label": `One ${product.name} more`, dataset: { focusKey: `more:${product.sku}` },
            onclick: change(+1),
          }, "+")));
    })));
    const total = state.catalog.reduce((sum, p) => sum + price(p) * (state.quantities.get(p.sku) || 0), 0);
    $("#order-total").textContent = money(total, state.catalog[0] && state.catalog[0].currency);
  }

  function orderRequest() {
    return {
      customer_email: $("#email").value.trim(),
      items: [...state.quantities].filter(([, qty]) => qty > 0).map(([sku, qty]) => ({ sku, qty })),
      payment_token: $('input[name="payment_token"]:checked').value,
    };
  }

  async function postOrder(body) {
    const response = await fetch("/api/shop/orders", {
      method: "POST",
      headers: { "Content-Type": "application/json", "Idempotency-Key": crypto.randomUUID() },
      body: JSON.stringify(body),
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      const detail = data.detail || data.error || `HTTP ${response.status}`;
      throw new Error(typeof detail === "string" ? detail : JSON.stringify(detail));
    }
    return data;
  }

  function shopStatus(tone, ...content) {
    const el = $("#shop-status");
    el.dataset.tone = tone;
    el.replaceChildren(...content);
  }

  function validOrder(body) {
    const email = $("#email");
    email.setAttribute("aria-invalid", email.checkValidity() && body.customer_email ? "false" : "true");
    if (email.getAttribute("aria-invalid") === "true") {
      shopStatus("error", "Enter the customer's email address.");
      email.focus();
      return false;
    }
    if (!body.items.length) {
      shopStatus("error", "Choose at least one item.");
      return false;
    }
    return true;
  }

  async function placeOrder(event) {
    event.preventDefault();
    const body = orderRequest();
    if (!validOrder(body)) return;
    const button = $("#place-order");
    button.disabled = true;
    try {
      const order = await postOrder(body);
      $("#shop-status").dataset.orderId = order.id;
      shopStatus("ok", `Order #${short(order.id)} placed, ${String(order.status || "PENDING").toLowerCase()}. `,
        h("button", { class: "link-button", type: "button", onclick: () => openTimeline(order.id) }, "Follow it"));
    } catch (error) {
      shopStatus("error", `Not placed: ${error.message}`);
    } finally {
      button.disabled = false;
    }
  }

  async function burst(event) {
    event.preventDefault();
    const input = $("#burst-count");
    const count = Number(input.value);
    if (!Number.isInteger(count) || count < 1 || count > 500) {
      input.setAttribute("aria-invalid", "true");
      shopStatus("error", "A burst is 1 to 500 orders.");
      return;
    }
    input.setAttribute("aria-invalid", "false");
    const body = orderRequest();
    if (!validOrder(body)) return;
    const button = $("#burst");
    button.disabled = true;
    const started = performance.now();
    let next = 0;
    let placed = 0;
    let failed = 0;
    const worker = async () => {
      while (next < count) {
        next += 1;
        try {
          await postOrder(body);
          placed += 1;
        } catch (error) {
          failed += 1;
        }
        shopStatus("", `Burst: ${placed} of ${count} placed${failed ? `, ${failed} failed` : ""}…`);
      }
    };
    await Promise.all(Array.from({ length: Math.min(12, count) }, worker));
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    shopStatus(failed ? "error" : "ok", `Burst done: ${placed} orders placed in ${seconds} s${failed ? `, ${failed} failed` : ""}.`);
    button.disabled = false;
  }

  // ---- page ---------------------------------------------------------------------------------------------

  function setTheme(theme) {
    document.documentElement.dataset.theme = theme;
    try { localStorage.setItem("theme", theme); } catch (e) { /* private mode */ }
    $("#theme-toggle").setAttribute("aria-label", `Switch to ${theme === "dark" ? "light" : "dark"} theme`);
    drawCharts();
  }

  function start() {
    setTheme(document.documentElement.dataset.theme || "dark");
    $("#theme-toggle").addEventListener("click", () => {
      setTheme(document.documentElement.dataset.theme === "dark" ? "light" : "dark");
    });
    $("#order-form").addEventListener("submit", placeOrder);
    $("#burst-form").addEventListener("submit", burst);
    $("#stream-filter").addEventListener("input", (e) => {
      state.filter = e.target.value.trim().toLowerCase();
      renderStream();
    });
    $("#pause").addEventListener("click", (e) => {
      state.paused = !state.paused;
      e.currentTarget.setAttribute("aria-pressed", String(state.paused));
      e.currentTarget.textContent = state.paused ? "Resume" : "Pause";
      state.missedWhilePaused = 0;
      if (!state.paused) renderStream();
    });
    $("#timeline").addEventListener("close", () => { state.timelineOrder = null; });
    document.addEventListener("keydown", (e) => {
      const typing = /^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement.tagName);
      if (e.key === "/" && !typing) {
        e.preventDefault();
        $("#stream-filter").focus();
      }
    });
    new ResizeObserver(() => { drawWires(); drawCharts(); }).observe($("#main"));
    renderTypeFilters();
    renderStream();
    connect();
    loadCatalog();
    pollMap();
    setInterval(() => { refreshAges(); if (document.visibilityState === "visible") drawCharts(); }, 1000);
  }

  start();
})();
