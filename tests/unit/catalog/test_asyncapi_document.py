"""The AsyncAPI document against the official AsyncAPI 3.0 JSON Schema, the contract and the
topology: a type, a publisher or a subscriber that one of them has and the document lacks (or
the other way round) fails here."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from infra.stack import SUBSCRIPTIONS, core_topology
from services.dashboard.event_catalog import OWN_SUBSCRIPTION
from shared.asyncapi import (
    EXAMPLES,
    SUMMARIES,
    Broker,
    document,
    example_event,
    model_name,
    operation_id,
    topic_matches,
)
from shared.contract import EVENT_TYPES, PUBLISHERS
from shared.envelope import decode
from shared.topology import EVENT_LOG, EVENTS_EXCHANGE, Binding

# what the broker holds bound to shop.events before anything runs (infra), and the dashboard's own
STATIC_SUBSCRIPTIONS = {**SUBSCRIPTIONS, **OWN_SUBSCRIPTION}
SCHEMA = Path(__file__).with_name("asyncapi-3.0.0-schema.json")
SCHEMA_SHA256 = "76d091c9001bd90ae0f92add0f9e31d9517e63bd5ea6e49faa366bcd79d159d4"  # see SCHEMA.md


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft7Validator:
    assert hashlib.sha256(SCHEMA.read_bytes()).hexdigest() == SCHEMA_SHA256, "not the official file"
    return jsonschema.Draft7Validator(json.loads(SCHEMA.read_text()))


@pytest.fixture(scope="module")
def static() -> dict[str, Any]:
    return document(STATIC_SUBSCRIPTIONS)


def errors(validator: jsonschema.Draft7Validator, doc: dict[str, Any]) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}" for e in validator.iter_errors(doc)]


def test_the_static_document_is_valid_asyncapi_3(validator, static) -> None:
    assert static["asyncapi"] == "3.0.0"
    assert errors(validator, static) == []


def test_a_document_with_subscribers_found_on_the_broker_is_valid_too(validator) -> None:
    found = document(
        {**STATIC_SUBSCRIPTIONS, "loyalty": ("order.placed", "order.confirmed")},
        broker=Broker("rabbitmq:5672", "t-1234"),
    )

    assert errors(validator, found) == []
    assert "loyalty.receive.order.confirmed" in found["operations"]


def test_the_official_schema_does_refuse_a_broken_document(validator, static) -> None:
    broken = copy.deepcopy(static)
    broken["operations"]["orders.send.order.placed"]["action"] = "publish"  # AsyncAPI 2's word
    del broken["channels"]["order.placed"]["bindings"]["amqp"]["exchange"]

    assert len(errors(validator, broken)) >= 2


def test_every_type_of_the_contract_is_a_channel_with_its_model_as_data(static) -> None:
    assert list(static["channels"]) == list(EVENT_TYPES)
    for event_type, model in EVENT_TYPES.items():
        channel = static["channels"][event_type]
        assert channel["address"] == event_type
        assert channel["bindings"]["amqp"]["exchange"]["name"] == EVENTS_EXCHANGE
        message = static["components"]["messages"][event_type]
        data = message["payload"]["allOf"][1]["properties"]["data"]
        assert data == {"$ref": f"#/components/schemas/{model.__name__}"}
        own = model.model_json_schema(ref_template="#/components/schemas/{model}")
        nested = own.pop("$defs", {})
        assert static["components"]["schemas"][model.__name__] == own
        for name, schema in nested.items():
            assert static["components"]["schemas"][name] == schema


def expected_operations() -> set[str]:
    """Each owner sends its types; each queue bound to `shop.events` in the topology the broker
    boots with (and the dashboard's own) receives the types its binding keys match."""
    sends = {operation_id(owner, "send", event_type) for event_type, owner in PUBLISHERS.items()}
    bound = {
        (o.queue, o.routing_key)
        for o in core_topology()
        if isinstance(o, Binding) and o.exchange == EVENTS_EXCHANGE and o.queue != EVENT_LOG
    }
    bound.add(("dashboard", "#"))
    receives = {
        operation_id(queue, "receive", event_type)
        for queue, key in bound
        for event_type in EVENT_TYPES
        if topic_matches(key, event_type)
    }
    return sends | receives


def test_every_publisher_and_subscriber_of_the_topology_is_an_operation_and_nothing_else(static) -> None:
    assert set(static["operations"]) == expected_operations()
    for event_type, owner in PUBLISHERS.items():
        send = static["operations"][operation_id(owner, "send", event_type)]
        assert send["bindings"]["amqp"]["userId"] == owner
        assert send["bindings"]["amqp"]["deliveryMode"] == 2


def test_a_receiver_names_its_queue_and_the_key_that_binds_it(static) -> None:
    receive = static["operations"]["payments.receive.order.placed"]

    assert receive["action"] == "receive"
    assert receive["channel"] == {"$ref": "#/channels/order.placed"}
    amqp = receive["bindings"]["amqp"]
    assert (amqp["x-queue"]["name"], amqp["x-queue"]["type"], amqp["x-binding-key"]) == (
        "payments",
        "quorum",
        "order.placed",
    )
    assert (
        static["operations"]["dashboard.receive.service.heartbeat"]["bindings"]["amqp"]["x-binding-key"]
        == "#"
    )


def test_a_binding_key_that_matches_no_type_adds_no_operation() -> None:
    doc = document({"audit": ("invoice.*",)})

    assert not [name for name in doc["operations"] if name.startswith("audit.")]


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_every_type_has_a_summary_and_an_example_that_is_a_valid_event(event_type: str) -> None:
    example = example_event(event_type)

    event = decode(json.dumps(example).encode())  # the consumers' own check: bounds included

    assert SUMMARIES[event_type]
    assert (event.type, type(event.data).__name__) == (event_type, model_name(event_type))
    assert event.data.model_dump(mode="json", exclude_none=True) == EXAMPLES[event_type]


def test_the_examples_are_in_the_document(static) -> None:
    for event_type in EVENT_TYPES:
        examples = static["components"]["messages"][event_type]["examples"]
        assert [example["payload"] for example in examples] == [example_event(event_type)]


@pytest.mark.parametrize(
    ("binding_key", "routing_key", "matches"),
    [
        ("#", "order.placed", True),
        ("order.*", "order.placed", True),
        ("order.*", "payment.authorized", False),
        ("*.placed", "order.placed", True),
        ("order.#", "order", True),
        ("order.#", "order.placed.again", True),
        ("*", "order.placed", False),
        ("order.placed", "order.placed", True),
        ("order.placed", "order.placedx", False),
        ("#.placed", "order.placed", True),
    ],
)
def test_topic_matching_follows_amqp(binding_key: str, routing_key: str, matches: bool) -> None:
    assert topic_matches(binding_key, routing_key) is matches
