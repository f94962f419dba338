"""The collections specialist's week: a promise to pay by Friday is kept by two payments;
another is broken, and the scheduler says so once however often it runs, even after
being down for a week; a payment plan completes, another breaks on a missed instalment;
invoices become overdue once each, on the day after their due date."""

from __future__ import annotations

import datetime as dt

from consumers import scheduler
from tests.pipeline import pipeline
from tests.support import gbp


def run(p, today: str):
    p.wait_until_projected()
    return scheduler.run_once(
        p.services.ledger, p.services.pool, p.settings.topic, dt.date.fromisoformat(today)
    )


def test_promises_are_kept_or_broken_once_on_their_business_dates(settings):
    with pipeline(settings) as p:
        api = p.api
        kept_by = api.open_account("Harbour Meeting Rooms Ltd")
        broke = api.open_account("Blue Anchor Pub")
        for account in (kept_by, broke):
            api.raise_invoice(account["id"], "INV-1", 500_00, "2026-04-01", "2026-04-30")
        api.ok(
            api.post(
                f"/v1/accounts/{kept_by['id']}/contacts",
                {"channel": "call", "outcome": "promised to pay Friday"},
            )
        )

        def promise(account):
            return api.ok(
                api.post(
                    f"/v1/accounts/{account['id']}/promises",
                    {"amount": gbp(500_00), "made_on": "2026-05-04", "promised_on": "2026-05-08"},
                )
            )

        good, bad = promise(kept_by), promise(broke)
        past = api.post(
            f"/v1/accounts/{broke['id']}/promises",
            {"amount": gbp(1_00), "made_on": "2026-05-04", "promised_on": "2026-05-01"},
        )
        assert past.json()["type"] == "/v1/problems/bad-dates"

        api.record_payment(kept_by["id"], 200_00, received_on="2026-05-07")
        assert run(p, "2026-05-08") == {"overdue": 2}  # not enough paid yet; nothing broken
        api.record_payment(kept_by["id"], 300_00, received_on="2026-05-08")

        made = run(p, "2026-05-16")  # the scheduler was down all week
        assert made == {"promise_kept": 1, "promise_broken": 1}
        assert run(p, "2026-05-16") == {} and run(p, "2026-05-17") == {}

        assert api.ok(api.get(f"/v1/promises/{good['id']}"))["status"] == "kept"
        broken = api.ok(api.get(f"/v1/promises/{bad['id']}"))
        assert (broken["status"], broken["paid"]) == ("broken", gbp(0))
        at = p.services.ledger.head_position()
        events = api.ok(api.get(f"/v1/accounts/{broke['id']}/events", min_position=at))["events"]
        decided = [e for e in events if e["type"] == "arledger.promise.broken"]
        assert len(decided) == 1
        assert decided[0]["effectivetime"].startswith("2026-05-09")  # the day after Friday
        assert decided[0]["actor"] == "scheduler"
        overdue = [e for e in events if e["type"] == "arledger.invoice.became_overdue"]
        assert [e["effectivetime"][:10] for e in overdue] == ["2026-05-01"]
        kept_events = api.ok(api.get(f"/v1/accounts/{kept_by['id']}/events"))["events"]
        kept = next(e for e in kept_events if e["type"] == "arledger.promise.kept")
        assert kept["effectivetime"].startswith("2026-05-08")  # the day the total was reached


def test_a_plan_completes_and_another_breaks_on_a_missed_instalment(settings):
    with pipeline(settings) as p:
        api = p.api

        def plan_for(name):
            account = api.open_account(name)
            invoice = api.raise_invoice(account["id"], "PLOT-2", 900_00, "2026-01-01", "2026-01-31")
            plan = api.ok(
                api.post(
                    f"/v1/accounts/{account['id']}/payment-plans",
                    {
                        "invoice_ids": [invoice["id"]],
                        "starts_on": "2026-02-01",
                        "instalments": [
                            {"due_on": f"2026-0{m}-01", "amount": gbp(300_00)} for m in (3, 4, 5)
                        ],
                    },
                )
            )
            return account, plan

        good_account, good = plan_for("Costa Villas buyer A")
        bad_account, bad = plan_for("Costa Villas buyer B")
        too_much = api.post(
            f"/v1/accounts/{bad_account['id']}/payment-plans",
            {
                "invoice_ids": [bad["invoice_ids"][0]],
                "starts_on": "2026-02-01",
                "instalments": [{"due_on": "2026-03-01", "amount": gbp(901_00)}],
            },
        )
        assert too_much.json()["type"] == "/v1/problems/plan-exceeds-outstanding"

        for day in ("2026-02-27", "2026-03-30", "2026-04-29"):
            api.record_payment(good_account["id"], 300_00, received_on=day)
        api.record_payment(bad_account["id"], 300_00, received_on="2026-02-27")
        api.record_payment(bad_account["id"], 100_00, received_on="2026-04-01")

        run(p, "2026-06-01")
        completed = api.ok(api.get(f"/v1/payment-plans/{good['id']}"))
        assert completed["status"] == "completed"
        assert [i["outcome"] for i in completed["instalments"]] == ["kept"] * 3
        broken = api.ok(api.get(f"/v1/payment-plans/{bad['id']}"))
        assert broken["status"] == "broken"
        assert [i["outcome"] for i in broken["instalments"]] == ["kept", "missed", None]
        assert run(p, "2026-06-02") == {}
