// How ids, times, durations, rates and amounts are written for people.

const pad = (n, width = 2) => String(n).padStart(width, "0");

export const short = (id) => String(id || "").replace(/-/g, "").slice(0, 8);

export function clock(ms) {
  const d = new Date(ms);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

export function ago(ms) {
  if (!ms) return "";
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (s < 5) return "just now";
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  return `${Math.floor(s / 3600)}h ago`;
}

export function duration(ms) {
  if (ms === null || ms === undefined) return "–";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`;
  return `${Math.floor(ms / 60000)}m ${Math.round((ms % 60000) / 1000)}s`;
}

export function perSecond(value) {
  return `${Number(value || 0).toFixed(value >= 10 ? 0 : 1)}/s`;
}

// shared/money.format_cents, for amounts the page adds up itself: 2490 → "24.90 EUR".
// Integer arithmetic, exact for any amount JSON gives the page as a safe integer.
export function formatCents(cents, currency = "") {
  const whole = Math.floor(Math.abs(cents) / 100);
  const part = Math.abs(cents) % 100;
  const text = `${cents < 0 ? "-" : ""}${whole}.${pad(part)}`;
  return currency ? `${text} ${currency}` : text;
}
