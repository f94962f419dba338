"""The coordinator's payments feed never shows a deposit's cash as unallocated: a deposit is
security held apart (the balance's ``deposits_held``), never cash on account waiting to
be applied, whether none, part or all of it has been applied."""

from __future__ import annotations

from tests.pipeline import pipeline
from tests.support import gbp


def test_the_payments_feed_never_shows_a_deposits_cash_as_unallocated(settings):
    with pipeline(settings) as p:
        api = p.api
        acct = api.open_account("Quayside Studios (tenant)")["id"]
        rent = api.raise_invoice(acct, "QS-1", 900_00, "2026-02-01", "2026-02-28")
        kept = api.record_payment(acct, 1_500_00, received_on="2026-01-20", purpose="deposit")
        part = api.record_payment(acct, 500_00, received_on="2026-01-21", purpose="deposit")
        rows = [{"invoice_id": rent["id"], "amount": gbp(200_00)}]
        api.allocate(part["id"], {"allocations": rows})  # £300 of it still held
        cash = api.record_payment(acct, 250_00, received_on="2026-02-10", reference="BACS-9")
        at = cash["position"]

        feed = api.ok(api.get("/v1/payments", account_id=acct, min_position=at))["payments"]
        shown = {x["payment_id"]: (x["purpose"], x["unallocated"], x["action"]) for x in feed}
        assert shown == {
            kept["id"]: ("deposit", gbp(0), None),
            part["id"]: ("deposit", gbp(0), None),
            cash["id"]: ("payment", gbp(250_00), "allocate"),
        }
        # The feed's unallocated cash is the balance's, and the deposits are held apart.
        balance = api.ok(api.get(f"/v1/accounts/{acct}/balance", min_position=at))
        assert (balance["unallocated"], balance["deposits_held"]) == (gbp(250_00), gbp(1_800_00))
        assert sum(x["unallocated"]["amount"] for x in feed) == balance["unallocated"]["amount"]

        waiting = api.ok(api.get("/v1/payments", account_id=acct, needs_action="true"))
        assert [x["payment_id"] for x in waiting["payments"]] == [cash["id"]]
