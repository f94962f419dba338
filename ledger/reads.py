"""What a command's decision reads: aggregates, each noted at the version read, so that
the save can check nothing it rested on changed before it committed
(``ledger/unit_of_work.py``, ``infra/read_check.py``).

Three places an aggregate comes from, first to last: what an earlier command of the
group being saved left it as (``ledger/group_commit.py``); what this process last saved
(``ledger/saved_cache.py``: no round trip, and checked later, see ``Reading``); the
store, through the library's cache (one query for what is new since the cached
version)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate, DomainEventProtocol

from ledger.account import Account
from ledger.copying import aggregate_copy
from ledger.errors import UnknownAccount, UnknownInvoice, UnknownPayment, UnknownWriteOff
from ledger.group_commit import Group, RunAlone
from ledger.invoice import Invoice
from ledger.payment import Payment
from ledger.saved_cache import SavedAggregates
from ledger.store_port import EventStorePort
from ledger.write_off import WriteOff

A = TypeVar("A", bound=Aggregate)

# The longest stream ``peek`` makes from all its events, read with others in one round
# trip; a longer one is loaded from its snapshot, as the library loads any.
PEEK_READ_MAX = 100


# What a read raises when an aggregate is missing: the error, or what makes it, made only
# then (its message names the id, and formatting an id is a cost every read would pay).
Missing = Exception | Callable[[], Exception]


def _refusal(missing: Missing) -> Exception:
    return missing if isinstance(missing, Exception) else missing()


# No aggregate is ever at this version: a decision that read one aggregate at two
# versions (one of them stale) notes it so, and its save fails the read check.
UNREAD_VERSION = -1


@dataclass
class Reading:
    """What one run of a decision read: each aggregate at the version read, and which of
    them came from this process's own saves (``trusted``: not asked of the store, so a
    refusal or a replay resting on them is checked before it is answered)."""

    reads: dict[UUID, int] = field(default_factory=dict)
    trusted: set[UUID] = field(default_factory=set)
    trust: bool = True  # whether this run may read this process's saves


def mutated(aggregate: Any, events: Iterable[Any]) -> Any:
    """``aggregate`` with ``events`` applied in turn: the library's ``project_aggregate``
    without its assertion that each event matches a runtime-checkable protocol, which
    walks the protocol's attributes on every event (a fifth of the Stripe applier's CPU,
    rebuilding invoices from their events)."""
    for event in events:
        aggregate = event.mutate(aggregate)
    return aggregate


class Reads:
    """Loads the aggregates a decision reads, noting each (see ``Reading``)."""

    def __init__(
        self, app: Application[UUID], store: EventStorePort, group: Callable[[], Group | None]
    ) -> None:
        self._app = app
        self._latest_versions = store.latest_versions
        self._stored_events = store.stored_events
        self._group_now = group
        self._saved = SavedAggregates()
        self._reading = threading.local()  # the ``Reading`` of this thread's decision

    def _now_reading(self) -> Reading | None:
        reading: Reading | None = getattr(self._reading, "now", None)
        return reading

    def _changed_in_group(self, aggregate_id: UUID) -> Aggregate | None:
        """The aggregate as the group being decided left it, if the group changed it."""
        group = self._group_now()
        return None if group is None else group.changed.get(aggregate_id)

    def _load(self, aggregate_id: UUID) -> Aggregate:
        """The aggregate, the command's own copy (``AggregateNotFoundError``: none)."""
        in_group = self._changed_in_group(aggregate_id)
        if in_group is not None:
            return aggregate_copy(in_group)
        reading = self._now_reading()
        if reading is not None and reading.trust:
            saved = self._saved.copy_of(aggregate_id)
            seen = reading.reads.get(aggregate_id)
            if saved is not None and seen in (None, saved.version):
                reading.trusted.add(aggregate_id)
                return saved
        cached: Aggregate = self._app.repository.get(
            aggregate_id, projector_func=mutated, deepcopy_from_cache=False
        )
        return aggregate_copy(cached)

    def stale(self, reading: Reading, *, all_reads: bool = False) -> bool:
        """Whether what the decision read from this process's saves (or, ``all_reads``,
        anything it read) was changed since by another writer; what this process saved
        and another changed is forgotten, to be read from the store."""
        asked = list(reading.reads if all_reads else reading.trusted)
        if not asked:
            return False
        stored = self.latest_versions(asked)  # as a group being decided left them
        changed = [a for a in asked if stored.get(a) != reading.reads.get(a)]
        self._saved.forget(changed)
        return bool(changed)

    def get(self, kind: type[A], aggregate_id: UUID, missing: Missing) -> A:
        """The aggregate ``aggregate_id`` as stored now; ``missing`` when there is none
        of that kind (as an earlier command of its group left it, in a group commit)."""
        try:
            aggregate = self._load(aggregate_id)
        except AggregateNotFoundError:
            raise _refusal(missing) from None
        if not isinstance(aggregate, kind):
            raise _refusal(missing)
        self._read(aggregate)
        return aggregate

    def _read(self, *aggregates: Aggregate) -> None:
        """Note what the decision in this thread read, at the version read."""
        reading = self._now_reading()
        if reading is not None:
            reads = reading.reads
            for aggregate in aggregates:
                aggregate_id, version = aggregate.id, aggregate.version
                if reads.setdefault(aggregate_id, version) != version:
                    reads[aggregate_id] = UNREAD_VERSION  # read at two versions: one is stale

    def peek(self, kind: type[A], aggregate_ids: Sequence[UUID], missing: Missing) -> list[A]:
        """The aggregates as stored now, to choose among and read, never to change (they
        are the caches' own), in two round trips however many: one for their latest
        versions, one for the events of those no cache holds at that version; none for
        those this process saved (checked later, see ``Reading``). A stream longer than
        ``PEEK_READ_MAX`` events is loaded as the library loads one (from its snapshot).
        A decision that changes one of them loads it with ``get`` first."""
        group = self._group_now()
        found: dict[UUID, Any] = {}
        if group is not None:
            found = {a: group.changed[a] for a in aggregate_ids if a in group.changed}
        found |= self._trusted_saves([a for a in aggregate_ids if a not in found])
        if len(found) < len(aggregate_ids):  # some to read from the store (or ids repeat)
            self._peek_stored([a for a in aggregate_ids if a not in found], found, missing)
        aggregates = [found[a] for a in aggregate_ids]
        for aggregate in aggregates:
            if not isinstance(aggregate, kind):
                raise _refusal(missing)
        self._read(*aggregates)
        return aggregates

    def _peek_stored(self, asked: Sequence[UUID], found: dict[UUID, Any], missing: Missing) -> None:
        """Add to ``found`` the aggregates ``asked`` as stored now (see ``peek``)."""
        latest = self._latest_versions(asked) if asked else {}
        for aggregate_id in asked:
            if aggregate_id not in latest:
                raise _refusal(missing)
            current = self._current_copy(aggregate_id, latest[aggregate_id])
            if current is not None:
                found[aggregate_id] = current
        unread = [a for a in dict.fromkeys(asked) if a not in found]
        short = [a for a in unread if latest[a] <= PEEK_READ_MAX]
        found.update(self._made(short))
        for aggregate_id in unread:
            if aggregate_id not in found:  # a long stream: from its snapshot
                try:
                    found[aggregate_id] = self._app.repository.get(
                        aggregate_id, projector_func=mutated, deepcopy_from_cache=False
                    )
                except AggregateNotFoundError:
                    raise _refusal(missing) from None

    def _trusted_saves(self, aggregate_ids: Sequence[UUID]) -> dict[UUID, Aggregate]:
        """Those of the aggregates this process saved, as it saved them, when the running
        decision may read them so (noted as trusted, see ``Reading``)."""
        reading = self._now_reading()
        if reading is None or not reading.trust:
            return {}
        reads = reading.reads
        found = self._saved.each_at([(a, reads.get(a)) for a in aggregate_ids])
        reading.trusted.update(found)
        return found

    def _current_copy(self, aggregate_id: UUID, version: int) -> Aggregate | None:
        """A cached aggregate at ``version``, to read only: as this process last saved
        it, or as the library's cache holds it."""
        saved = self._saved.at(aggregate_id, version)
        if saved is not None or self._app.repository.cache is None:
            return saved
        try:
            cached = self._app.repository.cache.get(aggregate_id)
        except KeyError:
            return None
        return cached if isinstance(cached, Aggregate) and cached.version == version else None

    def _made(self, aggregate_ids: Sequence[UUID]) -> dict[UUID, Any]:
        """Aggregates made from their events, read together, and cached as the library
        caches one it reads."""
        if not aggregate_ids:
            return {}
        repository, mapper = self._app.repository, self._app.mapper
        made: dict[UUID, Any] = {}
        for aggregate_id, stored in self._stored_events(aggregate_ids).items():
            aggregate = mutated(None, (mapper.to_domain_event(e) for e in stored))
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
        group = self._group_now()
        if group is not None:
            versions |= {a: group.changed[a].version for a in aggregate_ids if a in group.changed}
        return versions

    def invoices(self, invoice_ids: Sequence[UUID]) -> list[Invoice]:
        """``peek`` at invoices: to choose among and read, never to change."""
        return self.peek(
            Invoice, invoice_ids, lambda: UnknownInvoice("an invoice of the account is missing")
        )

    def aggregate(self, aggregate_id: UUID) -> Aggregate:
        """Whatever aggregate has that id (``AggregateNotFoundError`` when none)."""
        found = self._load(aggregate_id)
        self._read(found)
        return found

    def exists(self, aggregate_id: UUID) -> bool:
        if self._changed_in_group(aggregate_id) is not None:
            return True
        return aggregate_id in self._app.repository

    def account(self, account_id: UUID) -> Account:
        return self.get(Account, account_id, lambda: UnknownAccount(f"no account {account_id}"))

    def peek_account(self, account_id: UUID) -> Account:
        """``peek`` at an account: to read (which invoices it has), never to change."""
        found = self.peek(Account, [account_id], lambda: UnknownAccount(f"no account {account_id}"))
        return found[0]

    def opened_account(self, account_id: UUID) -> Account:
        """An account, to check only what never changes once it is opened (that it
        exists, its currency): as this process last saved it, when it did, without
        asking the store; else as stored. Never to change."""
        kept = self._saved.at(account_id)
        if isinstance(kept, Account):
            return kept
        return self.account(account_id)

    def invoice(self, invoice_id: UUID) -> Invoice:
        return self.get(Invoice, invoice_id, lambda: UnknownInvoice(f"no invoice {invoice_id}"))

    def payment(self, payment_id: UUID) -> Payment:
        return self.get(Payment, payment_id, lambda: UnknownPayment(f"no payment {payment_id}"))

    def write_off(self, write_off_id: UUID) -> WriteOff:
        return self.get(
            WriteOff, write_off_id, lambda: UnknownWriteOff(f"no write-off {write_off_id}")
        )

    def history(self, aggregate_id: UUID, lte: int) -> list[DomainEventProtocol[UUID]]:
        """An aggregate's events up to version ``lte``, oldest first (stored ones: a
        command in a group that changed the aggregate is decided again alone)."""
        if self._changed_in_group(aggregate_id) is not None:
            raise RunAlone(f"the stored history of {aggregate_id}")
        return list(self._app.events.get(aggregate_id, lte=lte))

    def head_position(self) -> int:
        """The store's last position: the newest there is."""
        return self._app.recorder.max_notification_id() or 0
