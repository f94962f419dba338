"""The collections specialist's week: a promise to pay by Friday is kept by two payments;
another is broken, and the scheduler says so once however often it runs, even after
being down for a week; a payment plan completes, another breaks on a missed instalment;
invoices become overdue once each, on the day after their due date. A promise or an
instalment on invoices is kept only by cash applied to them, and one payment keeps one
arrangement, not three; the kept event names the cash that kept it."""

from __future__ import annotations

import datetime as dt
import uuid

from eventsourcing.persistence import StoredEvent
from jsonschema import Draft202012Validator, FormatChecker

from ledger.money import Money
from ledger.promise import Promise
from ledger.stamp import Stamp
from runtime import scheduler
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

        def pay(account, amount, day):  # applied to the plan's invoice: that keeps it
            cash = api.record_payment(account["id"], amount, received_on=day)
            api.allocate(cash["id"], {"strategy": "oldest_first"})

        for day in ("2026-02-27", "2026-03-30", "2026-04-29"):
            pay(good_account, 300_00, day)
        pay(bad_account, 300_00, "2026-02-27")
        pay(bad_account, 100_00, "2026-04-01")

        run(p, "2026-06-01")
        completed = api.ok(api.get(f"/v1/payment-plans/{good['id']}"))
        assert completed["status"] == "completed"
        assert [i["outcome"] for i in completed["instalments"]] == ["kept"] * 3
        broken = api.ok(api.get(f"/v1/payment-plans/{bad['id']}"))
        assert broken["status"] == "broken"
        assert [i["outcome"] for i in broken["instalments"]] == ["kept", "missed", None]
        assert run(p, "2026-06-02") == {}


def _events_of(api, account, kind):
    events = api.ok(api.get(f"/v1/accounts/{account}/events"))["events"]
    return [e for e in events if e["type"] == kind]


def test_a_promise_on_an_invoice_is_kept_only_by_cash_applied_to_it(settings):
    """CL-1 owes £12,000 under a plan, CL-2 £4,000 under a promise; £4,000 arrives and is
    allocated to CL-1. It keeps the plan's instalment, not the promise on CL-2."""
    with pipeline(settings) as p:
        api = p.api
        account = api.open_account("Clerkenwell Lofts Ltd")["id"]
        cl1 = api.raise_invoice(account, "CL-1", 12_000_00, "2026-01-01", "2026-01-31")
        cl2 = api.raise_invoice(account, "CL-2", 4_000_00, "2026-02-01", "2026-03-03")
        instalments = [{"due_on": f"2026-0{m}-01", "amount": gbp(4_000_00)} for m in (4, 5, 6)]
        body = {"invoice_ids": [cl1["id"]], "starts_on": "2026-03-01", "instalments": instalments}
        plan = api.ok(api.post(f"/v1/accounts/{account}/payment-plans", body))
        body = {
            "amount": gbp(4_000_00),
            "made_on": "2026-03-15",
            "promised_on": "2026-04-10",
            "invoice_ids": [cl2["id"]],
        }
        promise = api.ok(api.post(f"/v1/accounts/{account}/promises", body))
        cash = api.record_payment(account, 4_000_00, received_on="2026-03-29")
        api.allocate(
            cash["id"], {"allocations": [{"invoice_id": cl1["id"], "amount": gbp(4_000_00)}]}
        )

        # arledger scheduler --today 2026-04-02 --once
        assert run(p, "2026-04-02") == {"overdue": 2, "instalment_kept": 1}
        assert api.ok(api.get(f"/v1/promises/{promise['id']}"))["status"] == "open"
        outcomes = api.ok(api.get(f"/v1/payment-plans/{plan['id']}"))["instalments"]
        assert [i["outcome"] for i in outcomes] == ["kept", None, None]
        p.wait_until_projected()
        [kept] = _events_of(api, account, "arledger.payment_plan.instalment_kept")
        assert kept["schemaversion"] == 2
        assert kept["data"]["kept_by"] == [
            {"payment_id": cash["id"], "invoice_id": cl1["id"], "amount": gbp(4_000_00)}
        ]
        assert kept["effectivetime"].startswith("2026-03-29")

        assert run(p, "2026-04-11") == {"promise_broken": 1}  # CL-2 still owes £4,000
        broken = api.ok(api.get(f"/v1/promises/{promise['id']}"))
        assert (broken["status"], broken["paid"]) == ("broken", gbp(0))


def test_one_payment_keeps_one_arrangement_not_three(settings):
    """One €5,000 payment allocated to INST-2 keeps the promise on INST-2; it does not
    also keep the plan's instalment on INST-3, nor a promise on the whole account."""
    with pipeline(settings) as p:
        api = p.api
        account = api.open_account("Instituto Lisboa", currency="EUR")["id"]
        inst2, inst3 = (
            api.raise_invoice(account, f"INST-{n}", 5_000_00, "2026-04-01", "2026-04-30", "EUR")
            for n in (2, 3)
        )
        eur = {"amount": 5_000_00, "currency": "EUR"}
        window = {"made_on": "2026-05-01", "promised_on": "2026-05-20"}
        on_inst2 = api.ok(
            api.post(
                f"/v1/accounts/{account}/promises",
                {"amount": eur, **window, "invoice_ids": [inst2["id"]]},
            )
        )
        plan = api.ok(
            api.post(
                f"/v1/accounts/{account}/payment-plans",
                {
                    "invoice_ids": [inst3["id"]],
                    "starts_on": "2026-05-01",
                    "instalments": [{"due_on": "2026-05-15", "amount": eur}],
                },
            )
        )
        whole = api.ok(api.post(f"/v1/accounts/{account}/promises", {"amount": eur, **window}))
        cash = api.record_payment(account, 5_000_00, received_on="2026-05-10", currency="EUR")
        api.allocate(cash["id"], {"allocations": [{"invoice_id": inst2["id"], "amount": eur}]})

        made = run(p, "2026-05-21")
        assert made == {
            "overdue": 1,  # INST-3; INST-2 is paid
            "promise_kept": 1,
            "instalment_missed": 1,
            "promise_broken": 1,
        }
        assert api.ok(api.get(f"/v1/promises/{on_inst2['id']}"))["status"] == "kept"
        assert api.ok(api.get(f"/v1/payment-plans/{plan['id']}"))["status"] == "broken"
        assert api.ok(api.get(f"/v1/promises/{whole['id']}"))["status"] == "broken"
        p.wait_until_projected()
        [kept] = _events_of(api, account, "arledger.promise.kept")
        assert (kept["subject"], kept["schemaversion"]) == (on_inst2["id"], 2)
        assert kept["data"]["kept_by"] == [
            {"payment_id": cash["id"], "invoice_id": inst2["id"], "amount": eur}
        ]
        schema = api.ok(api.get("/v1/schemas/arledger.promise.kept"))
        Draft202012Validator(schema, format_checker=FormatChecker()).validate(kept)


def test_kept_events_stored_before_they_named_their_cash_still_load(settings):
    with pipeline(settings, workers=False) as p:
        api, ledger = p.api, p.services.ledger
        account = api.open_account("Old Promises Ltd")["id"]
        body = {"amount": gbp(10_00), "made_on": "2026-05-04", "promised_on": "2026-05-08"}
        promise = api.ok(api.post(f"/v1/accounts/{account}/promises", body))
        ledger.decide_promise(
            uuid.UUID(promise["id"]), True, Money(10_00, "GBP"), dt.date(2026, 5, 5), _stamp()
        )
        stored = next(
            s
            for n in ledger.read_log(1, 1000)
            if (s := ledger.mapper.to_stored_event(ledger.decode(n))).topic.endswith("Kept")
        )
        state = ledger.mapper.transcoder.decode(stored.state)
        assert state.pop("class_version") == 2
        del state["kept_by"]  # as version 1 wrote it
        old = StoredEvent(
            originator_id=stored.originator_id,
            originator_version=stored.originator_version,
            topic=stored.topic,
            state=ledger.mapper.transcoder.encode(state),
        )
        loaded = ledger.mapper.to_domain_event(old)
        assert isinstance(loaded, Promise.Kept)
        assert (loaded.paid, list(loaded.kept_by)) == (Money(10_00, "GBP"), [])


def _stamp() -> Stamp:
    return Stamp("scheduler", "c", "c", dt.datetime.now(dt.UTC))
