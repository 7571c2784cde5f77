from __future__ import annotations

from shared.money import format_cents


def test_cents_are_written_with_two_decimals_and_the_currency_after_them():
    assert format_cents(2490, "EUR") == "24.90 EUR"
    assert format_cents(5) == "0.05"
    assert format_cents(-150, "EUR") == "-1.50 EUR"


def test_any_amount_is_written_exactly():
    assert format_cents(10**400 + 1) == f"{10**398}.01"
