"""AMQP field tables as a hostile publisher may write them.

pika decodes a timestamp field (`T`) of a header table into a datetime, and one outside
datetime's range (say 2^63 seconds) raises inside pika's frame reader, which drops the whole
connection: the message comes back and drops the next connection too (a consumer's crash loop
until the delivery limit parks it), and the dashboard's dead-letter panel, peeking at it, fails.
With `tolerate_out_of_range_timestamps()` (run once, when the `shared` package is imported) such a
timestamp decodes to its raw number of seconds, which every reader of headers already treats as
"not a time" (services/dashboard/dead_letters.py). Why a patch: pika has no hook for its decoder.
"""

from __future__ import annotations

import struct
from datetime import UTC, datetime
from typing import Any

import pika.data

_pika_decode_value = pika.data.decode_value
_TIMESTAMP = b"T"


def _decode_value(encoded: bytes, offset: int) -> tuple[Any, int]:
    if encoded[offset : offset + 1] != _TIMESTAMP:
        return _pika_decode_value(encoded, offset)
    seconds = struct.unpack_from(">Q", encoded, offset + 1)[0]
    try:
        return datetime.fromtimestamp(seconds, UTC), offset + 9
    except (OverflowError, ValueError, OSError):
        return seconds, offset + 9


def tolerate_out_of_range_timestamps() -> None:
    """pika's table decoder looks `decode_value` up in its module on every field, nested ones too."""
    pika.data.decode_value = _decode_value
