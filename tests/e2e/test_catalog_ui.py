"""The event catalog page in a real browser (Debian's Chromium via Playwright), served by the
dashboard's web process beside a running loyalty consumer: every event type with its
publisher and consumers, loyalty among them though nothing but its own process knows it.
Saved as artifacts/screenshots/catalog.png.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from playwright.sync_api import Page, expect

from harness.launcher import SandboxedStack, sandboxed_stack
from harness.waiting import wait_until
from infra.stack import SUBSCRIPTIONS
from services.dashboard.event_catalog import OWN_SUBSCRIPTION
from services.loyalty.bootstrap import HANDLERS as LOYALTY_HANDLERS
from shared.asyncapi import topic_matches
from shared.contract import EVENT_TYPES, PUBLISHERS
from tests.support.browser import LAPTOP, chromium, chromium_available, screenshot

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not chromium_available(), reason="needs Debian's chromium: apt-get install chromium"),
]


@pytest.fixture(scope="module")
def stack() -> Iterator[SandboxedStack]:
    with sandboxed_stack("catalog") as running:
        running.up("dashboard-web", "loyalty-consumer")
        yield running


@pytest.fixture
def page(stack: SandboxedStack) -> Iterator[Page]:
    receives = lambda: requests.get(f"{stack.url('dashboard')}/asyncapi.json", timeout=5).json()["operations"]  # noqa: E731
    wait_until(
        lambda: "loyalty.receive.order.confirmed" in receives(), 30, 0.2, "loyalty's queue on the broker"
    )
    with chromium() as browser:
        context = browser.new_context(viewport=LAPTOP, color_scheme="dark")
        tab = context.new_page()
        errors: list[str] = []
        tab.on("pageerror", lambda error: errors.append(str(error)))
        tab.goto(f"{stack.url('dashboard')}/catalog")
        yield tab
        assert not errors, f"JavaScript errors: {errors}"
        context.close()


def consumers_of(event_type: str) -> list[str]:
    """Whom the page must list: the queues infra binds, the dashboard's, and loyalty's."""
    subscribed = {**SUBSCRIPTIONS, **OWN_SUBSCRIPTION, "loyalty": tuple(LOYALTY_HANDLERS)}
    return [
        service for service, keys in subscribed.items() if any(topic_matches(k, event_type) for k in keys)
    ]


def test_the_catalog_shows_every_event_type_with_its_publisher_and_consumers(page: Page) -> None:
    entries = page.locator("article[data-event-type]")
    expect(entries).to_have_count(len(EVENT_TYPES))
    for event_type in EVENT_TYPES:
        entry = page.locator(f'article[data-event-type="{event_type}"]')
        expect(entry.locator("h2")).to_have_text(event_type)
        expect(entry.get_by_test_id("publisher")).to_have_text(PUBLISHERS.get(event_type, "no service yet"))
        consumers = entry.get_by_test_id("consumer")
        expect(consumers).to_have_count(len(consumers_of(event_type)))
        for service in consumers_of(event_type):
            expect(entry.locator(f'[data-testid="consumer"][data-service="{service}"]')).to_be_visible()
        expect(entry.locator("tbody tr").first).to_be_visible()

    loyalty = page.locator(
        'article[data-event-type="order.confirmed"] [data-testid="consumer"][data-service="loyalty"]'
    )
    expect(loyalty).to_contain_text("loyalty")
    page.locator('article[data-event-type="order.placed"] details summary').click()
    expect(page.locator('article[data-event-type="order.placed"] pre')).to_contain_text(
        '"type": "order.placed"'
    )
    screenshot(page, "catalog")
