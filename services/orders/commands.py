"""What a client may ask of orders, validated at the edge so bad input never reaches the store.

Strict: no coercion ("2" is not a quantity, 2.0 neither), unknown fields refused, every
sku checked against the catalog. `field_errors` turns pydantic's errors into the
`{"field", "reason"}` pairs the API returns.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)
from pydantic_core import PydanticCustomError

from services.orders.catalog import PRODUCTS

MAX_QTY = 100
MAX_LINES = 50


class _Command(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class RequestedLine(_Command):
    sku: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    qty: int = Field(ge=1, le=MAX_QTY)

    @field_validator("sku")
    @classmethod
    def _sku_on_sale(cls, sku: str) -> str:
        if sku not in PRODUCTS:
            raise PydanticCustomError("unknown_sku", "unknown sku '{sku}'", {"sku": sku})
        return sku


class PlaceOrder(_Command):
    customer_email: EmailStr
    items: list[RequestedLine] = Field(min_length=1, max_length=MAX_LINES)
    payment_token: Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_]+$")]

    def fingerprint(self) -> str:
        """Identifies the request's content, to tell a retry from a reuse of its Idempotency-Key."""
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()


class InvalidJson(ValueError):
    """The body is not JSON at all (as opposed to JSON that breaks the rules)."""


def parse_place_order(body: bytes) -> PlaceOrder:
    """Parse and validate in one pass; raises InvalidJson or ValidationError."""
    try:
        return PlaceOrder.model_validate_json(body)
    except ValidationError as exc:
        if any(error["type"] == "json_invalid" for error in exc.errors()):
            raise InvalidJson(exc.errors()[0]["msg"]) from exc
        raise


def field_errors(exc: ValidationError) -> list[dict[str, Any]]:
    return [{"field": _field_name(error["loc"]), "reason": error["msg"]} for error in exc.errors()]


def _field_name(loc: tuple[int | str, ...]) -> str:
    name = ""
    for part in loc:
        name += f"[{part}]" if isinstance(part, int) else f".{part}" if name else str(part)
    return name or "body"
