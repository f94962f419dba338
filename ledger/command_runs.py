"""A run of commands decided together: one unit-of-work decision and one save for many
commands of one kind (a bank statement's receipts, a payment channel's refunds and
disputes), each still checked as its own command checks it. The run is decided in order,
each command seeing what those before it changed; the first one refused ends it, and the
run is decided again without it and those after it, on fresh aggregates (it may have
changed some before it was refused). ``Payments.record_receipts`` and
``PaymentReversals.reverse_many`` are the two."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Protocol, TypeVar, cast
from uuid import UUID

from eventsourcing.domain import Aggregate, DomainEventProtocol

from ledger.errors import LedgerError, Unavailable

C = TypeVar("C")


class Run(Protocol):
    """A run being decided: ``take_all`` takes its commands in turn."""

    def take_all(self) -> tuple[int, LedgerError] | None: ...


R = TypeVar("R", bound=Run)


def decided_until_refused(
    make: Callable[[int], R], count: int
) -> tuple[R, int, LedgerError | None]:
    """The run of the first ``count`` commands (``make(n)`` starts a run of the first
    ``n``), decided to the first refused, without it: the run, how many it took, and the
    refusal that ended it (None: none was)."""
    taking, refused = count, None
    while True:
        run = make(taking)
        refusal = run.take_all()
        if refusal is None:
            return run, taking, refused
        taking, refused = refusal


def first_refused(
    commands: Sequence[C], take: Callable[[C], None]
) -> tuple[int, LedgerError] | None:
    """``take`` each command in turn; the first the ledger refuses, and why (None: none
    was). A store that cannot be reached refuses nothing: that is raised."""
    for n, command in enumerate(commands):
        try:
            take(command)
        except Unavailable:
            raise
        except LedgerError as error:
            return n, error
    return None


def in_order(
    events: Sequence[DomainEventProtocol[UUID]], aggregates: Iterable[Aggregate]
) -> tuple[Aggregate, ...]:
    """What a run saves: its events in the order they happened, then those of
    ``aggregates`` they belong to, which the store snapshots and keeps as after any save."""
    changed_ids = {event.originator_id for event in events}
    kept = [aggregate for aggregate in aggregates if aggregate.id in changed_ids]
    return (*cast("list[Aggregate]", events), *kept)
