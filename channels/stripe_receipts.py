"""Stripe payments recorded many to a save: a batch of webhook events the applier
takes together, and the succeeded PaymentIntents a reconciliation finds missing.

Each payment is recorded and allocated as ``StripeEvents`` would record it alone (the
same ``Recording``: the same payment id, the same allocation request), but through
``Payments.record_receipts``: one save per ``RECEIPTS_PER_SAVE`` payments, each account
and invoice read once, instead of two commands (and their commits) per payment. The
invoice named in the metadata gets up to what it still owes once the payments before it
in the run have been allocated. A payment the ledger has already (a crash between the
ledger's commit and the applier settling its rows; an event delivered for one
PaymentIntent twice, as ``payment_intent.succeeded`` and ``checkout.session.completed``)
is ``ignored``, and its allocation made once."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from channels.stripe_apply import StripeEvents
from channels.stripe_outcome import Outcome, Recording, refused
from ledger.application import Ledger
from ledger.commands import AllocatePayment
from ledger.errors import LedgerError, UnknownInvoice
from ledger.invoice import Invoice
from ledger.money import Money
from ledger.payment import Payment
from ledger.payments import Receipt
from ledger.stamp import Stamp

RECEIPTS_PER_SAVE = 500

# Told the index of a recording ``record_receipts`` refused, and why: its outcome.
Refused = Callable[[int, LedgerError], Outcome]


@dataclass
class Owed:
    """An invoice a run allocates to: its number, and what it still owes after the
    allocations planned so far (None: it takes none, void or unknown)."""

    number: str
    outstanding: Money | None


def record_successes(
    events: StripeEvents, intents: list[tuple[dict[str, Any], Stamp]]
) -> list[Outcome]:
    """Record each succeeded PaymentIntent of ``intents`` (with the stamp to record it
    under); an outcome for each, in order: ``applied``, ``unmatched`` or ``refused``."""
    recordings: list[Recording | Outcome] = []
    for pi, stamp in intents:
        try:
            recordings.append(events.success_of(pi, stamp))
        except LedgerError as error:  # an amount or currency the ledger cannot take
            recordings.append(refused(error))
    outcomes = record_many(events, recordings, lambda _, error: refused(error))
    for done in outcomes:
        if done.outcome == "ignored":  # recorded since the run read the ledger's payments:
            done.outcome = "applied"  # counted as recorded, as ever; its detail says so
    return outcomes


def record_many(
    events: StripeEvents, recordings: Sequence[Recording | Outcome], on_refused: Refused
) -> list[Outcome]:
    """Record the payments of ``recordings`` in their order, many to a save; an outcome
    for each (an ``Outcome`` given stays as it is). The first one the ledger refuses
    ends its save: ``on_refused`` gives its outcome before those after it are decided
    again, on what the ledger holds then."""
    outcomes = [r if isinstance(r, Outcome) else None for r in recordings]
    waiting = [(n, r) for n, r in enumerate(recordings) if isinstance(r, Recording)]
    while waiting:
        chunk = waiting[:RECEIPTS_PER_SAVE]
        receipts, planned = _planned(events, [recording for _, recording in chunk])
        saved = events.ledger.payments.record_receipts(receipts)
        recorded = saved.recorded
        for (n, _), done in zip(chunk[:recorded], planned[:recorded], strict=True):
            done.positions.append(saved.position)
            outcomes[n] = done
        if saved.refused is None:
            waiting = waiting[len(chunk) :]
            continue
        n, _ = chunk[recorded]
        outcomes[n] = on_refused(n, saved.refused)
        waiting = waiting[recorded + 1 :]
    assert all(done is not None for done in outcomes), "every recording has its outcome"
    return [done for done in outcomes if done is not None]


def _planned(
    events: StripeEvents, recordings: list[Recording]
) -> tuple[list[Receipt], list[Outcome]]:
    """The receipts to save and, for each, its outcome once saved (positions to come)."""
    run = _Run(events, recordings)
    taken = [run.take(recording) for recording in recordings]
    return [receipt for receipt, _ in taken], [done for _, done in taken]


class _Run:
    """Receipts being planned, in order: which payments the ledger or an earlier receipt
    of the run records, which of them are allocated, and what each invoice still owes."""

    def __init__(self, events: StripeEvents, recordings: list[Recording]) -> None:
        self.events = events
        self.before = recorded_before(events.ledger, [r.payment_id for r in recordings])
        self.recorded = set(self.before)
        self.allocated = {
            r.payment_id
            for r in recordings
            if r.payment_id in self.before
            and r.allocation_request in self.before[r.payment_id].allocation_requests
        }
        named = [r.invoice_id for r in recordings if r.invoice_id is not None]
        self.owed = _owed(events, named)

    def take(self, recording: Recording) -> tuple[Receipt, Outcome]:
        payment_id, invoice_id = recording.payment_id, recording.invoice_id
        done = recording.outcome(payment_id in self.recorded)
        stored = self.before.get(payment_id)
        done.payment_status = recording.payment.status if stored is None else stored.status
        self.recorded.add(payment_id)
        if invoice_id is None:
            return Receipt(recording.payment), done
        if payment_id in self.allocated:
            done.detail += "; allocated to the invoice in the metadata before"
            return Receipt(recording.payment), done
        allocation, note = _allocation(recording, invoice_id, self.owed)
        done.detail += note
        if allocation is not None:
            done.outcome = "applied"
            self.allocated.add(payment_id)
        return Receipt(recording.payment, allocation), done


def recorded_before(ledger: Ledger, payment_ids: list[UUID]) -> dict[UUID, Payment]:
    """The payments of ``payment_ids`` the ledger has already. Which are stored is one
    read for all (usually none: then that is all); each found is then read alone."""
    stored = ledger.uow.latest_versions(payment_ids)
    return {payment_id: ledger.get_payment(payment_id) for payment_id in stored}


def _allocation(
    recording: Recording, invoice_id: UUID, owed: dict[UUID, Owed]
) -> tuple[AllocatePayment | None, str]:
    """The allocation to the invoice in the metadata, up to what it still owes."""
    invoice, money = owed[invoice_id], recording.payment.amount
    if not invoice.number:
        return None, f"; invoice {invoice_id} in the metadata is unknown, left unallocated"
    left = invoice.outstanding
    amount = min(money, left) if left is not None and left.currency == money.currency else None
    if amount is None or left is None or amount.is_zero():
        return (
            None,
            f"; invoice {invoice.number} owes nothing in {money.currency}, left unallocated",
        )
    invoice.outstanding = left - amount
    allocation = AllocatePayment(
        payment_id=recording.payment_id,
        request_id=recording.allocation_request,
        stamp=recording.payment.stamp,
        allocations=((invoice_id, amount),),
    )
    return allocation, f"; {amount} allocated to invoice {invoice.number}"


def _owed(events: StripeEvents, invoice_ids: list[UUID]) -> dict[UUID, Owed]:
    """What each invoice named owes now. Each is read alone: the cache brings it up to
    date with what the last batch appended (one query, its new events only), where
    reading them together (``peek``) would read every event of each, a batch after
    another as an invoice's allocations grow."""
    return {invoice_id: _owed_one(events, invoice_id) for invoice_id in dict.fromkeys(invoice_ids)}


def _owed_one(events: StripeEvents, invoice_id: UUID) -> Owed:
    try:
        invoice = events.ledger.get_invoice(invoice_id)
    except UnknownInvoice:
        return Owed("", None)
    return Owed(invoice.number, _owes(invoice))


def _owes(invoice: Invoice) -> Money | None:
    return None if invoice.is_void else invoice.outstanding
