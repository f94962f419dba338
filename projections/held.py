"""Accounts a projection holds back: one event it could not apply stops that account, not
the pipeline.

When a projection fails to apply an event (a value its tables cannot take, a bug in a
handler), the event is recorded here with the reason, and every later event of the same
account is recorded behind it instead of being applied. The account's rows stay as they
were before the event, a consistent earlier state, never one with money skipped; every
other account goes on. Reads of a held account say so (a 503 naming the event), and
``/healthz`` and ``/metrics`` count what is held. Each consumer tries the held events
again when it starts (after a fix is deployed), in order, and releases the account once
all of them apply."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import Connection, Cursor

from infra.array_text import text_array

SCHEMA = """
CREATE TABLE IF NOT EXISTS projection_held (
    projection text NOT NULL,
    position bigint NOT NULL,
    account_id text NOT NULL,
    event_type text NOT NULL,
    reason text NOT NULL,
    held_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (projection, position)
);
CREATE INDEX IF NOT EXISTS projection_held_account ON projection_held (projection, account_id);
"""
REASON_LENGTH_MAX = 2_000


@dataclass(frozen=True)
class Hold:
    """Why an account is held: the first event that failed, and how many wait behind."""

    projection: str
    account_id: str
    position: int
    event_type: str
    reason: str
    held_at: datetime
    events: int


def accounts_among(conn: Connection[Any], projection: str, accounts: Collection[str]) -> set[str]:
    """Which of ``accounts`` the projection holds."""
    return held_among(asking_among(conn, projection, accounts))


def asking_among(
    conn: Connection[Any], projection: str, accounts: Collection[str]
) -> Cursor[Any] | None:
    """The statement of :func:`accounts_among`, sent (in a pipeline, with what goes
    before and after it) and not yet read: read it with :func:`held_among`."""
    if not accounts:
        return None
    return conn.execute(
        "SELECT DISTINCT account_id FROM projection_held"
        " WHERE projection = %s AND account_id = ANY(%s::text[])",
        (projection, text_array(accounts)),
    )


def held_among(asking: Cursor[Any] | None) -> set[str]:
    """What :func:`asking_among` found."""
    return set() if asking is None else {str(r[0]) for r in asking.fetchall()}


def hold(conn: Connection[Any], projection: str, ce: dict[str, Any], reason: str) -> None:
    """Record ``ce`` as not applied, for ``reason``."""
    text = reason.replace("\x00", "\\u0000")[:REASON_LENGTH_MAX]
    conn.execute(
        "INSERT INTO projection_held (projection, position, account_id, event_type, reason)"
        " VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
        (projection, int(ce["position"]), str(ce["accountid"]), str(ce["type"]), text),
    )


def held_positions(conn: Connection[Any], projection: str, account_id: str) -> list[int]:
    rows = conn.execute(
        "SELECT position FROM projection_held WHERE projection = %s AND account_id = %s"
        " ORDER BY position",
        (projection, account_id),
    ).fetchall()
    return [int(r[0]) for r in rows]


def release(conn: Connection[Any], projection: str, account_id: str) -> None:
    """Every held event of the account has now been applied."""
    conn.execute(
        "DELETE FROM projection_held WHERE projection = %s AND account_id = %s",
        (projection, account_id),
    )


_HOLDS = """
SELECT DISTINCT ON (projection, account_id) projection, account_id, position, event_type,
       reason, held_at, count(*) OVER (PARTITION BY projection, account_id)
  FROM projection_held
 WHERE (%(p)s::text IS NULL OR projection = %(p)s)
   AND (%(a)s::text IS NULL OR account_id = %(a)s)
 ORDER BY projection, account_id, position
"""


def holds(
    conn: Connection[Any], projection: str | None = None, account_id: str | None = None
) -> list[Hold]:
    """Each held account (of one projection, or all), with its first failed event."""
    rows = conn.execute(_HOLDS, {"p": projection, "a": account_id}).fetchall()
    return [Hold(r[0], r[1], int(r[2]), r[3], r[4], r[5], int(r[6])) for r in rows]


def hold_of(conn: Connection[Any], projection: str, account_id: str) -> Hold | None:
    """Why the projection holds this account, or None."""
    found = holds(conn, projection, account_id)
    return found[0] if found else None
