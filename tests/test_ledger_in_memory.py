"""The ledger's domain and application rules on the eventsourcing library's in-memory
recorder: no PostgreSQL, no Kafka, in well under a second. The same commands run against
PostgreSQL in ``test_ledger.py`` and the end-to-end tests."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator

import pytest
from eventsourcing.persistence import IntegrityError
from eventsourcing.popo import POPOApplicationRecorder

from ledger import limits
from ledger.account import Account
from ledger.application import Ledger
from ledger.commands import (
    AllocatePayment,
    Escalate,
    IssueCreditNote,
    LogContact,
    OpenAccount,
    RaiseInvoice,
    RecordPayment,
    VoidInvoice,
)
from ledger.errors import (
    ConcurrencyExhausted,
    CreditExceedsOutstanding,
    CurrencyMismatch,
    DuplicateInvoiceNumber,
    InvoiceHasAllocations,
    OverAllocation,
)
from ledger.invoice import Invoice
from ledger.money import Money
from ledger.payment import Payment
from ledger.stamp import Stamp
from ledger.unit_of_work import Decision, changed

NOW = dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.UTC)
IN_MEMORY = {"PERSISTENCE_MODULE": "eventsourcing.popo"}


def gbp(pence: int) -> Money:
    return Money(pence, "GBP")


def stamp() -> Stamp:
    return Stamp("alice", "corr-1", "cause-1", NOW)


@pytest.fixture
def ledger() -> Iterator[Ledger]:
    app = Ledger(IN_MEMORY, snapshot_interval=3)
    assert isinstance(app.recorder, POPOApplicationRecorder)
    yield app
    app.close()


def open_account(ledger: Ledger, account_id: uuid.UUID | None = None) -> uuid.UUID:
    cmd = OpenAccount("Meeting Rooms Ltd", "GBP", 30, stamp(), account_id=account_id)
    opened: Account = ledger.open_account(cmd).aggregate
    return opened.id


def invoice(ledger: Ledger, account: uuid.UUID, number: str, pence: int) -> uuid.UUID:
    cmd = RaiseInvoice(
        account, number, gbp(pence), dt.date(2026, 1, 5), dt.date(2026, 2, 4), stamp()
    )
    raised: Invoice = ledger.raise_invoice(cmd).aggregate
    return raised.id


def payment(ledger: Ledger, account: uuid.UUID, pence: int) -> uuid.UUID:
    cmd = RecordPayment(account, gbp(pence), "bacs", dt.date(2026, 3, 1), stamp())
    recorded: Payment = ledger.record_payment(cmd).aggregate
    return recorded.id


def event_names(ledger: Ledger, aggregate_id: uuid.UUID) -> list[str]:
    return [type(e).__name__ for e in ledger.events.get(aggregate_id)]


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
    assert ledger.outstanding_of(ledger.get_account(account)) == gbp(15_50)
    assert result.payment.unallocated == gbp(0)
    assert result.position == ledger.head_position()
    # The account's claim on each number is stored with (and before) its invoice.
    assert event_names(ledger, account) == ["Opened", "InvoiceRegistered", "InvoiceRegistered"]


def test_commands_that_already_ran_append_nothing_and_answer_as_before(ledger: Ledger) -> None:
    chosen = uuid.uuid4()
    assert open_account(ledger, chosen) == chosen
    inv = invoice(ledger, chosen, "INV-1", 100_00)
    cash = payment(ledger, chosen, 100_00)
    first = ledger.allocate_payment(AllocatePayment(cash, "same", stamp(), ((inv, gbp(40_00)),)))
    note = IssueCreditNote(inv, gbp(10_00), "late delivery", dt.date(2026, 3, 2), stamp(), chosen)
    ledger.issue_credit_note(note)
    head = ledger.head_position()

    reopened = ledger.open_account(OpenAccount("Twin Ltd", "GBP", 30, stamp(), account_id=chosen))
    again = ledger.allocate_payment(AllocatePayment(cash, "same", stamp(), ((inv, gbp(40_00)),)))
    renoted = ledger.issue_credit_note(note)

    assert reopened.replayed and reopened.aggregate.name == "Meeting Rooms Ltd"
    assert again.replayed and again.allocations == first.allocations
    assert renoted.replayed
    assert ledger.head_position() == head
    assert ledger.get_invoice(inv).outstanding == gbp(50_00)


def test_a_command_that_loses_a_race_is_decided_again_on_what_won(ledger: Ledger) -> None:
    account = open_account(ledger)
    versions: list[int] = []

    def decide() -> Decision:
        loaded = ledger.get_account(account)
        versions.append(loaded.version)
        if len(versions) == 1:  # another writer saves first, between our load and save
            ledger.log_contact(LogContact(account, "call", "outbound", "rang", stamp()))
        loaded.escalate("mo", "no reply to three reminders", stamp())
        return changed(loaded)

    saved = ledger.uow.run(decide)

    assert versions == [1, 2]
    assert event_names(ledger, account) == ["Opened", "ContactLogged", "Escalated"]
    assert saved.position == ledger.head_position() == 3


def test_a_race_lost_every_time_gives_up_and_appends_nothing(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = open_account(ledger)
    head = ledger.head_position()
    tries: list[int] = []

    def always_conflicts(*args: object, **kwargs: object) -> None:
        tries.append(1)
        raise IntegrityError("lost every race")

    monkeypatch.setattr(ledger, "_record", always_conflicts)  # the library's save, recording
    monkeypatch.setattr("ledger.unit_of_work.time.sleep", lambda _: None)
    with pytest.raises(ConcurrencyExhausted):
        ledger.escalate(Escalate(account, "mo", "no reply", stamp()))
    assert len(tries) == limits.COMMAND_RETRIES_MAX
    assert ledger.head_position() == head


def test_refused_commands_append_nothing(ledger: Ledger) -> None:
    account = open_account(ledger)
    inv = invoice(ledger, account, "INV-1", 100_00)
    cash = payment(ledger, account, 500_00)
    ledger.allocate_payment(AllocatePayment(cash, "r1", stamp(), ((inv, gbp(60_00)),)))
    head = ledger.head_position()

    with pytest.raises(OverAllocation):
        ledger.allocate_payment(AllocatePayment(cash, "r2", stamp(), ((inv, gbp(40_01)),)))
    with pytest.raises(DuplicateInvoiceNumber):
        invoice(ledger, account, "INV-1", 5_00)
    with pytest.raises(CurrencyMismatch):
        ledger.record_payment(
            RecordPayment(account, Money(5_00, "EUR"), "card", dt.date(2026, 3, 1), stamp())
        )
    with pytest.raises(CreditExceedsOutstanding):
        ledger.issue_credit_note(
            IssueCreditNote(inv, gbp(40_01), "too much", dt.date(2026, 3, 2), stamp(), uuid.uuid4())
        )
    with pytest.raises(InvoiceHasAllocations):
        ledger.void_invoice(VoidInvoice(inv, "raised in error", stamp()))

    assert ledger.head_position() == head
    assert ledger.get_invoice(inv).outstanding == gbp(40_00)


def test_the_account_as_known_at_a_time_leaves_out_what_came_after(ledger: Ledger) -> None:
    account = open_account(ledger)
    opened_at = dt.datetime.now(dt.UTC)
    invoice(ledger, account, "INV-1", 100_00)
    assert list(ledger.get_account_as_known_at(account, opened_at).invoice_ids()) == []
    assert len(list(ledger.get_account(account).invoice_ids())) == 1
