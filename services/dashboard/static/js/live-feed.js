// The live feed: a snapshot of recent history, then batches of updates, over Server-Sent Events.
import { renderBoard, updateBoard } from "./board.js";
import { drawCharts } from "./charts.js";
import { $, keepingFocus } from "./dom.js";
import { learnTypes, prependRows, renderStream } from "./events-panel.js";
import { session } from "./session.js";
import { renderTimeline, updateTimeline } from "./timeline.js";

const MAX_ITEMS = 5000;
const REFUSED_RETRY_MS = 5000; // the server's Retry-After when it serves all the streams it can
let pending = [];
let scheduled = false;

export function connect() {
  const source = new EventSource("/api/stream");
  const status = $("#connection");
  source.addEventListener("snapshot", (message) => {
    applySnapshot(JSON.parse(message.data));
    status.dataset.state = "live";
    status.textContent = "Live";
  });
  source.addEventListener("updates", (message) => {
    pending.push(...JSON.parse(message.data));
    schedule();
  });
  source.addEventListener("error", () => {
    status.dataset.state = "reconnecting";
    status.textContent = "Reconnecting…";
    // EventSource retries a dropped stream by itself, but gives up on a refused one (503):
    // come back later, at a random moment so refused pages do not return all at once.
    if (source.readyState === EventSource.CLOSED) setTimeout(connect, REFUSED_RETRY_MS * (1 + Math.random()));
  });
}

function applySnapshot(snapshot) {
  session.orders = new Map(snapshot.orders.map((o) => [o.order_id, o]));
  session.items = snapshot.items;
  session.placed = snapshot.placed;
  session.endToEnd = snapshot.end_to_end;
  pending = [];
  learnTypes(snapshot.items.map((item) => item.type));
  renderBoard();
  renderStream();
  renderTimeline();
  drawCharts();
}

// Updates arriving together are drawn together, once per frame.
function schedule() {
  if (scheduled) return;
  scheduled = true;
  requestAnimationFrame(() => {
    scheduled = false;
    applyUpdates(pending.splice(0));
  });
}

function applyUpdates(updates) {
  if (!updates.length) return;
  const orders = [];
  const newItems = [];
  for (const { item, order, points } of updates) {
    session.items.push(item);
    session.orders.set(order.order_id, order);
    orders.push(order);
    if (points.placed) session.placed.push(points.placed);
    if (points.end_to_end) session.endToEnd.push(points.end_to_end);
    learnTypes([item.type]);
    newItems.push(item);
  }
  if (session.items.length > MAX_ITEMS) session.items.splice(0, session.items.length - MAX_ITEMS);
  keepingFocus(() => {
    updateBoard(orders);
    prependRows(newItems);
  });
  updateTimeline(orders);
}
