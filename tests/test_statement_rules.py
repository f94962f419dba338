"""A statement of account follows the ledger's money rules. As known at a moment, it holds
exactly what was committed by then, whatever the writing process's clock said. A tenant's
deposit is security held apart: received, it is shown as held and leaves the balance
alone; applied, it pays the invoice on the day it is applied, and not before, so a
statement already sent for the days before never changes."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from tests.documents_support import pdf_text
from tests.pipeline import Pipeline, pipeline
from tests.support import gbp
from tests.test_as_known_at import slow_clock


def _statement(p: Pipeline, acct: str, start: str, end: str, **query: Any) -> dict[str, Any]:
    at = query.pop("min_position", p.services.ledger.head_position())
    path = f"/v1/accounts/{acct}/statement"
    return p.api.ok(p.api.get(path, **{"from": start, "to": end, "min_position": at, **query}))


def _lines(statement: dict[str, Any]) -> list[tuple[str, str, str, int, int, int]]:
    return [
        (
            line["date"],
            line["kind"],
            line["reference"],
            line["debit"]["amount"],
            line["credit"]["amount"],
            line["balance"]["amount"],
        )
        for line in statement["lines"]
    ]


def test_a_statement_as_known_at_a_moment_holds_what_was_committed_by_then(settings, monkeypatch):
    """One API process's clock runs ten minutes slow: the payment it records after the
    auditor's moment carries an earlier time, but was committed after it, so the
    statement as known at that moment leaves it out."""
    with pipeline(settings) as p:
        api = p.api
        acct = api.open_account("Harbour Meeting Rooms Ltd")["id"]
        invoice = api.raise_invoice(acct, "HM-1", 1_000_00, "2026-06-01", "2026-06-30")
        p.wait_until_projected(invoice["position"])
        moment = dt.datetime.now(dt.UTC)
        time.sleep(0.05)
        with slow_clock(monkeypatch, dt.timedelta(minutes=10)):
            paid = api.record_payment(acct, 400_00, received_on="2026-06-15", reference="SLOW-1")
        events = api.ok(api.get(f"/v1/accounts/{acct}/events", min_position=paid["position"]))
        (late,) = [e for e in events["events"] if e["position"] == paid["position"]]
        assert dt.datetime.fromisoformat(late["time"]) < moment  # stamped before, committed after

        known = moment.isoformat()
        then = _statement(p, acct, "2026-06-01", "2026-06-30", as_known_at=known)
        assert then["position"] == invoice["position"]
        assert _lines(then) == [("2026-06-01", "invoice", "HM-1", 1_000_00, 0, 1_000_00)]
        assert then["closing_balance"] == gbp(1_000_00)
        # Exactly the statement at the last position committed by the moment.
        at = _statement(p, acct, "2026-06-01", "2026-06-30", at_position=invoice["position"])
        assert {**at, "as_known_at": then["as_known_at"]} == then
        # A moment and a position together: the earlier of the two bounds.
        both = _statement(
            p, acct, "2026-06-01", "2026-06-30", as_known_at=known, at_position=paid["position"]
        )
        assert both == then

        now = dt.datetime.now(dt.UTC).isoformat()
        today = _statement(p, acct, "2026-06-01", "2026-06-30", as_known_at=now)
        assert today["position"] == paid["position"]
        assert today["closing_balance"] == gbp(600_00)


def test_a_deposit_is_held_on_the_statement_until_applied_then_pays_on_that_day(settings):
    """A £300 and a £200 deposit received early in the period, £400 paid and applied to
    the rent; today the £300 deposit is applied to the rent too, the £200 one stays
    held."""
    today = dt.datetime.now(dt.UTC).date()
    start, yesterday = today - dt.timedelta(days=40), today - dt.timedelta(days=1)

    def day(n: int) -> str:
        return (start + dt.timedelta(days=n)).isoformat()

    with pipeline(settings) as p:
        api = p.api
        acct = api.open_account("Harbour Kitchens (tenant)")["id"]
        rent = api.raise_invoice(acct, "HK-R1", 1_000_00, day(0), day(30))
        first = api.record_payment(
            acct, 300_00, received_on=day(2), purpose="deposit", reference="DEP-1"
        )
        api.record_payment(acct, 200_00, received_on=day(5), purpose="deposit", reference="DEP-2")
        cash = api.record_payment(acct, 400_00, received_on=day(20), reference="BACS-1")
        api.allocate(
            cash["id"], {"allocations": [{"invoice_id": rent["id"], "amount": gbp(400_00)}]}
        )

        # Until it is applied, a deposit is held: no credit, the balance as it was.
        held = _statement(p, acct, day(0), yesterday.isoformat())
        assert _lines(held) == [
            (day(0), "invoice", "HK-R1", 1_000_00, 0, 1_000_00),
            (day(2), "deposit", "DEP-1", 0, 0, 1_000_00),
            (day(5), "deposit", "DEP-2", 0, 0, 1_000_00),
            (day(20), "payment", "BACS-1", 0, 400_00, 600_00),
            (day(20), "allocation", "HK-R1", 0, 0, 600_00),
        ]
        assert held["closing_balance"] == gbp(600_00)
        assert [(i["number"], i["outstanding"]) for i in held["open_invoices"]] == [
            ("HK-R1", gbp(600_00))
        ]
        assert (held["unallocated"], held["deposits_held"]) == (gbp(0), gbp(500_00))

        applied = api.allocate(
            first["id"], {"allocations": [{"invoice_id": rent["id"], "amount": gbp(300_00)}]}
        )
        now = _statement(p, acct, day(0), today.isoformat(), min_position=applied["position"])
        assert _lines(now)[:5] == _lines(held)
        assert _lines(now)[5:] == [
            (today.isoformat(), "deposit_applied", "HK-R1", 0, 300_00, 300_00)
        ]
        assert now["closing_balance"] == gbp(300_00)
        assert [(i["number"], i["outstanding"]) for i in now["open_invoices"]] == [
            ("HK-R1", gbp(300_00))
        ]
        assert (now["unallocated"], now["deposits_held"]) == (gbp(0), gbp(200_00))
        # The balance says the same: what is owed, nothing on account, £200 held.
        balance = api.ok(api.get(f"/v1/accounts/{acct}/balance", min_position=applied["position"]))
        assert (balance["outstanding"], balance["unallocated"], balance["deposits_held"]) == (
            now["closing_balance"],
            now["unallocated"],
            now["deposits_held"],
        )

        # The days before the application read as they did: applied today, not on receipt.
        again = _statement(p, acct, day(0), yesterday.isoformat())
        assert {**again, "position": held["position"]} == held

        # The client reads the same on paper: the deposit still held, as security.
        pdf = p.api.get(
            f"/v1/accounts/{acct}/statement",
            **{"from": day(0), "to": today.isoformat(), "format": "pdf"},
        )
        assert pdf.status_code == 200
        assert "Deposits held as security: 200.00" in pdf_text(pdf.content)
