"""Idempotency made atomic with the store: a command's mark commits in the same
transaction as its events.

The API claims an Idempotency-Key before it runs a command and keeps the reply after;
a process that dies (or loses the database) between the store's commit and keeping the
reply used to leave a claim that a retry would run again, and a command that appends to
an existing aggregate (a contact logged, an invoice sent) would then be recorded twice.
Now the event store's recorder writes ``(actor, key)`` into ``command_marks`` in the
transaction that appends the command's events, so a retry can tell for certain whether
the command committed, and appends nothing if it did. In the same transaction it says
when the command's last position commits (``infra/commits.py``)."""

from __future__ import annotations

from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

from eventsourcing.persistence import InterfaceError, OperationalError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.utils import retry
from psycopg import Connection, Cursor
from psycopg.rows import DictRow

from infra import commits, read_check, write_off_days
from ledger.daily_authority import current_charge
from ledger.group_commit import GroupMark, command_ends, grouped
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

# The library sends a transaction's inserts in one psycopg pipeline: one round trip. A
# pipeline carrying a large insert stalls for good (the server waits for the rest of the
# message, the client for the answer: psycopg/psycopg#685), and it would hold the events
# table's lock meanwhile, stopping every writer. Above this many bytes of events (a
# payment settling hundreds of invoices, a batch of invoices) the statements go one by
# one instead: a few more round trips, never a stall.
PIPELINE_BYTES_MAX = 64 * 1024

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

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ids: Sequence[int] | None
        if sum(len(event.state) for event in stored_events) <= PIPELINE_BYTES_MAX:
            ids = super().insert_events(stored_events, **kwargs)
        else:
            ids = self._insert_events_unpipelined(stored_events, **kwargs)
        return ids

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def _insert_events_unpipelined(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """The library's ``insert_events``, statement by statement in one transaction."""
        with self.datastore.get_connection() as conn, conn.transaction():
            with conn.cursor() as curs:
                self._insert_events(curs, stored_events, **kwargs)
            with conn.cursor() as curs:
                self._insert_stored_events(curs, stored_events, **kwargs)
                return self._fetch_ids_after_insert_events(curs, stored_events, **kwargs)

    def _insert_stored_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        charge, expected = current_charge.get(), expected_reads.get()
        if charge is not None or expected:
            # Under the store's table lock (taken again below, which changes nothing), so
            # one actor's write-offs saved at once are charged one after the other, and
            # what the command read cannot change before it commits.
            self._lock_table(curs)
        if expected:
            read_check.check(curs, self.events_table_name, expected)
        if charge is not None:
            write_off_days.charge(curs, charge)
        super()._insert_stored_events(curs, stored_events, **kwargs)

    def _insert_events(self, curs: Cursor[DictRow], stored_events: Any, **kwargs: Any) -> None:
        group = grouped.get()
        commands = (
            [c for m in group if m.events and (c := _command_of(m)) is not None]
            if group is not None
            else [c]
            if (c := current_command.get()) is not None and stored_events
            else []
        )
        if commands:
            curs.executemany(
                "INSERT INTO command_marks (actor, key) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                commands,
            )
        super()._insert_events(curs, stored_events, **kwargs)

    def _fetch_ids_after_insert_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """The positions just inserted; and, still under the table lock and as late as
        the transaction allows, when they commit (``infra/commits.py``)."""
        ids = super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
        if ids:
            with curs.connection.cursor() as marks:
                commits.record(marks, max(ids))
                # What each command replied with: a retry after a lost reply answers with
                # it as it was then (of a command that saved more than once, the last).
                replies = _replies(ids)
                if replies:
                    marks.executemany(
                        "INSERT INTO command_replies (actor, key, position, reply_id,"
                        " reply_version) VALUES (%s, %s, %s, %s, %s)",
                        replies,
                    )
        return ids


def _replies(ids: Sequence[int]) -> list[tuple[Any, ...]]:
    """The reply rows of the save's commands: the running command's, or each marked
    command's of a group commit (``ledger/group_commit.py``) at its own last position."""
    group = grouped.get()
    if group is None:
        command = current_command.get()
        if command is None:
            return []
        return [(*command, max(ids), *(replying.get() or (None, None)))]
    return [
        (*command, end, *(mark.reply or (None, None)))
        for mark, end in zip(group, command_ends(ids, group), strict=True)
        if mark.events and (command := _command_of(mark)) is not None
    ]


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
