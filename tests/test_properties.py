"""For any sequence of commands: money is conserved, nothing is over-allocated or
negative, and the projection built from the events equals a fold of the store."""

from __future__ import annotations

import random
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consumers.catchup import catch_up
from ledger.account import Account
from ledger.application import Ledger
from projections.database import eventstore_env, open_pool
from projections.registry import BALANCES
from tests.book import write_book
from tests.folds import fold_store, read_projection

PARTITIONS = 6


@pytest.fixture
def store(database_url):
    ledger = Ledger(eventstore_env(database_url), snapshot_interval=4)
    pool = open_pool(database_url, max_size=2)
    BALANCES.ensure_schema(pool)
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

    # The projection, fed from the store by the same code the Kafka consumer uses, agrees.
    catch_up(ledger, pool, BALANCES, set(range(PARTITIONS)), PARTITIONS)
    assert read_projection(pool) == folded
