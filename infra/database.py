"""PostgreSQL plumbing shared by the processes: connection pools and the event store's
configuration derived from one ``DATABASE_URL``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool

from infra.pool_order import most_recent_first
from infra.settings import Settings
from ledger.application import Ledger
from ledger.write_off import WriteOffPolicy

SCHEMA_LOCK_KEY = 0x41524C4544474552  # "ARLEDGER"
AGGREGATE_CACHE_SIZE = 10_000


def eventstore_env(database_url: str, pool_size: int = 10) -> dict[str, str]:
    """The eventsourcing library's settings for the store at ``database_url``.

    The default recorder is used on purpose: it locks the table on insert, so positions
    are committed in order and a reader never passes over an event committed later.
    The library opens ``pool_size`` connections at once (and up to as many again on
    demand): a background worker that saves little asks for few.
    """
    info = conninfo_to_dict(database_url)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        # The library's recorder, marking each command's key with its events.
        "APPLICATION_RECORDER_TOPIC": "infra.recorder:MarkingRecorder",
        # The ledger's port to the store's own features (``infra/event_store.py``).
        "EVENT_STORE_TOPIC": "infra.event_store:attach",
        "POSTGRES_DBNAME": str(info.get("dbname") or "postgres"),
        "POSTGRES_HOST": str(info.get("host") or "127.0.0.1"),
        "POSTGRES_PORT": str(info.get("port") or "5432"),
        "POSTGRES_USER": str(info.get("user") or "postgres"),
        "POSTGRES_PASSWORD": str(info.get("password") or ""),
        "POSTGRES_POOL_SIZE": str(pool_size),
        "POSTGRES_MAX_OVERFLOW": str(pool_size),
        # Checked before use, but only once unused a moment (``infra/pool_check.py``).
        "POSTGRES_PRE_PING": "y",
        "POSTGRES_LOCK_TIMEOUT": "10",
        # Aggregates are cached and fast-forwarded from the store on every read (one
        # query for what is new), and handed out as deep copies, so a command that fails
        # half-way never leaves a half-changed aggregate in the cache.
        "AGGREGATE_CACHE_MAXSIZE": str(AGGREGATE_CACHE_SIZE),
        "AGGREGATE_CACHE_FASTFORWARD": "y",
        "DEEPCOPY_FROM_AGGREGATE_CACHE": "y",
    }


@contextmanager
def schema_lock(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    """Serialise schema creation: processes starting together would otherwise race on
    CREATE TABLE IF NOT EXISTS ("tuple concurrently updated")."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (SCHEMA_LOCK_KEY,))
        try:
            yield conn
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (SCHEMA_LOCK_KEY,))


def may_create(conn: psycopg.Connection[Any]) -> bool:
    """Whether this connection's role may create tables in its schema.

    A role that may not (the restricted service role, ``infra/integrity/guard.py``)
    leaves the schema to its owner, who set it up before the processes started
    (``arledger migrate``; ``arledger up`` does it): even a CREATE ... IF NOT EXISTS of
    what exists is refused to it, and an ALTER TABLE or CREATE INDEX needs ownership.
    """
    row = conn.execute(
        "SELECT coalesce(has_schema_privilege(current_schema(), 'CREATE'), false)"
    ).fetchone()
    return bool(row and row[0])


def open_ledger(settings: Settings, pool_size: int = 10) -> Ledger:
    """The application service over the configured store (tables created if missing, by
    a role that may create them)."""
    if not settings.database_url:
        raise RuntimeError("DATABASE_URL is not set; run `arledger up` for the embedded default")
    with schema_lock(settings.database_url) as conn:
        env = eventstore_env(settings.database_url, pool_size)
        if not may_create(conn):
            env["CREATE_TABLE"] = "n"
        return Ledger(
            env,
            settings.snapshot_interval,
            WriteOffPolicy.parse(settings.write_off_limits, settings.write_off_daily_limits),
        )


def ensure_tables(conn: psycopg.Connection[Any], *statements: str) -> None:
    """Run CREATE ... IF NOT EXISTS statements under the schema lock, unless this role
    leaves the schema to its owner (:func:`may_create`). Processes that start together
    (the API's workers) would otherwise race: two CREATE TABLE IF NOT EXISTS of one table
    at once fail with a unique violation on its type."""
    if not may_create(conn):
        return
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK_KEY,))
        for statement in statements:
            conn.execute(statement)


def create_schema(pool: ConnectionPool, *statements: str) -> None:
    """:func:`ensure_tables` on a connection of ``pool``."""
    with pool.connection() as conn:
        ensure_tables(conn, *statements)


def open_pool(
    database_url: str,
    *,
    max_size: int = 10,
    name: str = "arledger",
    search_path: str | None = None,
    wait_for_flush: bool = True,
    autocommit: bool = False,
) -> ConnectionPool:
    """A pool of connections; ``search_path`` puts a schema's tables before the public
    ones (a projection rebuilt beside the live one). ``wait_for_flush=False`` commits
    without waiting for the WAL to reach the disk (``synchronous_commit=off``): for work a
    crash may lose whole, never in part, and that is done again anyway (a rebuild), or
    whose loss a later durable commit rules out (``api/idempotency.py``).
    ``autocommit=True``: each statement commits on its own, in one round trip (no BEGIN
    and COMMIT of their own)."""
    kwargs: dict[str, object] = {"autocommit": autocommit}
    options = []
    if search_path:
        options.append(f"-c search_path={search_path}")
    if not wait_for_flush:
        options.append("-c synchronous_commit=off")
    if options:
        kwargs["options"] = " ".join(options)
    pool = most_recent_first(
        ConnectionPool(
            database_url,
            min_size=1,
            max_size=max_size,
            name=name,
            open=False,
            kwargs=kwargs,
        )
    )
    pool.open(wait=True, timeout=30)
    return pool
