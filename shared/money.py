"""Amounts are integer cents everywhere; this is the one way they are written for people."""

from __future__ import annotations


def format_cents(cents: int, currency: str = "") -> str:
    """`2490` → `24.90`, with the currency after it when given. Integer arithmetic: exact for any
    amount (a float loses cents past 2**53 and overflows past 10**308)."""
    whole, part = divmod(abs(cents), 100)
    text = f"{'-' if cents < 0 else ''}{whole}.{part:02d}"
    return f"{text} {currency}" if currency else text
