"""How the ledger reads the store on the write path: several processes, each with its own
cache of aggregates, decide against what is stored now; and a pooled connection the
database cut does not fail a command."""

from __future__ import annotations

import datetime as dt
import time
import uuid

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from infra.database import eventstore_env
from infra.pool_check import CheckWhenIdle, check_when_idle
from ledger.application import Ledger
from ledger.commands import (
    AllocatePayment,
    OpenAccount,
    RaiseInvoice,
    RecordPayment,
    UnallocatePayment,
)
from ledger.errors import OverAllocation
from ledger.money import Money
from ledger.stamp import Stamp
from ledger.unit_of_work import Decision, already_ran

NOW = dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.UTC)


def stamp() -> Stamp:
    return Stamp("alice", "corr-1", "cause-1", NOW)


@pytest.fixture
def two_processes(database_url: str):
    """Two ledgers on one store, as two API processes are: each caches what it reads."""
    first = Ledger(eventstore_env(database_url, pool_size=2))
    second = Ledger(eventstore_env(database_url, pool_size=2))
    yield first, second
    first.close()
    second.close()


def _invoice(ledger: Ledger, account: uuid.UUID, number: str, due: str) -> uuid.UUID:
    cmd = RaiseInvoice(
        account,
        number,
        Money(100_00, "GBP"),
        dt.date(2026, 1, 5),
        dt.date.fromisoformat(due),
        stamp(),
    )
    return ledger.raise_invoice(cmd).aggregate.id


def _paid(ledger: Ledger, account: uuid.UUID, pence: int) -> uuid.UUID:
    cmd = RecordPayment(account, Money(pence, "GBP"), "bacs", dt.date(2026, 3, 1), stamp())
    return ledger.record_payment(cmd).aggregate.id


def _oldest_first(ledger: Ledger, payment: uuid.UUID) -> dict[uuid.UUID, int]:
    result = ledger.allocate_payment(
        AllocatePayment(payment, str(uuid.uuid4()), stamp(), strategy="oldest_first")
    )
    return {invoice: amount.amount_minor for invoice, amount in result.allocations}


def test_oldest_first_sees_an_invoice_another_process_reopened(two_processes) -> None:
    here, there = two_processes
    account = here.open_account(OpenAccount("Harbour Cafe", "GBP", 30, stamp())).aggregate.id
    january = _invoice(here, account, "INV-JAN", "2026-02-04")
    february = _invoice(here, account, "INV-FEB", "2026-03-04")
    first_payment = _paid(here, account, 100_00)
    assert _oldest_first(here, first_payment) == {january: 100_00}
    # This process reads January settled, and so holds it settled in its cache.
    assert here.get_invoice(january).outstanding.amount_minor == 0

    # The other process takes the allocation back: January is owed again.
    there.unallocate_payment(
        UnallocatePayment(first_payment, "undo-1", "paid the wrong client", stamp())
    )

    # Oldest first from here still reaches January first, as the store now has it.
    second_payment = _paid(here, account, 150_00)
    assert _oldest_first(here, second_payment) == {january: 100_00, february: 50_00}


def test_oldest_first_passes_over_an_invoice_another_process_settled(two_processes) -> None:
    here, there = two_processes
    account = here.open_account(OpenAccount("Quay Books", "GBP", 30, stamp())).aggregate.id
    january = _invoice(here, account, "INV-1", "2026-02-04")
    february = _invoice(here, account, "INV-2", "2026-03-04")
    here.get_invoice(january)  # cached here as owed in full
    elsewhere = _paid(there, account, 100_00)
    there.allocate_payment(
        AllocatePayment(elsewhere, "r-1", stamp(), ((january, Money(100_00, "GBP")),))
    )

    assert _oldest_first(here, _paid(here, account, 30_00)) == {february: 30_00}
    assert here.get_invoice(january).outstanding.amount_minor == 0


def test_a_refusal_resting_on_a_read_another_process_changed_is_decided_again(
    two_processes,
) -> None:
    """A decision's reads are not one snapshot: another process may commit between two of
    them. A refusal saves nothing, so no check at the save catches that; it is answered
    only once what it read is still what is stored."""
    here, there = two_processes
    account = there.open_account(OpenAccount("Pier Florist", "GBP", 30, stamp())).aggregate.id
    invoice = _invoice(there, account, "INV-1", "2026-02-04")
    payment = _paid(there, account, 100_00)
    allocate = AllocatePayment(payment, "req-1", stamp(), ((invoice, Money(100_00, "GBP")),))
    seen: list[bool] = []

    def decide() -> Decision:
        paid = here.uow.payment(payment)
        if not seen:  # the client's first try, in the other process, commits meanwhile
            there.allocate_payment(allocate)
        owed = here.uow.invoice(invoice).outstanding
        seen.append(allocate.request_id in paid.allocation_requests)
        if allocate.request_id in paid.allocation_requests:
            return already_ran(paid)
        raise OverAllocation(f"invoice {invoice} owes only {owed}")

    assert here.uow.run(decide).replayed, "refused on a payment read before it was allocated"
    assert seen == [False, True]


def test_a_connection_cut_by_the_database_does_not_fail_the_next_command(
    database_url: str,
) -> None:
    ledger = Ledger(eventstore_env(database_url, pool_size=2))
    try:
        account = ledger.open_account(OpenAccount("Dock Ltd", "GBP", 30, stamp())).aggregate.id
        # The database ends every session of this ledger's pool (as a restart would)
        # while the connections sit in the pool, just used.
        with psycopg.connect(database_url, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        number = _invoice(ledger, account, "INV-AFTER", "2026-02-04")
        assert ledger.get_invoice(number).number == "INV-AFTER"
    finally:
        ledger.close()


def test_a_connection_is_checked_only_once_it_has_sat_unused(database_url: str) -> None:
    check = CheckWhenIdle(idle_s=0.2)
    with psycopg.connect(database_url, autocommit=True) as conn:
        check(conn)  # never handed out before: checked
        check(conn)  # handed out a moment ago: not checked again
        assert check.checks == 1
        time.sleep(0.3)
        check(conn)
        assert check.checks == 2


def test_one_caller_after_the_database_cut_every_session_is_served_at_once(
    database_url: str,
) -> None:
    """A group commit's leader asks for a connection alone while others wait for it: the
    pool's own loop would try the dead ones one at a time, sleeping 1, 2, 4 s... between
    them, and time out; the first failed check replaces every dead one at once."""
    pool = ConnectionPool(database_url, min_size=5, max_size=5, open=True, timeout=30)
    check = check_when_idle(pool)
    check.idle_s = 0.0  # every connection counts as having sat unused
    try:
        pool.wait(timeout=30)
        with psycopg.connect(database_url, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        with pool.connection(timeout=2.5) as conn:  # under the loop's 1 + 2 s of sleeps
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        pool.close()
