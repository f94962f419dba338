"""The ledger's event-store port (``ledger/store_port.py``) on PostgreSQL: the integrity
machinery put in place when the ledger attaches (and its pool's connections checked only
when they sat unused, ``infra/pool_check.py``), the events table and its NOTIFY
channel, the as-known-at read over commit times, and the daily write-off book.

The composition root names :func:`attach` in the ledger's settings
(``infra/database.py``: ``EVENT_STORE_TOPIC``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder

from infra.array_text import joined, uuid_element
from infra.integrity.install import install
from infra.pool_check import check_when_idle
from infra.pool_order import most_recent_first
from ledger.daily_authority import AuthorityBook

TOPIC = "infra.event_store:attach"


class PostgresEventStore:
    """The port over the library's PostgreSQL application recorder."""

    def __init__(self, recorder: PostgresApplicationRecorder) -> None:
        self._recorder = recorder

    @property
    def events_table(self) -> str:
        return str(self._recorder.events_table_name)

    def notify_channel(self) -> str:
        """The PostgreSQL channel the store NOTIFYs on each insert."""
        return str(self._recorder.channel_name)

    def version_known_at(self, aggregate_id: UUID, at: datetime) -> int | None:
        """Its events up to the last position committed by ``at``, in commit order
        (``infra/commits.py``)."""
        with self._recorder.datastore.get_connection() as conn:
            row = conn.execute(
                f"SELECT max(originator_version) AS v FROM {self.events_table}"
                " WHERE originator_id = %s AND notification_id <= COALESCE(("
                "  SELECT position FROM event_commits WHERE committed_at <= %s"
                "   ORDER BY committed_at DESC, position DESC LIMIT 1), 0)",
                (aggregate_id, at),
            ).fetchone()
        version = row["v"] if row else None  # rows come as dicts from the library's pool
        return None if version is None else int(version)

    def latest_versions(self, aggregate_ids: Sequence[UUID]) -> dict[UUID, int]:
        """One read of the primary key's index, however many aggregates are asked."""
        if not aggregate_ids:
            return {}
        with self._recorder.datastore.get_connection() as conn:
            rows = conn.execute(
                f"SELECT originator_id AS id, max(originator_version) AS v FROM {self.events_table}"
                " WHERE originator_id = ANY(%s::uuid[]) GROUP BY originator_id",
                (joined(uuid_element(a) for a in aggregate_ids),),  # see infra/array_text.py
            ).fetchall()
        return {row["id"]: int(row["v"]) for row in rows}

    def stored_events(self, aggregate_ids: Sequence[UUID]) -> dict[UUID, list[StoredEvent]]:
        """One read of many aggregates' events, as the library reads one's."""
        if not aggregate_ids:
            return {}
        found: dict[UUID, list[StoredEvent]] = {}
        with self._recorder.datastore.get_connection() as conn:
            rows = conn.execute(
                "SELECT originator_id, originator_version, topic, state"
                f" FROM {self.events_table} WHERE originator_id = ANY(%s)"
                " ORDER BY originator_id, originator_version",
                (list(aggregate_ids),),
            ).fetchall()
        for row in rows:
            found.setdefault(row["originator_id"], []).append(
                StoredEvent(
                    originator_id=row["originator_id"],
                    originator_version=row["originator_version"],
                    topic=row["topic"],
                    state=bytes(row["state"]),
                )
            )
        return found

    def authorised_on(self, actor: str, day: date, currency: str) -> int:
        if not isinstance(self._recorder, AuthorityBook):
            return 0  # the library's own recorder keeps no book: per invoice only
        return self._recorder.authorised_on(actor, day, currency)

    def install_integrity(self) -> None:
        """The chain trigger, the append-only guard and the checkpoints table, where
        missing (a role that may only append finds them in place and changes nothing)."""
        with self._recorder.datastore.get_connection() as conn:
            install(conn, self.events_table)


def attach(app: Application[UUID]) -> PostgresEventStore:
    """The port for ``app``'s store, with the integrity machinery in place."""
    recorder = app.recorder
    if not isinstance(recorder, PostgresApplicationRecorder):
        raise TypeError(f"{TOPIC} needs a PostgreSQL recorder, not {type(recorder).__name__}")
    store = PostgresEventStore(recorder)
    store.install_integrity()
    check_when_idle(recorder.datastore.pool)
    most_recent_first(recorder.datastore.pool)
    return store
