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
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError, Application, project_aggregate
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

    # --- loading -------------------------------------------------------------------

    def get(self, kind: type[A], aggregate_id: UUID, missing: Exception) -> A:
        """The aggregate ``aggregate_id`` as stored now; ``missing`` when there is none
        of that kind."""
        try:
            aggregate: Aggregate = self._app.repository.get(aggregate_id)
        except AggregateNotFoundError:
            raise missing from None
        if not isinstance(aggregate, kind):
            raise missing
        return aggregate

    def peek(self, kind: type[A], aggregate_ids: Sequence[UUID], missing: Exception) -> list[A]:
        """The aggregates as stored now, to choose among and read, never to change (they
        are the cache's own copies), in two round trips however many: one for their
        latest versions, one for the events of those the cache does not hold at that
        version. A stream longer than ``PEEK_READ_MAX`` events is loaded as the library
        loads one (from its snapshot). A decision that changes one of them loads it with
        ``get`` first."""
        repository = self._app.repository
        latest = self._latest_versions(list(aggregate_ids)) if aggregate_ids else {}
        found: dict[UUID, Any] = {}
        for aggregate_id in aggregate_ids:
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
        found.update(self._read(short))
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
        return aggregates

    def _read(self, aggregate_ids: Sequence[UUID]) -> dict[UUID, Any]:
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
        """Each aggregate's last stored version, in one read (absent: none stored)."""
        return self._latest_versions(aggregate_ids)

    def invoices(self, invoice_ids: Sequence[UUID]) -> list[Invoice]:
        """``peek`` at invoices: to choose among and read, never to change."""
        return self.peek(
            Invoice, invoice_ids, UnknownInvoice("an invoice of the account is missing")
        )

    def aggregate(self, aggregate_id: UUID) -> Aggregate:
        """Whatever aggregate has that id (``AggregateNotFoundError`` when none)."""
        found: Aggregate = self._app.repository.get(aggregate_id)
        return found

    def exists(self, aggregate_id: UUID) -> bool:
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
        """An aggregate's events up to version ``lte``, oldest first."""
        return list(self._app.events.get(aggregate_id, lte=lte))

    def head_position(self) -> int:
        """The store's last position: the newest there is."""
        return self._app.recorder.max_notification_id() or 0

    # --- writing -------------------------------------------------------------------

    def run(self, decide: Callable[[], Decision]) -> Saved:
        """Decide and save; from the top again if another writer got there first."""
        return self._retrying(lambda: self._apply(decide()))

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
        """Save a new aggregate. When its client-chosen id exists, this command already
        ran (a retry after a lost reply): answer with ``existing(id)``, appending nothing."""
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

    def _apply(self, decision: Decision) -> Saved:
        if decision.replayed:
            return Saved(decision.reply, self.head_position(), replayed=True)
        with decision.guard or nullcontext(), _replying_with(decision.reply):
            recordings = self._app.save(*decision.aggregates)
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
