"""The edges of the HTTP contract: a transient refusal is never kept as a key's result,
an upstream failure is named as Stripe's, a malformed signed Stripe payload is a 400 and
kept, and the metrics cannot be grown by made-up methods."""

from __future__ import annotations

import time

import pytest

from tests import stripe_payloads as sp
from tests.pipeline import pipeline
from tests.support import free_port

SECRET = "whsec_edges"


@pytest.fixture
def edges(settings):
    """The API with a webhook secret, and a Stripe API base where nothing listens."""
    changed = settings.model_copy(
        update={
            "stripe_webhook_secret": SECRET,
            "stripe_api_key": "sk_test_edges",
            "stripe_api_base": f"http://127.0.0.1:{free_port()}",
        }
    )
    with pipeline(changed, workers=False) as p:
        yield p


def test_a_503_is_not_kept_under_the_idempotency_key(settings):
    with pipeline(settings, workers=False) as p:  # no Stripe key configured
        body = {"from": "2026-01-01", "to": "2026-01-31"}
        first = p.api.post("/v1/reconciliations/stripe", body, key="recon-1")
        assert first.status_code == 503, first.text
        assert first.headers["Retry-After"]
        again = p.api.post("/v1/reconciliations/stripe", body, key="recon-1")
        assert again.status_code == 503
        assert "Idempotent-Replayed" not in again.headers  # run again, not replayed


def test_stripe_unreachable_is_a_502_naming_stripe_and_the_connection_stays_usable(edges):
    p = edges
    account = p.api.open_account("Card Payer Ltd")["id"]
    invoice = p.api.raise_invoice(account, "CP-1", 10_00, "2026-02-01", "2026-03-01")
    head = p.services.ledger.head_position()
    body = {"success_url": "https://example.com/thanks"}
    link = p.api.post(f"/v1/invoices/{invoice['id']}/payment-links", body, key="link-1")
    assert link.status_code == 502, link.text
    assert link.json()["type"] == "/v1/problems/stripe-error"
    assert "Stripe" in link.json()["detail"]
    assert p.services.ledger.head_position() == head
    # The same client connection answers the next request.
    assert p.api.get(f"/v1/accounts/{account}").status_code == 200


def test_a_malformed_signed_stripe_payload_is_a_400_and_is_kept(edges):
    p = edges
    account = p.api.open_account("Signed Ltd")["id"]
    head = p.services.ledger.head_position()
    good = sp.payment_intent(10_00, "succeeded", {"account_id": account})
    cases = {
        "float amount": sp.event("payment_intent.succeeded", {**good, "amount": 10.5}),
        "string amount": sp.event("payment_intent.succeeded", {**good, "amount": "100"}),
        "bad created": {**sp.event("payment_intent.succeeded", good), "created": "yesterday"},
        "NUL": sp.event("payment_intent.succeeded", {**good, "description": "a\u0000b"}),
    }
    for what, evt in cases.items():
        response = sp.post(p.api.http, evt, SECRET)
        assert response.status_code == 400, (what, response.status_code, response.text)
    deep = b'{"object": "event", "id": "evt_deep", "x": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    response = p.api.http.post(
        "/v1/webhooks/stripe",
        content=deep,
        headers={"Stripe-Signature": sp.sign(deep, SECRET, int(time.time()))},
    )
    assert response.status_code == 400, response.text
    assert p.services.ledger.head_position() == head
    with p.services.pool.connection() as conn:
        kept = conn.execute("SELECT count(*) FROM stripe_rejected_payloads").fetchone()[0]
    assert kept == len(cases) + 1


def test_made_up_methods_do_not_grow_the_metrics(edges):
    p = edges
    for n in range(50):
        p.api.http.request(f"BREW{n}", "/v1/accounts")
    metrics = p.api.get("/metrics").text
    assert "BREW" not in metrics
    assert 'method="other"' in metrics
