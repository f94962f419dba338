"""What the ledger asks of its event store beyond the eventsourcing library's own
interface, as a port: the composition root plugs in the PostgreSQL adapter
(``infra/event_store.py``, named by the ``EVENT_STORE_TOPIC`` setting); without one the
ledger runs on any recorder the library offers, the in-memory one included."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Protocol
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import DomainEvent
from eventsourcing.persistence import StoredEvent

# The setting naming the adapter: a topic ("module:attribute") of an ``Attach``.
EVENT_STORE_TOPIC = "EVENT_STORE_TOPIC"


class EventStorePort(Protocol):
    """The store's features the ledger (and its callers) use."""

    @property
    def events_table(self) -> str:
        """The stored-events table (hash-chained, append-only, checkpointed)."""
        ...

    def notify_channel(self) -> str:
        """What the store signals each insert on: the relay's wake-up."""
        ...

    def version_known_at(self, aggregate_id: UUID, at: datetime) -> int | None:
        """The aggregate's last version committed by ``at``; None before it existed."""
        ...

    def latest_versions(self, aggregate_ids: Sequence[UUID]) -> dict[UUID, int]:
        """Each aggregate's last stored version, in one read (absent: none stored)."""
        ...

    def stored_events(self, aggregate_ids: Sequence[UUID]) -> dict[UUID, list[StoredEvent]]:
        """Every stored event of each aggregate, oldest first, in one read (absent: none
        stored)."""
        ...

    def authorised_on(self, actor: str, day: date, currency: str) -> int:
        """What ``actor`` has authorised writing off on ``day`` in ``currency`` (minor
        units): the daily write-off limit's book."""
        ...


# Attaches an adapter to an application's store (and prepares the store for it).
Attach = Callable[[Application[UUID]], EventStorePort]


class LibraryEventStore:
    """The port over nothing but the library's interface, for the in-memory recorder:
    no table and no daily book (write-off limits are then per invoice only); an event
    counts as committed at its own timestamp, as it is stored the moment it is made."""

    def __init__(self, app: Application[UUID]) -> None:
        self._app = app

    @property
    def events_table(self) -> str:
        raise LookupError(f"{type(self._app.recorder).__name__} keeps no events table")

    def notify_channel(self) -> str:
        recorder = self._app.recorder
        return str(getattr(recorder, "channel_name", recorder.__class__.__name__))

    def version_known_at(self, aggregate_id: UUID, at: datetime) -> int | None:
        version = None
        for event in self._app.events.get(aggregate_id):
            if isinstance(event, DomainEvent) and event.timestamp > at:
                break
            version = event.originator_version
        return version

    def latest_versions(self, aggregate_ids: Sequence[UUID]) -> dict[UUID, int]:
        found = {}
        for aggregate_id in aggregate_ids:
            last = self._app.recorder.select_events(aggregate_id, desc=True, limit=1)
            if last:
                found[aggregate_id] = last[0].originator_version
        return found

    def stored_events(self, aggregate_ids: Sequence[UUID]) -> dict[UUID, list[StoredEvent]]:
        found = {}
        for aggregate_id in aggregate_ids:
            events = list(self._app.recorder.select_events(aggregate_id))
            if events:
                found[aggregate_id] = events
        return found

    def authorised_on(self, actor: str, day: date, currency: str) -> int:
        return 0
