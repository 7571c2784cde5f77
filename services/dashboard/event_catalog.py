"""The event catalog the dashboard serves: the static contract plus what the broker says now.

Its AsyncAPI document (shared/asyncapi.py) lists as subscribers the dashboard's own queue and
every queue bound to `shop.events` right now: infra binds the core services' queues before any
process starts, and a subscriber added later (`make start SERVICE=loyalty`) appears once its
queue is bound, with no change anywhere else. (The dashboard reads the topology from the broker,
as its map does: a service imports only shared/.) Without the broker, the contract with its
publishers. Pure functions of that data; the routes (catalog_routes.py) fetch it.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from services.dashboard.settings import SERVICE
from shared.asyncapi import Broker, document, example_event, model_name

# The dashboard's consumer handles every type (ANY_TYPE), so its queue is bound to `#`.
OWN_SUBSCRIPTION: dict[str, tuple[str, ...]] = {SERVICE: ("#",)}
RATE_WINDOW_S = 60


def subscriptions(subscribers: Iterable[Mapping[str, Any]]) -> dict[str, tuple[str, ...]]:
    """The dashboard's own subscription and the broker's (`subscribers` of broker_map.build_map:
    each queue bound to `shop.events`, with its binding keys)."""
    merged = {service: set(keys) for service, keys in OWN_SUBSCRIPTION.items()}
    for subscriber in subscribers:
        merged.setdefault(subscriber["service"], set()).update(subscriber["bindings"])
    return {service: tuple(sorted(keys)) for service, keys in merged.items()}


def live_document(subscribers: Iterable[Mapping[str, Any]], broker: Broker) -> dict[str, Any]:
    """The AsyncAPI document with the broker's subscribers (none: the contract and the dashboard)."""
    return document(subscriptions(subscribers), broker=broker)


def event_rates(
    entries: Iterable[tuple[str, Mapping[str, str]]], now_ms: int, window_s: int
) -> dict[str, float]:
    """Events per second of each type over the last `window_s`, from feed entries (XREVRANGE
    answers: ids are the milliseconds they were appended at, fields carry the `type`)."""
    since = now_ms - window_s * 1000
    counts: Counter[str] = Counter()
    for entry_id, fields in entries:
        if int(entry_id.split("-")[0]) >= since:
            counts[fields.get("type", "")] += 1
    return {event_type: round(n / window_s, 2) for event_type, n in counts.items()}


def catalog_view(
    asyncapi: Mapping[str, Any], queues: Mapping[str, Mapping[str, Any]], rates: Mapping[str, float]
) -> list[dict[str, Any]]:
    """What /catalog shows per event type, read back from the document itself: its publisher,
    its consumers (with their queue's figures from the broker, if it answered), the fields of
    its data with their bounds, an example, and its rate."""
    schemas = asyncapi["components"]["schemas"]
    by_channel: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for operation in asyncapi["operations"].values():
        channel = operation["channel"]["$ref"].rsplit("/", 1)[1]
        by_channel.setdefault(channel, {"send": [], "receive": []})[operation["action"]].append(operation)
    view = []
    for event_type, channel in asyncapi["channels"].items():
        operations = by_channel.get(event_type, {"send": [], "receive": []})
        consumers = [
            {
                "service": operation["tags"][0]["name"],
                "binding_key": operation["bindings"]["amqp"]["x-binding-key"],
                "queue": queues.get(operation["tags"][0]["name"]),
            }
            for operation in operations["receive"]
        ]
        view.append(
            {
                "type": event_type,
                "model": model_name(event_type),
                "summary": asyncapi["components"]["messages"][event_type]["summary"],
                "publisher": channel["x-owner"],
                "consumers": consumers,
                "fields": list(fields(schemas[model_name(event_type)], schemas)),
                "example": json.dumps(example_event(event_type), indent=2),
                "rate": rates.get(event_type, 0.0),
            }
        )
    return view


def fields(
    schema: Mapping[str, Any], schemas: Mapping[str, Any], prefix: str = ""
) -> Iterable[dict[str, Any]]:
    """Rows of a schema's properties (nested objects flattened: `items[].sku`), with type and bounds."""
    required = set(schema.get("required", ()))
    for name, spec in schema.get("properties", {}).items():
        path = f"{prefix}{name}"
        choices = spec.get("anyOf", [spec])
        concrete = [choice for choice in choices if choice.get("type") != "null"]
        main = concrete[0] if concrete else spec
        nested = _resolve(main.get("items", {}), schemas) if main.get("type") == "array" else None
        yield {
            "name": path,
            "type": _type_name(main, schemas) + (" or null" if len(concrete) < len(choices) else ""),
            "required": name in required,
            "bounds": bounds(main),
        }
        if nested and "properties" in nested:
            yield from fields(nested, schemas, f"{path}[].")


def bounds(spec: Mapping[str, Any]) -> list[str]:
    """A field's constraints as a reader says them: `0 ≤ n ≤ 10000`, `1 to 1000 items`, `pattern …`."""
    said = []
    low = spec.get("minimum")
    above = spec.get("exclusiveMinimum")
    high = spec.get("maximum")
    if low is not None or above is not None or high is not None:
        left = f"{low} ≤ " if low is not None else (f"{above} < " if above is not None else "")
        said.append(f"{left}n" + (f" ≤ {high}" if high is not None else ""))
    said += _count(spec.get("minItems"), spec.get("maxItems"), "items")
    said += _count(spec.get("minLength"), spec.get("maxLength"), "characters")
    if "const" in spec:
        said.append(f"always {spec['const']!r}")
    if "format" in spec:
        said.append(spec["format"])
    if "pattern" in spec:
        said.append(f"pattern {spec['pattern']}")
    return said


def _count(least: int | None, most: int | None, what: str) -> list[str]:
    if least is not None and most is not None:
        return [f"{least} to {most} {what}"]
    if most is not None:
        return [f"at most {most} {what}"]
    return [f"at least {least} {what}"] if least is not None else []


def _type_name(spec: Mapping[str, Any], schemas: Mapping[str, Any]) -> str:
    if "$ref" in spec:
        return spec["$ref"].rsplit("/", 1)[1]
    if spec.get("type") == "array":
        return f"array of {_type_name(spec.get('items', {}), schemas)}"
    return str(spec.get("type", "any"))


def _resolve(spec: Mapping[str, Any], schemas: Mapping[str, Any]) -> Mapping[str, Any]:
    return schemas[spec["$ref"].rsplit("/", 1)[1]] if "$ref" in spec else spec
