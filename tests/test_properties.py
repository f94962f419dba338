"""For any sequence of commands: money is conserved, nothing is over-allocated or
negative, and the projection built from the events equals a fold of the store."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consumers.catchup import catch_up
from ledger.account import Account
from ledger.application import Ledger
from ledger.payment import Payment
from projections.database import eventstore_env, open_pool
from projections.registry import AUDIT, BALANCES, PROJECTIONS, RECEIVABLES
from tests.book import write_book
from tests.folds import fold_store, read_projection

PARTITIONS = 6


@pytest.fixture
def store(database_url):
    ledger = Ledger(eventstore_env(database_url), snapshot_interval=4)
    pool = open_pool(database_url, max_size=2)
    for projection in PROJECTIONS.values():
        projection.ensure_schema(pool)
    yield ledger, pool
    pool.close()
    ledger.close()


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(seed=st.integers(0, 2**32 - 1), commands=st.integers(1, 60))
def test_any_command_sequence_conserves_money_and_projects_to_the_store(store, seed, commands):
    ledger, pool = store
    write_book(ledger, random.Random(seed), commands, accounts=3)
    folded = fold_store(ledger)
    for invoice in folded["invoices"].values():
        assert 0 <= invoice["allocated"] <= invoice["amount"]
    for totals in folded["accounts"].values():
        assert 0 <= totals["allocated"] <= totals["paid"]
        assert totals["allocated"] <= totals["invoiced"]
    for account_id in folded["accounts"]:
        account = ledger.get_account(uuid.UUID(account_id))
        assert isinstance(account, Account)
        invoices = [ledger.get_invoice(i) for i in account.invoice_ids()]
        outstanding = sum(i.outstanding.amount_minor for i in invoices)
        allocated = sum(i.allocated.amount_minor for i in invoices)
        credited = sum(i.credited.amount_minor for i in invoices)
        written_off = sum(i.written_off.amount_minor for i in invoices)
        # Money is conserved: what was invoiced (less voids) is owed, paid, credited or
        # written off.
        applied = allocated + credited + written_off
        assert outstanding + applied == folded["accounts"][account_id]["invoiced"]
        assert all(i.outstanding.amount_minor >= 0 for i in invoices)

    _payments_agree_with_invoices(ledger)

    # The projection, fed from the store by the same code the Kafka consumer uses, agrees.
    catch_up(ledger, pool, BALANCES, set(range(PARTITIONS)), PARTITIONS)
    assert read_projection(pool) == folded

    # The receivables and audit read models, built the same way, agree with the
    # aggregates on what every invoice and account owes and what every payment holds.
    for projection in (RECEIVABLES, AUDIT):
        catch_up(ledger, pool, projection, set(range(PARTITIONS)), PARTITIONS)
    _read_models_agree_with_aggregates(ledger, pool, folded)


def _read_models_agree_with_aggregates(ledger: Ledger, pool, folded) -> None:
    with pool.connection() as conn:
        by_invoice = dict(
            conn.execute(
                "SELECT invoice_id, SUM(amount_minor) FROM receivable_movements GROUP BY 1"
            ).fetchall()
        )
        by_account = dict(
            conn.execute(
                "SELECT account_id, SUM(amount_minor) FROM receivable_movements GROUP BY 1"
            ).fetchall()
        )
        audited = dict(
            conn.execute("SELECT account_id, outstanding_minor FROM audit_accounts").fetchall()
        )
        cash = dict(
            conn.execute(
                "SELECT payment_id, SUM(amount_minor) FROM receivable_cash GROUP BY 1"
            ).fetchall()
        )
    for account_id in folded["accounts"]:
        account = ledger.get_account(uuid.UUID(account_id))
        invoices = [ledger.get_invoice(i) for i in account.invoice_ids()]
        for invoice in invoices:
            assert by_invoice[invoice.id] == invoice.outstanding.amount_minor
        owed = sum(i.outstanding.amount_minor for i in invoices)
        assert by_account.get(account.id, 0) == owed
        assert audited[account.id] == owed
    for payment in _payments(ledger):
        assert cash.get(payment.id, 0) == payment.held.amount_minor, payment.status


def _payments(ledger: Ledger) -> Iterator[Payment]:
    """Every payment in the store, as it stands now."""
    after = 0
    while batch := ledger.read_log(after, 1000):
        for notification in batch:
            event = ledger.decode(notification)
            if isinstance(event, Payment.Recorded):  # type: ignore[attr-defined]
                yield ledger.get_payment(event.originator_id)
        after = batch[-1].id


def _payments_agree_with_invoices(ledger: Ledger) -> None:
    """Every payment holds no less than it has allocated, and what payments say they
    applied to each invoice is exactly what each invoice says it received."""
    applied_to: dict[uuid.UUID, int] = {}
    for payment in _payments(ledger):
        assert 0 <= payment.allocated.amount_minor <= payment.held.amount_minor
        assert payment.held.amount_minor <= payment.amount.amount_minor
        assert payment.unallocated.amount_minor >= 0
        for key, amount in payment.applied.items():
            assert amount.amount_minor > 0
            applied_to[uuid.UUID(key)] = applied_to.get(uuid.UUID(key), 0) + amount.amount_minor
    for invoice_id, amount in applied_to.items():
        assert ledger.get_invoice(invoice_id).allocated.amount_minor == amount
