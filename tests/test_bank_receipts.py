"""A bank statement's receipts in the ledger (``Payments.record_receipts``): each line's
payment recorded and allocated in one save, many lines a transaction, each line checked
on its own, on the eventsourcing library's in-memory recorder."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator

import pytest

from ledger.application import Ledger
from ledger.commands import AllocatePayment, OpenAccount, RaiseInvoice, RecordPayment
from ledger.errors import OverAllocation
from ledger.invoice import Invoice
from ledger.money import Money
from ledger.payments import Receipt
from ledger.stamp import Stamp

IN_MEMORY = {"PERSISTENCE_MODULE": "eventsourcing.popo"}
NOW = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC)
ACCOUNT = uuid.UUID("5d1f3a2e-0000-4000-8000-000000000001")


def gbp(pence: int) -> Money:
    return Money(pence, "GBP")


def stamp() -> Stamp:
    return Stamp("bank-import", "corr-1", "cause-1", NOW)


@pytest.fixture
def ledger() -> Iterator[Ledger]:
    app = Ledger(IN_MEMORY, snapshot_interval=3)
    yield app
    app.close()


def book(ledger: Ledger) -> dict[str, uuid.UUID]:
    """An account with three invoices of £100."""
    ledger.open_account(OpenAccount("Fern Studios Ltd", "GBP", 30, stamp(), account_id=ACCOUNT))
    invoices = {}
    for number in ("F-1", "F-2", "F-3"):
        cmd = RaiseInvoice(
            ACCOUNT, number, gbp(100_00), dt.date(2026, 10, 1), dt.date(2026, 10, 31), stamp()
        )
        raised: Invoice = ledger.raise_invoice(cmd).aggregate
        invoices[number] = raised.id
    return invoices


def receipt(line: int, pence: int, *pays: tuple[uuid.UUID, int]) -> Receipt:
    """A statement line's receipt, its ids derived from the line as the import does."""
    payment_id = payment_of(line)
    on = dt.date(2026, 11, 2)
    payment = RecordPayment(
        ACCOUNT, gbp(pence), "bacs", on, stamp(), reference=f"LINE {line}", payment_id=payment_id
    )
    if not pays:
        return Receipt(payment)
    plan = tuple((invoice_id, gbp(amount)) for invoice_id, amount in pays)
    return Receipt(payment, AllocatePayment(payment_id, f"bank:line-{line}/match", stamp(), plan))


def payment_of(line: int) -> uuid.UUID:
    return uuid.uuid5(ACCOUNT, f"line-{line}")


def stored(ledger: Ledger, after: int) -> list[tuple[str, uuid.UUID, int]]:
    """What the store holds after position ``after``: each event's type, aggregate, version."""
    return [
        (n.topic.rsplit(":", 1)[-1], n.originator_id, n.originator_version)
        for n in ledger.read_log(after, 1000)
    ]


def test_a_statement_s_receipts_are_stored_as_recording_then_allocating_each_would_store_them(
    ledger: Ledger,
) -> None:
    invoices = book(ledger)
    receipts = [
        receipt(1, 100_00, (invoices["F-1"], 100_00)),
        receipt(2, 30_00),  # the account is known, what it pays is not
        receipt(3, 150_00, (invoices["F-2"], 100_00), (invoices["F-3"], 50_00)),
    ]
    twin = Ledger(IN_MEMORY, snapshot_interval=3)
    book(twin)
    start = ledger.head_position()

    recorded = ledger.payments.record_receipts(receipts)
    for each in receipts:  # the same lines, a command at a time, as the import used to
        twin.record_payment(each.payment)
        if each.allocation is not None:
            twin.allocate_payment(each.allocation)

    assert (recorded.recorded, recorded.refused) == (3, None)
    assert recorded.position == ledger.head_position()
    assert stored(ledger, start) == stored(twin, start)
    assert [kind for kind, _, _ in stored(ledger, start)][:5] == [
        "Payment.Recorded",
        "Invoice.PaymentAllocated",
        "Invoice.Settled",
        "Payment.Allocated",
        "Payment.Recorded",
    ]
    assert ledger.get_invoice(invoices["F-3"]).outstanding == gbp(50_00)
    twin.close()


def test_receipts_recorded_before_are_not_recorded_again(ledger: Ledger) -> None:
    invoices = book(ledger)
    # An import that died after recording line 1 by itself, before allocating it.
    first = receipt(1, 100_00, (invoices["F-1"], 100_00))
    ledger.record_payment(first.payment)
    receipts = [first, receipt(2, 40_00, (invoices["F-2"], 40_00))]

    done = ledger.payments.record_receipts(receipts)
    head = ledger.head_position()
    again = ledger.payments.record_receipts(receipts)

    assert done.recorded == again.recorded == 2
    assert ledger.head_position() == head  # the second time appends nothing
    paid = ledger.get_payment(payment_of(1))
    assert paid.unallocated == gbp(0) and paid.version == 2  # recorded once, allocated once
    assert ledger.get_invoice(invoices["F-2"]).outstanding == gbp(60_00)


def test_the_first_receipt_refused_ends_the_run_and_leaves_no_trace_of_itself(
    ledger: Ledger,
) -> None:
    invoices = book(ledger)
    receipts = [
        receipt(1, 100_00, (invoices["F-1"], 100_00)),
        # Part placed on F-2, then more than F-1 still owes: refused, F-2 untouched.
        receipt(2, 60_00, (invoices["F-2"], 10_00), (invoices["F-1"], 50_00)),
        receipt(3, 20_00, (invoices["F-2"], 20_00)),
    ]
    start = ledger.head_position()

    recorded = ledger.payments.record_receipts(receipts)

    assert recorded.recorded == 1
    assert isinstance(recorded.refused, OverAllocation)
    assert {aggregate for _, aggregate, _ in stored(ledger, start)} == {
        payment_of(1),
        invoices["F-1"],
    }
    assert ledger.get_invoice(invoices["F-2"]).outstanding == gbp(100_00)
