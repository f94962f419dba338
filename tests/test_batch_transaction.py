"""A read model's batch is one transaction whose BEGIN goes with the position locks and
whose COMMIT goes with the saved positions (``projections/writer.py``). Whatever fails in
it, nothing of the batch is kept and the pooled connection is left clean; an account
held elsewhere is held here, whether or not the partition had a position yet."""

from __future__ import annotations

import psycopg
import pytest

from contract.cloudevents import to_cloudevent
from infra.database import eventstore_env, open_pool
from ledger.application import Ledger
from ledger.commands import OpenAccount
from projections import held, tracking
from projections.writer import Projection, apply_batch
from tests.book import stamp


def _noting(name: str) -> Projection:
    table = f"{name}_rows"

    def apply(conn, events):
        for ce in events:
            conn.execute(f"INSERT INTO {table} (position) VALUES (%s)", (ce["position"],))

    return Projection(
        name, f"CREATE TABLE IF NOT EXISTS {table} (position bigint PRIMARY KEY);", apply
    )


def _events(ledger: Ledger, accounts: int) -> list[dict]:
    for n in range(accounts):
        ledger.open_account(OpenAccount(f"Batch {n} Ltd", "GBP", 30, stamp()))
    return [to_cloudevent(ledger, n) for n in ledger.read_log(0, 100)]


def _rows(conn, name: str) -> set[int]:
    return {r[0] for r in conn.execute(f"SELECT position FROM {name}_rows")}


def test_a_batch_whose_positions_fail_to_save_keeps_nothing_and_leaves_the_connection_clean(
    database_url,
):
    ledger = Ledger(eventstore_env(database_url))
    pool = open_pool(database_url, max_size=1)  # every batch on the same connection
    try:
        capped = _noting("capped")
        capped.ensure_schema(pool)
        events = _events(ledger, 3)
        with pool.connection() as conn:
            conn.execute(
                "ALTER TABLE projection_positions ADD CONSTRAINT capped_below_2"
                " CHECK (projection <> 'capped' OR position < 2)"
            )
            conn.commit()

        # Saving the positions fails with the COMMIT sent beside it: the batch, then
        # each event on its own, is refused, and nothing of either is kept.
        with pytest.raises(psycopg.errors.CheckViolation):
            apply_batch(pool, capped, 0, events)
        with pool.connection() as conn:
            assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
            assert _rows(conn, "capped") == set()
            assert tracking.positions(conn, "capped").get(0, 0) == 0
            conn.execute("ALTER TABLE projection_positions DROP CONSTRAINT capped_below_2")
            conn.commit()

        assert apply_batch(pool, capped, 0, events) == len(events)
        with pool.connection() as conn:
            assert _rows(conn, "capped") == {ce["position"] for ce in events}
            assert tracking.positions(conn, "capped")[0] == events[-1]["position"]
    finally:
        pool.close()
        ledger.close()


@pytest.mark.parametrize("positioned", [False, True], ids=["new partition", "known partition"])
def test_an_account_held_elsewhere_is_held_in_the_batch(database_url, positioned):
    ledger = Ledger(eventstore_env(database_url))
    pool = open_pool(database_url, max_size=1)
    try:
        model = _noting("heldmodel")
        model.ensure_schema(pool)
        first, *rest = _events(ledger, 3)
        with pool.connection() as conn:
            if positioned:  # the partition's row exists: its lock and the holds go together
                tracking.lock_positions(conn, "heldmodel", [0])
            # another member held the first account (in another partition's batch)
            held.hold(conn, "heldmodel", first, "failed elsewhere")
            conn.commit()

        assert apply_batch(pool, model, 0, [first, *rest]) == 3
        with pool.connection() as conn:
            assert _rows(conn, "heldmodel") == {ce["position"] for ce in rest}
            (hold,) = held.holds(conn, "heldmodel")
            assert hold.account_id == first["accountid"]
    finally:
        pool.close()
        ledger.close()


def test_a_batch_whose_connection_is_lost_says_so(database_url):
    """The consumer tells a lost connection (it waits and goes on) from a batch it cannot
    apply (it holds an account): losing the connection mid-batch raises the server's own
    error, an OperationalError, whatever the batch's transaction was doing."""

    def apply(conn, events):
        conn.execute("SELECT pg_terminate_backend(pg_backend_pid())")

    lost = Projection("lost", "CREATE TABLE IF NOT EXISTS lost_rows (position bigint);", apply)
    ledger = Ledger(eventstore_env(database_url))
    pool = open_pool(database_url, max_size=1)
    try:
        lost.ensure_schema(pool)
        # the server's own error, not one about putting the connection back
        with pytest.raises(psycopg.errors.AdminShutdown):
            apply_batch(pool, lost, 0, _events(ledger, 1))
        with pool.connection() as conn:  # the pool made a new one
            assert tracking.positions(conn, "lost").get(0, 0) == 0
    finally:
        pool.close()
        ledger.close()
