"""Roles and API keys: each endpoint lets only its roles through, a refusal is a 403
recorded in the access log, and an admin issues, lists and revokes keys."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import UUID

import pytest

from api.app import create_app
from api.auth import ROLES
from api.services import Services
from tests.pipeline import Pipeline, pipeline
from tests.support import ADMIN_KEY, KEY_OF_ROLE, Api

WRITERS = {"coordinator", "manager", "service", "admin"}
AUDITORS = {"auditor", "manager", "admin"}

# (method, path, body, the roles allowed)
BOUNDARIES: list[tuple[str, str, dict[str, Any] | None, set[str]]] = [
    ("GET", "/v1/accounts/{account}", None, set(ROLES)),
    ("GET", "/v1/accounts/{account}/events", None, set(ROLES)),
    (
        "POST",
        "/v1/accounts",
        {"name": "Role Test Ltd", "currency": "GBP", "payment_terms_days": 30},
        WRITERS,
    ),
    ("GET", "/v1/integrity/verification", None, AUDITORS),
    ("GET", "/v1/checkpoints", None, AUDITORS),
    ("POST", "/v1/checkpoints", None, AUDITORS),
    ("GET", "/v1/api-keys", None, {"admin"}),
    ("POST", "/v1/api-keys", {"role": "auditor", "actor": "ext-audit"}, {"admin"}),
    ("GET", "/v1/access-log", None, {"admin"}),
]


@pytest.fixture
def running(settings) -> Iterator[tuple[Pipeline, str]]:
    with pipeline(settings, workers=False) as p:
        yield p, p.api.open_account("Access Ltd")["id"]


def call(api: Api, method: str, path: str, body: dict[str, Any] | None) -> Any:
    if method == "GET":
        return api.get(path)
    return api.post(path, body or {})


def test_every_role_boundary_and_every_refusal_logged(running: tuple[Pipeline, str]) -> None:
    p, account = running
    refused: list[tuple[str, str, str]] = []
    for method, template, body, allowed in BOUNDARIES:
        path = template.format(account=account)
        for role in ROLES:
            api = Api(p.url, KEY_OF_ROLE[role])
            response = call(api, method, path, body)
            if role in allowed:
                assert response.status_code < 300, (role, method, path, response.text)
            else:
                assert response.status_code == 403, (role, method, path, response.text)
                problem = response.json()
                assert problem["type"].endswith("/forbidden")
                assert response.headers["content-type"].startswith("application/problem+json")
                assert f"role {role!r} may not {method} {path}" in problem["detail"]
                refused.append((role, method, path))
            api.close()

    admin = Api(p.url, ADMIN_KEY)
    log = admin.ok(admin.get("/v1/access-log", limit=1000))["entries"]
    assert sorted((e["role"], e["method"], e["path"]) for e in log) == sorted(refused)
    assert all(e["status"] == 403 and e["actor"] for e in log)


def test_every_v1_route_states_its_roles(running: tuple[Pipeline, str]) -> None:
    p, _ = running
    spec = Api(p.url).ok(Api(p.url).get("/openapi.json"))
    public = set()
    for path, operations in spec["paths"].items():
        if not path.startswith("/v1/"):
            continue
        for method, operation in operations.items():
            assert "Roles: " in operation["description"], (method, path)
            if not operation["x-roles"] and "x-auth" not in operation:
                public.add(path)
    # Only what other services need before they hold a key is open.
    assert public == {"/v1/schemas", "/v1/schemas/{event_type}", "/v1/problems"}
    # Stripe cannot hold a key: its webhooks are authenticated by their signature.
    assert spec["paths"]["/v1/webhooks/stripe"]["post"]["x-auth"] == "Stripe-Signature"
    assert spec["paths"]["/v1/api-keys"]["get"]["x-roles"] == ["admin"]
    assert spec["paths"]["/v1/accounts"]["post"]["x-roles"] == sorted(WRITERS)


def test_each_route_states_its_roles_once_however_many_apps_are_made() -> None:
    def no_services() -> Services:
        raise AssertionError("the app is not started")

    create_app(no_services)
    spec = create_app(no_services).openapi()
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            assert operation["description"].count("Roles: ") == 1, (method, path)


def test_an_admin_issues_lists_and_revokes_keys(running: tuple[Pipeline, str]) -> None:
    p, _ = running
    admin = Api(p.url, ADMIN_KEY)
    body = {"role": "coordinator", "actor": "casey", "label": "Casey's laptop"}
    issued = admin.post("/v1/api-keys", body, key="issue-casey")
    assert issued.status_code == 201, issued.text
    key = issued.json()
    secret = key["secret"]
    assert secret and key["role"] == "coordinator" and key["created_by"] == "ada"

    # The same request again: the same key, and the secret is not shown twice.
    again = admin.post("/v1/api-keys", body, key="issue-casey")
    assert again.status_code == 200 and again.json()["id"] == key["id"]
    assert again.json()["secret"] is None

    # The key works, and its actor is stamped on what it does.
    casey = Api(p.url, secret)
    account = casey.open_account("Casey's Client Ltd")
    ledger = p.services.ledger
    stamped = {
        event.stamp.actor  # type: ignore[attr-defined]
        for event in map(ledger.decode, ledger.read_log(0, 1000))
        if event.originator_id == UUID(account["id"])
    }
    assert stamped == {"casey"}

    listing = admin.get("/v1/api-keys")
    assert secret not in listing.text and "digest" not in listing.text
    assert [k["id"] for k in listing.json()["api_keys"]] == [key["id"]]
    assert listing.json()["api_keys"][0]["prefix"] == secret[:10]

    revoked = admin.ok(admin.post(f"/v1/api-keys/{key['id']}/revoke", {}))
    assert revoked["revoked_by"] == "ada" and revoked["revoked_at"]
    refused = casey.post(
        "/v1/accounts", {"name": "After Ltd", "currency": "GBP", "payment_terms_days": 30}
    )
    assert refused.status_code == 401 and refused.json()["type"].endswith("/invalid-api-key")
    assert admin.ok(admin.get("/v1/api-keys"))["api_keys"] == []
    everything = admin.ok(admin.get("/v1/api-keys", include_revoked="true"))["api_keys"]
    assert [k["id"] for k in everything] == [key["id"]]
