"""What a client may ask of orders, validated at the edge so bad input never reaches the store.

Strict bodies: no coercion ("2" is not a quantity, 2.0 neither), unknown fields refused, every
sku checked against the catalog. Query strings and headers are text, so their numbers are
parsed. The same models write the OpenAPI document (services/orders/api.py).
"""

from __future__ import annotations

import hashlib
from typing import Annotated

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
from services.orders.model import OrderStatus

MAX_QTY = 100
MAX_LINES = 50
DEFAULT_LIMIT = 50
MAX_LIMIT = 500
HEADER_VALUE = r"^[\x21-\x7e]{1,255}$"  # visible ASCII, no spaces


class _Command(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class RequestedLine(_Command):
    # the document lists what is on sale; the validator says which sku is not
    sku: Annotated[
        str, StringConstraints(min_length=1, max_length=64), Field(json_schema_extra={"enum": [*PRODUCTS]})
    ]
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


class PlaceOrderHeaders(BaseModel):
    """The optional headers of `POST /api/orders`: a retry sends the same Idempotency-Key."""

    model_config = ConfigDict(frozen=True)

    idempotency_key: str | None = Field(None, alias="Idempotency-Key", pattern=HEADER_VALUE)
    correlation_id: str | None = Field(None, alias="X-Correlation-Id", pattern=HEADER_VALUE)

    @classmethod
    def names(cls) -> list[str]:
        return [field.alias or name for name, field in cls.model_fields.items()]


class ListOrders(BaseModel):
    """The query of `GET /api/orders` (an operator's): newest first, optionally one status."""

    model_config = ConfigDict(frozen=True)

    status: OrderStatus | None = None
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)

    @field_validator("status", mode="before")
    @classmethod
    def _any_case(cls, status: object) -> object:
        return (status.upper() or None) if isinstance(status, str) else status


class OrderPath(BaseModel):
    """`/api/orders/{order_id}`: the id `POST /api/orders` answered with is the capability."""

    order_id: str


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
