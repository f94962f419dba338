"""Catching a projection up from the event store, for partitions whose Kafka history is
gone (a broker restarted empty) or was never there (a new projection)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from psycopg_pool import ConnectionPool

from consumers.cloudevents import to_cloudevent
from consumers.topic import partition_for
from ledger.application import Ledger
from projections import tracking
from projections.writer import Projection, apply_batch

log = logging.getLogger("arledger.catchup")

CHUNK_EVENTS = 1_000


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
