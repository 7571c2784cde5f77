"""The page writes amounts and percentiles exactly as the Python side does.

The modules run in Debian's Chromium, served by the dashboard app itself (no server: Playwright
answers the page's requests with the Flask test client), and their answers are compared with
shared.money.format_cents and harness.stats.percentiles for the same inputs.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, Route

from harness.stats import percentiles
from services.dashboard.app import create_app
from shared.money import format_cents
from tests.support.browser import chromium, chromium_available

ORIGIN = "http://dashboard.test"

pytestmark = pytest.mark.skipif(
    not chromium_available(), reason="needs Debian's chromium: apt-get install chromium"
)


@pytest.fixture(scope="module")
def page() -> Iterator[Page]:
    client = create_app().test_client()

    def serve(route: Route) -> None:
        url = urlsplit(route.request.url)
        answer = client.get(url.path, query_string=url.query)
        route.fulfill(status=answer.status_code, headers=dict(answer.headers), body=answer.data)

    with chromium() as browser:
        tab = browser.new_page()
        tab.route(f"{ORIGIN}/**", serve)
        tab.goto(f"{ORIGIN}/healthz")
        yield tab


def in_browser(page: Page, module: str, call: str, *args: Any) -> Any:
    """`call` of the dashboard module /assets/js/<module>, run in the page with `args`."""
    script = f"async (args) => (await import('/assets/js/{module}')).{call}(...args)"
    return page.evaluate(script, list(args))


@pytest.mark.parametrize("cents", [0, 5, 99, 100, 2490, 123_456_789, 9_007_199_254_740_991, -5, -250])
@pytest.mark.parametrize("currency", ["EUR", ""])
def test_amounts_are_written_as_format_cents_writes_them(page: Page, cents: int, currency: str) -> None:
    assert in_browser(page, "format.js", "formatCents", cents, currency) == format_cents(cents, currency)


@pytest.mark.parametrize(
    "samples",
    [
        [],
        [7.25],
        [12.25],  # an exact tie: Python rounds it to the even tenth
        [0.15],  # not a tie in binary: 0.1499…
        [10, 20, 30, 40, 50],
        [364, 2270, 338, 374, 247, 270, 132, 118, 223, 141],
        [1, 2],
        [0.1, 0.2, 0.3, 0.7, 1.3, 2.9, 5.05],
        list(range(1000)),
        [(n * 7919) % 5003 for n in range(321)],
    ],
)
def test_percentiles_are_computed_as_the_harness_computes_them(page: Page, samples: list[float]) -> None:
    points = [50, 95, 99]

    assert in_browser(page, "stats.js", "percentiles", samples, points) == percentiles(samples, points)
