"""A real headless Chromium for UI tests: Debian's own build, driven by Playwright.

Playwright never downloads a browser here: it launches /usr/bin/chromium (apt-get install
chromium), quietly (no background networking, no updates, no first-run screens).
Screenshots go to artifacts/screenshots/, the known folder CI keeps.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
LAPTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}


def chromium_available() -> bool:
    return shutil.which(CHROMIUM) is not None


@contextmanager
def chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def screenshot(page: Page, name: str, *, full_page: bool = True) -> Path:
    """Save the page as artifacts/screenshots/<name>.png and return the path."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{re.sub(r'[^a-z0-9_-]+', '-', name.lower())}.png"
    if full_page:  # from the top, or a sticky header is drawn where the page was scrolled to
        page.evaluate("window.scrollTo({top: 0, behavior: 'instant'})")
    page.screenshot(path=str(path), full_page=full_page)
    return path


def place_from_ui(page: Page, email: str, token: str) -> str:
    """Place an order with the shop form; returns its id once the orders API accepted it."""
    status = page.locator("#shop-status")
    page.evaluate("delete document.querySelector('#shop-status').dataset.orderId")
    page.fill("#email", email)
    page.check(f'input[name="payment_token"][value="{token}"]')
    page.click("#place-order")
    expect(status).to_have_attribute("data-order-id", re.compile(".+"), timeout=10_000)
    return status.get_attribute("data-order-id")


def card(page: Page, order_id: str, status: str) -> Locator:
    return page.locator(f'[data-cards="{status}"] > li[data-order="{order_id}"]')


def unique_email(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:8]}@example.com"
