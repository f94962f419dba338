"""Applying events to a projection exactly once: per partition, under the partition's
locked position, in one transaction with the rows. The Kafka consumer and a catch-up
from the store both come through here."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
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
