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

import copy
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar
from uuid import UUID, uuid4

from eventsourcing.application import (
    AggregateNotFoundError,
    Application,
    ProcessingEvent,
    project_aggregate,
)
from eventsourcing.domain import Aggregate, DomainEventProtocol
from eventsourcing.persistence import IntegrityError, Recording

from ledger import copying, limits
from ledger.account import Account
from ledger.errors import (
    ConcurrencyExhausted,
    UnknownAccount,
    UnknownInvoice,
    UnknownPayment,
    UnknownWriteOff,
)
from ledger.group_commit import Decided, GroupCommit, RunAlone
from ledger.invoice import Invoice
from ledger.payment import Payment
from ledger.store_port import EventStorePort
from ledger.write_off import WriteOff

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

# The longest stream ``peek`` makes from all its events, read with others in one round
# trip; a longer one is loaded from its snapshot, as the library loads any.
PEEK_READ_MAX = 100


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


class UnitOfWork:
    """Loads aggregates from the application's store and saves what a decision changed,
    atomically, retrying a decision that lost a race with another writer."""

    def __init__(self, app: Application[UUID], store: EventStorePort) -> None:
        self._app = app
        self._latest_versions = store.latest_versions
        self._stored_events = store.stored_events
        self._reading = threading.local()  # what the decision in this thread reads
        self._group = GroupCommit(
            decide=self._decided,
            stored=self._latest_versions,
            alone=self._run_alone,
            save=self._save_group,
            answer=lambda decision, position: Saved(decision.reply, position),
            forget=self._forget,
        )

    @property
    def groups_saved(self) -> int:
        """How many groups of commands were saved together (``ledger/group_commit.py``)."""
        return self._group.groups

    def _changed_in_group(self, aggregate_id: UUID) -> Aggregate | None:
        """The aggregate as the group being decided left it, if the group changed it."""
        group = self._group.current()
        return None if group is None else group.changed.get(aggregate_id)

    # --- loading -------------------------------------------------------------------

    def get(self, kind: type[A], aggregate_id: UUID, missing: Exception) -> A:
        """The aggregate ``aggregate_id`` as stored now; ``missing`` when there is none
        of that kind (as an earlier command of its group left it, in a group commit)."""
        in_group = self._changed_in_group(aggregate_id)
        try:
            aggregate: Aggregate = (
                self._app.repository.get(aggregate_id)
                if in_group is None
                else copy.deepcopy(in_group)
            )
        except AggregateNotFoundError:
            raise missing from None
        if not isinstance(aggregate, kind):
            raise missing
        self._read(aggregate)
        return aggregate

    def _read(self, *aggregates: Aggregate) -> None:
        """Note what the decision in this thread read, at the version read."""
        reads: dict[UUID, int] | None = getattr(self._reading, "reads", None)
        if reads is not None:
            for aggregate in aggregates:
                reads.setdefault(aggregate.id, aggregate.version)

    def peek(self, kind: type[A], aggregate_ids: Sequence[UUID], missing: Exception) -> list[A]:
        """The aggregates as stored now, to choose among and read, never to change (they
        are the cache's own copies), in two round trips however many: one for their
        latest versions, one for the events of those the cache does not hold at that
        version. A stream longer than ``PEEK_READ_MAX`` events is loaded as the library
        loads one (from its snapshot). A decision that changes one of them loads it with
        ``get`` first."""
        repository = self._app.repository
        group = self._group.current()
        found: dict[UUID, Any] = {}
        if group is not None:
            found = {a: group.changed[a] for a in aggregate_ids if a in group.changed}
        asked = [a for a in aggregate_ids if a not in found]
        latest = self._latest_versions(asked) if asked else {}
        for aggregate_id in asked:
            if aggregate_id not in latest:
                raise missing
            if repository.cache is not None:
                try:
                    cached = repository.cache.get(aggregate_id)
                except KeyError:
                    continue
                if cached.version == latest[aggregate_id]:
                    found[aggregate_id] = cached
        unread = [a for a in dict.fromkeys(aggregate_ids) if a not in found]
        short = [a for a in unread if latest[a] <= PEEK_READ_MAX]
        found.update(self._made(short))
        for aggregate_id in unread:
            if aggregate_id not in found:  # a long stream: from its snapshot
                try:
                    found[aggregate_id] = repository.get(aggregate_id, deepcopy_from_cache=False)
                except AggregateNotFoundError:
                    raise missing from None
        aggregates = [found[a] for a in aggregate_ids]
        for aggregate in aggregates:
            if not isinstance(aggregate, kind):
                raise missing
        self._read(*aggregates)
        return aggregates

    def _made(self, aggregate_ids: Sequence[UUID]) -> dict[UUID, Any]:
        """Aggregates made from their events, read together, and cached as the library
        caches one it reads."""
        if not aggregate_ids:
            return {}
        repository, mapper = self._app.repository, self._app.mapper
        made: dict[UUID, Any] = {}
        for aggregate_id, stored in self._stored_events(aggregate_ids).items():
            aggregate = project_aggregate(None, (mapper.to_domain_event(e) for e in stored))
            if aggregate is None:
                continue
            made[aggregate_id] = aggregate
            if repository.cache is not None:
                repository.cache.put(aggregate_id, aggregate)
        return made

    def latest_versions(self, aggregate_ids: Sequence[UUID]) -> dict[UUID, int]:
        """Each aggregate's last stored version, in one read (absent: none stored); in
        a group commit, the version the group's earlier commands left it at."""
        versions = self._latest_versions(aggregate_ids)
        group = self._group.current()
        if group is not None:
            versions |= {a: group.changed[a].version for a in aggregate_ids if a in group.changed}
        return versions

    def invoices(self, invoice_ids: Sequence[UUID]) -> list[Invoice]:
        """``peek`` at invoices: to choose among and read, never to change."""
        return self.peek(
            Invoice, invoice_ids, UnknownInvoice("an invoice of the account is missing")
        )

    def aggregate(self, aggregate_id: UUID) -> Aggregate:
        """Whatever aggregate has that id (``AggregateNotFoundError`` when none)."""
        in_group = self._changed_in_group(aggregate_id)
        found: Aggregate = (
            self._app.repository.get(aggregate_id) if in_group is None else copy.deepcopy(in_group)
        )
        self._read(found)
        return found

    def exists(self, aggregate_id: UUID) -> bool:
        if self._changed_in_group(aggregate_id) is not None:
            return True
        return aggregate_id in self._app.repository

    def account(self, account_id: UUID) -> Account:
        return self.get(Account, account_id, UnknownAccount(f"no account {account_id}"))

    def invoice(self, invoice_id: UUID) -> Invoice:
        return self.get(Invoice, invoice_id, UnknownInvoice(f"no invoice {invoice_id}"))

    def payment(self, payment_id: UUID) -> Payment:
        return self.get(Payment, payment_id, UnknownPayment(f"no payment {payment_id}"))

    def write_off(self, write_off_id: UUID) -> WriteOff:
        return self.get(WriteOff, write_off_id, UnknownWriteOff(f"no write-off {write_off_id}"))

    def history(self, aggregate_id: UUID, lte: int) -> list[DomainEventProtocol[UUID]]:
        """An aggregate's events up to version ``lte``, oldest first (stored ones: a
        command in a group that changed the aggregate is decided again alone)."""
        if self._changed_in_group(aggregate_id) is not None:
            raise RunAlone(f"the stored history of {aggregate_id}")
        return list(self._app.events.get(aggregate_id, lte=lte))

    def head_position(self) -> int:
        """The store's last position: the newest there is."""
        return self._app.recorder.max_notification_id() or 0

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
        """Run a decision, noting what it reads."""
        reads: dict[UUID, int] = {}
        self._reading.reads = reads
        try:
            return Decided(decide(), reads)
        finally:
            self._reading.reads = None

    def _run_alone(self, decide: Callable[[], Decision], first: Decided | None) -> Saved:
        """Save one command on its own, from ``first`` when it was decided already."""
        attempts = iter([first] if first is not None else [])
        return self._retrying(lambda: self._apply(next(attempts, None) or self._decided(decide)))

    def _save_group(
        self, processing: ProcessingEvent[UUID], expected: Mapping[UUID, int]
    ) -> list[int]:
        """Save a group's events in one transaction, as ``Application.save`` saves an
        aggregate's (recorded, snapshotted, cached), if what it read is still current;
        their positions."""
        app = self._app
        token = expected_reads.set(expected)
        try:
            recordings = app._record(processing)  # the library's save, in its parts
        finally:
            expected_reads.reset(token)
        app._take_snapshots(processing)
        app._notify(recordings)
        return [r.notification.id for r in recordings]

    def _forget(self, aggregate_ids: Sequence[UUID]) -> None:
        """Drop aggregates from the cache (a group's save was refused: read them anew)."""
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
        pristine = copy.deepcopy(aggregate)
        saved: Saved = self._group.run(
            lambda: changed(aggregate),
            Decided(changed(aggregate), {}),
            alone=lambda _decide, _first: self._create_alone(pristine, existing),
        )
        return saved

    def _create_alone(self, aggregate: A, existing: Callable[[UUID], Any]) -> Saved:
        try:
            with _replying_with(aggregate):
                return Saved(aggregate, _position(self._app.save(aggregate)))
        except IntegrityError:
            return Saved(existing(aggregate.id), self.head_position(), replayed=True)

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
                recordings = self._app.save(*decision.aggregates)
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


def _position(recordings: Sequence[Recording[UUID]]) -> int:
    return max(r.notification.id for r in recordings)
