"""Stripe webhooks against the running pipeline, with events shaped and signed as Stripe
makes them: what is refused before anything is written, what is recorded and then
applied once, that the order of arrival does not change where the ledger ends up, and
that what was recorded while no applier ran is applied when one starts."""

from __future__ import annotations

import random
import threading
import time

import pytest

from tests import stripe_payloads as sp
from tests.pipeline import pipeline
from tests.support import gbp, running_workers

OLD, NEW = "whsec_old_secret", "whsec_new_secret"


@pytest.fixture
def stripe_settings(settings):
    return settings.model_copy(update={"stripe_webhook_secret": f"{OLD},{NEW}"})


def _stored(p):
    with p.services.pool.connection() as conn:
        return conn.execute("SELECT count(*) FROM stripe_events").fetchone()[0]


def test_a_webhook_is_refused_before_anything_is_written_unless_signed_now_by_our_secret(
    stripe_settings,
):
    with pipeline(stripe_settings, workers=False) as p:
        http = p.api.http
        acct = p.api.open_account("Signed Ltd")["id"]
        evt = sp.event(
            "payment_intent.succeeded", sp.payment_intent(10_00, "succeeded", {"account_id": acct})
        )
        head = p.services.ledger.head_position()

        def refused(response, code):
            assert response.status_code == 400, response.text
            assert response.json()["type"] == f"/v1/problems/{code}"

        refused(sp.post(http, evt, "whsec_forged"), "webhook-signature-invalid")
        refused(sp.post(http, evt, NEW, at=int(time.time()) - 3600), "webhook-timestamp-stale")
        refused(sp.post(http, evt, NEW, at=int(time.time()) + 3600), "webhook-timestamp-future")
        refused(http.post("/v1/webhooks/stripe", content=b"{}"), "webhook-signature-missing")
        tampered = sp.post(http, {**evt, "id": "evt_other"}, NEW)
        assert tampered.status_code == 200  # a new, correctly signed event is fine ...
        assert tampered.json() == {
            "received": True,
            "event": "evt_other",
            "duplicate": False,
            "outcome": "received",
        }  # ... and recorded: no applier runs here, so it waits
        assert p.services.ledger.head_position() == head
        body = b'{"object": "event", "id": "evt_x"}'
        forged_body = http.post(
            "/v1/webhooks/stripe",
            content=body.replace(b"evt_x", b"evt_y"),
            headers={"Stripe-Signature": sp.sign(body, NEW, int(time.time()))},
        )
        refused(forged_body, "webhook-signature-invalid")  # ... a changed body is not
        assert p.services.ledger.head_position() == head
        assert _stored(p) == 1

        # While a secret is rotated, both the old and the new one are accepted.
        for secret in (OLD, NEW):
            pi = sp.payment_intent(5_00, "succeeded", {"account_id": acct})
            ok = sp.post(http, sp.event("payment_intent.succeeded", pi), secret)
            assert ok.json()["outcome"] == "received", ok.text
        assert _stored(p) == 3


def test_each_event_is_applied_once_even_when_delivered_at_the_same_moment(stripe_settings):
    with pipeline(stripe_settings) as p:
        api = p.api
        acct = api.open_account("Once Only Ltd")["id"]
        inv = api.raise_invoice(acct, "OO-1", 120_00, "2026-10-01", "2026-10-31")
        pi = sp.payment_intent(120_00, "succeeded", {"account_id": acct, "invoice_id": inv["id"]})
        evt = sp.event("payment_intent.succeeded", pi)
        head = p.services.ledger.head_position()
        replies, gate = [], threading.Barrier(8)

        def deliver():
            gate.wait()
            replies.append(sp.post(api.http, evt, NEW))

        threads = [threading.Thread(target=deliver) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(r.status_code for r in replies) == [200] * 8
        assert sorted(r.json()["duplicate"] for r in replies) == [False] + [True] * 7
        applied = sp.settled(api.http, evt["id"])
        assert applied["outcome"] == "applied", applied
        # Recorded and allocated to the invoice in its metadata; nothing appended twice.
        assert p.services.ledger.head_position() == max(applied["positions"])
        assert max(applied["positions"]) > head
        again = sp.post(api.http, evt, OLD)
        assert again.json()["duplicate"] is True
        assert again.json()["outcome"] == "applied"  # what became of the first delivery
        invoice = api.ok(
            api.get(f"/v1/invoices/{inv['id']}", min_position=max(applied["positions"]))
        )
        assert (invoice["status"], invoice["outstanding"]) == ("paid", gbp(0))
        assert _stored(p) == 1


def _story(acct, inv):
    """A card payment's life: a decline, a success paid through Checkout, two partial
    refunds; another payment disputed and the dispute won; a bank debit that fails
    after it succeeded. Stripe may deliver these in any order."""
    meta = {"account_id": acct, "invoice_id": inv}
    first = sp.payment_intent(300_00, "requires_payment_method", meta)
    failure = dict(first, last_payment_error=sp.decline(first["latest_charge"]))
    paid = dict(first, status="succeeded", amount_received=300_00, latest_charge="ch_2" + acct[:8])
    card = sp.payment_intent(80_00, "succeeded", {"account_id": acct})
    debit = sp.payment_intent(50_00, "succeeded", {"account_id": acct}, method_type="bacs_debit")
    three_days_ago = int(time.time()) - 3 * 86_400
    return [
        sp.event("payment_intent.payment_failed", failure, created=three_days_ago),
        sp.event("checkout.session.completed", sp.checkout_session(first["id"], 300_00, meta)),
        sp.event("payment_intent.succeeded", paid),
        sp.event("charge.refunded", sp.charge(paid, [("re_1" + acct[:6], 20_00)])),
        sp.event(
            "charge.refunded",
            sp.charge(paid, [("re_1" + acct[:6], 20_00), ("re_2" + acct[:6], 10_00)]),
        ),
        sp.event("payment_intent.succeeded", card),
        sp.event("charge.dispute.created", sp.dispute(card, 80_00, "needs_response", "dp_" + acct)),
        sp.event("charge.dispute.closed", sp.dispute(card, 80_00, "won", "dp_" + acct)),
        sp.event("payment_intent.succeeded", debit),
        sp.event(
            "charge.failed",
            sp.charge(
                debit,
                status="failed",
                failure_code="refer_to_payer",
                payment_method_details={"type": "bacs_debit"},
            ),
        ),
        sp.event("customer.subscription.trial_will_end", {"id": "sub_1", "object": "subscription"}),
    ]


def _state(api, acct, position):
    balance = api.ok(api.get(f"/v1/accounts/{acct}/balance", min_position=position))
    payments = api.ok(api.get("/v1/payments", account_id=acct, limit=100))["payments"]
    return (
        {k: balance[k] for k in ("paid", "allocated", "unallocated", "refunded", "outstanding")},
        sorted((x["amount"]["amount"], x["status"]) for x in payments),
    )


def test_out_of_order_delivery_ends_where_in_order_delivery_does(stripe_settings):
    with pipeline(stripe_settings) as p:
        api = p.api
        ends = []
        for order in ("in order", "reversed", "shuffled"):
            acct = api.open_account(f"Order {order}")["id"]
            inv = api.raise_invoice(acct, "ORD-1", 400_00, "2026-10-01", "2026-10-31")["id"]
            events = _story(acct, inv)
            if order == "reversed":
                events.reverse()
            elif order == "shuffled":
                random.Random(7).shuffle(events)
            for evt in events:  # all at once: the applier takes them in batches
                reply = sp.post(api.http, evt, NEW)
                assert reply.status_code == 200, reply.text
            outcomes = {e["type"]: sp.settled(api.http, e["id"])["outcome"] for e in events}
            assert outcomes["customer.subscription.trial_will_end"] == "unhandled"
            ends.append(_state(api, acct, p.services.ledger.head_position()))
        assert ends[0] == ends[1] == ends[2]
        balance, payments = ends[0]
        # 300 paid (20 + 10 refunded), 80 charged back and won back, 50 debit returned.
        assert balance["paid"] == gbp(300_00 - 30_00 + 80_00)
        assert balance["refunded"] == gbp(30_00)
        assert payments == [
            (50_00, "returned"),
            (80_00, "succeeded"),
            (300_00, "failed"),
            (300_00, "succeeded"),
        ]
        kept = api.ok(api.get("/v1/stripe/events", outcome="unhandled"))
        assert len(kept["events"]) == 3
        nothing_deferred = api.ok(api.get("/v1/stripe/events", outcome="deferred"))
        assert nothing_deferred["events"] == []


def test_a_payment_no_account_could_be_found_for_is_placed_by_a_person(stripe_settings):
    with pipeline(stripe_settings) as p:
        api = p.api
        acct = api.open_account("Walk-in Ltd")["id"]
        inv = api.raise_invoice(acct, "W-1", 40_00, "2026-11-01", "2026-11-30")["id"]
        pi = sp.payment_intent(40_00, "succeeded", {"invoice_id": inv})
        pi["customer"] = "cus_walkin"
        evt = sp.event("payment_intent.succeeded", pi)
        head = p.services.ledger.head_position()
        assert sp.delivered(api.http, evt, NEW)["outcome"] == "unmatched"
        assert p.services.ledger.head_position() == head  # kept, not recorded on a guess

        path = f"/v1/stripe/events/{evt['id']}/assignment"
        placed = api.ok(api.post(path, {"account_id": acct}))
        assert placed["outcome"] == "applied"
        invoice = api.ok(api.get(f"/v1/invoices/{inv}", min_position=max(placed["positions"])))
        assert invoice["outstanding"]["amount"] == 0  # recorded and allocated as named
        listed = api.ok(api.get("/v1/stripe/events", outcome="applied"))["events"]
        assert any("assigned by alice" in (e["detail"] or "") for e in listed)
        again = api.post(path, {"account_id": acct})
        assert again.status_code == 409, again.text

        # The customer is remembered: its next payment finds the account alone.
        later = sp.payment_intent(5_00, "succeeded", {})
        later["customer"] = "cus_walkin"
        done = sp.delivered(api.http, sp.event("payment_intent.succeeded", later), NEW)
        assert done["outcome"] == "applied"


def test_what_was_recorded_while_no_applier_ran_is_applied_when_one_starts(stripe_settings):
    """Stripe is answered even while nothing applies (a restart, a deploy): the events
    wait in the inbox, a refund before its payment among them, and are applied in the
    order they arrived once an applier runs; one more applier only stands by. An event
    that breaks its handler is kept as ``error`` and holds nothing back."""
    with pipeline(stripe_settings, workers=False) as p:
        api = p.api
        acct = api.open_account("Restarted Ltd")["id"]
        inv = api.raise_invoice(acct, "RS-1", 90_00, "2026-10-01", "2026-10-31")["id"]
        pi = sp.payment_intent(90_00, "succeeded", {"account_id": acct, "invoice_id": inv})
        refund = sp.event("charge.refunded", sp.charge(pi, [("re_rs" + acct[:6], 15_00)]))
        paid = sp.event("payment_intent.succeeded", pi)
        # Signed and well formed, but no currency: it breaks its handler, and only itself.
        odd = sp.payment_intent(5_00, "succeeded", {"account_id": acct})
        broken = sp.event(
            "payment_intent.succeeded", {k: v for k, v in odd.items() if k != "currency"}
        )
        for evt in (broken, refund, paid, paid):
            assert sp.post(api.http, evt, NEW).status_code == 200
        waiting = api.ok(api.get("/v1/stripe/events", outcome="received"))["events"]
        assert [e["event_id"] for e in waiting] == [broken["id"], refund["id"], paid["id"]]
        missing = api.get("/v1/stripe/events/evt_never_sent")
        assert missing.status_code == 404, missing.text
        assert missing.json()["type"] == "/v1/problems/unknown-stripe-event"

        with running_workers(stripe_settings), running_workers(stripe_settings, relay=False):
            assert sp.settled(api.http, paid["id"])["outcome"] == "applied"
            done = sp.settled(api.http, refund["id"])
            assert (done["outcome"], done["detail"]) == ("applied", "refunds applied")
            invoice = api.ok(api.get(f"/v1/invoices/{inv}", min_position=max(done["positions"])))
            assert invoice["outstanding"] == gbp(15_00)  # paid, then 15.00 refunded
            failed = sp.settled(api.http, broken["id"])
            assert (failed["outcome"], failed["detail"]) == ("error", "KeyError: 'currency'")
            assert _stored(p) == 3


def test_the_webhook_writer_ends_with_the_api_once_it_has_recorded_what_it_answered(
    stripe_settings,
):
    """Deliveries share one writer thread per API process; closing the API's services
    ends it (a test run or a reloaded worker leaves no writer behind, idle forever)."""
    before = set(threading.enumerate())
    with pipeline(stripe_settings, workers=False) as p:
        acct = p.api.open_account("Closing Ltd")["id"]
        intent = sp.payment_intent(10_00, "succeeded", {"account_id": acct})
        answered = sp.post(p.api.http, sp.event("payment_intent.succeeded", intent), NEW)
        assert answered.json()["outcome"] == "received"
        assert _stored(p) == 1  # recorded before it was answered
        writers = [
            t for t in threading.enumerate() if t not in before and t.name == "stripe-intake"
        ]
        assert len(writers) == 1 and writers[0].is_alive()
    writers[0].join(timeout=10)
    assert not writers[0].is_alive()
