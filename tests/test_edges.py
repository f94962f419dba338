"""The edges of the HTTP contract: a transient refusal is never kept as a key's result,
an upstream failure is named as Stripe's (its status, code and message) on a connection
that stays usable, a malformed signed Stripe payload is a 400 and kept, the metrics cannot
be grown by made-up methods, every 503 says when to ask again, and the framework's own
errors are listed problem types."""

from __future__ import annotations

import asyncio
import http.client
import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from fastapi import FastAPI
from starlette.exceptions import HTTPException as StarletteHTTPException

import api.app  # noqa: F401 - every route's errors are then known to /v1/problems
from api import problems
from api.idempotency import request_hash
from api.problems import PROBLEM_MEDIA_TYPE
from api.routes.health import problem_types
from tests import stripe_payloads as sp
from tests.pipeline import pipeline
from tests.support import AUDITOR_KEY, COORDINATOR_KEY, Api, free_port, gbp

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
        # The committed command's own reply, rebuilt from the account as it saved it.
        assert (retry.status_code, retry.json()) == (201, first.json())
        assert retry.headers["Idempotent-Replayed"] == "true"
        assert p.services.ledger.head_position() == head

        # So for an invoice, though the account has moved on since.
        invoice = {"account_id": account, "number": "LOST-1", "amount": gbp(120_00),
                   "issued_on": "2026-11-01", "due_on": "2026-12-01"}  # fmt: skip
        raised = p.api.post("/v1/invoices", invoice, key="lost-2")
        assert raised.status_code == 201, raised.text
        _lose_reply(p, "alice", "lost-2", "00000000-0000-0000-0000-000000000001")
        p.api.post(f"/v1/accounts/{account}/contacts", {"channel": "call", "outcome": "later"})
        head = p.services.ledger.head_position()
        again = p.api.post("/v1/invoices", invoice, key="lost-2")
        assert (again.status_code, again.json()) == (201, raised.json())
        assert p.services.ledger.head_position() == head
        # And the answer is kept: asked once more, the same.
        once_more = p.api.post("/v1/invoices", invoice, key="lost-2")
        assert (once_more.status_code, once_more.json()) == (201, raised.json())


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


def _on_one_connection(url: str, *requests: tuple[str, str, dict | None, dict]):
    """Send ``requests`` (method, path, JSON body, headers) one after the other on one
    kept-alive connection; each reply with whether it came on that same connection."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    replies = []
    try:
        first_socket = None
        for method, path, body, headers in requests:
            data = json.dumps(body).encode() if body is not None else None
            sent = {"Authorization": f"Bearer {COORDINATOR_KEY}", **headers}
            if data is not None:
                sent["Content-Type"] = "application/json"
            conn.request(method, path, body=data, headers=sent)
            first_socket = first_socket or conn.sock
            reply = conn.getresponse()
            text = reply.read()
            assert not reply.will_close, (path, reply.getheaders())
            replies.append(
                (reply.status, dict(reply.getheaders()), text, conn.sock is first_socket)
            )
    finally:
        conn.close()
    return replies


def _stripe_error_is_named(p, account: str, path: str, body: dict) -> dict:
    """The card payment Stripe refuses: a 502 naming Stripe's error, nothing recorded,
    and the same connection carries the next request."""
    head = p.services.ledger.head_position()
    failed, after = _on_one_connection(
        p.url,
        ("POST", path, body, {"Idempotency-Key": "stripe-says-no"}),
        ("GET", f"/v1/accounts/{account}", None, {}),
    )
    status, headers, text, _ = failed
    assert status == 502, text
    assert headers["content-type"].startswith(PROBLEM_MEDIA_TYPE)
    problem = json.loads(text)
    assert problem["type"] == "/v1/problems/stripe-error"
    assert p.services.ledger.head_position() == head, "a failed Stripe call recorded something"
    assert after[0] == 200 and after[3], "the next request did not go on the same connection"
    return problem


def test_a_stripe_error_is_a_502_naming_stripes_status_and_message(
    stripe_settings, localstripe_url
):
    """localstripe answers a card payment with a payment method it never saw: 404."""
    with pipeline(stripe_settings, workers=False) as p:
        account = p.api.open_account("Card On File Ltd")["id"]
        invoice = p.api.raise_invoice(account, "CF-1", 40_00, "2026-02-01", "2026-03-01")
        p.api.ok(p.api.post(f"/v1/invoices/{invoice['id']}/payment-links", {}))  # the customer
        body = {
            "amount": gbp(40_00),
            "payment_method": "pm_never_saved",
            "invoice_id": invoice["id"],
        }
        path = f"/v1/accounts/{account}/card-payments"
        problem = _stripe_error_is_named(p, account, path, body)
        assert (problem["stripe_status"], problem["stripe_message"]) == (404, "Not Found")
        assert problem["detail"] == "Stripe answered 404: Not Found"
        retried = p.api.post(path, body, key="stripe-says-no")  # nothing was kept: runs again
        assert retried.status_code == 502 and "Idempotent-Replayed" not in retried.headers


class _StripeSaysNo(BaseHTTPRequestHandler):
    """Stripe's API as it answers a payment method it does not know: a customer is made,
    the PaymentIntent is refused with Stripe's error object (type, code, message)."""

    def log_message(self, *args) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.startswith("/v1/customers"):
            status, body = 200, {"id": "cus_stub", "object": "customer"}
        else:
            error = {
                "type": "invalid_request_error",
                "code": "resource_missing",
                "param": "payment_method",
                "message": "No such PaymentMethod: 'pm_gone'",
            }
            status, body = 404, {"error": error}
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def test_a_stripe_error_code_is_named_too(settings):
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), _StripeSaysNo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    stub = settings.model_copy(
        update={
            "stripe_api_key": "sk_test_edges",
            "stripe_api_base": f"http://127.0.0.1:{server.server_address[1]}",
        }
    )
    try:
        with pipeline(stub, workers=False) as p:
            account = p.api.open_account("Gone Card Ltd")["id"]
            body = {"amount": gbp(15_00), "payment_method": "pm_gone"}
            path = f"/v1/accounts/{account}/card-payments"
            problem = _stripe_error_is_named(p, account, path, body)
    finally:
        server.shutdown()
    assert (problem["stripe_status"], problem["stripe_code"]) == (404, "resource_missing")
    assert problem["stripe_message"] == "No such PaymentMethod: 'pm_gone'"
    assert problem["detail"] == (
        "Stripe answered 404 (resource_missing): No such PaymentMethod: 'pm_gone'"
    )


def test_healthz_503_says_when_to_ask_again(settings):
    with pipeline(settings, workers=False) as p:
        with p.services.pool.connection() as conn:
            conn.execute(
                "INSERT INTO worker_heartbeats (worker, host, pid, beat_at)"
                " VALUES ('consume-9/audit-0', 'elsewhere', 4242, now() - interval '5 minutes')"
            )
        down = p.api.get("/healthz")
        assert down.status_code == 503, down.text
        assert int(down.headers["Retry-After"]) > 0


def test_the_frameworks_own_errors_are_listed_problem_types(settings):
    """A wrong method, a form that cannot be parsed, any other status the framework
    raises: each a problem type that /v1/problems lists, never an unlisted http-<status>."""
    listed = set(problem_types())
    with pipeline(settings, workers=False) as p:
        wrong = p.api.http.delete("/v1/accounts")
        assert wrong.status_code == 405, wrong.text
        assert wrong.json()["type"] == "/v1/problems/method-not-allowed"
        assert "GET" in wrong.headers["Allow"] and "GET" in wrong.json()["detail"]
        broken = p.api.http.post(
            "/signin",
            content=b"--x\r\nnot a part",
            headers={"Content-Type": "multipart/form-data; boundary=x"},
        )
        assert broken.status_code == 400, broken.text
        assert broken.json()["type"] == "/v1/problems/unparsable-body"
        for reply in (wrong, broken):
            assert reply.headers["content-type"].startswith(PROBLEM_MEDIA_TYPE)
            assert reply.json()["type"] in listed
    teapot = FastAPI()
    problems.install(teapot)

    @teapot.get("/tea")
    def tea() -> None:
        raise StarletteHTTPException(418, "I'm a teapot")

    async def ask() -> httpx.Response:
        transport = httpx.ASGITransport(app=teapot)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            return await client.get("/tea")

    other = asyncio.run(ask())
    assert (other.status_code, other.json()["type"]) == (418, "/v1/problems/http-error")
    assert other.json()["type"] in listed
