"""Succeeded PaymentIntents the ledger lacks, recorded many to a save.

A reconciliation can find thousands of Stripe payments missing (webhooks lost for a day,
a first run over old data). Each is recorded and allocated as ``record_success`` would
(``StripeEvents``), but through ``Payments.record_receipts``: one save per
``RECEIPTS_PER_SAVE`` payments, each account and invoice read once, instead of two
commands (and their commits) per payment. The invoice named in the metadata gets up to
what it still owes once the payments before it in the run have been allocated."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from channels.stripe_apply import (
    Outcome,
    StripeEvents,
    _metadata,
    _method,
    _uuid,
    payment_id_for,
    refused,
)
from ledger.commands import AllocatePayment, RecordPayment
from ledger.errors import LedgerError, UnknownInvoice
from ledger.money import Money
from ledger.payments import Receipt
from ledger.stamp import Stamp

RECEIPTS_PER_SAVE = 500


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
    owed: dict[UUID, Owed] = {}
    outcomes: list[Outcome] = []
    waiting: list[tuple[int, Receipt]] = []
    for pi, stamp in intents:
        try:
            receipt, done = _receipt(events, pi, stamp, owed)
        except LedgerError as error:  # an amount or currency the ledger cannot take
            receipt, done = None, refused(error)
        if receipt is not None:
            waiting.append((len(outcomes), receipt))
        outcomes.append(done)
    while waiting:
        chunk = waiting[:RECEIPTS_PER_SAVE]
        saved = events.ledger.payments.record_receipts([receipt for _, receipt in chunk])
        for n, _ in chunk[: saved.recorded]:
            outcomes[n].positions.append(saved.position)
        if saved.refused is None:
            waiting = waiting[len(chunk) :]
            continue
        outcomes[chunk[saved.recorded][0]] = refused(saved.refused)
        waiting = waiting[saved.recorded + 1 :]
    return outcomes


def _receipt(
    events: StripeEvents, pi: dict[str, Any], stamp: Stamp, owed: dict[UUID, Owed]
) -> tuple[Receipt | None, Outcome]:
    pi_id, meta = str(pi["id"]), _metadata(pi)
    account = events._account(pi, meta)
    if account is None:
        return None, Outcome("unmatched", f"no account for {pi_id}: no account_id in metadata")
    money = Money(int(pi.get("amount_received") or pi["amount"]), str(pi["currency"]).upper())
    payment_id = payment_id_for(f"{pi_id}/succeeded")
    payment = RecordPayment(
        account_id=account,
        amount=money,
        method=_method(pi),
        received_on=stamp.effective_at.date(),
        stamp=stamp,
        reference=pi_id,
        payment_id=payment_id,
    )
    done = Outcome("applied", f"payment {payment_id} succeeded", pi_id)
    done.payment_id, done.payment_status = payment_id, "succeeded"
    invoice_id = _uuid(meta.get("invoice_id"))
    if invoice_id is None:
        return Receipt(payment), done
    allocation, note = _allocation(events, stamp, payment_id, invoice_id, money, owed)
    done.detail += note
    return Receipt(payment, allocation), done


def _allocation(
    events: StripeEvents,
    stamp: Stamp,
    payment_id: UUID,
    invoice_id: UUID,
    money: Money,
    owed: dict[UUID, Owed],
) -> tuple[AllocatePayment | None, str]:
    """The allocation to the invoice in the metadata, up to what it still owes."""
    if invoice_id not in owed:
        owed[invoice_id] = _owed(events, invoice_id)
    invoice = owed[invoice_id]
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
        payment_id=payment_id,
        request_id=f"stripe:{payment_id}/allocate",
        stamp=stamp,
        allocations=((invoice_id, amount),),
    )
    return allocation, f"; {amount} allocated to invoice {invoice.number}"


def _owed(events: StripeEvents, invoice_id: UUID) -> Owed:
    try:
        invoice = events.ledger.get_invoice(invoice_id)
    except UnknownInvoice:
        return Owed("", None)
    return Owed(invoice.number, None if invoice.is_void else invoice.outstanding)
