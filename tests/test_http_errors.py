"""Every error a user can hit is a problem+json with its own type and a precise message,
and a refused command appends nothing to the store."""

from __future__ import annotations

import uuid

import pytest

from tests.pipeline import pipeline
from tests.support import AUDITOR_KEY, Api


@pytest.fixture
def book(settings):
    """A running API (no workers: commands only) with an account, two invoices and a
    payment."""
    with pipeline(settings, workers=False) as p:
        api = p.api
        account = api.open_account("Casa Azul Holdings", "EUR", 45)
        invoice = api.raise_invoice(
            account["id"], "CA-1", 900_00, "2026-02-01", "2026-03-18", currency="EUR"
        )
        payment = api.record_payment(account["id"], 500_00, currency="EUR")
        gbp = api.open_account("Other Ltd", "GBP")
        foreign = api.raise_invoice(gbp["id"], "OT-1", 10_00, "2026-02-01", "2026-03-01")
        yield (
            p,
            {
                "account": account["id"],
                "invoice": invoice["id"],
                "payment": payment["id"],
                "foreign_invoice": foreign["id"],
            },
        )


def eur(amount):
    return {"amount": amount, "currency": "EUR"}


CASES = [
    (
        "unknown account",
        "/v1/invoices",
        lambda ids: {
            "account_id": str(uuid.uuid4()),
            "number": "N-1",
            "amount": eur(1),
            "issued_on": "2026-01-01",
            "due_on": "2026-01-02",
        },
        404,
        "unknown-account",
    ),
    (
        "currency mismatch",
        "/v1/invoices",
        lambda ids: {
            "account_id": ids["account"],
            "number": "N-2",
            "amount": {"amount": 1, "currency": "GBP"},
            "issued_on": "2026-01-01",
            "due_on": "2026-01-02",
        },
        422,
        "currency-mismatch",
    ),
    (
        "duplicate invoice number",
        "/v1/invoices",
        lambda ids: {
            "account_id": ids["account"],
            "number": "CA-1",
            "amount": eur(1),
            "issued_on": "2026-01-01",
            "due_on": "2026-01-02",
        },
        409,
        "duplicate-invoice-number",
    ),
    (
        "due before issue",
        "/v1/invoices",
        lambda ids: {
            "account_id": ids["account"],
            "number": "N-3",
            "amount": eur(1),
            "issued_on": "2026-01-02",
            "due_on": "2026-01-01",
        },
        422,
        "bad-dates",
    ),
    (
        "float money",
        "/v1/invoices",
        lambda ids: {
            "account_id": ids["account"],
            "number": "N-4",
            "amount": {"amount": 9.99, "currency": "EUR"},
            "issued_on": "2026-01-01",
            "due_on": "2026-01-02",
        },
        422,
        "malformed-money",
    ),
    (
        "string money",
        "/v1/payments",
        lambda ids: {
            "account_id": ids["account"],
            "amount": {"amount": "100", "currency": "EUR"},
            "method": "bacs",
            "received_on": "2026-01-01",
        },
        422,
        "malformed-money",
    ),
    (
        "unknown currency",
        "/v1/accounts",
        lambda ids: {"name": "X", "currency": "EURO", "payment_terms_days": 30},
        422,
        "unknown-currency",
    ),
    (
        "zero amount",
        "/v1/payments",
        lambda ids: {
            "account_id": ids["account"],
            "amount": eur(0),
            "method": "bacs",
            "received_on": "2026-01-01",
        },
        422,
        "malformed-money",
    ),
    (
        "unknown method",
        "/v1/payments",
        lambda ids: {
            "account_id": ids["account"],
            "amount": eur(1),
            "method": "bitcoin",
            "received_on": "2026-01-01",
        },
        422,
        "validation-error",
    ),
    (
        "not a date",
        "/v1/invoices",
        lambda ids: {
            "account_id": ids["account"],
            "number": "N-5",
            "amount": eur(1),
            "issued_on": "1 Jan 2026",
            "due_on": "2026-01-02",
        },
        422,
        "validation-error",
    ),
    (
        "over-allocation of the invoice",
        "/v1/payments/{payment}/allocations",
        lambda ids: {"allocations": [{"invoice_id": ids["invoice"], "amount": eur(900_01)}]},
        409,
        "over-allocation",
    ),
    (
        "over-allocation of the payment",
        "/v1/payments/{payment}/allocations",
        lambda ids: {"allocations": [{"invoice_id": ids["invoice"], "amount": eur(500_01)}]},
        409,
        "over-allocation",
    ),
    (
        "invoice of another account",
        "/v1/payments/{payment}/allocations",
        lambda ids: {"allocations": [{"invoice_id": ids["foreign_invoice"], "amount": eur(1)}]},
        422,
        "wrong-account",
    ),
    (
        "unknown invoice",
        "/v1/payments/{payment}/allocations",
        lambda ids: {"allocations": [{"invoice_id": str(uuid.uuid4()), "amount": eur(1)}]},
        404,
        "unknown-invoice",
    ),
    (
        "both allocations and strategy",
        "/v1/payments/{payment}/allocations",
        lambda ids: {
            "allocations": [{"invoice_id": ids["invoice"], "amount": eur(1)}],
            "strategy": "oldest_first",
        },
        422,
        "validation-error",
    ),
    (
        "unknown payment",
        f"/v1/payments/{uuid.uuid4()}/allocations",
        lambda ids: {"strategy": "oldest_first"},
        404,
        "unknown-payment",
    ),
]


@pytest.mark.parametrize(
    ("case", "path", "body", "status", "code"), CASES, ids=[c[0] for c in CASES]
)
def test_refused_commands_say_why_and_append_nothing(book, case, path, body, status, code):
    p, ids = book
    head = p.services.ledger.head_position()
    reply = p.api.post(path.format(**ids), body(ids))
    assert reply.status_code == status, reply.text
    assert reply.headers["content-type"] == "application/problem+json"
    problem = reply.json()
    assert problem["type"] == f"/v1/problems/{code}"
    assert problem["status"] == status and problem["title"] and problem["detail"]
    assert p.services.ledger.head_position() == head


def test_a_float_amount_is_named_in_the_message(book):
    p, ids = book
    reply = p.api.post(
        "/v1/payments",
        {
            "account_id": ids["account"],
            "amount": eur(12.5),
            "method": "cash",
            "received_on": "2026-01-01",
        },
    )
    assert "12.5" in reply.json()["detail"] and "minor units" in reply.json()["detail"]


def test_missing_wrong_and_read_only_keys(book):
    p, ids = book
    url = str(p.api.http.base_url)
    body = {"name": "X", "currency": "GBP", "payment_terms_days": 30}
    anonymous = Api(url)
    anonymous.http.headers.pop("Authorization")
    cases = [
        (anonymous, 401, "missing-api-key"),
        (Api(url, "not-a-key"), 401, "invalid-api-key"),
        (Api(url, AUDITOR_KEY), 403, "forbidden"),
    ]
    for client, status, code in cases:
        reply = client.post("/v1/accounts", body)
        assert (reply.status_code, reply.json()["type"]) == (status, f"/v1/problems/{code}")
        if status == 401:
            assert reply.headers["WWW-Authenticate"].startswith("Bearer")
    assert Api(url, AUDITOR_KEY).get(f"/v1/accounts/{ids['account']}").status_code == 200
    assert anonymous.get(f"/v1/accounts/{ids['account']}").status_code == 401


def test_unknown_resources_are_404_problems(book):
    p, _ = book
    for path in (f"/v1/accounts/{uuid.uuid4()}", f"/v1/invoices/{uuid.uuid4()}", "/v1/nothing"):
        reply = p.api.get(path)
        assert reply.status_code == 404
        assert reply.headers["content-type"] == "application/problem+json"


def test_problem_types_are_listed(book):
    p, _ = book
    types = p.api.get("/v1/problems").json()
    for code in ("over-allocation", "malformed-money", "idempotency-key-reused", "bad-dates"):
        assert f"/v1/problems/{code}" in types


def test_a_read_refused_for_a_while_says_when_to_retry_as_a_refused_command_does(
    settings, monkeypatch
):
    """Every 503 problem carries Retry-After: a command's kept reply (``Reply``) and an
    error any other route lets through (``ledger_problem``) alike."""
    from channels.reconcile import ReadModelBehind
    from channels.stripe_links import StripeNotConfigured
    from ledger.application import Ledger

    with pipeline(settings, workers=False) as p:
        account = p.api.open_account("Later Ltd")["id"]
        period = {"from": "2026-01-01", "to": "2026-01-31"}
        command = p.api.post("/v1/reconciliations/stripe", period)  # no Stripe key here
        assert command.status_code == 503, command.text
        assert command.json()["type"] == "/v1/problems/stripe-not-configured"
        for error in (
            ReadModelBehind("the balances read model is behind; retry"),
            StripeNotConfigured("set STRIPE_API_KEY"),
        ):

            def unavailable(self, account_id, error=error):
                raise error

            monkeypatch.setattr(Ledger, "get_account", unavailable)
            read = p.api.get(f"/v1/accounts/{account}/replay")
            assert read.status_code == 503, read.text
            assert read.json()["type"] == f"/v1/problems/{error.code}"
            assert read.headers["Retry-After"] == command.headers["Retry-After"] == "1"
