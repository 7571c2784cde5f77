"""The dashboard in a real browser (Debian's Chromium via Playwright) against the real stack.

Issue 5's acceptance tests: an order placed from the UI moves PENDING → CONFIRMED on the
board and its events show in the stream, all pushed without a reload; a declined card ends
CANCELLED; with payments stopped new orders wait while the map shows payments down and its
queue growing, and finish once it is back; a dead-lettered message shows with its reason and
can be replayed; a page opened later is filled from history. Every state is saved as a
screenshot under artifacts/screenshots/.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator

import pika
import pika.exceptions
import pytest
import requests
from playwright.sync_api import Browser, Locator, Page, expect

from harness.launcher import SandboxedStack, sandboxed_stack
from harness.sandbox import Sandbox
from harness.waiting import wait_until
from shared.envelope import decode
from shared.publisher import Publisher
from tests.support.browser import (
    LAPTOP,
    PHONE,
    card,
    chromium,
    chromium_available,
    place_from_ui,
    screenshot,
    unique_email,
)
from tests.support.bus import queues_declared
from tests.support.events import unlisted

SERVICES = ("orders", "payments", "notifications", "dashboard")
PAYMENTS = ("payments-consumer", "payments-worker")
SUBSCRIBER_QUEUES = ("orders", "payments", "notifications", "dashboard")
ORDER_EVENTS = ("order.placed", "payment.authorized", "order.confirmed", "notification.sent")
BROKER_STATS_S = 30  # the management API refreshes queue depths and consumer counts every 5 s
OPERATOR_TOKEN = secrets.token_urlsafe(24)  # dead letters and bursts are an operator's

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not chromium_available(), reason="needs Debian's chromium: apt-get install chromium"),
]


@pytest.fixture(scope="module")
def shop() -> Iterator[tuple[SandboxedStack, Sandbox]]:
    with sandboxed_stack("ui", OPERATOR_TOKEN=OPERATOR_TOKEN) as stack:
        stack.up("smtp-sink", *SERVICES)
        declared = lambda: queues_declared(stack.sandbox.amqp_url, SUBSCRIBER_QUEUES)  # noqa: E731
        wait_until(declared, 60, 0.2, "the subscriber queues")
        yield stack, stack.sandbox


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as running:
        yield running


@pytest.fixture
def page(browser: Browser, shop: tuple[SandboxedStack, Sandbox]) -> Iterator[Page]:
    """A fresh tab on the live dashboard; it must not reload during the test."""
    stack, _sandbox = shop
    context = browser.new_context(viewport=LAPTOP, color_scheme="dark")
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    tab.goto(stack.url("dashboard"))
    expect(tab.locator("#connection")).to_have_attribute("data-state", "live", timeout=20_000)
    expect(tab.locator("#catalog .product").first).to_be_visible(timeout=20_000)
    tab.evaluate("window.__sameDocument = true")
    yield tab
    assert tab.evaluate("window.__sameDocument === true"), "the page reloaded"
    assert not errors, f"JavaScript errors: {errors}"
    context.close()


def give_operator_token(page: Page) -> None:
    """The dashboard asks once per tab, the first time an operator action needs the token."""
    dialog = page.locator("#operator-dialog")
    expect(dialog).to_be_visible(timeout=5_000)
    page.fill("#operator-token", OPERATOR_TOKEN)
    page.click("#operator-submit")
    expect(dialog).to_be_hidden()


def record_card_states(page: Page) -> None:
    """Remember every status each order card is drawn with, to see PENDING even when brief."""
    page.evaluate(
        """() => {
          window.__cardStates = {};
          new MutationObserver((mutations) => {
            for (const m of mutations) for (const node of m.addedNodes) {
              const card = node.querySelector && node.querySelector("[data-status]");
              if (node.dataset && node.dataset.order && card) {
                (window.__cardStates[node.dataset.order] ||= []).push(card.dataset.status);
              }
            }
          }).observe(document.querySelector(".board-columns"), { childList: true, subtree: true });
        }"""
    )


def cards_of(page: Page, email: str, status: str) -> Locator:
    return page.locator(f'[data-cards="{status}"] [data-testid="order-card"]', has_text=email)


def rows(page: Page, order_id: str, event_type: str | None = None) -> Locator:
    of_type = f'[data-type="{event_type}"]' if event_type else ""
    return page.locator(f'#events-body tr[data-order="{order_id}"]{of_type}')


def test_an_order_placed_in_the_ui_moves_to_confirmed_and_its_events_stream_in(page: Page) -> None:
    record_card_states(page)

    order_id = place_from_ui(page, unique_email("ada"), "tok_visa")

    expect(card(page, order_id, "CONFIRMED")).to_be_visible(timeout=30_000)
    states = page.evaluate(f"window.__cardStates[{order_id!r}]")
    assert states[0] == "PENDING" and states[-1] == "CONFIRMED", states
    for event_type in ORDER_EVENTS:
        expect(rows(page, order_id, event_type)).to_have_count(1, timeout=30_000)
    screenshot(page, "01-order-confirmed")

    card(page, order_id, "CONFIRMED").locator("button").focus()
    page.keyboard.press("Enter")
    timeline = page.locator("#timeline")
    expect(timeline).to_be_visible()
    expect(timeline.locator('[data-testid="timeline-status"]')).to_have_text("CONFIRMED")
    expect(timeline.locator('[data-testid="timeline-step"]')).to_have_count(len(ORDER_EVENTS))
    screenshot(page, "02-order-timeline", full_page=False)
    page.keyboard.press("Escape")
    expect(timeline).to_be_hidden()


def test_a_declined_card_ends_cancelled_on_the_board(page: Page) -> None:
    order_id = place_from_ui(page, unique_email("bob"), "tok_chargeDeclined")

    cancelled = card(page, order_id, "CANCELLED")
    expect(cancelled).to_be_visible(timeout=30_000)
    expect(cancelled.locator(".card-reason")).not_to_be_empty()
    expect(rows(page, order_id, "payment.declined")).to_have_count(1)
    screenshot(page, "03-order-cancelled")


def test_an_event_type_the_contract_does_not_list_yet_streams_in_too(
    page: Page, shop: tuple[SandboxedStack, Sandbox]
) -> None:
    """A new service may publish a type before shared/contract.py lists it: the dashboard,
    bound to `#`, shows it as sent instead of dead-lettering it."""
    _stack, sandbox = shop
    order_id = place_from_ui(page, unique_email("cy"), "tok_visa")
    expect(card(page, order_id, "CONFIRMED")).to_be_visible(timeout=30_000)
    awarded = decode(unlisted({"order_id": order_id, "points": 12}, subject=order_id), any_type=True)
    publisher = Publisher(sandbox.amqp_url, name="test-loyalty")
    try:
        publisher.publish(awarded)  # as a newer service would: confirmed, routed by its type
    finally:
        publisher.close()

    expect(rows(page, order_id, "points.awarded")).to_have_count(1, timeout=30_000)
    expect(card(page, order_id, "CONFIRMED")).to_be_visible()  # an unknown type changes no status


def test_with_payments_stopped_orders_wait_and_the_map_shows_it_then_they_complete(
    page: Page, shop: tuple[SandboxedStack, Sandbox]
) -> None:
    stack, _sandbox = shop
    payments = page.locator('[data-testid="service"][data-service="payments"]')
    payments_queue = page.locator('[data-testid="queue"][data-queue="payments"]')
    for name in PAYMENTS:
        stack.stop(name)
    try:
        expect(payments).to_have_attribute("data-status", "down", timeout=BROKER_STATS_S * 1000)
        email = unique_email("waiting")
        place_from_ui(page, email, "tok_visa")
        expect(payments_queue).to_have_attribute("data-depth", "1", timeout=BROKER_STATS_S * 1000)
        page.fill("#burst-count", "3")
        page.click("#burst")
        give_operator_token(page)
        expect(page.locator("#shop-status")).to_contain_text("Burst done: 3 orders placed", timeout=15_000)
        expect(payments_queue).to_have_attribute("data-depth", "4", timeout=BROKER_STATS_S * 1000)

        expect(cards_of(page, email, "PENDING")).to_have_count(4)
        expect(payments_queue).to_have_attribute("data-growing", "true")
        screenshot(page, "04-payments-down")
    finally:
        for name in PAYMENTS:
            stack.start(name)

    expect(cards_of(page, email, "CONFIRMED")).to_have_count(4, timeout=60_000)
    expect(payments).to_have_attribute("data-status", "up", timeout=BROKER_STATS_S * 1000)
    expect(payments_queue).to_have_attribute("data-depth", "0", timeout=BROKER_STATS_S * 1000)
    screenshot(page, "05-payments-back")


def test_a_dead_lettered_message_shows_its_reason_and_can_be_replayed(
    page: Page, shop: tuple[SandboxedStack, Sandbox]
) -> None:
    _stack, sandbox = shop
    poison_id = f"poison-{uuid.uuid4().hex[:8]}"
    connection = pika.BlockingConnection(pika.URLParameters(sandbox.amqp_url))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        channel.basic_publish(
            "",
            "payments",
            b"this is not an event",
            pika.BasicProperties(message_id=poison_id, delivery_mode=pika.DeliveryMode.Persistent),
            mandatory=True,
        )
    finally:
        connection.close()

    queue = page.locator('[data-testid="dlq"][data-service="payments"]')
    queue.get_by_role("button", name="Show the messages").click(timeout=BROKER_STATS_S * 1000)
    give_operator_token(page)
    letter = queue.locator(f'[data-key="{poison_id}"]')
    expect(letter).to_be_visible(timeout=BROKER_STATS_S * 1000)
    expect(letter.locator('[data-testid="dead-letter-reason"]')).to_have_text("invalid")
    expect(letter.locator(".letter-error")).to_contain_text("not JSON")
    letter.scroll_into_view_if_needed()
    screenshot(page, "06-dead-letter")

    letter.get_by_role("button", name="Replay").click()

    # still poison, so payments dead-letters it again: now it carries its replay count
    expect(letter.locator(".letter-meta")).to_contain_text("replayed 1\u00d7", timeout=BROKER_STATS_S * 1000)
    screenshot(page, "07-dead-letter-replayed")


def test_a_page_opened_later_shows_recent_history_and_fits_a_phone(
    browser: Browser, shop: tuple[SandboxedStack, Sandbox]
) -> None:
    stack, _sandbox = shop
    orders_url = stack.url("orders")
    sku = requests.get(orders_url + "/api/catalog", timeout=5).json()["products"][0]["sku"]
    placed = requests.post(
        orders_url + "/api/orders",
        json={
            "customer_email": unique_email("earlier"),
            "items": [{"sku": sku, "qty": 1}],
            "payment_token": "tok_visa",
        },
        timeout=10,
    )
    assert placed.status_code == 202, placed.text
    order_id = placed.json()["id"]

    def confirmed() -> bool:
        return requests.get(f"{orders_url}/api/orders/{order_id}", timeout=5).json()["status"] == "CONFIRMED"

    wait_until(confirmed, 30, 0.2, "the order to be confirmed")

    context = browser.new_context(viewport=PHONE, color_scheme="light", is_mobile=True, has_touch=True)
    try:
        phone = context.new_page()
        phone.goto(stack.url("dashboard"))

        expect(card(phone, order_id, "CONFIRMED")).to_be_visible(timeout=20_000)
        expect(rows(phone, order_id)).to_have_count(len(ORDER_EVENTS))
        assert phone.evaluate("document.documentElement.dataset.theme") == "light"
        fits = phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        assert fits, "the page is wider than the phone"
        screenshot(phone, "08-history-on-a-phone-light")
    finally:
        context.close()
