// Event-driven shop dashboard: renders what the server computes, pushed over Server-Sent Events.
// Plain DOM and canvas in browser ES modules (js/, one per part of the page), no framework and
// no build step. Every string from the server is set as text, never as HTML.
import { refreshAges } from "./js/board.js";
import { drawWires, pollMap } from "./js/broker-map.js";
import { drawCharts } from "./js/charts.js";
import { $ } from "./js/dom.js";
import { startEventsPanel } from "./js/events-panel.js";
import { connect } from "./js/live-feed.js";
import { startShop } from "./js/shop.js";
import { startTimeline } from "./js/timeline.js";

// The types shared/contract.py lists, so each has its filter chip before its first event.
async function listedEventTypes() {
  try {
    const response = await fetch("/api/event-types", { cache: "no-store" });
    if (response.ok) return (await response.json()).event_types;
  } catch {
    // the dashboard is restarting: the stream reconnects and brings the types it shows
  }
  return [];
}

function setTheme(theme) {
  document.documentElement.dataset.theme = theme;
  try { localStorage.setItem("theme", theme); } catch { /* private mode */ }
  $("#theme-toggle").setAttribute("aria-label", `Switch to ${theme === "dark" ? "light" : "dark"} theme`);
  drawCharts();
}

async function start() {
  setTheme(document.documentElement.dataset.theme || "dark");
  $("#theme-toggle").addEventListener("click", () => {
    setTheme(document.documentElement.dataset.theme === "dark" ? "light" : "dark");
  });
  startTimeline();
  startShop();
  pollMap();
  new ResizeObserver(() => { drawWires(); drawCharts(); }).observe($("#main"));
  setInterval(() => { refreshAges(); if (document.visibilityState === "visible") drawCharts(); }, 1000);
  startEventsPanel(await listedEventTypes());
  connect();
}

start();
