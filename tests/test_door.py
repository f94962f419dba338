"""Nothing a client sends gets past the door unbounded: control characters in any text,
duplicate keys, deep nesting, huge bodies, dates outside the business window, integers
sent as floats or strings, cursors past bigint. Each is a 422 (or a 413) that names what
was wrong, and none of them appends anything to the store."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest

from tests.pipeline import pipeline
from tests.support import gbp


@pytest.fixture
def door(settings):
    """A running API (commands only) with one GBP account and one invoice."""
    with pipeline(settings, workers=False) as p:
        account = p.api.open_account("Harbour Rooms Ltd")
        invoice = p.api.raise_invoice(account["id"], "HR-1", 100_00, "2026-02-01", "2026-03-01")
        yield p, account["id"], invoice["id"]


def _refused(p, response: httpx.Response, status: int, head: int, field: str | None = None):
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    if field is not None:
        assert field in problem["detail"], problem
    assert p.services.ledger.head_position() == head, "a refused request appended events"
    return problem


def test_a_control_character_in_any_text_field_is_refused_and_appends_nothing(door):
    p, account, invoice = door
    head = p.services.ledger.head_position()
    cases = [
        (f"/v1/accounts/{account}/contacts", {"channel": "call", "outcome": "a\u0000b"}, "outcome"),
        (
            f"/v1/accounts/{account}/contacts",
            {"channel": "call", "outcome": "ok", "notes": "x\u001by"},
            "notes",
        ),
        (
            "/v1/accounts",
            {"name": "Nul\u0000 Ltd", "currency": "GBP", "payment_terms_days": 30},
            "name",
        ),
        (
            "/v1/invoices",
            {
                "account_id": account,
                "number": "N\u0000-1",
                "amount": gbp(1),
                "issued_on": "2026-01-01",
                "due_on": "2026-01-02",
            },
            "number",
        ),
        (
            "/v1/payments",
            {
                "account_id": account,
                "amount": gbp(1),
                "method": "bacs",
                "received_on": "2026-01-01",
                "reference": "REF\u0085",
            },
            "reference",
        ),
        (f"/v1/invoices/{invoice}/void", {"reason": "lone \ud800 surrogate"}, "reason"),
        (
            f"/v1/accounts/{account}/escalations",
            {"manager": "mo", "reason": "ok", "k\u0000": 1},
            "k",
        ),
    ]
    for path, body, field in cases:
        raw = json.dumps(body).encode()  # \u0000 and \ud800 travel as JSON escapes
        response = p.api.http.post(
            path,
            content=raw,
            headers={"Idempotency-Key": str(uuid.uuid4()), "Content-Type": "application/json"},
        )
        problem = _refused(p, response, 422, head, field)
        assert "control character" in problem["detail"], problem
    # Tabs and line breaks are text, not controls.
    fine = p.api.post(
        f"/v1/accounts/{account}/contacts",
        {"channel": "call", "outcome": "promised\tFriday", "notes": "line one\r\nline two"},
    )
    assert fine.status_code == 201, fine.text


def test_a_control_character_in_the_path_or_query_is_a_422(door):
    p, account, _ = door
    head = p.services.ledger.head_position()
    _refused(p, p.api.http.get("/v1/worklist", params={"currency": "GB\u0000"}), 422, head)
    _refused(p, p.api.http.get("/v1/audit-trail", params={"actor": "al\u0000ice"}), 422, head)
    _refused(p, p.api.http.get(f"/v1/accounts/{account}%00/balance"), 422, head, "path")


def test_malformed_json_shapes_are_refused(door):
    p, account, _ = door
    head = p.services.ledger.head_position()
    contacts = f"/v1/accounts/{account}/contacts"
    bodies = {
        "duplicate key": b'{"channel": "call", "outcome": "ok", "outcome": "other"}',
        "deep nesting": b'{"channel": "call", "outcome": "ok", "x": '
        + b"[" * 5000
        + b"]" * 5000
        + b"}",
        "NaN": b'{"channel": "call", "outcome": "ok", "n": NaN}',
    }
    for what, raw in bodies.items():
        response = p.api.http.post(
            contacts,
            content=raw,
            headers={"Idempotency-Key": str(uuid.uuid4()), "Content-Type": "application/json"},
        )
        _refused(p, response, 422, head), what


def test_a_body_over_the_limit_is_a_413_before_it_is_read(door):
    p, account, _ = door
    head = p.services.ledger.head_position()
    big = b'{"channel": "call", "outcome": "' + b"x" * 2_000_000 + b'"}'
    declared = p.api.http.post(
        f"/v1/accounts/{account}/contacts",
        content=big,
        headers={"Idempotency-Key": "big", "Content-Type": "application/json"},
    )
    assert _refused(p, declared, 413, head)["type"] == "/v1/problems/body-too-large"

    def chunks():
        for _ in range(40):
            yield b"x" * 100_000

    chunked = httpx.post(
        f"{p.url}/v1/accounts/{account}/contacts",
        content=chunks(),
        headers={"Authorization": "Bearer test-admin-key", "Idempotency-Key": "chunked"},
    )
    _refused(p, chunked, 413, head)


def test_files_of_several_megabytes_are_let_in_where_files_are_taken(door):
    """A statement or a file of invoices or of accounts, uploaded at the desk or sent to
    the API, may be larger than a command's body: it is let in (here to meet the sign-in
    or a check of its own), not refused as too large."""
    p, _, _ = door
    big = b"date,amount,reference,payer\n" + b"2026-11-02,1.00,REF,PAYER\n" * 100_000
    paths = ("/v1/bank-statements", "/v1/invoices/imports", "/v1/accounts/imports")
    for path in ("/bank", "/imports", *paths):
        reply = httpx.post(f"{p.url}{path}", content=big, headers={"Content-Type": "text/csv"})
        assert len(big) > 2_000_000
        assert reply.status_code != 413, (path, reply.text[:300])


def test_business_dates_and_moments_are_bounded_and_strict(door):
    p, account, _ = door
    head = p.services.ledger.head_position()
    contacts = f"/v1/accounts/{account}/contacts"
    for moment in (
        "0001-01-01T00:00:00+14:00",
        "9999-12-31T23:59:59-12:00",
        "2026-01-01",
        "1899-12-31T23:00:00Z",
        0,
    ):
        body = {"channel": "call", "outcome": "ok", "contacted_at": moment}
        _refused(p, p.api.post(contacts, body), 422, head, "contacted_at")
    payment = {"account_id": account, "amount": gbp(1), "method": "bacs"}
    for day in ("9999-12-31", "2026-01-01T00:00:00", "1899-12-31", 0, "2026-02-30"):
        _refused(p, p.api.post("/v1/payments", {**payment, "received_on": day}), 422, head)
    for terms in (30.0, "30", True):
        body = {"name": "T Ltd", "currency": "GBP", "payment_terms_days": terms}
        _refused(p, p.api.post("/v1/accounts", body), 422, head, "payment_terms_days")
    for amount in (10**15 + 1, -(10**15) - 1):
        body = {**payment, "received_on": "2026-01-01", "amount": gbp(amount)}
        _refused(p, p.api.post("/v1/payments", body), 422, head)


def test_query_parameters_that_overflow_are_422s(door):
    p, account, _ = door
    head = p.services.ledger.head_position()
    reads = [
        ("/v1/payments", {"before": 2**63}),
        (f"/v1/accounts/{account}/balance", {"min_position": 2**63}),
        (f"/v1/accounts/{account}/events", {"after": 2**63}),
        (
            "/v1/reports/debtor-days",
            {"period_start": "2026-01-01", "period_end": "9999-12-31", "currency": "GBP"},
        ),
        ("/v1/reports/cash-posting", {"date": "9999-12-31", "currency": "GBP"}),
        ("/v1/reports/aged-debt", {"as_of": "0", "currency": "GBP"}),
        ("/v1/reports/aged-debt", {"currency": "GBP", "as_known_at": "2026-01-01"}),
        (f"/v1/accounts/{account}/replay", {"as_known_at": "9999-12-31T23:59:59-12:00"}),
    ]
    for path, params in reads:
        response = p.api.http.get(path, params=params)
        assert response.status_code == 422, (path, params, response.status_code, response.text)
    assert p.services.ledger.head_position() == head


def test_totals_past_the_largest_single_amount_are_read_by_every_report(settings):
    """Two invoices of the largest amount (and one more) make totals no single amount may
    be: every read that sums them still answers."""
    with pipeline(settings) as p:
        account = p.api.open_account("Giant Ltd")["id"]
        p.api.raise_invoice(account, "G-1", 10**15, "2026-01-01", "2026-01-31")
        last = p.api.raise_invoice(account, "G-2", 1, "2026-01-01", "2026-01-31")
        p.wait_until_projected(last["position"])
        at = {"min_position": last["position"]}
        reads = [
            (f"/v1/accounts/{account}/balance", {}),
            (f"/v1/accounts/{account}/replay", {"as_of": "2026-03-01"}),
            ("/v1/reports/aged-debt", {"currency": "GBP", "as_of": "2026-03-01"}),
            ("/v1/reports/trial-balance", {"currency": "GBP", "as_of": "2026-03-01"}),
            ("/v1/reports/balances", {"currency": "GBP"}),
            ("/v1/worklist", {"as_of": "2026-03-01"}),
            ("/v1/audit-trail", {}),
        ]
        for path, params in reads:
            response = p.api.get(path, **params, **at)
            assert response.status_code == 200, (path, response.status_code, response.text)
        balance = p.api.get(f"/v1/accounts/{account}/balance", **at).json()
        assert balance["invoiced"]["amount"] == 10**15 + 1
