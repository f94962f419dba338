"""One day of each of our users (the job descriptions in shared/seeds), end to end over
HTTP through the relay, Kafka and the projection. Each step is a responsibility from the
seed; the checks are what that user would look at next."""

from __future__ import annotations

import datetime as dt

from runtime import scheduler
from tests.pipeline import pipeline
from tests.support import gbp


def history(api, account_id: str, position: int) -> list[str]:
    events = api.ok(api.get(f"/v1/accounts/{account_id}/events", min_position=position))
    return [e["type"] for e in events["events"]]


def test_the_meeting_room_payment_coordinator(settings):
    """Reconcile a failed card payment, notify the client, arrange a BACS transfer,
    allocate it and mark the invoice paid."""
    with pipeline(settings) as p:
        api = p.api
        client = api.open_account("Lumen Events Ltd")
        booking = api.raise_invoice(client["id"], "MR-2044", 480_00, "2026-03-02", "2026-03-02")
        api.ok(api.post(f"/v1/invoices/{booking['id']}/sends", {"channel": "email"}))
        card = api.record_payment(
            client["id"], 480_00, method="card", status="failed", failure_code="card_declined"
        )
        assert card["status"] == "failed"
        api.ok(
            api.post(
                f"/v1/accounts/{client['id']}/contacts",
                {"channel": "email", "outcome": "told of failed card; BACS agreed"},
            )
        )
        bacs = api.record_payment(
            client["id"], 480_00, method="bacs", status="pending", reference="MR-2044"
        )
        api.ok(api.post(f"/v1/payments/{bacs['id']}/outcome", {"status": "succeeded"}))
        paid = api.allocate(bacs["id"], {"strategy": "oldest_first"})
        invoice = api.ok(api.get(f"/v1/invoices/{booking['id']}", min_position=paid["position"]))
        assert (invoice["status"], invoice["outstanding"]) == ("paid", gbp(0))
        assert "arledger.invoice.settled" in history(api, client["id"], paid["position"])


def test_the_overseas_property_payments_executive(settings):
    """Collect the second instalment to completion: a plan, notices for payment, receipts,
    a default notice when an instalment is missed."""
    with pipeline(settings) as p:
        api = p.api
        buyer = api.open_account("J. & M. Porter (Villa 12)")
        stage = api.raise_invoice(buyer["id"], "V12-S2", 9_000_00, "2026-01-05", "2026-01-31")
        plan = api.ok(
            api.post(
                f"/v1/accounts/{buyer['id']}/payment-plans",
                {
                    "invoice_ids": [stage["id"]],
                    "starts_on": "2026-02-01",
                    "instalments": [
                        {"due_on": "2026-03-01", "amount": gbp(4_500_00)},
                        {"due_on": "2026-04-01", "amount": gbp(4_500_00)},
                    ],
                },
            )
        )
        first = api.record_payment(buyer["id"], 4_500_00, received_on="2026-02-27")
        api.ok(api.post(f"/v1/payments/{first['id']}/receipts", {"channel": "email"}))
        api.allocate(first["id"], {"strategy": "oldest_first"})
        p.wait_until_projected()
        scheduler.run_once(
            p.services.ledger, p.services.pool, p.settings.topic, dt.date(2026, 4, 10)
        )
        assert api.ok(api.get(f"/v1/payment-plans/{plan['id']}"))["status"] == "broken"
        notice = {"channel": "post", "invoice_ids": [stage["id"]]}
        for stage_name in ("reminder", "final_demand", "default_notice"):
            sent = api.ok(
                api.post(
                    f"/v1/accounts/{buyer['id']}/notices",
                    {**notice, "stage": stage_name, "notice_on": "2026-04-12"},
                )
            )
            assert sent["invoices"][0]["chased"] == gbp(4_500_00)
        kinds = history(api, buyer["id"], sent["position"])
        assert kinds.count("arledger.account.notice_issued") == 3
        assert "arledger.payment_plan.instalment_missed" in kinds


def test_the_collections_specialist(settings):
    """Work an overdue account: call, promise to pay, the promise broken, a reminder; a
    dispute reconciled; the account escalated."""
    with pipeline(settings) as p:
        api = p.api
        debtor = api.open_account("Quayside Studios")
        inv = api.raise_invoice(debtor["id"], "Q-9", 750_00, "2026-02-01", "2026-03-03")
        api.ok(
            api.post(
                f"/v1/accounts/{debtor['id']}/contacts",
                {"channel": "call", "outcome": "promised £750 by Friday", "contact_name": "Sam"},
            )
        )
        promise = api.ok(
            api.post(
                f"/v1/accounts/{debtor['id']}/promises",
                {"amount": gbp(750_00), "made_on": "2026-03-09", "promised_on": "2026-03-13"},
            )
        )
        p.wait_until_projected()
        scheduler.run_once(
            p.services.ledger, p.services.pool, p.settings.topic, dt.date(2026, 3, 16)
        )
        assert api.ok(api.get(f"/v1/promises/{promise['id']}"))["status"] == "broken"
        dispute = api.ok(
            api.post(
                f"/v1/invoices/{inv['id']}/disputes",
                {"amount": gbp(50_00), "reason": "one hour not used"},
            )
        )
        reminder = api.ok(
            api.post(
                f"/v1/accounts/{debtor['id']}/notices",
                {
                    "stage": "reminder",
                    "channel": "email",
                    "all_eligible": True,
                    "notice_on": "2026-03-16",
                },
            )
        )
        assert reminder["invoices"][0]["chased"] == gbp(700_00)  # the disputed £50 is not
        api.ok(
            api.post(
                f"/v1/invoices/{inv['id']}/disputes/{dispute['id']}/resolve",
                {"outcome": "rejected", "reason": "hour was booked", "resolved_on": "2026-03-18"},
            )
        )
        escalated = api.ok(
            api.post(
                f"/v1/accounts/{debtor['id']}/escalations",
                {"manager": "Priya", "reason": "broken promise"},
            )
        )
        balance = api.ok(
            api.get(f"/v1/accounts/{debtor['id']}/balance", min_position=escalated["position"])
        )
        assert balance["outstanding"] == gbp(750_00)


def test_the_payment_operations_representative(settings):
    """Post the day's cash, reconcile a dispute, recommend suspension for a routine late
    payer, terminate and refund the deposit."""
    with pipeline(settings) as p:
        api = p.api
        client = api.open_account("Inmar Retail Client 7")
        deposit = api.record_payment(client["id"], 1_000_00, method="ach", purpose="deposit")
        inv = api.raise_invoice(client["id"], "R-1", 400_00, "2026-01-01", "2026-01-31")
        cheque = api.record_payment(client["id"], 300_00, method="cheque")
        api.allocate(cheque["id"], {"strategy": "oldest_first"})
        upheld = api.ok(
            api.post(
                f"/v1/invoices/{inv['id']}/disputes",
                {"amount": gbp(100_00), "reason": "short delivery"},
            )
        )
        api.ok(
            api.post(
                f"/v1/invoices/{inv['id']}/disputes/{upheld['id']}/resolve",
                {
                    "outcome": "upheld",
                    "reason": "confirmed by service team",
                    "resolved_on": "2026-02-10",
                },
            )
        )
        for action in ("recommend_suspension", "suspend", "terminate"):
            api.ok(
                api.post(
                    f"/v1/accounts/{client['id']}/standing",
                    {"action": action, "reason": "routinely late"},
                )
            )
        refund = api.ok(
            api.post(
                f"/v1/payments/{deposit['id']}/refunds",
                {
                    "amount": gbp(1_000_00),
                    "reason": "deposit refund on termination",
                    "refunded_on": "2026-03-01",
                },
            )
        )
        balance = api.ok(
            api.get(f"/v1/accounts/{client['id']}/balance", min_position=refund["position"])
        )
        assert {
            k: balance[k]["amount"]
            for k in ("invoiced", "credited", "allocated", "outstanding", "deposits_held")
        } == {
            "invoiced": 400_00,
            "credited": 100_00,
            "allocated": 300_00,
            "outstanding": 0,
            "deposits_held": 0,
        }


def test_the_key_account_credit_controller(settings):
    """A high-value overdue account: card payment taken, direct debit set up, doubtful debt
    raised, part written off within authority, the rest referred to enforcement; another
    account goes into administration and dunning stops."""
    with pipeline(settings) as p:
        api = p.api
        venue = api.open_account("Grand Hall Licensee")
        fee = api.raise_invoice(venue["id"], "PPL-77", 2_400_00, "2026-01-01", "2026-01-31")
        card = api.record_payment(venue["id"], 1_000_00, method="card")
        api.allocate(card["id"], {"strategy": "oldest_first"})
        api.ok(
            api.post(
                f"/v1/accounts/{venue['id']}/payment-methods",
                {"method": "direct_debit", "reference": "DDI-5521"},
            )
        )
        api.ok(
            api.post(
                f"/v1/accounts/{venue['id']}/doubtful-debt",
                {"amount": gbp(1_400_00), "reason": "venue trading poorly"},
            )
        )
        written = api.ok(
            api.post(
                f"/v1/invoices/{fee['id']}/write-offs",
                {"amount": gbp(200_00), "reason": "disputed late fee"},
            )
        )
        assert written["status"] == "applied"  # within the coordinator's £250
        referral = api.ok(
            api.post(
                f"/v1/accounts/{venue['id']}/referrals",
                {
                    "kind": "enforcement",
                    "agency": "Enforcement team",
                    "collection_value": gbp(1_200_00),
                    "reason": "no response to default notice",
                },
            )
        )
        assert referral["referred_to"] == "Enforcement team"

        other = api.open_account("Old Mill Pub")
        api.raise_invoice(other["id"], "PPL-78", 300_00, "2026-01-01", "2026-01-31")
        api.ok(
            api.post(
                f"/v1/accounts/{other['id']}/insolvency-cases",
                {"kind": "administration", "reference": "CR-1"},
            )
        )
        stopped = api.post(
            f"/v1/accounts/{other['id']}/notices",
            {
                "stage": "reminder",
                "channel": "post",
                "all_eligible": True,
                "notice_on": "2026-03-01",
            },
        )
        assert stopped.json()["type"] == "/v1/problems/dunning-stopped"
        balance = api.ok(
            api.get(f"/v1/accounts/{venue['id']}/balance", min_position=referral["position"])
        )
        assert (balance["written_off"], balance["outstanding"]) == (gbp(200_00), gbp(1_200_00))
