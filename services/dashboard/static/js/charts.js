// The charts of the last five minutes: orders placed per second, and end-to-end latency.
import { $, cssVar } from "./dom.js";
import { duration } from "./format.js";
import { session } from "./session.js";
import { percentiles } from "./stats.js";

const CHART_WINDOW_MS = 5 * 60 * 1000;
const BUCKET_MS = 5000;

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

export function drawCharts() {
  const now = Date.now();
  const from = now - CHART_WINDOW_MS;
  session.placed = session.placed.filter((t) => t >= from - BUCKET_MS);
  session.endToEnd = session.endToEnd.filter(([t]) => t >= from - BUCKET_MS);
  drawRateChart(now, from);
  drawLatencyChart(now, from);
}

function drawRateChart(now, from) {
  const buckets = new Array(CHART_WINDOW_MS / BUCKET_MS).fill(0);
  for (const t of session.placed) {
    const i = Math.floor((t - from) / BUCKET_MS);
    if (i >= 0 && i < buckets.length) buckets[i] += 1;
  }
  const rates = buckets.map((n) => n / (BUCKET_MS / 1000));
  const recent = session.placed.filter((t) => t > now - 10000).length / 10;
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
  const points = session.endToEnd.filter(([t]) => t >= from);
  const latencies = points.map(([, ms]) => ms);
  const { p50, p95 } = percentiles(latencies, [50, 95]);
  $("#latency-now").textContent = latencies.length ? `p50 ${duration(p50)} · p95 ${duration(p95)}` : "–";

  const { ctx, width, height } = prepareCanvas($("#chart-latency"));
  const plot = { left: 48, top: 12, width: width - 60, height: height - 36 };
  const yMax = niceMax(Math.max(100, ...latencies));
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
  if (latencies.length) {
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
