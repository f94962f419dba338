"""The aggregates this process saved, as it saved them: what a command reads instead of
asking the store again for events it wrote itself.

The library's cache fast-forwards every read (one query for the events stored since the
cached version, and the work of applying them again), even when the only writer since
was this process. The unit of work keeps what its own saves left here, and a decision
reads an aggregate from here without asking the store. Another process may have changed
it since, so nothing read from here is taken on trust past the decision: a save is
checked under the store's lock (its key for what the command changed, the read check for
what it only read, ``infra/read_check.py``), and a refusal or a replay decided from here
is checked by one read of the versions before it is answered (``ledger/reads.py``).
Whatever turns out stale is forgotten and read from the store again.

A saved aggregate is kept as it is (its command's caller may still read it, as its
reply), and lent out as copies: a command changes its own copy of what it reads."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from ledger.copying import aggregate_copy

# How many aggregates a process keeps; the least recently used goes first.
SAVED_CACHE_SIZE = 10_000
# A save of more aggregates than this is not kept, lest one save push out most of what is
# kept. Keeping costs a dictionary entry each (an aggregate is lent out as a copy, made
# only when read): a batch of receipts or reversals that reads what the batch before it
# saved (a bank statement's chunks, the Stripe applier's batches) reads it from here.
KEEP_PER_SAVE_MAX = SAVED_CACHE_SIZE // 4


class SavedAggregates:
    """A bounded, thread-safe map of aggregate id to the aggregate as last saved here."""

    def __init__(self, size: int = SAVED_CACHE_SIZE) -> None:
        self._size = size
        # Each aggregate with the version it was saved at: one its command's caller
        # went on to change (a version past that) is no longer as saved, and not lent.
        self._kept: OrderedDict[UUID, tuple[Aggregate, int]] = OrderedDict()
        self._lock = threading.Lock()

    def copy_of(self, aggregate_id: UUID) -> Aggregate | None:
        """A copy of the aggregate as this process last saved it, if it is kept."""
        with self._lock:
            kept, version = self._kept.get(aggregate_id, (None, 0))
            if kept is None:
                return None
            if kept.version != version:
                del self._kept[aggregate_id]
                return None
            self._kept.move_to_end(aggregate_id)
        return aggregate_copy(kept)

    def at(self, aggregate_id: UUID, version: int | None = None) -> Aggregate | None:
        """The aggregate itself, to read and never to change, if it is kept (at
        ``version``, when one is given)."""
        with self._lock:
            kept, saved_at = self._kept.get(aggregate_id, (None, 0))
        if kept is None or kept.version != saved_at or version not in (None, saved_at):
            return None
        return kept

    def each_at(self, wanted: Iterable[tuple[UUID, int | None]]) -> dict[UUID, Aggregate]:
        """``at`` for many: those kept, by id (each at its version, when one is given),
        looked up under one lock."""
        found: dict[UUID, Aggregate] = {}
        with self._lock:
            kept = [(a, v, self._kept.get(a)) for a, v in wanted]
        for aggregate_id, version, entry in kept:
            if entry is not None:
                aggregate, saved_at = entry
                if aggregate.version == saved_at and version in (None, saved_at):
                    found[aggregate_id] = aggregate
        return found

    def keep(self, aggregates: Iterable[object], events: Iterable[Any]) -> None:
        """Keep what a save stored: each aggregate the save's events left it as (unless
        a newer version is kept, as saves committed in one order may come back here in
        another). An aggregate saved by its events alone, or not as its last event left
        it, is forgotten instead, as is a large save's every aggregate."""
        newest = {event.originator_id: event.originator_version for event in events}
        found = [(a.id, a.version, a) for a in aggregates if isinstance(a, Aggregate)]
        kept = [(i, v, a) for i, v, a in found if newest.get(i) == v]
        if len(kept) > KEEP_PER_SAVE_MAX:
            kept = []
        gone = newest.keys() - {i for i, _, _ in kept}
        if gone:
            self.forget(gone)
        with self._lock:
            entries = self._kept
            for aggregate_id, version, aggregate in kept:
                _, held = entries.get(aggregate_id, (None, 0))
                if held < version:
                    entries[aggregate_id] = (aggregate, version)
                    entries.move_to_end(aggregate_id)
            while len(entries) > self._size:
                entries.popitem(last=False)

    def forget(self, aggregate_ids: Iterable[UUID]) -> None:
        """Drop these (stale, or changed in a way not kept here)."""
        with self._lock:
            for aggregate_id in aggregate_ids:
                self._kept.pop(aggregate_id, None)
