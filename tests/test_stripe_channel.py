"""The card channel against localstripe, a stateful Stripe API server: payment links
paid end to end, and card payments taken over the phone."""

from __future__ import annotations

import time
from datetime import date
from uuid import UUID

from tests import stripe_payloads as sp
from tests.pipeline import pipeline
from tests.stripe_servers import SECRET, confirmed_intent, saved_card, stripe_client
from tests.support import gbp


def _wait_for(check, timeout=15):
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)
    return found


def test_a_payment_link_is_paid_end_to_end(stripe_settings, checkout, localstripe_url):
    with pipeline(stripe_settings) as p, stripe_client(localstripe_url) as stripe:
        api = p.api
        registered = stripe.post(
            "/_config/webhooks/arledger",
            data={"url": f"{p.url}/v1/webhooks/stripe", "secret": SECRET},
        )
        assert registered.status_code == 200
        acct = api.open_account("Linked Lounge Ltd")["id"]
        inv = api.raise_invoice(acct, "LL-1", 250_00, "2026-10-01", "2026-10-31")["id"]
        path = f"/v1/invoices/{inv}/payment-links"

        first = api.ok(api.post(path, {}))
        assert first["amount"] == gbp(250_00) and first["url"].startswith("https://")
        assert first["customer_id"].startswith("cus_") and first["replaces"] is None
        resent = api.ok(api.post(path, {}))
        assert resent["replaces"] == first["link_id"]
        assert resent["customer_id"] == first["customer_id"]  # one customer per account
        assert checkout.sessions[first["link_id"]]["status"] == "expired"
        session = checkout.sessions[resent["link_id"]]
        assert session["metadata"] == {"invoice_id": inv, "account_id": acct}

        # The client pays on Stripe's page: Checkout confirms a PaymentIntent carrying
        # the session's metadata, then Stripe sends checkout.session.completed; the
        # PaymentIntent's own webhook comes from localstripe too.
        card = saved_card(stripe, resent["customer_id"], "4242424242424242")
        pi = confirmed_intent(
            stripe, resent["customer_id"], card, 250_00, invoice_id=inv, account_id=acct
        )
        assert pi["status"] == "succeeded", pi
        session.update(payment_intent=pi["id"], payment_status="paid", status="complete")
        done = sp.delivered(api.http, sp.event("checkout.session.completed", session), SECRET)
        assert done["outcome"] == "applied", done

        invoice = api.ok(api.get(f"/v1/invoices/{inv}", min_position=max(done["positions"])))
        assert (invoice["status"], invoice["outstanding"]) == ("paid", gbp(0))
        delivered = _wait_for(
            lambda: [
                e
                for e in api.ok(api.get("/v1/stripe/events"))["events"]
                if e["type"] == "payment_intent.succeeded"
            ]
        )
        assert delivered[0]["payment_intent"] == pi["id"]
        payments = api.ok(
            api.get("/v1/payments", account_id=acct, min_position=p.services.ledger.head_position())
        )
        assert [(x["amount"], x["status"], x["reference"]) for x in payments["payments"]] == [
            (gbp(250_00), "succeeded", pi["id"])
        ]  # the webhook and the session's completion are one payment
        trail = api.ok(
            api.get(
                f"/v1/accounts/{acct}/audit-trail",
                type="arledger.invoice.payment_link_issued",
                min_position=p.services.ledger.head_position(),
            )
        )
        assert [e["data"]["link_id"] for e in trail["entries"]] == [
            first["link_id"],
            resent["link_id"],
        ]

        settled = api.post(path, {})
        assert settled.status_code == 409
        assert settled.json()["type"] == "/v1/problems/stripe-refused"


def test_a_card_payment_taken_over_the_phone_records_the_attempt_and_its_outcome(
    stripe_settings, localstripe_url
):
    with pipeline(stripe_settings) as p, stripe_client(localstripe_url) as stripe:
        api = p.api
        acct = api.open_account("Phone Order Ltd")["id"]
        inv = api.raise_invoice(acct, "PO-1", 90_00, "2026-10-01", "2026-10-31")["id"]
        link = api.ok(api.post(f"/v1/invoices/{inv}/payment-links", {}))  # makes the customer
        good = saved_card(stripe, link["customer_id"], "4242424242424242")
        declined = saved_card(stripe, link["customer_id"], "4000000000000341")
        path = f"/v1/accounts/{acct}/card-payments"

        refused = api.ok(
            api.post(path, {"amount": gbp(90_00), "payment_method": declined, "invoice_id": inv})
        )
        # The reply speaks the ledger's status; Stripe's is beside it.
        assert (refused["status"], refused["stripe_status"], refused["outcome"]) == (
            "failed",
            "requires_payment_method",
            "applied",
        )
        assert refused["decline"]["code"] == "card_declined"
        declined_payment = api.ok(api.get(f"/v1/payments/{refused['payment_id']}"))
        assert (declined_payment["status"], declined_payment["failure_code"]) == (
            "failed",
            "card_declined",
        )
        paid = api.ok(
            api.post(
                path,
                {"amount": gbp(90_00), "payment_method": good, "invoice_id": inv},
                key="phone-1",
            )
        )
        assert (paid["status"], paid["stripe_status"], paid["outcome"]) == (
            "succeeded",
            "succeeded",
            "applied",
        )
        again = api.post(
            path, {"amount": gbp(90_00), "payment_method": good, "invoice_id": inv}, key="phone-1"
        )
        assert again.json() == paid  # a retried request charges nobody twice

        head = max(paid["positions"])
        invoice = api.ok(api.get(f"/v1/invoices/{inv}", min_position=head))
        assert invoice["status"] == "paid"
        feed = api.ok(api.get("/v1/payments", account_id=acct, min_position=head))["payments"]
        assert sorted((x["status"], x["failure_code"]) for x in feed) == [
            ("failed", "card_declined"),
            ("succeeded", None),
        ]
        attempts = [
            e
            for e in api.ok(api.get(f"/v1/accounts/{acct}/audit-trail", min_position=head))[
                "entries"
            ]
            if e["type"] == "arledger.payment.recorded"
        ]
        assert {e["actor"] for e in attempts} == {"alice"}  # the coordinator, not "stripe"


def _plant_differences(api, stripe):
    """One Stripe payment of each kind a reconciliation must find, on a new account."""
    acct = api.open_account("Reconciled Rooms Ltd")["id"]
    inv = api.raise_invoice(acct, "RR-1", 500_00, "2026-10-01", "2026-10-31")["id"]
    customer = api.ok(api.post(f"/v1/invoices/{inv}/payment-links", {}))["customer_id"]
    card = saved_card(stripe, customer, "4242424242424242")
    declined = saved_card(stripe, customer, "4000000000000341")

    def intent(amount, pm=card, **meta):
        return confirmed_intent(stripe, customer, pm, amount, account_id=acct, **meta)

    def webhook(kind, pi):
        assert sp.delivered(api.http, sp.event(kind, pi), SECRET)["outcome"] == "applied"

    matched = intent(100_00, invoice_id=inv)
    webhook("payment_intent.succeeded", matched)
    unknown_to_ledger = intent(120_00, invoice_id=inv)  # its webhook never came
    wrong_amount = intent(70_00)
    webhook("payment_intent.succeeded", dict(wrong_amount, amount=75_00, amount_received=75_00))
    failed_in_ledger = intent(30_00)
    failure = {"status": "requires_payment_method", "last_payment_error": sp.decline("ch_x")}
    webhook("payment_intent.payment_failed", dict(failed_in_ledger, **failure))
    declined_pi = intent(40_00, pm=declined)
    assert declined_pi["status"] == "requires_payment_method"
    refund = stripe.post("/v1/refunds", data={"payment_intent": matched["id"], "amount": "2500"})
    assert refund.status_code == 200, refund.text
    api.record_payment(
        acct, 60_00, method="card", received_on=str(date.today()), reference="pi_never_in_stripe"
    )
    planted = (matched, unknown_to_ledger, wrong_amount, failed_in_ledger, declined_pi, refund)
    return acct, inv, planted


def test_a_reconciliation_finds_each_kind_of_difference_and_records_the_run(
    stripe_settings, localstripe_url
):
    with pipeline(stripe_settings) as p, stripe_client(localstripe_url) as stripe:
        api = p.api
        acct, inv, planted = _plant_differences(api, stripe)
        matched, unknown_to_ledger, wrong_amount, failed_in_ledger, declined_pi, refund = planted
        today = str(date.today())
        run = api.ok(api.post("/v1/reconciliations/stripe", {"from": today, "to": today}))
        mine = {
            matched["id"],
            unknown_to_ledger["id"],
            wrong_amount["id"],
            failed_in_ledger["id"],
            declined_pi["id"],
            "pi_never_in_stripe",
            refund.json()["id"],
        }
        kinds = {f["reference"]: f["kind"] for f in run["findings"] if f["reference"] in mine}
        assert kinds == {
            matched["id"]: "matched",
            unknown_to_ledger["id"]: "missing-in-ledger",
            wrong_amount["id"]: "amount-mismatch",
            failed_in_ledger["id"]: "status-mismatch",
            declined_pi["id"]: "declined-recorded-in-ledger",
            "pi_never_in_stripe": "missing-in-stripe",
            refund.json()["id"]: "refund-missing-in-ledger",
        }
        assert all(f["action"] for f in run["findings"])

        # What was missing is in the ledger now: the 120.00 allocated by its metadata,
        # the refund applied, the declined attempt recorded.
        head = run["position"]
        invoice = api.ok(api.get(f"/v1/invoices/{inv}", min_position=head))
        assert invoice["outstanding"] == gbp(500_00 - 100_00 - 120_00 + 25_00)
        feed = api.ok(api.get("/v1/payments", account_id=acct, min_position=head))["payments"]
        assert ("failed", 40_00) in [(x["status"], x["amount"]["amount"]) for x in feed]
        recorded = p.services.ledger.repository.get(UUID(run["run_id"]))
        assert len(recorded.findings) == len([f for f in run["findings"] if f["kind"] != "matched"])
        assert recorded.counts["missing-in-ledger"] == run["counts"]["missing-in-ledger"]
        again = api.ok(api.post("/v1/reconciliations/stripe", {"from": today, "to": today}))
        again_kinds = {
            f["reference"]: f["kind"] for f in again["findings"] if f["reference"] in mine
        }
        assert again_kinds[unknown_to_ledger["id"]] == "matched"  # a second run finds it done
        # A declined attempt is its own kind of row, on the first run and on a rerun, with
        # what the ledger has of it and an action that fits.
        declined = next(f for f in again["findings"] if f["reference"] == declined_pi["id"])
        assert (declined["kind"], declined["ledger_status"]) == ("declined", "failed")
        assert declined["ledger_amount"] == gbp(40_00)
        assert "follow the client up" in declined["action"]
        first = next(f for f in run["findings"] if f["reference"] == declined_pi["id"])
        assert "allocation" not in first["action"]
        assert refund.json()["id"] not in again_kinds
