"""The unit of work: the load, decide, save-atomically, retry-on-conflict cycle that every
command runs, written once.

A command handler checks what it can from the command alone, then hands the unit of work
a *decision*: a function that loads the aggregates it needs, applies the command to them
(each aggregate checks its own rules) and says what it changed, in the order the events
happened, and what to reply with. The unit of work saves everything changed in one
``save(*aggregates)`` (one transaction), and when another writer changed one of them
first (the store's optimistic-concurrency check refuses the save) it runs the decision
again from the top on freshly loaded aggregates. A command that already ran (a retry
after a lost reply) appends nothing and is answered as it was."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar
from uuid import UUID, uuid4

from eventsourcing.application import (
    Application,
    ProcessingEvent,
)
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, Recording

from ledger import copying, limits
from ledger.errors import ConcurrencyExhausted, LedgerError, Unavailable
from ledger.group_commit import Decided, GroupCommit, collect
from ledger.reads import Reading, Reads
from ledger.store_port import EventStorePort

log = logging.getLogger("arledger.ledger")
copying.share_immutables()  # a command's copy of an aggregate shares ids and dates

A = TypeVar("A", bound=Aggregate)

# The aggregate a save replies with, as saved (its id and version), while the save runs:
# the store's recorder keeps it with the command's idempotency mark, so that a retry
# after a lost reply can answer with that aggregate as it was (``infra/recorder.py``).
replying: ContextVar[tuple[UUID, int] | None] = ContextVar("arledger_replying", default=None)
# What the decisions of the running save read and did not change, by id, at the version
# they read: the recorder checks, under the store's lock, that each is still current, and
# refuses the save as a conflict if one is not (another writer changed it meanwhile).
expected_reads: ContextVar[Mapping[UUID, int] | None] = ContextVar(
    "arledger_expected_reads", default=None
)
R = TypeVar("R")


@dataclass(frozen=True)
class Saved:
    """What a command did: the aggregate it concerns and the store position of the last
    event it appended (or, when it appended nothing because it was a replay, the
    position the store had reached)."""

    aggregate: Any
    position: int
    replayed: bool = False


@dataclass(frozen=True)
class Decision:
    """What a command decided: the aggregates it changed, in the order their events
    happened (the order they are stored in), and what the command replies with.

    ``guard`` wraps the save, for a rule the store itself checks in the transaction (a
    daily write-off limit); ``replayed`` says the command already ran."""

    reply: Any
    aggregates: tuple[Aggregate, ...] = ()
    replayed: bool = False
    guard: AbstractContextManager[None] | None = None


def changed(
    *aggregates: Aggregate, reply: Any = None, guard: AbstractContextManager[None] | None = None
) -> Decision:
    """Save ``aggregates`` together; reply with ``reply``, or else the first of them."""
    assert aggregates, "a change changes at least one aggregate"
    return Decision(aggregates[0] if reply is None else reply, aggregates, guard=guard)


def already_ran(reply: Any) -> Decision:
    """The command ran before (a retry after a lost reply): append nothing."""
    return Decision(reply, replayed=True)


def new(kind: type[A], created: str, aggregate_id: UUID | None, **fields: Any) -> A:
    """Create an aggregate, with a client-chosen id when one is given: the API derives it
    from the Idempotency-Key, so a command retried after a lost reply conflicts with
    itself in the store instead of creating a twin."""
    event_class = getattr(kind, created)
    return kind._create(event_class, id=aggregate_id or uuid4(), **fields)


class UnitOfWork(Reads):
    """Loads aggregates from the application's store (``ledger/reads.py``) and saves what
    a decision changed, atomically, retrying a decision that lost a race with another
    writer."""

    def __init__(self, app: Application[UUID], store: EventStorePort) -> None:
        self._group = GroupCommit(
            decide=self._decided,
            stored=store.latest_versions,
            alone=self._run_alone,
            save=self._save_group,
            answer=lambda decision, position: Saved(decision.reply, position),
            forget=self._forget,
        )
        super().__init__(app, store, self._group.current)

    @property
    def groups_saved(self) -> int:
        """How many groups of commands were saved together (``ledger/group_commit.py``)."""
        return self._group.groups

    # --- writing -------------------------------------------------------------------

    def run(self, decide: Callable[[], Decision]) -> Saved:
        """Decide, then save in a group with the commands that arrive meanwhile (one
        transaction for all, ``ledger/group_commit.py``); from the top again if another
        writer got there first."""
        if self._group.leading_here():  # a command a decision runs: on its own
            return self._run_alone(decide, None)
        decided = self._decided(decide)
        if decided.decision.replayed or decided.decision.guard is not None:
            return self._run_alone(decide, decided)
        saved: Saved = self._group.run(decide, decided)
        return saved

    def _decided(self, decide: Callable[[], Decision]) -> Decided:
        """Run a decision, noting what it reads. A refusal is answered only once the store
        says that everything it rests on is still current: its reads are not one
        snapshot (another writer may commit between two of them, and a refusal is never
        saved, so no read check would catch it), and some may come from this process's
        own saves, read without asking the store. A replay is answered once what it read
        from those saves is current. Else the decision runs again on what is stored."""
        reading = Reading()
        for attempt in range(1, limits.COMMAND_RETRIES_MAX + 1):
            try:
                decided = self._deciding(decide, reading)
            except Unavailable:
                raise  # the store, not a rule: nothing to check it against
            except LedgerError:
                if attempt == limits.COMMAND_RETRIES_MAX or not self.stale(reading, all_reads=True):
                    raise
                reading = Reading(trust=False)
                continue
            if decided.decision.replayed and self.stale(reading):
                return self._deciding(decide, Reading(trust=False))
            return decided
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _deciding(self, decide: Callable[[], Decision], reading: Reading) -> Decided:
        self._reading.now = reading
        try:
            return Decided(decide(), reading.reads)
        finally:
            self._reading.now = None

    def _run_alone(self, decide: Callable[[], Decision], first: Decided | None) -> Saved:
        """Save one command on its own, from ``first`` when it was decided already."""
        attempts = iter([first] if first is not None else [])
        return self._retrying(lambda: self._apply(next(attempts, None) or self._decided(decide)))

    def _save_group(
        self, processing: ProcessingEvent[UUID], expected: Mapping[UUID, int]
    ) -> list[int]:
        """Save a group's events in one transaction if what it read is still current;
        their positions."""
        token = expected_reads.set(expected)
        try:
            recordings = self._record(processing)
        finally:
            expected_reads.reset(token)
        return [r.notification.id for r in recordings]

    def _record(self, processing: ProcessingEvent[UUID]) -> list[Recording[UUID]]:
        """Save as ``Application.save`` saves (recorded, snapshotted, cached), in its
        parts, and keep what was saved (``ledger/saved_cache.py``)."""
        app = self._app
        recordings = app._record(processing)
        self._saved.keep(processing.aggregates.values(), processing.events)
        app._take_snapshots(processing)
        app._notify(recordings)
        return recordings

    def _forget(self, aggregate_ids: Sequence[UUID]) -> None:
        """Drop aggregates from both caches (a save was refused: read them anew)."""
        self._saved.forget(aggregate_ids)
        cache = self._app.repository.cache
        if cache is None:
            return
        for aggregate_id in aggregate_ids:
            with suppress(KeyError):
                cache.get(aggregate_id, evict=True)

    def change(
        self,
        load: Callable[[UUID], A],
        aggregate_id: UUID,
        change: Callable[[A], object],
        already: Callable[[A], bool] | None = None,
    ) -> Saved:
        """The common command: load one aggregate, ``change`` it (it checks its own
        rules), save it. ``already`` says the command ran before, from the aggregate."""

        def decide() -> Decision:
            aggregate = load(aggregate_id)
            if already is not None and already(aggregate):
                return already_ran(aggregate)
            change(aggregate)
            return changed(aggregate)

        return self.run(decide)

    def create(self, aggregate: A, existing: Callable[[UUID], Any]) -> Saved:
        """Save a new aggregate, in a group with the commands that arrive meanwhile. When
        its client-chosen id exists, this command already ran (a retry after a lost
        reply): answer with ``existing(id)``, appending nothing."""
        if self._group.leading_here():
            return self._create_alone(aggregate, existing)
        # Saved alone when no group forms or the group's save is refused (the id taken):
        # then from a copy made before the group took the new aggregate's events.
        pristine = copying.aggregate_copy(aggregate)
        saved: Saved = self._group.run(
            lambda: changed(aggregate),
            Decided(changed(aggregate), {}),
            alone=lambda _decide, _first: self._create_alone(pristine, existing),
        )
        return saved

    def _create_alone(self, aggregate: A, existing: Callable[[UUID], Any]) -> Saved:
        try:
            with _replying_with(aggregate):
                recordings = self._record(_collected(aggregate))
        except IntegrityError:
            return Saved(existing(aggregate.id), self.head_position(), replayed=True)
        return Saved(aggregate, _position(recordings))

    def _retrying(self, attempt: Callable[[], R]) -> R:
        """Run ``attempt`` until the store accepts its save, with a jittered exponential
        backoff, at most ``COMMAND_RETRIES_MAX`` times."""
        for n in range(limits.COMMAND_RETRIES_MAX):
            try:
                return attempt()
            except IntegrityError:
                log.info("optimistic concurrency conflict", extra={"attempt": n + 1})
                time.sleep(random.uniform(0, 0.005 * 2**n))
        raise ConcurrencyExhausted(
            f"gave up after {limits.COMMAND_RETRIES_MAX} concurrent-modification retries"
        )

    def _apply(self, decided: Decided) -> Saved:
        decision = decided.decision
        if decision.replayed:
            return Saved(decision.reply, self.head_position(), replayed=True)
        token = expected_reads.set(decided.expected())
        try:
            with decision.guard or nullcontext(), _replying_with(decision.reply):
                recordings = self._record(_collected(*decision.aggregates))
        except IntegrityError:
            self._forget([*decided.changes(), *decided.reads])
            raise
        finally:
            expected_reads.reset(token)
        return Saved(decision.reply, _position(recordings))


@contextmanager
def _replying_with(reply: Any) -> Iterator[None]:
    """Say which aggregate the save replies with, when it replies with one."""
    token = replying.set((reply.id, reply.version) if isinstance(reply, Aggregate) else None)
    try:
        yield
    finally:
        replying.reset(token)


def _collected(*aggregates: Any) -> ProcessingEvent[UUID]:
    processing: ProcessingEvent[UUID] = ProcessingEvent()
    for obj in aggregates:
        collect(processing, obj)
    return processing


def _position(recordings: Sequence[Recording[UUID]]) -> int:
    return max(r.notification.id for r in recordings)
