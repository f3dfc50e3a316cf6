"""The OpenAPI document as the API's contract: the token scheme, and every error answer a
client can meet, in the one JSON shape ``{"error": code, "message": one line}``."""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["error", "message"],
    "properties": {"error": {"type": "string", "description": "A stable code, e.g. not_found."},
                   "message": {"type": "string", "description": "One line for a person."}},
    "additionalProperties": True,
}
TOKEN_SCHEME: dict[str, Any] = {
    "type": "http", "scheme": "bearer",
    "description": "The install's API token (the token file in the agent's data directory). The "
                   "chat window carries it as an HttpOnly cookie instead, set by the launch URL.",
}
_ALL = {"401": "Missing or wrong API token.",
        "403": "A foreign Host or Origin (the API answers loopback and its own pages only).",
        "500": "An unexpected error on the agent (logged there).",
        "503": "The store is locked or unreachable; nothing was written."}
_WRITES = {"409": "The inbox's state or the channel's rules refuse this now."}


def _errors_for(path: str, method: str, op: dict[str, Any]) -> dict[str, str]:
    out = dict(_ALL)
    if op.get("parameters") or op.get("requestBody"):
        out["422"] = "The request does not fit the schema or names something invalid."
    if "{" in path or op.get("requestBody") or any(p.get("name", "").endswith("_id")
                                                  for p in op.get("parameters", [])):
        out["404"] = "Something the request names does not exist (or is not in your inbox)."
    if method in ("post", "put", "patch", "delete"):
        out.update(_WRITES)
    if op.get("requestBody", {}).get("content", {}).get("application/octet-stream"):
        out["400"] = "The body stopped before its Content-Length."
        out["413"] = "The file is over the channel's limit."
    return out


def install(api: FastAPI) -> None:
    """Replace ``api.openapi`` with one that adds the security scheme and the error answers."""

    def openapi() -> dict[str, Any]:
        if api.openapi_schema:
            return api.openapi_schema
        doc = get_openapi(title=api.title, version=api.version, routes=api.routes,
                          description=api.description or None)
        components = doc.setdefault("components", {})
        schemas = components.setdefault("schemas", {})
        schemas["Error"] = ERROR_SCHEMA
        components["securitySchemes"] = {"token": TOKEN_SCHEME}
        doc["security"] = [{"token": []}]  # every documented path; the public ones are not listed
        ref = {"$ref": "#/components/schemas/Error"}
        for path, ops in doc.get("paths", {}).items():
            for method, op in ops.items():
                responses = op.setdefault("responses", {})
                # Error answers a route declares itself come in the same shape.
                declared = {c: r.get("description", "") for c, r in responses.items() if c[0] in "45"}
                for code, description in {**_errors_for(path, method, op), **declared}.items():
                    # FastAPI's own 422 shape is not what the API answers: replaced.
                    responses[code] = {"description": description, "content": {"application/json": {"schema": ref}}}
        for unused in ("HTTPValidationError", "ValidationError"):
            if f'"#/components/schemas/{unused}"' not in json.dumps(doc):
                schemas.pop(unused, None)
        api.openapi_schema = doc
        return doc

    api.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to customise the schema
