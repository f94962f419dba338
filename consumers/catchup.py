"""Catching a projection up from the event store, for partitions whose Kafka history is
gone (a broker restarted empty) or was never there (a new projection)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from consumers.topic import partition_for
from contract.cloudevents import to_cloudevent
from ledger.application import Ledger
from projections import held, tracking
from projections.writer import Bulk, Projection, apply_batch, apply_together

log = logging.getLogger("arledger.catchup")

CHUNK_EVENTS = 4_000  # read from the store at a time; a partition's share is one batch


class BulkFailed(Exception):
    """A chunk could not be applied to a :class:`projections.writer.Bulk`: what it holds
    may be part-changed, and the tables are to be built again without it."""


def catch_up(
    ledger: Ledger,
    pool: ConnectionPool,
    projection: Projection,
    partitions: set[int],
    partition_count: int,
    *,
    keepalive: Callable[[], None] = lambda: None,
    progress: Callable[[int, int], None] = lambda done, head: None,
    start_after: int | None = None,
    new_tables: bool = False,
    bulk: Bulk | None = None,
) -> int:
    """Apply, from the store, every event of ``partitions`` after each one's position, up
    to the store's head. Safe to run beside a consumer of the same partitions: positions
    are checked under lock. ``start_after`` skips reading what the caller knows is applied
    (a partition's position is its last event's, which says nothing of the events of
    other partitions after it). ``new_tables``: the projection's tables are new and no one
    else writes them (a rebuild's), so it may write them in bulk. Returns the number of
    events applied.

    Each chunk of the log is applied in one transaction, every partition's together. (Not
    overlapped with reading the next chunk on a thread: each thread's round trips then
    wait on the other's hold of the GIL, and it was no faster.)"""
    if not partitions:
        return 0
    with pool.connection() as conn:
        known = tracking.positions(conn, projection.name)
    after = min(known.get(p, 0) for p in partitions)
    if start_after is not None:
        after = max(after, start_after)
    head = ledger.head_position()
    applied = 0
    log.info(
        "catching up from the store",
        extra={
            "projection": projection.name,
            "partitions": sorted(partitions),
            "from": after,
            "head": head,
        },
    )
    while after < head and (chunk := _chunk(ledger, partitions, partition_count, after)):
        after, grouped = chunk
        applied += _apply_chunk(pool, projection, grouped, new_tables, bulk)
        progress(after, head)
        keepalive()
    log.info("caught up", extra={"projection": projection.name, "applied": applied, "to": after})
    return applied


Chunk = tuple[int, dict[int, list[dict[str, Any]]]]


def _chunk(ledger: Ledger, partitions: set[int], partition_count: int, after: int) -> Chunk | None:
    """The CloudEvents of ``partitions`` in the next ``CHUNK_EVENTS`` of the log after
    ``after``, by partition, and the last position read; None at the end of the log."""
    notifications = ledger.read_log(after, CHUNK_EVENTS)
    if not notifications:
        return None
    grouped: dict[int, list[dict[str, Any]]] = {}
    for notification in notifications:
        ce = to_cloudevent(ledger, notification)
        p = partition_for(ce["accountid"], partition_count)
        if p in partitions:
            grouped.setdefault(p, []).append(ce)
    return notifications[-1].id, grouped


def _apply_chunk(
    pool: ConnectionPool,
    projection: Projection,
    grouped: dict[int, list[dict[str, Any]]],
    new_tables: bool,
    bulk: Bulk | None,
) -> int:
    """Every partition's events in one transaction; if that fails, each on its own."""
    if not grouped:
        return 0
    together = apply_together(pool, projection, grouped, new_tables=new_tables, bulk=bulk)
    if together is not None:
        return together
    if bulk is not None:
        raise BulkFailed(f"a chunk of {projection.name} failed in bulk")
    return sum(
        apply_batch(pool, projection, p, events, new_tables=new_tables)
        for p, events in sorted(grouped.items())
    )


def retry_held(ledger: Ledger, pool: ConnectionPool, projection: Projection) -> int:
    """Apply again, from the store and in order, the events the projection holds back
    (``projections.held``); release each account all of whose events now apply. Returns
    how many accounts were released. Run when a consumer starts: after a fix is
    deployed, held accounts catch up without anyone replaying anything by hand."""
    with pool.connection() as conn:
        waiting = held.holds(conn, projection.name)
    released = 0
    for hold in waiting:
        try:
            with pool.connection() as conn, conn.transaction():
                for position in held.held_positions(conn, projection.name, hold.account_id):
                    (notification,) = ledger.read_log(position - 1, 1)
                    projection.apply(conn, [to_cloudevent(ledger, notification)])
                held.release(conn, projection.name, hold.account_id)
        except psycopg.OperationalError:
            raise
        except Exception as e:  # noqa: BLE001 - still held; it says why in /healthz
            log.warning(
                "a held account still cannot be applied",
                extra={"projection": projection.name, "account": hold.account_id, "error": repr(e)},
            )
            continue
        released += 1
        log.info(
            "a held account was released",
            extra={"projection": projection.name, "account": hold.account_id},
        )
    return released
