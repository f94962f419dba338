"""A tenant's deposit is security, not payment: it is held apart from cash on account,
oldest-first allocation never touches it, the scheduler never counts it towards a
promise, and when it is applied at last (on the day of termination) it is applied on
that day, so March's cash posting, closed long ago, does not change."""

from __future__ import annotations

import datetime as dt
from typing import Any

from runtime import scheduler
from tests.pipeline import Pipeline, pipeline

FIGURES = ("paid", "allocated", "unallocated", "deposits_held", "outstanding")


def usd(amount_minor: int) -> dict[str, object]:
    return {"amount": amount_minor, "currency": "USD"}


def _tenant(p: Pipeline) -> dict[str, Any]:
    """An $800 deposit in January, a promise of $800 by January's end, March's two
    invoices ($9,900) and March's $9,100 paid and applied to them."""
    api = p.api
    account = api.open_account("Harbour Kitchens (tenant)", currency="USD")["id"]
    deposit = api.record_payment(
        account, 800_00, received_on="2026-01-15", currency="USD", purpose="deposit"
    )
    body = {"amount": usd(800_00), "made_on": "2026-01-10", "promised_on": "2026-01-31"}
    promise = api.ok(api.post(f"/v1/accounts/{account}/promises", body))
    march = [
        api.raise_invoice(account, number, amount, issued, due, "USD")
        for number, amount, issued, due in (
            ("MAR-1", 5_000_00, "2026-03-01", "2026-03-31"),
            ("MAR-2", 4_900_00, "2026-03-15", "2026-04-14"),
        )
    ]
    for invoice, amount, on in ((march[0], 5_000_00, "03-05"), (march[1], 4_100_00, "03-20")):
        cash = api.record_payment(account, amount, received_on=f"2026-{on}", currency="USD")
        rows = [{"invoice_id": invoice["id"], "amount": usd(amount)}]
        api.allocate(cash["id"], {"allocations": rows})
    return {"account": account, "deposit": deposit, "promise": promise, "march": march}


def _figures(reply: dict[str, Any]) -> dict[str, int]:
    return {f: reply[f]["amount"] for f in FIGURES}


def _cash_posting(p: Pipeline, **query: str) -> dict[str, Any]:
    at = p.services.ledger.head_position()
    reply = p.api.ok(
        p.api.get("/v1/reports/cash-posting", currency="USD", min_position=at, **query)
    )
    return {k: v for k, v in reply.items() if k != "position"}


def test_a_deposit_is_held_apart_never_oldest_first_nor_keeping_a_promise(settings):
    with pipeline(settings) as p:
        api, tenant = p.api, _tenant(p)
        account, deposit = tenant["account"], tenant["deposit"]

        head = p.services.ledger.head_position()
        refused = api.post(
            f"/v1/payments/{deposit['id']}/allocations", {"strategy": "oldest_first"}
        )
        assert refused.status_code == 409
        assert refused.json()["type"] == "/v1/problems/payment-not-allocatable"
        assert p.services.ledger.head_position() == head  # the refusal appended nothing

        balance = api.ok(api.get(f"/v1/accounts/{account}/balance", min_position=head))
        held = {
            "paid": 9_100_00,
            "allocated": 9_100_00,
            "unallocated": 0,
            "deposits_held": 800_00,
            "outstanding": 800_00,
        }
        assert _figures(balance) == held
        assert _figures(api.ok(api.get(f"/v1/accounts/{account}/replay"))["balance"]) == held

        p.wait_until_projected()
        ledger, pool, topic = p.services.ledger, p.services.pool, p.settings.topic
        assert scheduler.run_once(ledger, pool, topic, dt.date(2026, 2, 1)) == {"promise_broken": 1}
        promise = api.ok(api.get(f"/v1/promises/{tenant['promise']['id']}"))
        assert (promise["status"], promise["paid"]) == ("broken", usd(0))


def test_a_deposit_applied_on_termination_is_applied_that_day_not_in_closed_march(settings):
    with pipeline(settings) as p:
        api, tenant = p.api, _tenant(p)
        account = tenant["account"]
        closed = _cash_posting(p, date="2026-03-31", period="month")
        assert (closed["received"], closed["applied"]) == (usd(9_100_00), usd(9_100_00))
        assert closed["books"]["balanced"] is True

        standing = {"action": "terminate", "reason": "lease ended"}
        api.ok(api.post(f"/v1/accounts/{account}/standing", standing))
        rows = [{"invoice_id": tenant["march"][1]["id"], "amount": usd(800_00)}]
        api.allocate(tenant["deposit"]["id"], {"allocations": rows})

        # March is as it was closed: $9,100 received, $9,100 applied (not $9,900).
        assert _cash_posting(p, date="2026-03-31", period="month") == closed
        today = _cash_posting(p, period="day")
        assert (today["applied"], today["received"]) == (usd(800_00), usd(0))
        assert today["books"]["balanced"] is True

        at = p.services.ledger.head_position()
        balance = api.ok(api.get(f"/v1/accounts/{account}/balance", min_position=at))
        assert _figures(balance) == {
            "paid": 9_900_00,
            "allocated": 9_900_00,
            "unallocated": 0,
            "deposits_held": 0,
            "outstanding": 0,
        }
        replay = api.ok(api.get(f"/v1/accounts/{account}/replay"))
        assert _figures(replay["balance"]) == _figures(balance)
        march_end = api.ok(api.get(f"/v1/accounts/{account}/replay", as_of="2026-03-31"))
        assert _figures(march_end["balance"])["deposits_held"] == 800_00
        projected, folded = p.projection_equals_store()
        assert projected == folded
