"""Rebuilding one read model from the event store while the live one keeps answering.

The new tables are built in a schema of their own (``rebuild_<name>_<id>``), from the
store's notification log, with their own positions. When they have caught up, the live
consumers of that projection are held (their partition positions locked), the last few
events are applied, and in one transaction the old tables are dropped, the new ones
moved into place and the positions taken over. Queries wait a moment on the switch and
then read the new tables; the consumers carry on from the new positions."""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import sql
from psycopg_pool import ConnectionPool

from consumers.catchup import BulkFailed, catch_up
from infra.database import create_schema, open_pool
from ledger.application import Ledger
from projections import tracking
from projections.writer import Bulk, Projection

log = logging.getLogger("arledger.rebuild")

SWITCH_ATTEMPTS = 100
SWITCH_LOCK_TIMEOUT_MS = 200  # well under deadlock_timeout (1 s): the switch yields first
CLOSE_ENOUGH = 500  # events a round may bring in before the live consumers are held


def rebuild(
    ledger: Ledger,
    pool: ConnectionPool,
    database_url: str,
    projection: Projection,
    partition_count: int,
    progress: Callable[[int, int], None] = lambda done, head: None,
) -> int:
    """Rebuild ``projection`` and switch to it; return the events applied."""
    schema = f"rebuild_{projection.name}_{secrets.token_hex(4)}"
    with pool.connection() as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    # The side schema's commits do not wait for the disk: a crash loses the rebuild (it
    # starts again in a new schema), and the switch's own commit, on the live pool,
    # flushes everything written before it.
    side = open_pool(
        database_url,
        max_size=2,
        name=schema,
        search_path=f"{schema},public",
        wait_for_flush=False,
    )
    partitions = set(range(partition_count))
    log.info("rebuilding", extra={"projection": projection.name, "schema": schema})
    try:
        applied, done_to = _build(ledger, side, schema, projection, partitions, progress)
        create_schema(side, *_indexes_apart(projection.schema)[1])  # once, over every row
        applied += _switch(ledger, pool, side, schema, projection, partitions, done_to, progress)
    except BaseException:
        with pool.connection() as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
        raise
    finally:
        side.close()
    log.info("rebuilt", extra={"projection": projection.name, "applied": applied})
    return applied


Progress = Callable[[int, int], None]


def _build(
    ledger: Ledger,
    side: ConnectionPool,
    schema: str,
    projection: Projection,
    partitions: set[int],
    progress: Progress,
) -> tuple[int, int]:
    """The side schema's tables, without their secondary indexes, caught up from the store
    with the live consumers still running: in bulk where the projection can, and if that
    fails (an event it cannot apply or store), again from empty tables, chunk by chunk,
    where such an event holds its account as in the live projection. Returns the events
    applied and the position they reach."""
    _create_tables(side, projection)
    if projection.bulk is None:
        return _rounds(ledger, side, projection, partitions, progress, None)
    bulk = projection.bulk(side)
    try:
        built = _rounds(ledger, side, projection, partitions, progress, bulk)
        bulk.finish()  # where an event's rows cannot be stored, it fails here
        return built
    except psycopg.OperationalError:
        bulk.abandon()
        raise
    except (BulkFailed, psycopg.Error) as e:
        bulk.abandon()
        log.warning(
            "the rebuild in bulk failed; building again chunk by chunk",
            extra={"projection": projection.name, "error": repr(e)},
        )
        with side.connection() as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        _create_tables(side, projection)
        return _rounds(ledger, side, projection, partitions, progress, None)
    except BaseException:
        bulk.abandon()
        raise


def _create_tables(side: ConnectionPool, projection: Projection) -> None:
    create_schema(side, tracking.POSITIONS_SCHEMA, _indexes_apart(projection.schema)[0])


def _rounds(
    ledger: Ledger,
    side: ConnectionPool,
    projection: Projection,
    partitions: set[int],
    progress: Progress,
    bulk: Bulk | None,
) -> tuple[int, int]:
    """Catch up until a round brings in little (what arrived during the one before)."""
    applied, done_to = 0, 0
    while True:
        head = ledger.head_position()
        fresh = _caught_up(ledger, side, projection, partitions, progress, done_to, bulk)
        applied, done_to = applied + fresh, head
        if fresh <= CLOSE_ENOUGH:
            return applied, done_to


def _caught_up(
    ledger: Ledger,
    side: ConnectionPool,
    projection: Projection,
    partitions: set[int],
    progress: Progress,
    after: int,
    bulk: Bulk | None = None,
) -> int:
    """The side schema's tables caught up from the store, from position ``after``."""
    return catch_up(
        ledger,
        side,
        projection,
        partitions,
        len(partitions),
        progress=progress,
        start_after=after,
        new_tables=True,
        bulk=bulk,
    )


def _switch(
    ledger: Ledger,
    pool: ConnectionPool,
    side: ConnectionPool,
    schema: str,
    projection: Projection,
    partitions: set[int],
    done_to: int,
    progress: Callable[[int, int], None],
) -> int:
    name = projection.name
    with pool.connection() as conn, conn.transaction():
        for p in sorted(partitions):  # hold the live consumers, partition by partition
            tracking.lock_position(conn, name, p)
        applied = _caught_up(ledger, side, projection, partitions, progress, done_to)
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = %s"
                " AND tablename <> 'projection_positions' ORDER BY tablename",
                (schema,),
            ).fetchall()
        ]
        _swap_tables(conn, schema, tables)
        conn.execute(
            sql.SQL(
                "UPDATE public.projection_positions live SET position = COALESCE("
                "(SELECT built.position FROM {}.projection_positions built"
                " WHERE built.projection = live.projection AND built.partition = live.partition),"
                " 0) WHERE live.projection = %s"
            ).format(sql.Identifier(schema)),
            (name,),
        )
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
    return applied


_INDEX = re.compile(r"CREATE INDEX IF NOT EXISTS [^;]*;")  # a unique one may serve ON CONFLICT


def _indexes_apart(schema: str) -> tuple[str, list[str]]:
    """A projection's schema without its secondary indexes, and those indexes: the side
    schema's rows are written first and the indexes built after, over all of them."""
    return _INDEX.sub("", schema), _INDEX.findall(schema)


def _swap_tables(conn: psycopg.Connection[Any], schema: str, tables: list[str]) -> None:
    """Replace the live tables with the rebuilt ones. The live tables are locked first,
    all of them, with a short lock timeout: a query reading them holds some while it
    waits for others, and rather than deadlock with it (and fail it) the switch lets go,
    waits and tries again."""
    for attempt in range(1, SWITCH_ATTEMPTS + 1):
        try:
            with conn.transaction():
                conn.execute(f"SET LOCAL lock_timeout = '{SWITCH_LOCK_TIMEOUT_MS}ms'")
                live = [
                    sql.SQL("public.{}").format(sql.Identifier(t))
                    for t in tables
                    if conn.execute("SELECT to_regclass(%s)", (f"public.{t}",)).fetchone()
                    != (None,)
                ]
                if live:
                    conn.execute(
                        sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(
                            sql.SQL(", ").join(live)
                        )
                    )
                for table in tables:
                    conn.execute(
                        sql.SQL("DROP TABLE IF EXISTS public.{}").format(sql.Identifier(table))
                    )
                    conn.execute(
                        sql.SQL("ALTER TABLE {}.{} SET SCHEMA public").format(
                            sql.Identifier(schema), sql.Identifier(table)
                        )
                    )
                conn.execute("SET LOCAL lock_timeout = 0")
            return
        except psycopg.errors.LockNotAvailable:
            log.info("switch waited on readers; trying again", extra={"attempt": attempt})
            time.sleep(min(0.05 * attempt, 1.0))
    raise RuntimeError(f"could not take the live tables after {SWITCH_ATTEMPTS} attempts")
