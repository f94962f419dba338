"""A batch's refunds and disputes, many to a ledger save: what the applier does with the
webhook events that come after a payment, once the batch's payments are recorded.

Each event is decided as it would be alone (``channels/stripe_reversals.py``: the same
reversals, keyed by the same Stripe ids), but the reversals of a run of events are saved
by ``PaymentReversals.reverse_many``: one save per ``REVERSALS_PER_SAVE`` reversals, each
payment and invoice read once, instead of a command (and its commit) each. The events
stay in their order: an event that must read the ledger first (``asked_of`` says which)
is applied alone, after the run before it is saved. An event whose reversal the ledger
refuses is applied alone, as it would have been, and keeps the outcome that gives it
(its own reason); the events after it are decided again on what the ledger holds then."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from channels.stripe_outcome import Outcome
from channels.stripe_reversals import Asked
from ledger.application import Ledger

REVERSALS_PER_SAVE = 500

Event = dict[str, Any]
# An event, and what it asks: reversals, an outcome with nothing to save (deferred, say),
# or None: it is applied alone.
Decided = tuple[Event, Asked | Outcome | None]
# Applies one event alone: its outcome.
Alone = Callable[[Event], Outcome]


def reverse_in_order(
    ledger: Ledger, decided: Sequence[Decided], alone: Alone
) -> dict[str, Outcome]:
    """An outcome for each event of ``decided``, by id, the events taken in their order."""
    outcomes: dict[str, Outcome] = {}
    run: list[tuple[Event, Asked]] = []
    for event, asked in decided:
        if isinstance(asked, Asked):
            run.append((event, asked))
        elif isinstance(asked, Outcome):
            outcomes[event["id"]] = asked
        else:  # what it does depends on the events before it: they are saved first
            outcomes.update(_saved(ledger, run, alone))
            run = []
            outcomes[event["id"]] = alone(event)
    outcomes.update(_saved(ledger, run, alone))
    return outcomes


def _saved(ledger: Ledger, run: list[tuple[Event, Asked]], alone: Alone) -> dict[str, Outcome]:
    """Save the reversals of ``run``'s events, many to a save: an outcome for each."""
    outcomes: dict[str, Outcome] = {}
    while run:
        chunk = _chunk(run)
        saved = ledger.reversals.reverse_many([r for _, asked in chunk for r in asked.reversals])
        first, taken = 0, len(chunk)  # the event's first reversal in the save; events done
        for n, (event, asked) in enumerate(chunk):
            end = first + len(asked.reversals)
            positions = [saved.position if made else None for made in saved.appended[first:end]]
            if end > saved.decided:  # it, or one of its reversals, was refused
                outcomes[event["id"]] = _with_saved(asked, positions, alone(event))
                taken = n + 1
                break
            outcomes[event["id"]] = asked.outcome(positions)
            first = end
        run = run[taken:]
    return outcomes


def _chunk(run: list[tuple[Event, Asked]]) -> list[tuple[Event, Asked]]:
    """The events from the first whose reversals fit one save (at least one event)."""
    taken, size = 0, 0
    for _, asked in run:
        if taken and size + len(asked.reversals) > REVERSALS_PER_SAVE:
            break
        taken, size = taken + 1, size + len(asked.reversals)
    return run[:taken]


def _with_saved(asked: Asked, saved: list[int | None], alone: Outcome) -> Outcome:
    """The outcome of an event applied alone after a save took the reversals of it that
    came before the one refused (``saved``): those count as its own."""
    if all(p is None for p in saved) or alone.outcome not in ("applied", "ignored"):
        return alone
    rest: list[int | None] = [None] * (len(asked.reversals) - len(saved))
    done = asked.outcome([*saved, *rest])
    if alone.outcome == "applied":
        done.detail = alone.detail
    done.positions += alone.positions
    return done
