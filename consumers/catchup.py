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
from projections.writer import Projection, apply_batch

log = logging.getLogger("arledger.catchup")

CHUNK_EVENTS = 4_000  # read from the store at a time; a partition's share is one batch


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
) -> int:
    """Apply, from the store, every event of ``partitions`` after each one's position, up
    to the store's head. Safe to run beside a consumer of the same partitions: positions
    are checked under lock. ``start_after`` skips reading what the caller knows is applied
    (a partition's position is its last event's, which says nothing of the events of
    other partitions after it). Returns the number of events applied."""
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
    while after < head:
        notifications = ledger.read_log(after, CHUNK_EVENTS)
        if not notifications:
            break
        grouped: dict[int, list[dict[str, Any]]] = {p: [] for p in partitions}
        for notification in notifications:
            ce = to_cloudevent(ledger, notification)
            p = partition_for(ce["accountid"], partition_count)
            if p in grouped:
                grouped[p].append(ce)
        applied += sum(
            apply_batch(pool, projection, p, events) for p, events in grouped.items() if events
        )
        after = notifications[-1].id
        progress(after, head)
        keepalive()
    log.info("caught up", extra={"projection": projection.name, "applied": applied, "to": after})
    return applied


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
