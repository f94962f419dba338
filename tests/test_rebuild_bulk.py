"""A rebuild of the balances read model keeps its rows in memory from one chunk of the
store to the next and writes each once, by COPY (``projections/balance_bulk.py``). What
it builds is what the consumer builds: when the rows held outgrow memory and are written
part-way, and when an event cannot be stored (a rebuild then starts again chunk by chunk,
and the event holds its account as it does in the live projection)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import orjson
import pytest
from psycopg_pool import ConnectionPool

from consumers.rebuild import rebuild
from infra.database import eventstore_env, open_pool
from ledger.application import Ledger
from ledger.commands import OpenAccount
from ledger.stamp import Stamp
from projections import balance_bulk, held
from projections.registry import BALANCES
from projections.writer import apply_batch, apply_together
from tests.book import stamp, write_book
from tests.test_readmodel_paths import PARTITIONS, _dump, _published


@pytest.fixture
def store(database_url: str) -> Iterator[tuple[Ledger, ConnectionPool, str]]:
    ledger = Ledger(eventstore_env(database_url))
    pool = open_pool(database_url, max_size=2)
    BALANCES.ensure_schema(pool)
    yield ledger, pool, database_url
    pool.close()
    ledger.close()


def _consume(pool: ConnectionPool, ledger: Ledger) -> dict[str, list[Any]]:
    """The balances the consumer builds from every event on the topic, in polls of 300;
    a poll that fails together is applied partition by partition (holding what fails)."""
    messages = _published(ledger)
    for at in range(0, len(messages), 300):
        polled: dict[int, list[dict[str, Any]]] = {}
        for partition, value in messages[at : at + 300]:
            polled.setdefault(partition, []).append(orjson.loads(value))
        if apply_together(pool, BALANCES, polled) is None:
            for partition, events in sorted(polled.items()):
                apply_batch(pool, BALANCES, partition, events)
    return _dump(pool)


def test_a_rebuild_that_writes_its_rows_part_way_builds_what_the_consumer_built(
    store, monkeypatch
) -> None:
    ledger, pool, url = store
    write_book(ledger, random.Random(23), 300, 5)
    consumed = _consume(pool, ledger)
    monkeypatch.setattr(balance_bulk, "ROWS_HELD_MAX", 40)  # written many times over

    assert rebuild(ledger, pool, url, BALANCES, PARTITIONS) == ledger.head_position()
    assert _dump(pool) == consumed


def _store_unstorable(ledger: Ledger, account_id: UUID) -> int:
    """An event already in the store with a NUL in its text (the door refuses them now;
    stores written before hold some): a new name, which no ``text`` column can take."""
    account = ledger.get_account(account_id)
    legacy = Stamp("legacy-import", "c-nul", "c-nul", datetime.now(UTC))
    account.update_details({"name": "Legacy\x00Ltd"}, None, legacy)
    return max(r.notification.id for r in ledger.save(account))


def test_an_event_a_rebuild_cannot_store_holds_its_account_as_the_consumer_does(store) -> None:
    ledger, pool, url = store
    write_book(ledger, random.Random(24), 120, 4)
    bad = UUID(str(ledger.open_account(OpenAccount("Legacy Ltd", "GBP", 30, stamp())).aggregate.id))
    poison_at = _store_unstorable(ledger, bad)
    write_book(ledger, random.Random(25), 60, 2)
    consumed = _consume(pool, ledger)
    with pool.connection() as conn:
        assert [h.position for h in held.holds(conn, "balances")] == [poison_at]
        conn.execute("DELETE FROM projection_held")  # the rebuild meets the event afresh

    assert rebuild(ledger, pool, url, BALANCES, PARTITIONS) == ledger.head_position()
    assert _dump(pool) == consumed
    with pool.connection() as conn:
        hold = held.hold_of(conn, "balances", str(bad))
    assert hold is not None and hold.position == poison_at
