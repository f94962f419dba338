"""The two ways to the balances read model build the same rows for a mixed book: the
consumer's (each event as the relay publishes it, JSON with its ``partitionprev``, applied
in polls of any size, every partition of a poll in one transaction) and a rebuild's (the
events read straight from their stored JSON, new rows by COPY into a side schema whose
indexes are built after, then switched in)."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from typing import Any
from uuid import UUID

import orjson
import pytest
from psycopg_pool import ConnectionPool

from consumers.rebuild import rebuild
from consumers.topic import partition_for
from contract.cloudevents import decoded
from infra.database import eventstore_env, open_pool
from ledger.application import Ledger
from ledger.commands import ChangeStanding, Escalate, LogContact, OpenAccount, UpdateAccount
from ledger.money import Money
from projections.registry import BALANCES
from projections.writer import apply_together
from tests.book import stamp, write_book

PARTITIONS = 6


@pytest.fixture
def store(database_url: str) -> Iterator[tuple[Ledger, ConnectionPool, str]]:
    ledger = Ledger(eventstore_env(database_url), snapshot_interval=4)
    pool = open_pool(database_url, max_size=2)
    BALANCES.ensure_schema(pool)
    yield ledger, pool, database_url
    pool.close()
    ledger.close()


def _account_days(ledger: Ledger, rng: random.Random) -> None:
    """Accounts whose own events (details, contacts, standing, escalation) follow their
    opening closely, so that one poll holds both."""
    for n in range(4):
        opened = ledger.open_account(OpenAccount(f"Near {n}", "GBP", 30, stamp()))
        account = UUID(str(opened.aggregate.id))
        for _ in range(rng.randint(1, 3)):
            ledger.log_contact(LogContact(account, "call", "outbound", "rang", stamp()))
        ledger.update_account(
            UpdateAccount(account, stamp(), email=f"n{n}@example.com", credit_limit=Money(9, "GBP"))
        )
        if n % 2:
            ledger.change_standing(ChangeStanding(account, "hold", "checking", stamp()))
            ledger.escalate(Escalate(account, "manager-1", "large", stamp()))


def _published(ledger: Ledger) -> list[tuple[int, bytes]]:
    """Every event as the relay puts it on the topic: its partition and its message."""
    last: dict[int, int] = {}
    messages = []
    for notification in ledger.read_log(0, 1_000_000):
        ce = decoded(ledger, notification)  # the mapper's way, for a second opinion
        partition = partition_for(ce["accountid"], PARTITIONS)
        message = {**ce, "partitionprev": last.get(partition, 0)}
        last[partition] = notification.id
        messages.append((partition, json.dumps(message, separators=(",", ":")).encode()))
    return messages


def _consume(pool: ConnectionPool, messages: list[tuple[int, bytes]], rng: random.Random) -> None:
    """Apply the messages as the consumer does, in polls of random sizes."""
    at = 0
    while at < len(messages):
        poll = messages[at : at + rng.randint(1, 400)]
        at += len(poll)
        by_partition: dict[int, list[dict[str, Any]]] = {}
        for partition, value in poll:
            by_partition.setdefault(partition, []).append(orjson.loads(value))
        assert apply_together(pool, BALANCES, by_partition) is not None


def _dump(pool: ConnectionPool) -> dict[str, list[Any]]:
    with pool.connection() as conn:
        return {
            table: sorted(conn.execute(f"SELECT * FROM {table}").fetchall(), key=repr)
            for table in BALANCES.tables
        }


def test_the_consumer_and_a_rebuild_build_the_same_balances(store) -> None:
    ledger, pool, url = store
    rng = random.Random(16)
    write_book(ledger, rng, 250, 6)
    _account_days(ledger, rng)
    write_book(ledger, rng, 100, 3)
    _consume(pool, _published(ledger), rng)
    consumed = _dump(pool)
    assert len(consumed["account_events"]) == ledger.head_position()
    with pool.connection() as conn:
        contacted = conn.execute(
            "SELECT count(*) FROM balance_accounts WHERE last_contact_at IS NOT NULL"
        ).fetchone()
    assert contacted == (4,)

    assert rebuild(ledger, pool, url, BALANCES, PARTITIONS) == ledger.head_position()
    assert _dump(pool) == consumed
    with pool.connection() as conn:
        indexes = {
            r[0]
            for r in conn.execute(
                "SELECT indexname FROM pg_indexes WHERE schemaname = 'public'"
                " AND tablename LIKE ANY(ARRAY['balance_%', 'account_events'])"
            )
        }
    assert {"account_events_account", "balance_invoices_account"} <= indexes


def test_batches_that_repeat_events_build_the_same_balances(store) -> None:
    """Each batch handed again part of the one before (a catch-up over what the consumer
    applied): an event is applied once, and a new one finds the row a repeated one made
    (a payment allocated to an invoice raised in the part repeated)."""
    ledger, pool, url = store
    rng = random.Random(1605)
    write_book(ledger, rng, 250, 6)
    _account_days(ledger, rng)
    events = [decoded(ledger, n) for n in ledger.read_log(0, 1_000_000)]
    at = 0
    with pool.connection() as conn:
        while at < len(events):
            end = at + rng.randint(1, 60)
            with conn.transaction():
                BALANCES.apply(conn, events[max(0, at - rng.randint(0, 30)) : end])
            at = end
    repeated = _dump(pool)
    assert len(repeated["account_events"]) == ledger.head_position()

    assert rebuild(ledger, pool, url, BALANCES, PARTITIONS) == ledger.head_position()
    assert _dump(pool) == repeated
