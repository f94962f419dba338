"""Stores written before the door refused NULs hold events with one in their text. An
account's history and its audit trail keep each such event, as ``json`` text, which a NUL
escape does not stop (``jsonb`` refused it, and the account's balances and audit trail
then stopped at that event until someone released it)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import orjson
import pytest
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from infra.database import eventstore_env, open_pool
from ledger.application import Ledger
from ledger.commands import OpenAccount
from ledger.stamp import Stamp
from projections import held
from projections.registry import AUDIT, BALANCES
from projections.writer import Projection, apply_together
from tests.book import stamp
from tests.test_readmodel_paths import _published


@pytest.fixture
def store(database_url: str) -> Iterator[tuple[Ledger, ConnectionPool]]:
    ledger = Ledger(eventstore_env(database_url))
    pool = open_pool(database_url, max_size=2)
    yield ledger, pool
    pool.close()
    ledger.close()


def _with_a_nul_note(ledger: Ledger) -> UUID:
    """An account whose last event is a contact logged with a NUL in its outcome, saved
    through the aggregate, past the door."""
    account_id = UUID(
        str(ledger.open_account(OpenAccount("Old Ltd", "GBP", 30, stamp())).aggregate.id)
    )
    account = ledger.get_account(account_id)
    legacy = Stamp("legacy-import", "c-nul", "c-nul", datetime.now(UTC))
    account.log_contact("call", "outbound", "a\x00b", None, None, legacy)
    ledger.save(account)
    return account_id


def _consumed(ledger: Ledger, pool: ConnectionPool, projection: Projection) -> None:
    projection.ensure_schema(pool)
    polled: dict[int, list[dict[str, Any]]] = {}
    for partition, value in _published(ledger):
        polled.setdefault(partition, []).append(orjson.loads(value))
    assert apply_together(pool, projection, polled) is not None  # nothing held back


def _last_kept(store: tuple[Ledger, ConnectionPool], projection: Projection, query: str) -> Any:
    """The row ``query`` reads last of the account with the note, once ``projection`` has
    taken the store's events and held none of them back."""
    ledger, pool = store
    account_id = _with_a_nul_note(ledger)
    _consumed(ledger, pool, projection)
    with pool.connection() as conn:
        assert held.holds(conn, projection.name) == []
        cursor = conn.cursor(row_factory=dict_row)
        return cursor.execute(
            f"{query} WHERE account_id = %s ORDER BY position DESC LIMIT 1", (account_id,)
        ).fetchone()


def test_the_account_history_keeps_a_note_with_a_nul(store) -> None:
    last = _last_kept(store, BALANCES, "SELECT cloudevent FROM account_events")["cloudevent"]
    assert last["type"] == "arledger.account.contact_logged"
    assert last["data"]["outcome"] == "a\x00b"


def test_the_audit_trail_keeps_a_note_with_a_nul(store) -> None:
    last = _last_kept(store, AUDIT, "SELECT type, actor, data FROM audit_entries")
    assert (last["type"], last["actor"]) == ("arledger.account.contact_logged", "legacy-import")
    assert last["data"]["outcome"] == "a\x00b"
