"""A timestamp header out of datetime's range decodes to its seconds instead of dropping the connection."""

from __future__ import annotations

import struct
from datetime import UTC, datetime

import pika.data

import shared  # noqa: F401  (installs the tolerant decoder)


def table_with_timestamp(seconds: int) -> bytes:
    """A field table {"at": T seconds} as a publisher puts it on the wire, nested in another."""
    inner = b"\x02at" + b"T" + struct.pack(">Q", seconds)
    outer = b"\x05death" + b"F" + struct.pack(">I", len(inner)) + inner
    return struct.pack(">I", len(outer)) + outer


def test_an_out_of_range_timestamp_is_kept_as_its_seconds_at_any_depth() -> None:
    decoded, _ = pika.data.decode_table(table_with_timestamp(2**63), 0)

    assert decoded == {"death": {"at": 2**63}}


def test_a_timestamp_in_range_is_still_a_datetime() -> None:
    decoded, offset = pika.data.decode_table(table_with_timestamp(1_767_225_600), 0)

    assert decoded == {"death": {"at": datetime(2026, 1, 1, tzinfo=UTC)}}
    assert offset == len(table_with_timestamp(0))
