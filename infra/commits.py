"""When each position was committed, in commit order: what ``as_known_at`` rests on.

An event's own ``timestamp`` is the writing process's clock, taken when the command made
the event, before it was saved: two processes (or one slow commit) can stamp position
p+1 earlier than p, and a report "as known at" a moment between the two would include
p+1 and not p. So the store's recorder writes one row here in the transaction that
appends each command's events: its last position and the database's
``clock_timestamp()``, read after the events are inserted, under the store's table lock
(held to the commit). The next transaction can take that lock only once this one has
committed, so the times rise with the positions and each lies just before its commit:
``committed_at <= moment`` selects a prefix of the log, never p+1 without p.

Insert-only: the service role may SELECT and INSERT here, nothing else.

Events stored before this table existed get one row each when it is made, at the
largest event timestamp up to them (the only clock they have), so the times still rise
with the positions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg import Connection, Cursor
from psycopg.rows import tuple_row

TABLE = "event_commits"
SCHEMA = """
CREATE TABLE IF NOT EXISTS event_commits (
    position bigint PRIMARY KEY,
    committed_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS event_commits_at ON event_commits (committed_at, position);
"""
# For a store made before this table: every event, at the running maximum of the event
# timestamps (the writer's clocks), once, while nothing else writes (the caller holds
# the store's table lock).
BACKFILL_SQL = """
INSERT INTO event_commits (position, committed_at)
SELECT notification_id, max(recorded) OVER (ORDER BY notification_id)
  FROM (SELECT notification_id,
               COALESCE(convert_from(state, 'UTF8')::jsonb #>> '{{timestamp,_data_}}',
                        convert_from(state, 'UTF8')::jsonb ->> 'timestamp')::timestamptz
                 AS recorded
          FROM {events}) e
 WHERE NOT EXISTS (SELECT 1 FROM event_commits)
"""
KNOWN_SQL = """
SELECT position FROM event_commits WHERE committed_at <= %s
 ORDER BY committed_at DESC, position DESC LIMIT 1
"""


def backfill(curs: Cursor[Any], events_table: str) -> None:
    curs.execute(BACKFILL_SQL.format(events=events_table))


def known_position(conn: Connection[Any], at: datetime) -> int:
    """The last position committed by ``at`` (0: nothing was)."""
    with conn.cursor(row_factory=tuple_row) as cur:
        row = cur.execute(KNOWN_SQL, (at,)).fetchone()
    return int(row[0]) if row else 0


def known_position_or_none(conn: Connection[Any], at: datetime | None) -> int | None:
    """``known_position`` of ``at``, or ``None`` (everything) when no moment is given."""
    return None if at is None else known_position(conn, at)
