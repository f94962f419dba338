"""Idempotency made atomic with the store: a command's mark commits in the same
transaction as its events.

The API claims an Idempotency-Key before it runs a command and keeps the reply after;
a process that dies (or loses the database) between the store's commit and keeping the
reply used to leave a claim that a retry would run again, and a command that appends to
an existing aggregate (a contact logged, an invoice sent) would then be recorded twice.
Now the event store's recorder writes ``(actor, key)`` into ``command_marks`` in the
transaction that appends the command's events, so a retry can tell for certain whether
the command committed, and appends nothing if it did. In the same transaction it says
when the command's last position commits (``infra/commits.py``). The whole save is one
statement, ``arledger_append`` (``infra/append.py``), which this recorder creates with
the store's tables. It reads the notification log the lighter way of ``infra/log_read.py``."""

from __future__ import annotations

from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

from eventsourcing.persistence import InterfaceError, Notification, OperationalError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.utils import retry
from psycopg import Connection
from psycopg.sql import Identifier

from infra import append, commits, log_read, read_check, write_off_days
from ledger.daily_authority import current_charge
from ledger.group_commit import GroupMark, grouped
from ledger.unit_of_work import expected_reads, replying

SCHEMA = """
CREATE TABLE IF NOT EXISTS command_marks (
    actor text NOT NULL,
    key text NOT NULL,
    committed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (actor, key)
);
-- Each save of a marked command: the aggregate it replied with, as saved, and the
-- position the save reached (insert-only, as the marks are).
CREATE TABLE IF NOT EXISTS command_replies (
    actor text NOT NULL,
    key text NOT NULL,
    position bigint NOT NULL,
    reply_id uuid,
    reply_version int,
    PRIMARY KEY (actor, key, position)
);
"""
TOPIC = "infra.recorder:MarkingRecorder"

# The (actor, Idempotency-Key) of the command running in this context, set by the API.
current_command: ContextVar[tuple[str, str] | None] = ContextVar(
    "arledger_current_command", default=None
)


class MarkingRecorder(PostgresApplicationRecorder):
    """The library's application recorder, marking the running command's key in the
    transaction that inserts its events, and charging an applied write-off to its
    actor's day (``ledger/daily_authority.py``)."""

    def create_table(self) -> None:
        super().create_table()
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(SCHEMA)
            curs.execute(write_off_days.SCHEMA)
            curs.execute(read_check.SCHEMA)
            events = Identifier(self.datastore.schema, self.events_table_name)
            curs.execute(append.schema(events, self.channel_name, self.datastore.lock_timeout))
        with self.datastore.transaction(commit=True) as curs:
            # The store's lock first, as every writer takes it before it writes a commit
            # row (no deadlock with one); nothing is appended while old events are dated.
            self._lock_table(curs)
            curs.execute(commits.SCHEMA)
            commits.backfill(curs, self.events_table_name)

    def authorised_on(self, actor: str, day: date, currency: str) -> int:
        """What ``actor`` has authorised writing off on ``day`` in ``currency``."""
        with self.datastore.transaction(commit=False) as curs:
            return write_off_days.authorised_on(curs, actor, day, currency)

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """The save, in one statement (``infra/append.py``): the events' positions."""
        if not stored_events:
            return []
        args = append.arguments(
            stored_events,
            expected_reads.get() or {},
            _commands(len(stored_events)),
            current_charge.get(),
        )
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(append.CALL_SQL, args, prepare=True)
            row = curs.fetchone()
        assert row is not None
        return list(row["positions"])

    def select_notifications(
        self,
        start: int | None,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
        *,
        inclusive_of_start: bool = True,
    ) -> Sequence[Notification]:
        """The library's read of the log; without topics (the relay's, a catch-up's), the
        same notifications read for less (``infra/log_read.py``). Each way retries as the
        library's own read does."""
        notifications: Sequence[Notification]
        if topics:
            notifications = super().select_notifications(
                start, limit, stop, topics, inclusive_of_start=inclusive_of_start
            )
        else:
            notifications = log_read.select_notifications(
                self, start, limit, stop, inclusive_of_start=inclusive_of_start
            )
        return notifications


def _commands(events: int) -> list[append.Command]:
    """The save's marked commands: the running command's, or each marked command's of a
    group commit (``ledger/group_commit.py``), whose events follow one another's."""
    group = grouped.get()
    if group is None:
        command = current_command.get()
        return [] if command is None else [append.Command(*command, events, replying.get())]
    commands, taken = [], 0
    for mark in group:
        taken += mark.events
        if mark.events and (command := _command_of(mark)) is not None:
            commands.append(append.Command(*command, taken, mark.reply))
    return commands


def _command_of(mark: GroupMark) -> tuple[str, str] | None:
    return mark.context.get(current_command)


@dataclass(frozen=True)
class Mark:
    """A command that committed: the aggregate it replied with (its id and version, when
    it replied with one) and the position its events reached."""

    reply_id: UUID | None
    reply_version: int | None
    position: int | None


def mark_of(conn: Connection[Any], actor: str, key: str) -> Mark | None:
    """The mark of the command with this key, if it committed: with its last save's reply
    (none for a command marked before replies were kept)."""
    if not committed(conn, actor, key):
        return None
    row = conn.execute(
        "SELECT reply_id, reply_version, position FROM command_replies"
        " WHERE actor = %s AND key = %s ORDER BY position DESC LIMIT 1",
        (actor, key),
    ).fetchone()
    return Mark(None, None, None) if row is None else Mark(*row)


def committed(conn: Connection[Any], actor: str, key: str) -> bool:
    """Whether a command with this key appended events (and so must not run again)."""
    row = conn.execute(
        "SELECT 1 FROM command_marks WHERE actor = %s AND key = %s", (actor, key)
    ).fetchone()
    return row is not None
