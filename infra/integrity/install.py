"""Putting the integrity machinery in place on a store: the chain trigger, the
append-only guard and the checkpoints table. Idempotent; needs the table's owner."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import tuple_row

from infra.integrity import chain, checkpoints, guard

INSTALL_LOCK_KEY = 0x41524C494E53544C  # "ARLINSTL"


def statements(events_table: str) -> list[str]:
    return [
        *chain.install_statements(events_table),
        *guard.append_only_statements(events_table),
        checkpoints.CREATE,
        *guard.append_only_statements(checkpoints.TABLE),
    ]


def installed(conn: psycopg.Connection[Any], events_table: str) -> bool:
    cur = conn.cursor(row_factory=tuple_row)
    row = cur.execute(
        "SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal AND tgname = ANY(%s)",
        (
            [
                f"{events_table}_chain",
                f"{events_table}_no_change",
                f"{events_table}_no_truncate",
                f"{checkpoints.TABLE}_no_change",
                f"{checkpoints.TABLE}_no_truncate",
            ],
        ),
    ).fetchone()
    return bool(row and row[0] == 5)


def install(conn: psycopg.Connection[Any], events_table: str) -> None:
    """Install whatever is missing. A role that only reads and appends (the service's)
    finds everything in place and changes nothing."""
    if installed(conn, events_table):
        return
    with conn.transaction():
        # Processes starting together would race on CREATE OR REPLACE.
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (INSTALL_LOCK_KEY,))
        if installed(conn, events_table):
            return
        for statement in statements(events_table):
            conn.execute(statement)
