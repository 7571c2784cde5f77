"""A simulated card gateway that behaves like a real one where it matters to us.

Tokens decide the outcome: `tok_visa` authorizes, `tok_chargeDeclined` declines,
`tok_flaky` fails transiently twice per order and then authorizes, anything else is
declined as an invalid token. Like real gateways it is idempotent per idempotency key
(we use the order id): asking again returns the first answer and never charges again.
It also counts the real charges per key, which is how tests and demos prove that no
order was ever charged twice. GATEWAY_LATENCY_MS and GATEWAY_FAILURE_RATE make it slow
and unreliable on demand.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from dataclasses import asdict, dataclass
from typing import Protocol

from redis import Redis

from shared.settings import Settings
from shared.tracing import client_call

FLAKY_FAILURES = 2


class GatewayUnavailable(Exception):
    """A transient failure: nothing was charged, the same request may be sent again."""


@dataclass(frozen=True)
class GatewayResult:
    approved: bool
    payment_id: str
    reason: str = ""


class GatewayStore(Protocol):
    def recall(self, key: str) -> GatewayResult | None: ...
    def remember(self, key: str, result: GatewayResult) -> GatewayResult: ...
    def count_attempt(self, key: str) -> int: ...
    def charges(self, key: str) -> int: ...


class SimulatedGateway:
    def __init__(
        self,
        store: GatewayStore,
        *,
        latency_ms: int = 0,
        failure_rate: float = 0.0,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.latency_ms = latency_ms
        self.failure_rate = failure_rate
        self._rng = rng or random.Random()

    def charge(self, idempotency_key: str, token: str, amount_cents: int, currency: str) -> GatewayResult:
        with client_call("gateway charge", **{"gateway.idempotency_key": idempotency_key}):
            return self._charge(idempotency_key, token, amount_cents, currency)

    def _charge(self, idempotency_key: str, token: str, amount_cents: int, currency: str) -> GatewayResult:
        if self.latency_ms:
            time.sleep(self.latency_ms / 1000)
        known = self.store.recall(idempotency_key)
        if known is not None:
            return known
        if self._rng.random() < self.failure_rate:
            raise GatewayUnavailable("simulated transient gateway failure")
        if token == "tok_flaky" and self.store.count_attempt(idempotency_key) <= FLAKY_FAILURES:
            raise GatewayUnavailable("tok_flaky: transient gateway failure")
        payment_id = str(uuid.uuid4())
        if token in ("tok_visa", "tok_flaky"):
            result = GatewayResult(approved=True, payment_id=payment_id)
        elif token == "tok_chargeDeclined":
            result = GatewayResult(approved=False, payment_id=payment_id, reason="card_declined")
        else:
            result = GatewayResult(approved=False, payment_id=payment_id, reason="invalid_token")
        return self.store.remember(idempotency_key, result)

    def charges(self, idempotency_key: str) -> int:
        return self.store.charges(idempotency_key)


# The first result stored for a key wins, and an approved one counts one charge, atomically:
# two concurrent requests with the same key can never both charge.
_REMEMBER = """
local known = redis.call('GET', KEYS[1])
if known then return known end
redis.call('SET', KEYS[1], ARGV[1])
if ARGV[2] == '1' then redis.call('INCR', KEYS[2]) end
return ARGV[1]
"""


class RedisGatewayStore:
    """The gateway's own memory, kept in the payments service's Redis namespace."""

    def __init__(self, redis: Redis, settings: Settings) -> None:
        self._redis = redis
        self._settings = settings
        self._remember = redis.register_script(_REMEMBER)

    def _key(self, kind: str, key: str) -> str:
        return self._settings.key("gateway", kind, key)

    def recall(self, key: str) -> GatewayResult | None:
        raw = self._redis.get(self._key("result", key))
        return GatewayResult(**json.loads(raw)) if raw else None

    def remember(self, key: str, result: GatewayResult) -> GatewayResult:
        raw = self._remember(
            keys=[self._key("result", key), self._key("charges", key)],
            args=[json.dumps(asdict(result)), int(result.approved)],
        )
        return GatewayResult(**json.loads(raw))

    def count_attempt(self, key: str) -> int:
        return int(self._redis.incr(self._key("attempts", key)))

    def charges(self, key: str) -> int:
        return int(self._redis.get(self._key("charges", key)) or 0)
