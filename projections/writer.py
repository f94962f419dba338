"""Applying events to a projection exactly once: per partition, under the partition's
locked position, in one transaction with the rows. The Kafka consumer and a catch-up
from the store both come through here."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from psycopg import Connection
from psycopg_pool import ConnectionPool

from projections import tracking
from projections.database import create_schema

log = logging.getLogger("arledger.projection")


@dataclass(frozen=True)
class Projection:
    """A read model: its tables and the function that applies a run of new CloudEvents
    (in store order, none applied before) inside the caller's transaction."""

    name: str
    schema: str
    apply: Callable[[Connection[Any], Sequence[dict[str, Any]]], None]

    def ensure_schema(self, pool: ConnectionPool) -> None:
        create_schema(pool, tracking.SCHEMA, self.schema)

    @property
    def tables(self) -> list[str]:
        """The tables its schema creates, in order."""
        return re.findall(r"CREATE TABLE IF NOT EXISTS (\w+)", self.schema)


class GapDetected(Exception):
    """The broker skipped events of a partition (it lost history): catch up from the
    store before applying more."""

    def __init__(self, partition: int, applied: int, expected_prev: int) -> None:
        super().__init__(f"partition {partition}: applied {applied}, next follows {expected_prev}")
        self.partition = partition


def apply_batch(
    pool: ConnectionPool, projection: Projection, partition: int, events: Sequence[dict[str, Any]]
) -> int:
    """Apply ``events`` (all of one partition, in order) that are newer than the
    partition's position; return how many were applied. Raises :class:`GapDetected`,
    applying nothing, when an event says an earlier one of its partition never arrived."""
    with pool.connection() as conn, conn.transaction():
        position = tracking.lock_position(conn, projection.name, partition)
        fresh = []
        for ce in events:
            if ce["position"] <= position:
                continue  # a redelivery: already applied
            if ce.get("partitionprev", position) > position:
                raise GapDetected(partition, position, ce["partitionprev"])
            fresh.append(ce)
            position = ce["position"]
        if fresh:
            projection.apply(conn, fresh)
            tracking.save_position(conn, projection.name, partition, position)
    return len(fresh)


OPENED = "arledger.account.opened"


def fresh_per_account(
    conn: Connection[Any], table: str, events: Sequence[dict[str, Any]]
) -> Iterator[dict[str, Any]]:
    """The events of ``events`` that ``table`` (keyed by ``account_id``, with the
    ``position`` of the last event applied to each account) has not applied, in order;
    the caller applies each one and the account's position moves on as it is yielded.

    An account's events arrive in store order, so an event at or before the account's
    position is a repeat. This holds whatever the partition bookkeeping says, so a
    repartitioned topic or a replay from the store never counts an event twice. The
    accounts are locked (in a fixed order) and read once per batch, now, before the
    caller starts a pipeline. Events of an account
    the table never saw opened are skipped: there is nothing to add them to."""
    assert table.isidentifier(), table  # names come from our modules, never a message
    accounts = sorted({ce["accountid"] for ce in events})
    known: dict[str, int] = {
        str(account): int(position)
        for account, position in conn.execute(
            f"SELECT account_id, position FROM {table}"
            " WHERE account_id = ANY(%s::uuid[]) ORDER BY account_id FOR UPDATE",
            (accounts,),
        ).fetchall()
    }
    return _unseen(conn, table, events, known)


def _unseen(
    conn: Connection[Any], table: str, events: Sequence[dict[str, Any]], known: dict[str, int]
) -> Iterator[dict[str, Any]]:
    for ce in events:
        last = known.get(ce["accountid"])
        if last is None and ce["type"] != OPENED:
            continue
        if last is not None and ce["position"] <= last:
            continue
        yield ce
        conn.execute(
            f"UPDATE {table} SET position = %s WHERE account_id = %s",
            (ce["position"], ce["accountid"]),
        )
        known[ce["accountid"]] = ce["position"]
