// The dead letters panel: each subscriber's DLQ with the reason of every message, and replay.
// Both are an operator's: messages are peeked once this tab has the operator token.
import { $, ensureOperatorToken, fetchJson, h, keepingFocus, toast } from "./dom.js";
import { clock, short } from "./format.js";
import { serviceColor } from "./palette.js";
import { operatorToken } from "./session.js";

const PEEK_AGAIN_MS = 3000;
let subscribers = [];
const peeks = new Map(); // service → {depth, messages, at, mapCount}: its DLQ as last peeked
const peeking = new Set();

// Called with each fresh broker map.
export function showDeadLetters(mapSubscribers) {
  subscribers = mapSubscribers;
  renderDeadLetters();
  refreshDeadLetters();
}

function renderDeadLetters() {
  const total = subscribers.reduce((sum, s) => sum + shownCount(s), 0);
  const badge = $("#nav-dlq-count");
  badge.hidden = total === 0;
  badge.textContent = total;
  if (!subscribers.length) return;
  keepingFocus(() => $("#dlq-list").replaceChildren(...subscribers.map(deadLetterQueue)));
}

function shownCount(subscriber) {
  const peeked = peeks.get(subscriber.service);
  return peeked ? peeked.depth : subscriber.dead_letters;
}

function deadLetterQueue(s) {
  const count = shownCount(s);
  const peeked = peeks.get(s.service);
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
  count && !peeked && !operatorToken.get() ? h("p", { class: "letter-meta", vars: { padding: "0 12px 10px" } },
    h("button", {
      class: "link-button", type: "button", dataset: { focusKey: `unlock:${s.service}` },
      onclick: () => ensureOperatorToken().then(() => peekDeadLetters(s.service, s.dead_letters), () => {}),
    }, "Show the messages"), " (needs the operator token)") : null,
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
  for (const s of subscribers) {
    const peeked = peeks.get(s.service);
    const stale = !peeked
      ? s.dead_letters > 0
      : peeked.mapCount !== s.dead_letters || (peeked.depth !== s.dead_letters && Date.now() - peeked.at > PEEK_AGAIN_MS);
    if (stale) peekDeadLetters(s.service, s.dead_letters);
  }
}

// Without the operator token the panel shows the map's counts, and offers to ask for it.
async function peekDeadLetters(service, mapCount) {
  if (peeking.has(service) || !operatorToken.get()) return;
  peeking.add(service);
  try {
    const data = await fetchJson(`/api/dead-letters/${encodeURIComponent(service)}`, { operator: true });
    const known = peeks.get(service);
    peeks.set(service, {
      depth: data.depth, messages: data.messages, at: Date.now(),
      mapCount: mapCount === undefined ? (known ? known.mapCount : data.depth) : mapCount,
    });
  } catch {
    // the map's count stays; the next map asks again
  } finally {
    peeking.delete(service);
    renderDeadLetters();
  }
}

async function replay(service, key, button) {
  button.disabled = true;
  try {
    const data = await fetchJson(`/api/dead-letters/${encodeURIComponent(service)}/replay`, {
      method: "POST", body: key ? { key } : {}, operator: true,
    });
    toast(`Replayed ${data.replayed} message${data.replayed === 1 ? "" : "s"} to the ${service} queue.`);
  } catch (error) {
    toast(`Replay failed: ${error.message}`);
  } finally {
    button.disabled = false;
    await peekDeadLetters(service);
    setTimeout(() => peekDeadLetters(service), 1500);
  }
}
