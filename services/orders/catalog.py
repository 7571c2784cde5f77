"""The products on sale. Prices live here only: an order's amount never comes from the client."""

from __future__ import annotations

from dataclasses import dataclass

CURRENCY = "EUR"


@dataclass(frozen=True)
class Product:
    sku: str
    name: str
    unit_price_cents: int
    currency: str = CURRENCY


PRODUCTS: dict[str, Product] = {
    p.sku: p
    for p in (
        Product("COFFEE-BEANS-1KG", "Coffee beans, 1 kg", 2490),
        Product("MOKA-POT-6", "Moka pot, 6 cups", 3990),
        Product("MUG-CERAMIC", "Ceramic mug", 1290),
        Product("GRINDER-HAND", "Hand grinder", 6450),
        Product("FILTER-PAPER-100", "Paper filters, 100 pcs", 490),
        Product("KETTLE-GOOSENECK", "Gooseneck kettle", 5900),
    )
}
