"""Lone surrogates in any JSON string field get a 4xx, never a 500 (they cannot be encoded)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute

from keepgate.wiring import Keepgate
from tests.conftest import bearer, register, sign_in

pytestmark = pytest.mark.anyio

LONE = "\udfff"
ID = "sur@example.com"
PLACEHOLDER_ID = "00000000-0000-4000-8000-000000000000"


def resolve(schema: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = spec["components"]["schemas"][name]
    return schema


def plain(schema: dict[str, Any], spec: dict[str, Any]) -> Any:
    """A value of the schema's type that holds no surrogate."""
    schema = resolve(schema, spec)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    for union in ("oneOf", "anyOf"):
        if union in schema:
            return plain(schema[union][0], spec)
    kind = schema.get("type")
    if kind == "object":
        return {name: plain(sub, spec) for name, sub in schema.get("properties", {}).items()}
    if kind == "array":
        return [plain(schema.get("items", {}), spec)]
    return {"integer": 1, "number": 1, "boolean": True, "null": None}.get(str(kind), "x")


def variants(schema: dict[str, Any], spec: dict[str, Any]) -> Iterator[Any]:
    """The schema's value with, in turn, each string it holds replaced by a lone surrogate."""
    schema = resolve(schema, spec)
    for union in ("oneOf", "anyOf"):
        if union in schema:
            for option in schema[union]:
                yield from variants(option, spec)
            return
    kind = schema.get("type")
    if kind == "string" and "const" not in schema:
        yield LONE
    elif kind == "object":
        base = {name: plain(sub, spec) for name, sub in schema.get("properties", {}).items()}
        for name, sub in schema.get("properties", {}).items():
            for value in variants(sub, spec):
                yield {**base, name: value}
        yield {**base, LONE: "x"}  # an unknown key made of a surrogate
    elif kind == "array":
        for value in variants(schema.get("items", {}), spec):
            yield [value]


def json_routes(app: FastAPI) -> Iterator[tuple[str, str, dict[str, Any]]]:
    spec = app.openapi()
    documented = set()
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" in content:
                documented.add((method.upper(), path))
                for body in variants(content["application/json"]["schema"], spec):
                    yield method.upper(), path, body
    # Every route that reads a JSON body is in the schema, so nothing escapes the walk above.
    for route in app.routes:
        if isinstance(route, APIRoute) and route.body_field is not None and \
                route.path.startswith("/api/"):
            assert {(m, route.path) for m in route.methods} <= documented, route.path


async def test_lone_surrogates_never_cause_a_500(client: httpx.AsyncClient,
                                                 kg: Keepgate) -> None:
    await register(client, kg, ID)
    token = await sign_in(client, ID)
    app = client._transport.app  # type: ignore[attr-defined]
    tried = 0
    for method, path, body in json_routes(app):
        flow = (await client.post("/api/v1/flows/registration")).json()["id"]
        url = path.replace("{flow_id}", flow)
        while "{" in url:
            start, end = url.index("{"), url.index("}")
            url = url[:start] + PLACEHOLDER_ID + url[end + 1:]
        response = await client.request(method, url, headers={
            **bearer(token), "content-type": "application/json"},
            content=json.dumps(body).encode())
        assert response.status_code < 500, (method, path, body, response.text)
        tried += 1
    assert tried > 20


async def test_muted_notices_with_a_lone_surrogate(client: httpx.AsyncClient,
                                                   kg: Keepgate) -> None:
    await register(client, kg, ID)
    token = await sign_in(client, ID)
    response = await client.put("/api/v1/security/notifications", headers={
        **bearer(token), "content-type": "application/json"},
        content=b'{"muted": ["\\udfff"]}')
    assert response.status_code == 400 or response.status_code == 422, response.text
    assert response.json()["error"]["code"]
