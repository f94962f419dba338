"""The edges of the HTTP contract: a transient refusal is never kept as a key's result,
an upstream failure is named as Stripe's, a malformed signed Stripe payload is a 400 and
kept, and the metrics cannot be grown by made-up methods."""

from __future__ import annotations

import time

import pytest

from api.idempotency import request_hash
from tests import stripe_payloads as sp
from tests.pipeline import pipeline
from tests.support import AUDITOR_KEY, Api, free_port

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


def _lose_reply(p, actor, key, claimed_by, age="1 minute"):
    """As if the process died between the store's commit and keeping the reply."""
    with p.services.pool.connection() as conn:
        conn.execute(
            "UPDATE idempotency_keys SET status = NULL, response = NULL, response_text = NULL,"
            " claimed_by = %s, claimed_at = now() - %s::interval WHERE actor = %s AND key = %s",
            (claimed_by, age, actor, key),
        )


def test_a_retry_after_a_lost_reply_appends_nothing_for_any_command(settings):
    with pipeline(settings, workers=False) as p:
        account = p.api.open_account("Lost Reply Ltd")["id"]
        contact = {"channel": "call", "outcome": "promised Friday"}
        first = p.api.post(f"/v1/accounts/{account}/contacts", contact, key="lost-1")
        assert first.status_code == 201, first.text
        head = p.services.ledger.head_position()
        _lose_reply(p, "alice", "lost-1", "00000000-0000-0000-0000-000000000001")
        retry = p.api.post(f"/v1/accounts/{account}/contacts", contact, key="lost-1")
        assert retry.status_code == 200, retry.text
        assert retry.json()["recorded"] is True
        assert retry.headers["Idempotent-Replayed"] == "true"
        assert p.services.ledger.head_position() == head


def test_a_dead_claim_of_this_process_is_taken_over_at_once(settings):
    """A claim this API process made for a request it no longer runs (the request died
    with its database connection) is not a 409 "in progress" for half a minute."""
    with pipeline(settings, workers=False) as p:
        account = p.api.open_account("Dead Claim Ltd")["id"]
        path = f"/v1/accounts/{account}/contacts"
        contact = {"channel": "call", "outcome": "rang"}
        parsed = {"channel": "call", "direction": "outbound", "outcome": "rang", "notes": None,
                  "contact_name": None, "contacted_at": None}  # fmt: skip
        with p.services.pool.connection() as conn:
            conn.execute(
                "INSERT INTO idempotency_keys (actor, key, request_hash, claimed_by)"
                " VALUES ('alice', 'dead-1', %s, %s)",
                (request_hash("POST", path, parsed), p.services.idempotency.instance),
            )
        response = p.api.post(path, contact, key="dead-1")
        assert response.status_code == 201, response.text


def test_an_export_before_its_read_model_is_a_prompt_503(settings):
    """The export waits for the receivables read model no longer than any read does."""
    quick = settings.model_copy(update={"query_wait_ms": 200})
    with pipeline(quick, workers=False) as p:  # no consumers: the read model stays behind
        p.api.open_account("Export Ltd")
        today = time.strftime("%Y-%m-%d", time.gmtime())
        began = time.monotonic()
        response = Api(p.url, AUDITOR_KEY).get("/v1/exports", **{"from": today, "to": today})
        assert response.status_code == 503, response.text
        assert response.headers["Retry-After"]
        assert time.monotonic() - began < 10
