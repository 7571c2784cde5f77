"""The event catalog as an AsyncAPI 3.0 document, built from the contract and the topology.

Channels are the routing keys of `shop.events` (one per type of shared/contract.py); each
type's owner (PUBLISHERS) `send`s it, and each service whose queue is bound to it `receive`s
it. Payloads are the CloudEvents envelope (structured mode) around the type's pydantic model,
every model under components/schemas. Nothing here reads the broker: the caller says which
queues are bound to which keys (the static topology, plus what the broker reports).
Each type's summary and example data are in SUMMARIES and EXAMPLES (the tests check them
against the contract).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic.json_schema import models_json_schema

from shared.contract import EVENT_TYPES, PUBLISHERS
from shared.envelope import CONTENT_TYPE, Event
from shared.topology import EVENTS_EXCHANGE

ASYNCAPI_VERSION = "3.0.0"
AMQP_BINDING_VERSION = "0.3.0"
PERSISTENT = 2  # AMQP delivery mode: the broker writes the message to disk
SERVER = "rabbitmq"
_SCHEMA_REF = "#/components/schemas/{model}"

# What each event type says happened, for a reader of the catalog.
SUMMARIES: dict[str, str] = {
    "order.placed": "A customer placed an order; it waits for its payment.",
    "payment.authorized": "The payment of an order went through.",
    "payment.declined": "The payment of an order was refused, with the reason.",
    "order.confirmed": "An order is paid for and will be delivered.",
    "order.cancelled": "An order will not go ahead (its payment was declined), with the reason.",
    "notification.sent": "The customer was told about their order (an email was sent).",
    "service.heartbeat": "A running process announces itself, so the dashboard finds services by itself.",
}

# One valid `data` per event type (a tolerant reader ignores nothing here: every field is the
# contract's), wrapped in the envelope below to make each message's example.
_ORDER_ID = "9b2f1c4e-5d6a-4b7c-8e9f-0a1b2c3d4e5f"
EXAMPLES: dict[str, dict[str, Any]] = {
    "order.placed": {
        "order_id": _ORDER_ID,
        "customer_email": "ada@example.com",
        "items": [{"sku": "tea-earl-grey", "qty": 2, "unit_price_cents": 450}],
        "total_cents": 900,
        "currency": "EUR",
        "payment_token": "tok_visa",
    },
    "payment.authorized": {
        "order_id": _ORDER_ID,
        "payment_id": "3c6e0b8a-7f1d-4e2a-9b5c-6d7e8f9a0b1c",
        "amount_cents": 900,
        "currency": "EUR",
    },
    "payment.declined": {
        "order_id": _ORDER_ID,
        "payment_id": "3c6e0b8a-7f1d-4e2a-9b5c-6d7e8f9a0b1c",
        "reason": "card_declined",
    },
    "order.confirmed": {"order_id": _ORDER_ID, "customer_email": "ada@example.com", "total_cents": 900},
    "order.cancelled": {
        "order_id": _ORDER_ID,
        "customer_email": "ada@example.com",
        "reason": "card_declined",
    },
    "notification.sent": {
        "order_id": _ORDER_ID,
        "notification_id": "5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d",
        "channel": "email",
        "recipient": "ada@example.com",
        "template": "order_confirmed",
    },
    "service.heartbeat": {
        "service": "payments",
        "process": "consumer",
        "instance": "payments-consumer-1",
        "queue": "payments",
    },
}


@dataclass(frozen=True)
class Broker:
    """Where the document says the exchange is (no credentials: it is public)."""

    host: str = "localhost:5672"
    vhost: str = "/"


def topic_matches(binding_key: str, routing_key: str) -> bool:
    """AMQP topic matching: `*` is exactly one word, `#` zero or more (kombu's in-memory
    version lets `*` span dots and `#` need one word, so it is not used)."""
    return _match(binding_key.split("."), routing_key.split("."))


def _match(pattern: list[str], words: list[str]) -> bool:
    if not pattern:
        return not words
    head, rest = pattern[0], pattern[1:]
    if head == "#":
        return any(_match(rest, words[skip:]) for skip in range(len(words) + 1))
    return bool(words) and head in ("*", words[0]) and _match(rest, words[1:])


def example_event(event_type: str) -> dict[str, Any]:
    """The example message of a type: its EXAMPLES data in a complete envelope."""
    data = EXAMPLES[event_type]
    return {
        "specversion": "1.0",
        "id": "0f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a",
        "source": PUBLISHERS.get(event_type) or data["service"],  # a heartbeat: the service it announces
        "type": event_type,
        "time": "2026-01-05T09:30:00Z",
        "subject": data.get("order_id"),
        "datacontenttype": "application/json",
        "data": data,
        "correlationid": "c0ffee00-1234-4abc-8def-0123456789ab",
        "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    }


def document(
    subscriptions: Mapping[str, Collection[str]],
    *,
    broker: Broker = Broker(),
) -> dict[str, Any]:
    """The AsyncAPI 3.0 document: `subscriptions` maps each subscribing service (its queue is
    named after it) to the binding keys of its queue on `shop.events`."""
    schemas = _schemas()
    channels = {event_type: _channel(event_type, broker) for event_type in EVENT_TYPES}
    operations: dict[str, Any] = {}
    for event_type in EVENT_TYPES:
        owner = PUBLISHERS.get(event_type)
        if owner is not None:
            operations[operation_id(owner, "send", event_type)] = _send(event_type, owner)
    for service in sorted(subscriptions):
        for event_type in EVENT_TYPES:
            keys = [key for key in sorted(subscriptions[service]) if topic_matches(key, event_type)]
            if keys:
                operations[operation_id(service, "receive", event_type)] = _receive(
                    event_type, service, keys[0], broker
                )
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "Event-driven shop: the events on shop.events",
            "version": "1.0.0",
            "description": "Generated from shared/contract.py and the broker topology by "
            "shared/asyncapi.py; subscribers found on the broker at run time are included.",
        },
        "defaultContentType": CONTENT_TYPE,
        "servers": {
            SERVER: {
                "host": broker.host,
                "protocol": "amqp",
                "protocolVersion": "0-9-1",
                "pathname": broker.vhost if broker.vhost.startswith("/") else f"/{broker.vhost}",
                "description": "RabbitMQ; the vhost is the pathname",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {
            "schemas": schemas,
            "messages": {event_type: _message(event_type) for event_type in EVENT_TYPES},
        },
    }


def operation_id(service: str, action: str, event_type: str) -> str:
    """`orders.send.order.placed`, `loyalty.receive.order.confirmed`."""
    return f"{service}.{action}.{event_type}"


def model_name(event_type: str) -> str:
    """The name of a type's data schema under components/schemas (its model's)."""
    return EVENT_TYPES[event_type].__name__


def _schemas() -> dict[str, Any]:
    models = [Event, *dict.fromkeys(EVENT_TYPES.values())]
    _refs, definitions = models_json_schema(
        [(model, "validation") for model in models], ref_template=_SCHEMA_REF
    )
    return definitions["$defs"]


def _channel(event_type: str, broker: Broker) -> dict[str, Any]:
    owner = PUBLISHERS.get(event_type)
    return {
        "address": event_type,
        "title": event_type,
        "description": f"Routing key `{event_type}` on the `{EVENTS_EXCHANGE}` topic exchange; "
        + (f"published by {owner} only." if owner else "no service publishes it yet."),
        "messages": {event_type: {"$ref": f"#/components/messages/{event_type}"}},
        "servers": [{"$ref": f"#/servers/{SERVER}"}],
        "bindings": {
            "amqp": {
                "is": "routingKey",
                "exchange": {
                    "name": EVENTS_EXCHANGE,
                    "type": "topic",
                    "durable": True,
                    "autoDelete": False,
                    "vhost": broker.vhost,
                },
                "bindingVersion": AMQP_BINDING_VERSION,
            }
        },
        "x-owner": owner,
    }


def _message_ref(event_type: str) -> dict[str, str]:
    return {"$ref": f"#/channels/{event_type}/messages/{event_type}"}


def _send(event_type: str, owner: str) -> dict[str, Any]:
    return {
        "action": "send",
        "channel": {"$ref": f"#/channels/{event_type}"},
        "messages": [_message_ref(event_type)],
        "summary": f"{owner} publishes {event_type}",
        "tags": [{"name": owner}],
        "bindings": {
            "amqp": {
                # the broker refuses a user_id that is not the connection's user: the sender is proved
                "userId": owner,
                "deliveryMode": PERSISTENT,
                "mandatory": True,
                "timestamp": True,
                "bindingVersion": AMQP_BINDING_VERSION,
            }
        },
    }


def _receive(event_type: str, service: str, key: str, broker: Broker) -> dict[str, Any]:
    owner = PUBLISHERS.get(event_type)
    amqp: dict[str, Any] = {
        "ack": True,
        "bindingVersion": AMQP_BINDING_VERSION,
        "x-queue": {"name": service, "type": "quorum", "durable": True, "vhost": broker.vhost},
        "x-binding-key": key,
    }
    if owner is not None:
        amqp["userId"] = owner  # accepted only from its owner's broker user
    return {
        "action": "receive",
        "channel": {"$ref": f"#/channels/{event_type}"},
        "messages": [_message_ref(event_type)],
        "summary": f"{service} consumes {event_type}",
        "description": f"Queue `{service}` bound to `{EVENTS_EXCHANGE}` with `{key}`.",
        "tags": [{"name": service}],
        "bindings": {"amqp": amqp},
    }


def _message(event_type: str) -> dict[str, Any]:
    return {
        "name": event_type,
        "title": model_name(event_type),
        "summary": SUMMARIES[event_type],
        "contentType": CONTENT_TYPE,
        "payload": {
            "description": "A CloudEvents 1.0 envelope in structured mode: the attributes beside `data`.",
            "allOf": [
                {"$ref": _SCHEMA_REF.format(model="Event")},
                {
                    "type": "object",
                    "properties": {
                        "type": {"const": event_type},
                        "data": {"$ref": _SCHEMA_REF.format(model=model_name(event_type))},
                    },
                    "required": ["type", "data"],
                },
            ],
        },
        "correlationId": {
            "description": "Shared by every event that one order causes",
            "location": "$message.payload#/correlationid",
        },
        "bindings": {"amqp": {"messageType": event_type, "bindingVersion": AMQP_BINDING_VERSION}},
        "examples": [{"name": re.sub(r"\W", "-", event_type), "payload": example_event(event_type)}],
    }
