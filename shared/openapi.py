"""Each service's OpenAPI 3.1 document (`GET /openapi.json`), built from the pydantic models
that validate its requests and describe its answers, plus a table of its operations.

Why not a library: spectree and flask-openapi3 validate requests themselves, with their own
422 bodies, and flask-openapi3 replaces Flask's app and blueprint classes; either would
rewrite how every service parses and refuses input. Pydantic already writes JSON Schema
2020-12, which is OpenAPI 3.1's own dialect, so what is left is the route table below.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from pydantic.json_schema import JsonSchemaMode, models_json_schema

OPENAPI_VERSION = "3.1.0"
OPERATOR_SCHEME = "operatorToken"
_REF = "#/components/schemas/{model}"


class FieldError(BaseModel):
    field: str
    reason: str


class ErrorBody(BaseModel):
    """Every refusal: what went wrong, and which field to fix where one is to blame."""

    model_config = ConfigDict(json_schema_extra={"additionalProperties": False})

    error: str
    detail: str
    field: str | None = None  # the first of `errors`
    errors: list[FieldError] | None = None


REASONS = {
    400: "the request breaks a rule: the body names the field",
    401: "an operator action without the right `Authorization: Bearer <OPERATOR_TOKEN>`",
    404: "no such resource",
    413: "the body is too large",
    415: "the body is not JSON",
    422: "valid JSON that breaks a rule: the body names the field",
    429: "too many requests from this client: retry after `Retry-After` seconds",
    502: "an upstream service does not answer",
    503: "a dependency (Redis, the broker) is unavailable: retry",
}


@dataclass(frozen=True)
class Operation:
    """One route as a client sees it. `path` is OpenAPI's template (`/api/orders/{order_id}`);
    `query`, `headers` and `path_params` are models whose fields are the parameters (by alias);
    `responses` maps each status the route answers with to its body (None: an `ErrorBody`)."""

    method: Literal["get", "post", "put", "delete"]
    path: str
    summary: str
    responses: Mapping[int, type[BaseModel] | None]
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    headers: type[BaseModel] | None = None
    path_params: type[BaseModel] | None = None
    operator: bool = False
    response_headers: Mapping[int, Mapping[str, str]] = field(default_factory=dict)


def document(title: str, version: str, operations: Iterable[Operation]) -> dict[str, Any]:
    """The OpenAPI 3.1 document of a service's operations; every model under components."""
    operations = list(operations)
    models = _models(operations)
    refs, definitions = models_json_schema(models, ref_template=_REF)
    schemas = definitions.get("$defs", {})
    paths: dict[str, dict[str, Any]] = {}
    for operation in operations:
        paths.setdefault(operation.path, {})[operation.method] = _operation(operation, refs, schemas)
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                OPERATOR_SCHEME: {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "OPERATOR_TOKEN from .env (printed by `make run`)",
                }
            },
        },
    }


def _models(operations: list[Operation]) -> list[tuple[type[BaseModel], JsonSchemaMode]]:
    wanted: dict[tuple[type[BaseModel], JsonSchemaMode], None] = {(ErrorBody, "serialization"): None}
    for operation in operations:
        for model in (operation.body, operation.query, operation.headers, operation.path_params):
            if model is not None:
                wanted[(model, "validation")] = None
        for model in operation.responses.values():
            if model is not None:
                wanted[(model, "serialization")] = None
    return list(wanted)


def _operation(
    operation: Operation,
    refs: Mapping[tuple[type[BaseModel], JsonSchemaMode], Any],
    schemas: Mapping[str, Any],
) -> dict[str, Any]:
    parameters = [
        *_parameters(operation.path_params, "path", refs, schemas),
        *_parameters(operation.query, "query", refs, schemas),
        *_parameters(operation.headers, "header", refs, schemas),
    ]
    responses = dict(operation.responses)
    if operation.operator:
        responses.setdefault(401, None)
    spec: dict[str, Any] = {
        "summary": operation.summary,
        "operationId": f"{operation.method}{operation.path}".replace("/", "_")
        .replace("{", "")
        .replace("}", ""),
        "responses": {
            str(status): _response(status, model, operation.response_headers.get(status, {}), refs)
            for status, model in sorted(responses.items())
        },
    }
    if parameters:
        spec["parameters"] = parameters
    if operation.body is not None:
        spec["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": refs[(operation.body, "validation")]}},
        }
    if operation.operator:
        spec["security"] = [{OPERATOR_SCHEME: []}]
    return spec


def _parameters(
    model: type[BaseModel] | None,
    where: str,
    refs: Mapping[tuple[type[BaseModel], JsonSchemaMode], Any],
    schemas: Mapping[str, Any],
) -> list[dict[str, Any]]:
    if model is None:
        return []
    own = schemas[refs[(model, "validation")]["$ref"].rsplit("/", 1)[1]]
    required = set(own.get("required", ()))
    return [
        {"name": name, "in": where, "required": where == "path" or name in required, "schema": schema}
        for name, schema in own.get("properties", {}).items()
    ]


def _response(
    status: int,
    model: type[BaseModel] | None,
    headers: Mapping[str, str],
    refs: Mapping[tuple[type[BaseModel], JsonSchemaMode], Any],
) -> dict[str, Any]:
    schema = refs[(model or ErrorBody, "serialization")]
    response: dict[str, Any] = {
        "description": REASONS.get(status, "OK") if model is None else "OK",
        "content": {"application/json": {"schema": schema}},
    }
    if headers:
        response["headers"] = {
            name: {"description": description, "schema": {"type": "string"}, "required": True}
            for name, description in headers.items()
        }
    return response
