"""Where the relay and each projection have got to. For a projection: one row per Kafka
partition holding the store position of the last event applied from it, written in the
same transaction as the rows."""

from __future__ import annotations

import threading
import time
from collections.abc import Collection, Iterable
from typing import Any

from psycopg import Connection, Cursor
from psycopg_pool import ConnectionPool

from infra.array_text import joined
from infra.database import create_schema
from projections.position_watch import CHANNEL, RECHECK_S, PositionWatch

POSITIONS_SCHEMA = """
CREATE TABLE IF NOT EXISTS projection_positions (
    projection text NOT NULL,
    partition int NOT NULL,
    position bigint NOT NULL,
    PRIMARY KEY (projection, partition)
);
"""
SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS relay_positions (
    relay text PRIMARY KEY,
    position bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS relay_partitions (
    relay text NOT NULL,
    partition int NOT NULL,
    position bigint NOT NULL,
    PRIMARY KEY (relay, partition)
);
"""
    + POSITIONS_SCHEMA
)
WAIT_POLL_SECONDS = 0.01


def ensure_schema(pool: ConnectionPool) -> None:
    """The relay's and the projections' position tables."""
    create_schema(pool, SCHEMA)


def lock_position(conn: Connection[Any], projection: str, partition: int) -> int:
    """The partition's position, locked until the transaction ends so that two consumers
    briefly sharing a partition during a rebalance cannot both apply an event."""
    return lock_positions(conn, projection, [partition])[partition]


_LOCK_SQL = (
    "SELECT partition, position FROM projection_positions"
    " WHERE projection = %s AND partition = ANY(%s::int[]) ORDER BY partition FOR UPDATE"
)


def locking_positions(
    conn: Connection[Any], projection: str, partitions: Collection[int]
) -> Cursor[Any]:
    """The statement of :func:`lock_positions` for the partitions that have a position
    row, sent (in a pipeline, with what follows it) and not yet read: read it with
    :func:`locked_positions`."""
    return conn.execute(_LOCK_SQL, (projection, _ints(sorted(partitions))))


def locked_positions(
    conn: Connection[Any], projection: str, partitions: Collection[int], locking: Cursor[Any]
) -> tuple[dict[int, int], bool]:
    """The positions :func:`locking_positions` locked, and whether a row had to be made:
    a partition without one (a new projection, a topic given more partitions) gets one
    at 0, locked too, after the others."""
    found = {int(p): int(position) for p, position in locking.fetchall()}
    missing = set(partitions) - set(found)
    if not missing:
        return found, False
    conn.execute(
        "INSERT INTO projection_positions (projection, partition, position)"
        " SELECT %s, unnest(%s::int[]), 0 ON CONFLICT DO NOTHING",
        (projection, _ints(sorted(missing))),
    )
    locked = conn.execute(_LOCK_SQL, (projection, _ints(sorted(partitions))))
    return {int(p): int(position) for p, position in locked.fetchall()}, True


def lock_positions(
    conn: Connection[Any], projection: str, partitions: Collection[int]
) -> dict[int, int]:
    """:func:`lock_position` of several partitions, in partition order (as every caller
    locks them, so that two cannot deadlock): one statement once their rows exist. Rows
    are made only for a partition that has none, not on every batch."""
    locking = locking_positions(conn, projection, partitions)
    return locked_positions(conn, projection, partitions, locking)[0]


def save_positions(conn: Connection[Any], projection: str, positions: dict[int, int]) -> None:
    """:func:`save_position` of several partitions in one statement."""
    conn.execute(
        "WITH saved AS (UPDATE projection_positions AS t SET position = m.position"
        " FROM unnest(%s::int[], %s::bigint[]) AS m(partition, position)"
        " WHERE t.projection = %s AND t.partition = m.partition RETURNING 1)"
        " SELECT pg_notify(%s, %s)",
        (_ints(positions), _ints(positions.values()), projection, CHANNEL, projection),
    )


def save_position(conn: Connection[Any], projection: str, partition: int, position: int) -> None:
    """The partition's new position; waits in every process hear of it as the transaction
    commits (``projections/position_watch.py``)."""
    conn.execute(
        "WITH saved AS (UPDATE projection_positions SET position = %s"
        " WHERE projection = %s AND partition = %s RETURNING 1)"
        " SELECT pg_notify(%s, %s)",
        (position, projection, partition, CHANNEL, projection),
    )


def _ints(values: Iterable[int]) -> str:
    """Integers as an array's text input: psycopg's list dumper looks through a list for
    the smallest integer type that holds it, on every batch (a tenth of a small batch's
    time, for one or two partitions)."""
    return joined(str(int(v)) for v in values)


def positions(conn: Connection[Any], projection: str) -> dict[int, int]:
    rows = conn.execute(
        "SELECT partition, position FROM projection_positions WHERE projection = %s",
        (projection,),
    ).fetchall()
    return {int(p): int(pos) for p, pos in rows}


WATERMARK_SQL = """
SELECT COALESCE(
    (SELECT MIN(CASE WHEN COALESCE(pp.position, 0) >= rp.position THEN r.position
                     ELSE COALESCE(pp.position, 0) END)
       FROM relay_partitions rp
       LEFT JOIN projection_positions pp
              ON pp.projection = %(projection)s AND pp.partition = rp.partition
      WHERE rp.relay = %(relay)s),
    r.position)
FROM relay_positions r WHERE r.relay = %(relay)s
"""


def watermark(conn: Connection[Any], projection: str, relay: str) -> int:
    """The highest store position P such that every event at or before P that the relay
    has published is applied. A partition that has applied its last published event is
    complete up to the relay's position; one that is behind is complete up to its own."""
    row = conn.execute(WATERMARK_SQL, {"projection": projection, "relay": relay}).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def wait_for(
    pool: ConnectionPool,
    projection: str,
    relay: str,
    min_position: int,
    timeout: float,
    stop: threading.Event | None = None,
    watch: PositionWatch | None = None,
) -> bool:
    """Wait until the projection has applied every event up to ``min_position``; False
    if it has not within ``timeout``, or once ``stop`` is set (a process asked to end).
    With a ``watch`` that is listening, the watermark is read again when the projection
    commits; without one, every ``WAIT_POLL_SECONDS``."""
    deadline = time.monotonic() + timeout
    while True:
        listening = watch is not None and watch.listening
        heard = watch.heard(projection) if watch is not None else 0  # before the read
        with pool.connection() as conn:
            if watermark(conn, projection, relay) >= min_position:
                return True
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        if watch is not None and listening:
            watch.wait_past(projection, heard, min(remaining, RECHECK_S))
            if stop is not None and stop.is_set():
                return False
        elif stop is None:
            time.sleep(WAIT_POLL_SECONDS)
        elif stop.wait(WAIT_POLL_SECONDS):
            return False
