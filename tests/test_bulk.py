"""A billing system's month-end run: many invoices in one call, each checked and refused
on its own, nothing raised twice when the run is sent again or resumed after a crash."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

from ledger.commands import AllocatePayment, RaiseInvoice, RecordPayment
from ledger.money import Money
from ledger.stamp import Stamp
from tests.pipeline import pipeline
from tests.support import gbp

PROBLEMS = "/v1/problems/"


def _invoice(account: str, number: str, pence: int, **changes: Any) -> dict[str, Any]:
    body = {
        "account_id": account,
        "number": number,
        "amount": gbp(pence),
        "issued_on": "2026-11-30",
        "due_on": "2026-12-30",
    }
    return body | changes


def test_a_month_end_run_raises_each_good_invoice_and_refuses_each_bad_one(settings) -> None:
    with pipeline(settings) as p:
        api = p.api
        harbour = api.open_account("Harbour Cafe")["id"]
        quay = api.open_account("Quay Books")["id"]
        euro = api.open_account("Rivage SARL", currency="EUR")["id"]
        api.raise_invoice(quay, "NOV-Q-1", 99_00, "2026-11-01", "2026-12-01")
        run = [_invoice(harbour, f"NOV-H-{n}", 10_00 + n) for n in range(600)]
        run += [
            _invoice(quay, "NOV-Q-2", 250_00),
            _invoice(euro, "NOV-R-1", 70_00),  # GBP on a EUR account
            _invoice(quay, "NOV-Q-3", 80_00, due_on="2026-11-01"),  # due before issue
            _invoice("00000000-0000-4000-8000-000000000001", "NOV-X-1", 5_00),
            _invoice(harbour, "NOV-H-7", 10_07),  # twice in this run
            _invoice(quay, "NOV-Q-1", 99_00, due_on="2027-01-31"),  # used, other figures
        ]

        reply = api.ok(api.post("/v1/invoices/batch", {"invoices": run}))

        assert (reply["raised"], reply["already"], reply["refused"]) == (601, 0, 5)
        refused = {
            item["number"]: item["problem"]["type"].removeprefix(PROBLEMS)
            for item in reply["items"]
            if item["status"] == "refused"
        }
        assert refused == {
            "NOV-R-1": "currency-mismatch",
            "NOV-Q-3": "bad-dates",
            "NOV-X-1": "unknown-account",
            "NOV-H-7": "duplicate-invoice-number",
            "NOV-Q-1": "duplicate-invoice-number",
        }
        assert [item["index"] for item in reply["items"]] == list(range(len(run)))

        # The raised ones are in the ledger, to the penny, and readable at once.
        at = reply["position"]
        balance = api.ok(api.get(f"/v1/accounts/{harbour}/balance", min_position=at))
        assert balance["outstanding"] == gbp(sum(10_00 + n for n in range(600)))
        quay_balance = api.ok(api.get(f"/v1/accounts/{quay}/balance", min_position=at))
        assert quay_balance["outstanding"] == gbp(99_00 + 250_00)

        # The same run sent again (a new key: the billing system retried on its own)
        # raises nothing twice and refuses the same ones again.
        head = p.services.ledger.head_position()
        again = api.ok(api.post("/v1/invoices/batch", {"invoices": run}))
        assert (again["raised"], again["already"], again["refused"]) == (0, 601, 5)
        assert p.services.ledger.head_position() == head


def test_a_run_cut_short_resumes_without_raising_anything_twice(settings) -> None:
    with pipeline(settings, workers=False) as p:
        account = p.api.open_account("Dock Ltd")["id"]
        run = [_invoice(account, f"DEC-{n}", 20_00) for n in range(700)]
        # The first chunk went in before the importing process died.
        stamp = Stamp("billing", "run-1", "run-1", dt.datetime.now(dt.UTC))
        first = [
            RaiseInvoice(
                account_id=p.services.ledger.get_account(_uuid(account)).id,
                number=item["number"],
                amount=Money(20_00, "GBP"),
                issued_on=dt.date(2026, 11, 30),
                due_on=dt.date(2026, 12, 30),
                stamp=stamp,
            )
            for item in run[:500]
        ]
        assert {o.status for o in p.services.ledger.bulk.raise_invoices(first)} == {"raised"}

        reply = p.api.ok(p.api.post("/v1/invoices/batch", {"invoices": run}))

        assert (reply["raised"], reply["already"], reply["refused"]) == (200, 500, 0)
        account_now = p.services.ledger.get_account(_uuid(account))
        assert len(account_now.invoice_ids()) == 700


def _uuid(text: str) -> Any:
    import uuid

    return uuid.UUID(text)


def test_a_run_of_invoices_with_long_descriptions_goes_in(settings) -> None:
    """A batch's transactions stay small enough for the store's insert to go through
    (a large one used to stall for good on the way to the server)."""
    with pipeline(settings, workers=False) as p:
        account = _uuid(p.api.open_account("Société Générale de Cafés")["id"])
        stamp = Stamp("billing", "run-2", "run-2", dt.datetime.now(dt.UTC))
        cmds = [
            RaiseInvoice(
                account_id=account,
                number=f"NOV-{n:05d}",
                amount=Money(20_00, "GBP"),
                issued_on=dt.date(2026, 11, 30),
                due_on=dt.date(2026, 12, 30),
                stamp=stamp,
                description="Café crème, thé à la menthe — livraison mensuelle. " * 38,
            )
            for n in range(300)
        ]
        outcomes: list[Any] = []
        run = threading.Thread(
            target=lambda: outcomes.extend(p.services.ledger.bulk.raise_invoices(cmds)),
            daemon=True,
        )
        run.start()
        run.join(timeout=120)
        assert not run.is_alive(), "the batch stalled"
        assert [o.status for o in outcomes] == ["raised"] * 300


def test_a_payment_settling_hundreds_of_invoices_oldest_first_is_saved(settings) -> None:
    """Its events are too many to send in one pipeline: they used to stall the save, and
    with it, holding the events table's lock, every other writer."""
    with pipeline(settings, workers=False) as p:
        ledger = p.services.ledger
        account = _uuid(p.api.open_account("Harbour Parking")["id"])
        stamp = Stamp("billing", "run-3", "run-3", dt.datetime.now(dt.UTC))
        day = dt.date(2026, 11, 30)
        tickets = [
            RaiseInvoice(account, f"PK-{n}", Money(1_00, "GBP"), day, day, stamp)
            for n in range(600)
        ]
        ledger.bulk.raise_invoices(tickets)
        cash = RecordPayment(account, Money(600_00, "GBP"), "bacs", dt.date(2026, 12, 1), stamp)
        payment = ledger.record_payment(cash).aggregate.id
        allocated: list[Any] = []
        allocate = AllocatePayment(payment, "pk-all", stamp, strategy="oldest_first")
        run = threading.Thread(
            target=lambda: allocated.append(ledger.allocate_payment(allocate)), daemon=True
        )
        run.start()
        run.join(timeout=120)
        assert not run.is_alive(), "the allocation stalled"
        assert len(allocated[0].allocations) == 600
        # And the next command goes in as ever.
        assert ledger.record_payment(cash).aggregate.status == "succeeded"
