"""The application service against the real event store: the coordinator's day, the rules
each command checks, and that a refused command appends nothing."""

from __future__ import annotations

import datetime as dt
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from infra.database import eventstore_env
from ledger.application import Ledger
from ledger.commands import AllocatePayment, OpenAccount, RaiseInvoice, RecordPayment
from ledger.errors import (
    BadDates,
    CurrencyMismatch,
    DuplicateInvoiceNumber,
    OverAllocation,
    PaymentNotAllocatable,
    UnknownAccount,
    WrongAccount,
)
from ledger.money import Money
from ledger.stamp import Stamp

NOW = dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.UTC)


def gbp(pence: int) -> Money:
    return Money(pence, "GBP")


@pytest.fixture
def ledger(database_url: str):
    app = Ledger(eventstore_env(database_url), snapshot_interval=3)
    yield app
    app.close()


def stamp(actor: str = "alice") -> Stamp:
    return Stamp(actor, "corr-1", "cause-1", NOW)


def open_account(ledger: Ledger, currency: str = "GBP") -> uuid.UUID:
    cmd = OpenAccount("Meeting Rooms Ltd", currency, 30, stamp())
    return ledger.open_account(cmd).aggregate.id


def invoice(
    ledger: Ledger,
    account: uuid.UUID,
    number: str,
    pence: int,
    issued: str = "2026-01-05",
    due: str = "2026-02-04",
) -> uuid.UUID:
    cmd = RaiseInvoice(
        account,
        number,
        gbp(pence),
        dt.date.fromisoformat(issued),
        dt.date.fromisoformat(due),
        stamp(),
    )
    return ledger.raise_invoice(cmd).aggregate.id


def payment(ledger: Ledger, account: uuid.UUID, pence: int, status: str = "succeeded") -> uuid.UUID:
    cmd = RecordPayment(account, gbp(pence), "bacs", dt.date(2026, 3, 1), stamp(), status=status)
    return ledger.record_payment(cmd).aggregate.id


def test_a_bacs_payment_settles_one_invoice_and_part_of_another(ledger: Ledger) -> None:
    account = open_account(ledger)
    room_hire = invoice(ledger, account, "INV-1", 120_00)
    catering = invoice(ledger, account, "INV-2", 45_50)
    bacs = payment(ledger, account, 150_00)

    result = ledger.allocate_payment(
        AllocatePayment(bacs, "req-1", stamp(), ((room_hire, gbp(120_00)), (catering, gbp(30_00))))
    )

    assert ledger.get_invoice(room_hire).status == "paid"
    assert ledger.get_invoice(catering).outstanding == gbp(15_50)
    assert ledger.get_invoice(catering).status == "partially_paid"
    assert result.payment.unallocated == gbp(0)
    assert result.position == ledger.head_position()


def test_oldest_first_pays_the_earliest_due_invoice_first_and_keeps_the_rest(ledger):
    account = open_account(ledger)
    later = invoice(ledger, account, "INV-B", 100_00, "2026-02-01", "2026-03-01")
    earlier = invoice(ledger, account, "INV-A", 100_00, "2026-01-01", "2026-02-01")
    cash = payment(ledger, account, 250_00)

    result = ledger.allocate_payment(AllocatePayment(cash, "r", stamp(), strategy="oldest_first"))

    assert result.allocations == [(earlier, gbp(100_00)), (later, gbp(100_00))]
    assert ledger.get_payment(cash).unallocated == gbp(50_00)  # over-payment stays on account


def test_a_retried_allocation_request_is_not_applied_twice(ledger):
    account = open_account(ledger)
    inv = invoice(ledger, account, "INV-1", 100_00)
    cash = payment(ledger, account, 100_00)
    first = ledger.allocate_payment(AllocatePayment(cash, "same", stamp(), ((inv, gbp(40_00)),)))
    again = ledger.allocate_payment(AllocatePayment(cash, "same", stamp(), ((inv, gbp(40_00)),)))
    assert again.replayed and again.allocations == first.allocations
    assert ledger.get_invoice(inv).outstanding == gbp(60_00)


@pytest.mark.parametrize(
    ("mutate", "error"),
    [
        (lambda a, inv, cash, other: ((inv, gbp(100_01)),), OverAllocation),
        (lambda a, inv, cash, other: ((inv, Money(100, "EUR")),), CurrencyMismatch),
        (lambda a, inv, cash, other: ((other, gbp(1_00)),), WrongAccount),
    ],
)
def test_refused_allocations_append_nothing(ledger, mutate, error):
    account = open_account(ledger)
    inv = invoice(ledger, account, "INV-1", 100_00)
    cash = payment(ledger, account, 500_00)
    other_account = open_account(ledger)
    other = invoice(ledger, other_account, "INV-1", 100_00)
    head = ledger.head_position()
    with pytest.raises(error):
        rows = mutate(account, inv, cash, other)
        ledger.allocate_payment(AllocatePayment(cash, "r", stamp(), rows))
    assert ledger.head_position() == head


def test_a_payment_never_allocates_more_than_it_holds(ledger):
    account = open_account(ledger)
    inv1 = invoice(ledger, account, "INV-1", 100_00)
    inv2 = invoice(ledger, account, "INV-2", 100_00)
    cash = payment(ledger, account, 150_00)
    with pytest.raises(OverAllocation, match=r"150\.00 GBP unallocated"):
        ledger.allocate_payment(
            AllocatePayment(cash, "r", stamp(), ((inv1, gbp(100_00)), (inv2, gbp(50_01))))
        )


@pytest.mark.parametrize("status", ["failed", "pending"])
def test_only_a_succeeded_payment_can_be_allocated(ledger, status):
    account = open_account(ledger)
    inv = invoice(ledger, account, "INV-1", 100_00)
    cash = payment(ledger, account, 100_00, status=status)
    with pytest.raises(PaymentNotAllocatable, match=status):
        ledger.allocate_payment(AllocatePayment(cash, "r", stamp(), ((inv, gbp(1)),)))


def test_invoice_rules(ledger):
    account = open_account(ledger)
    invoice(ledger, account, "INV-1", 100_00)
    head = ledger.head_position()
    with pytest.raises(DuplicateInvoiceNumber):
        invoice(ledger, account, "INV-1", 5_00)
    with pytest.raises(BadDates, match="before issued_on"):
        invoice(ledger, account, "INV-2", 5_00, "2026-02-01", "2026-01-31")
    with pytest.raises(UnknownAccount):
        invoice(ledger, uuid.uuid4(), "INV-3", 5_00)
    with pytest.raises(CurrencyMismatch):
        ledger.raise_invoice(
            RaiseInvoice(
                account, "INV-4", Money(5, "EUR"), dt.date(2026, 1, 1), dt.date(2026, 1, 2), stamp()
            )
        )
    assert ledger.head_position() == head


def test_the_same_invoice_number_raced_from_two_threads_is_raised_once(ledger):
    account = open_account(ledger)

    def attempt(_: int) -> str:
        try:
            invoice(ledger, account, "INV-RACE", 10_00)
            return "raised"
        except DuplicateInvoiceNumber:
            return "duplicate"

    with ThreadPoolExecutor(8) as pool:
        outcomes = sorted(pool.map(attempt, range(8)))
    assert outcomes == ["duplicate"] * 7 + ["raised"]


def test_concurrent_allocations_never_over_allocate_an_invoice(ledger):
    account = open_account(ledger)
    inv = invoice(ledger, account, "INV-1", 100_00)
    payments = [payment(ledger, account, 30_00) for _ in range(8)]

    def allocate(cash: uuid.UUID) -> str:
        try:
            ledger.allocate_payment(AllocatePayment(cash, "r", stamp(), ((inv, gbp(30_00)),)))
            return "ok"
        except OverAllocation:
            return "over"

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(allocate, payments))
    assert outcomes.count("ok") == 3  # 3 x 30.00 fit in 100.00; a fourth would not
    assert ledger.get_invoice(inv).outstanding == gbp(10_00)


def test_state_replays_from_snapshots_and_events_alike(ledger):
    account = open_account(ledger)
    inv = invoice(ledger, account, "INV-1", 100_00)
    for n in range(7):  # snapshot interval is 3: the invoice is rebuilt from a snapshot
        cash = payment(ledger, account, 10_00)
        ledger.allocate_payment(AllocatePayment(cash, f"r{n}", stamp(), ((inv, gbp(10_00)),)))
    fresh = Ledger(ledger.env.copy(), snapshot_interval=0)
    assert fresh.get_invoice(inv).outstanding == ledger.get_invoice(inv).outstanding == gbp(30_00)
    fresh.close()


def test_credit_notes_and_write_offs_retried_with_the_same_id_apply_once(ledger):
    from ledger.commands import IssueCreditNote, RequestWriteOff

    account = open_account(ledger)
    inv = invoice(ledger, account, "INV-1", 100_00)
    note = IssueCreditNote(inv, gbp(10_00), "goodwill", dt.date(2026, 2, 1), stamp(), uuid.uuid4())
    ledger.issue_credit_note(note)
    assert ledger.issue_credit_note(note).replayed
    write_off = RequestWriteOff(
        inv, gbp(5_00), "small balance", "coordinator", stamp(), uuid.uuid4()
    )
    ledger.request_write_off(write_off)
    assert ledger.request_write_off(write_off).replayed
    assert ledger.get_invoice(inv).outstanding == gbp(85_00)
