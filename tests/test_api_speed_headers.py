"""A command's headers (the API key, Idempotency-Key, X-Correlation-Id) are read from the
request by one dependency instead of declared as FastAPI parameters: the OpenAPI document
still shows them on every command, and the refusals a client can meet are the same."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from api.app import create_app
from api.deps import command_context
from api.problems import PROBLEM_MEDIA_TYPE
from infra.settings import Settings
from tests.pipeline import pipeline
from tests.support import AUDITOR_KEY, Api

HEADERS = {"idempotency-key", "x-correlation-id", "authorization"}


def _headers(operation: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in operation.get("parameters", []) if p["in"] == "header"]


def test_every_command_documents_its_headers_once() -> None:
    create_app(lambda: None)  # type: ignore[arg-type, return-value]
    app = create_app(lambda: None)  # type: ignore[arg-type, return-value]  # a second app
    spec = app.openapi()
    commands = [
        (route.path, method.lower())
        for route in _api_routes(app.routes)
        if _depends_on_command_context(route.dependant)
        for method in route.methods or ()
    ]
    assert len(commands) > 30
    for path, method in commands:
        names = [p["name"] for p in _headers(spec["paths"][path][method])]
        assert set(names) >= HEADERS and len(names) == len(set(names)), (method, path)
    invoices = _headers(spec["paths"]["/v1/invoices"]["post"])
    correlation = next(p for p in invoices if p["name"] == "x-correlation-id")
    assert correlation["schema"]["anyOf"][0] == {"type": "string", "maxLength": 200}


def _api_routes(routes: list[Any]) -> list[APIRoute]:
    """Every route of the app, through the routers it includes."""
    found: list[APIRoute] = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append(route)
        elif (router := getattr(route, "original_router", None)) is not None:
            found += _api_routes(router.routes)
    return found


def _depends_on_command_context(dependant: Dependant) -> bool:
    return any(
        d.call is command_context or _depends_on_command_context(d) for d in dependant.dependencies
    )


def test_a_command_s_header_refusals_are_problems(settings: Settings) -> None:
    with pipeline(settings, workers=False) as p:
        body = {"name": "Headers Ltd", "currency": "GBP", "payment_terms_days": 30}
        too_long = p.api.post("/v1/accounts", body, **{"X-Correlation-Id": "c" * 201})
        assert too_long.status_code == 422, too_long.text
        assert too_long.headers["content-type"] == PROBLEM_MEDIA_TYPE
        assert too_long.json()["errors"] == [
            {
                "field": "header.x-correlation-id",
                "message": "String should have at most 200 characters",
            }
        ]
        anonymous = httpx.post(f"{p.url}/v1/accounts", json=body, headers={"Idempotency-Key": "a"})
        assert anonymous.status_code == 401 and anonymous.json()["type"].endswith("missing-api-key")
        auditor = Api(p.url, AUDITOR_KEY).post("/v1/accounts", body)
        assert auditor.status_code == 403 and auditor.json()["role"] == "auditor"
        unkeyed = p.api.http.post("/v1/accounts", json=body)
        assert unkeyed.status_code == 400
        assert unkeyed.json()["type"].endswith("idempotency-key-required")
        fine = p.api.post("/v1/accounts", body, **{"X-Correlation-Id": "c" * 200})
        assert fine.status_code == 201, fine.text
