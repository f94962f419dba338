"""A refund that arrives before its payment waits as ``deferred``; when the payment's own
webhook never comes, the reconciliation that finds the payment missing records it, and
the refund that waited for it is applied then, as the applier would have applied it."""

from __future__ import annotations

from datetime import date

from tests import stripe_payloads as sp
from tests.pipeline import pipeline
from tests.stripe_servers import SECRET, confirmed_intent, saved_card, stripe_client
from tests.support import gbp


def test_a_reconciliation_that_records_a_payment_releases_the_events_that_waited_for_it(
    stripe_settings, localstripe_url
):
    with pipeline(stripe_settings) as p, stripe_client(localstripe_url) as stripe:
        api = p.api
        acct = api.open_account("Late Webhook Ltd")["id"]
        inv = api.raise_invoice(acct, "LW-1", 300_00, "2026-10-01", "2026-10-31")["id"]
        customer = api.ok(api.post(f"/v1/invoices/{inv}/payment-links", {}))["customer_id"]
        card = saved_card(stripe, customer, "4242424242424242")
        pi = confirmed_intent(stripe, customer, card, 200_00, account_id=acct, invoice_id=inv)
        assert pi["status"] == "succeeded"
        # Its success is never delivered; a partial refund of it is, and waits for it.
        charge = sp.charge(
            dict(pi, latest_charge="ch_lw" + acct[:8]), [("re_lw" + acct[:8], 50_00)]
        )
        refund = sp.event("charge.refunded", charge)
        assert sp.delivered(api.http, refund, SECRET)["outcome"] == "deferred"

        today = str(date.today())
        run = api.ok(api.post("/v1/reconciliations/stripe", {"from": today, "to": today}))
        found = next(f for f in run["findings"] if f["reference"] == pi["id"])
        assert found["kind"] == "missing-in-ledger"

        released = api.ok(api.get(f"/v1/stripe/events/{refund['id']}"))
        assert (released["outcome"], released["detail"]) == ("applied", "refunds applied")
        head = max(released["positions"])
        invoice = api.ok(api.get(f"/v1/invoices/{inv}", min_position=head))
        assert invoice["outstanding"] == gbp(300_00 - 200_00 + 50_00)  # paid, then refunded
