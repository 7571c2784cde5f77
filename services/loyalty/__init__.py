"""Loyalty: points per confirmed order — the subscriber added later.

It was added without touching the orders service: it declares its own queue on
`shop.events`, backfills everything that happened before it existed from the
`shop.events.log` stream, then keeps up live. Each order counts once across the
backfill/live overlap because the effect is keyed by order id.
"""
