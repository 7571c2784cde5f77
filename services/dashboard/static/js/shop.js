// The shop form: pick items and a card, place one order or a burst through the orders API.
// A burst is an operator's: it sends the operator token, which orders' rate limit lets through.
import { rememberEmailTypedHere } from "./board.js";
import { $, ensureOperatorToken, fetchJson, h, keepingFocus } from "./dom.js";
import { formatCents, short } from "./format.js";
import { openTimeline } from "./timeline.js";

const MAX_QTY = 20;
const MAX_BURST = 500;
const BURST_CONCURRENCY = 12;
const CATALOG_RETRY_MS = 4000;
let catalog = { currency: "", products: [] };
const quantities = new Map(); // sku → quantity chosen

export function startShop() {
  $("#order-form").addEventListener("submit", placeOrder);
  $("#burst-form").addEventListener("submit", burst);
  loadCatalog();
}

async function loadCatalog() {
  try {
    catalog = await fetchJson("/api/shop/catalog");
    if (!quantities.size && catalog.products.length) quantities.set(catalog.products[0].sku, 1);
    renderCatalog();
  } catch (error) {
    $("#catalog").replaceChildren(h("li", { class: "muted" }, `Catalog unavailable: ${error.message}. Retrying…`));
    setTimeout(loadCatalog, CATALOG_RETRY_MS);
  }
}

function renderCatalog() {
  keepingFocus(() => $("#catalog").replaceChildren(...catalog.products.map((product) => {
    const qty = quantities.get(product.sku) || 0;
    const change = (delta) => () => {
      quantities.set(product.sku, Math.max(0, Math.min(MAX_QTY, qty + delta)));
      renderCatalog();
    };
    return h("li", { class: "product", dataset: { sku: product.sku, selected: qty > 0 ? "true" : "false" } },
      h("span", { class: "product-name", title: product.name }, product.name || product.sku),
      h("span", { class: "product-price" }, formatCents(product.unit_price_cents, product.currency)),
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
  const total = catalog.products.reduce((sum, p) => sum + p.unit_price_cents * (quantities.get(p.sku) || 0), 0);
  $("#order-total").textContent = formatCents(total, catalog.currency);
}

function orderRequest() {
  return {
    customer_email: $("#email").value.trim(),
    items: [...quantities].filter(([, qty]) => qty > 0).map(([sku, qty]) => ({ sku, qty })),
    payment_token: $('input[name="payment_token"]:checked').value,
  };
}

async function postOrder(body, operator = false) {
  const order = await fetchJson("/api/shop/orders", {
    method: "POST", body, headers: { "Idempotency-Key": crypto.randomUUID() }, operator,
  });
  rememberEmailTypedHere(order.id, body.customer_email); // the live stream masks it: this page typed it
  return order;
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
  if (!Number.isInteger(count) || count < 1 || count > MAX_BURST) {
    input.setAttribute("aria-invalid", "true");
    shopStatus("error", `A burst is 1 to ${MAX_BURST} orders.`);
    return;
  }
  input.setAttribute("aria-invalid", "false");
  const body = orderRequest();
  if (!validOrder(body)) return;
  try {
    await ensureOperatorToken(); // asked once, before a dozen requests would want it at once
  } catch (error) {
    shopStatus("error", `Burst not placed: ${error.message}.`);
    return;
  }
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
        await postOrder(body, true);
        placed += 1;
      } catch {
        failed += 1;
      }
      shopStatus("", `Burst: ${placed} of ${count} placed${failed ? `, ${failed} failed` : ""}…`);
    }
  };
  await Promise.all(Array.from({ length: Math.min(BURST_CONCURRENCY, count) }, worker));
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  shopStatus(failed ? "error" : "ok", `Burst done: ${placed} orders placed in ${seconds} s${failed ? `, ${failed} failed` : ""}.`);
  button.disabled = false;
}
