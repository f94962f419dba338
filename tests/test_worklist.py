"""The collections specialist's queue, the coordinator's payments feed and the payment
behaviour flag, each against a small book worked out by hand."""

from __future__ import annotations

from tests.pipeline import pipeline
from tests.support import gbp

AS_OF = "2026-06-30"


def test_worklist_ranks_what_to_chase_says_why_and_leaves_out_what_is_not_chased(settings):
    with pipeline(settings) as p:
        api = p.api
        old = api.open_account("Old Debt Ltd")["id"]
        api.raise_invoice(old, "O1", 600_00, "2026-03-01", "2026-03-31")  # 91 days
        api.raise_invoice(old, "O2", 500_00, "2026-05-01", "2026-05-31")  # 30 days
        mid = api.open_account("Middling Ltd")["id"]
        m1 = api.raise_invoice(mid, "M1", 600_00, "2026-04-01", "2026-05-01")["id"]  # 60 days
        api.raise_invoice(mid, "M2", 250_00, "2026-03-15", "2026-04-14")  # 77 days
        api.ok(api.post(f"/v1/invoices/{m1}/disputes", {"amount": gbp(600_00), "reason": "x"}))
        failed = api.open_account("Failed Card Ltd")["id"]
        api.raise_invoice(failed, "F1", 90_00, "2026-06-20", "2026-07-20")  # not yet due
        api.record_payment(failed, 90_00, method="card", received_on="2026-06-21", status="failed")

        held = api.open_account("On Hold Ltd")["id"]
        api.raise_invoice(held, "H1", 100_00, "2026-03-01", "2026-03-31")
        api.ok(
            api.post(f"/v1/accounts/{held}/standing", {"action": "hold", "reason": "query open"})
        )
        disputed = api.open_account("Dispute Only Ltd")["id"]
        d1 = api.raise_invoice(disputed, "D1", 100_00, "2026-03-01", "2026-03-31")["id"]
        api.ok(api.post(f"/v1/invoices/{d1}/disputes", {"amount": gbp(100_00), "reason": "y"}))
        insolvent = api.open_account("Insolvent Ltd")["id"]
        api.raise_invoice(insolvent, "I1", 100_00, "2026-03-01", "2026-03-31")
        api.ok(api.post(f"/v1/accounts/{insolvent}/insolvency-cases", {"kind": "administration"}))
        head = p.services.ledger.head_position()

        rows = api.ok(api.get("/v1/worklist", as_of=AS_OF, min_position=head))["rows"]
        # 91+ days (4,000) and no contact (200); 61-90 (3,000) and no contact; a failed
        # payment (300) and no contact. Middling's disputed M1 is not chased: only M2.
        assert [(r["name"], r["priority"]) for r in rows] == [
            ("Old Debt Ltd", 4_200),
            ("Middling Ltd", 3_200),
            ("Failed Card Ltd", 500),
        ]
        old_row, mid_row, failed_row = rows
        assert old_row["overdue"] == gbp(1_100_00) and old_row["days_overdue"] == 91
        assert mid_row["overdue"] == gbp(250_00) and mid_row["days_overdue"] == 77
        assert mid_row["disputed"] == gbp(600_00)
        assert [r["code"] for r in mid_row["reasons"]] == [
            "overdue",
            "no-recent-contact",
            "dispute-open",
        ]
        assert failed_row["failed_payments_not_retried"] == 1
        assert [r["code"] for r in failed_row["reasons"]] == ["failed-payment", "no-recent-contact"]

        # The feed: the failed card payment wants a retry until one is made.
        feed = api.ok(api.get("/v1/payments", needs_action="true"))["payments"]
        assert [(f["account_name"], f["action"]) for f in feed] == [("Failed Card Ltd", "retry")]
        retry = api.record_payment(failed, 90_00, method="card", received_on="2026-06-28")
        feed = api.ok(api.get("/v1/payments", needs_action="true", min_position=retry["position"]))[
            "payments"
        ]
        assert [(f["account_name"], f["action"], f["status"]) for f in feed] == [
            ("Failed Card Ltd", "allocate", "succeeded")
        ]
        assert feed[0]["unallocated"] == gbp(90_00)
        everything = api.ok(api.get("/v1/payments", account_id=failed, limit=1))
        assert [f["status"] for f in everything["payments"]] == ["succeeded"]
        older = api.ok(api.get("/v1/payments", account_id=failed, before=everything["next_before"]))
        assert [(f["status"], f["action"]) for f in older["payments"]] == [("failed", None)]
        rows = api.ok(api.get("/v1/worklist", as_of=AS_OF))["rows"]
        assert "Failed Card Ltd" not in [r["name"] for r in rows]


def _settle(api, account, number, issued_on, due_on, paid_on):
    invoice = api.raise_invoice(account, number, 100_00, issued_on, due_on, currency="EUR")
    pay = api.record_payment(account, 100_00, received_on=paid_on, currency="EUR")["id"]
    amount = {"amount": 100_00, "currency": "EUR"}
    return api.allocate(pay, {"allocations": [{"invoice_id": invoice["id"], "amount": amount}]})


def test_routinely_late_payers_are_flagged_with_their_trend(settings):
    with pipeline(settings) as p:
        api = p.api
        late = api.open_account("Late Payer GmbH", currency="EUR")["id"]
        # Paid 10, 12, 0 and 15 days late: 3 of 4 late, average 37 / 4 = 9.25 -> 9.3.
        _settle(api, late, "L1", "2026-01-01", "2026-01-31", "2026-02-10")
        _settle(api, late, "L2", "2026-02-01", "2026-03-03", "2026-03-15")
        _settle(api, late, "L3", "2026-03-01", "2026-03-31", "2026-03-30")
        _settle(api, late, "L4", "2026-04-01", "2026-05-01", "2026-05-16")
        prompt = api.open_account("Prompt Payer GmbH", currency="EUR")["id"]
        _settle(api, prompt, "P1", "2026-01-01", "2026-01-31", "2026-01-20")
        done = _settle(api, prompt, "P2", "2026-02-01", "2026-03-03", "2026-03-05")

        report = api.ok(
            api.get("/v1/reports/payment-behaviour", currency="EUR", min_position=done["position"])
        )
        rows = {r["name"]: r for r in report["accounts"]}
        assert rows["Late Payer GmbH"]["average_days_late"] == 9.3
        assert rows["Late Payer GmbH"]["late_invoices"] == 3
        assert rows["Late Payer GmbH"]["routinely_late"] is True
        assert rows["Prompt Payer GmbH"]["average_days_late"] == 1.0  # (0 + 2) / 2
        assert rows["Prompt Payer GmbH"]["routinely_late"] is False
        flagged = api.ok(
            api.get("/v1/reports/payment-behaviour", currency="EUR", routinely_late="true")
        )
        assert [r["name"] for r in flagged["accounts"]] == ["Late Payer GmbH"]


def test_the_payments_feed_shows_cash_only_where_cash_arrived(settings):
    """A pending payment whose outcome is failed held no cash: the feed shows nothing
    unallocated for it, as its own reply did (issue 15, item 10); a failed or pending one
    never does, and the feed filters by method and by the day it was received."""
    with pipeline(settings) as p:
        api = p.api
        acct = api.open_account("Pennant Catering Ltd")["id"]
        api.raise_invoice(acct, "PC-1", 600_00, "2026-01-01", "2026-01-31")
        pending = api.record_payment(acct, 600_00, method="card", status="pending")
        failed = api.ok(
            api.post(
                f"/v1/payments/{pending['id']}/outcome",
                {"status": "failed", "failure_code": "card_declined"},
            )
        )
        assert failed["unallocated"] == gbp(0)
        api.record_payment(acct, 250_00, method="bacs", received_on="2026-03-02")
        waiting = api.record_payment(acct, 90_00, method="card", status="pending")
        feed = api.ok(api.get("/v1/payments", account_id=acct, min_position=waiting["position"]))[
            "payments"
        ]
        shown = {(x["method"], x["status"]): x["unallocated"] for x in feed}
        assert shown == {
            ("card", "failed"): gbp(0),
            ("bacs", "succeeded"): gbp(250_00),
            ("card", "pending"): gbp(0),
        }
        bacs = api.ok(api.get("/v1/payments", method="bacs", received_from="2026-03-01",
                              received_to="2026-03-31"))["payments"]  # fmt: skip
        assert [x["amount"] for x in bacs] == [gbp(250_00)]
