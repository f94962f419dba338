"""Commands that take money back off invoices: un-allocation, refunds, bank returns and
chargebacks. Each reversal is recorded on the payment (with the rule that produced it)
and on every invoice it reopens, saved together in one transaction; many reversals (a
batch of a payment channel's refunds and disputes) can be decided and saved together,
each still checked and refused on its own (``reverse_many``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from uuid import UUID

from eventsourcing.domain import Aggregate, DomainEventProtocol

from ledger import command_runs, limits, rules
from ledger.commands import (
    CloseChargeback,
    ForfeitDeposit,
    OpenChargeback,
    RefundPayment,
    ReturnPayment,
    UnallocatePayment,
)
from ledger.copying import aggregate_copy
from ledger.errors import (
    InvalidRequest,
    LedgerError,
    UnknownPayment,
)
from ledger.invoice import Invoice
from ledger.money import Money
from ledger.payment import Payment
from ledger.stamp import Stamp
from ledger.unit_of_work import Decision, Saved, UnitOfWork, already_ran, changed

# Reversals decided and saved together at most: as ``RECEIPTS_PER_SAVE_MAX``, a save stays
# a few thousand events and a conflict re-decides little.
REVERSALS_PER_SAVE_MAX = 1_000

# The reversals ``reverse_many`` takes: what a payment channel reports afterwards.
Reversal = RefundPayment | ReturnPayment | OpenChargeback | CloseChargeback
# Loads an invoice a reversal reopens (each once per decision: see ``_Invoices``).
LoadInvoice = Callable[[UUID], Invoice]


@dataclass(frozen=True)
class _Change:
    """What one reversal does to its payment (and the invoices it reopens, which it
    returns), keyed by its idempotency key on the payment."""

    payment_id: UUID
    request_id: str
    apply: Callable[[Payment, LoadInvoice], list[Invoice]]


@dataclass(frozen=True)
class ReversalsSaved:
    """What ``reverse_many`` saved: the first ``decided`` reversals (all of them, or those
    before the one refused, whose refusal is ``refused``), whether each of those appended
    (``appended[n]``; False: it had run before), and the position the save reached (the
    store's head when it appended nothing)."""

    decided: int
    appended: tuple[bool, ...]
    position: int
    refused: LedgerError | None = None


class PaymentReversals:
    """Un-allocate, refund, return and charge back, keeping every invoice and payment in
    step: what a payment takes back from an invoice, the invoice gives up in the same
    transaction."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    def unallocate_payment(self, cmd: UnallocatePayment) -> Saved:
        rules.require_text(cmd.reason, "reason", limits.DESCRIPTION_LENGTH_MAX, optional=False)
        for invoice_id, amount in cmd.allocations:
            if not amount.is_positive():
                raise InvalidRequest(f"un-allocation from invoice {invoice_id} must be above zero")

        def change(payment: Payment, invoice: LoadInvoice) -> list[Invoice]:
            rows = list(cmd.allocations) or [
                (UUID(key), amount) for key, amount in payment.applied.items()
            ]
            if not rows:
                raise InvalidRequest(f"payment {payment.id} has nothing allocated to take back")
            return _take_back(
                payment, cmd.request_id, "manual", cmd.reason, rows, cmd.stamp, invoice
            )

        return self._on_payment(_Change(cmd.payment_id, cmd.request_id, change))

    def refund_payment(self, cmd: RefundPayment) -> Saved:
        return self._on_payment(_refund(cmd))

    def return_payment(self, cmd: ReturnPayment) -> Saved:
        return self._on_payment(_return(cmd))

    def open_chargeback(self, cmd: OpenChargeback) -> Saved:
        return self._on_payment(_chargeback_opened(cmd))

    def forfeit_deposit(self, cmd: ForfeitDeposit) -> Saved:
        """Keep part or all of a deposit's unallocated cash."""
        rules.require_positive(cmd.amount, "amount")
        rules.require_text(cmd.reason, "reason", limits.DESCRIPTION_LENGTH_MAX, optional=False)

        def change(payment: Payment, _: LoadInvoice) -> list[Invoice]:
            payment.forfeit(cmd.request_id, cmd.amount, cmd.reason, cmd.stamp)
            return []

        return self._on_payment(_Change(cmd.payment_id, cmd.request_id, change))

    def close_chargeback(self, cmd: CloseChargeback) -> Saved:
        return self._on_payment(_chargeback_closed(cmd))

    def reverse_many(self, cmds: Sequence[Reversal]) -> ReversalsSaved:
        """Decide reversals in their order and save them in one transaction, each checked
        on its own as its command alone checks it, each payment and invoice loaded once
        (a later reversal sees what an earlier one changed); one that ran before appends
        nothing. The first one refused ends the run: those before it are saved, it and
        those after it are not."""
        assert len(cmds) <= REVERSALS_PER_SAVE_MAX, "reverse in smaller runs"

        def decide() -> Decision:
            batch, taking, refused = command_runs.decided_until_refused(
                lambda n: _Reversals(self.uow, cmds[:n]), len(cmds)
            )
            reply = (taking, tuple(batch.appended), refused)
            if not batch.events:
                return already_ran(reply)
            return changed(*batch.in_order(), reply=reply)

        saved = self.uow.run(decide)
        decided, appended, refused = saved.aggregate
        return ReversalsSaved(decided, appended, saved.position, refused)

    # --- plumbing -------------------------------------------------------------------

    def _on_payment(self, change: _Change) -> Saved:
        """Load the payment, apply ``change`` (which may touch invoices), save all
        together; a request already applied appends nothing."""

        def decide() -> Decision:
            payment = self.uow.payment(change.payment_id)
            if change.request_id in payment.request_ids:
                return already_ran(payment)
            return changed(payment, *change.apply(payment, _Invoices(self.uow).load))

        return self.uow.run(decide)


def _refund(cmd: RefundPayment) -> _Change:
    rules.require_positive(cmd.amount, "amount")
    rules.require_text(cmd.reason, "reason", limits.DESCRIPTION_LENGTH_MAX, optional=False)
    stamp = cmd.stamp.effective_on(cmd.refunded_on)

    def change(payment: Payment, invoice: LoadInvoice) -> list[Invoice]:
        invoices = []
        if cmd.reverse_allocations:
            invoices = _free(
                payment, cmd.amount, cmd.request_id, "refund", cmd.reason, stamp, invoice
            )
        payment.refund(cmd.request_id, cmd.amount, cmd.reason, cmd.refunded_on, stamp)
        return invoices

    return _Change(cmd.payment_id, cmd.request_id, change)


def _return(cmd: ReturnPayment) -> _Change:
    rules.require_text(cmd.return_code, "return_code", limits.REFERENCE_LENGTH_MAX, optional=False)
    stamp = cmd.stamp.effective_on(cmd.returned_on)
    reason = cmd.reason or f"returned by the bank: {cmd.return_code}"

    def change(payment: Payment, invoice: LoadInvoice) -> list[Invoice]:
        invoices = []
        if payment.status == "succeeded" and payment.applied:
            rows = [(UUID(key), amount) for key, amount in payment.applied.items()]
            invoices = _take_back(
                payment, f"{cmd.request_id}/unallocate", "return", reason, rows, stamp, invoice
            )
        payment.mark_returned(cmd.request_id, cmd.return_code, cmd.reason, stamp)
        return invoices

    return _Change(cmd.payment_id, cmd.request_id, change)


def _chargeback_opened(cmd: OpenChargeback) -> _Change:
    rules.require_positive(cmd.amount, "amount")
    rules.require_text(cmd.reason, "reason", limits.DESCRIPTION_LENGTH_MAX, optional=False)
    stamp = cmd.stamp.effective_on(cmd.opened_on)

    def change(payment: Payment, invoice: LoadInvoice) -> list[Invoice]:
        invoices = _free(
            payment, cmd.amount, cmd.chargeback_id, "chargeback", cmd.reason, stamp, invoice
        )
        payment.open_chargeback(cmd.chargeback_id, cmd.amount, cmd.reason, stamp)
        return invoices

    return _Change(cmd.payment_id, cmd.chargeback_id, change)


def _chargeback_closed(cmd: CloseChargeback) -> _Change:
    rules.require_text(cmd.reason, "reason", limits.DESCRIPTION_LENGTH_MAX, optional=False)

    def change(payment: Payment, _: LoadInvoice) -> list[Invoice]:
        payment.close_chargeback(cmd.chargeback_id, cmd.won, cmd.reason, cmd.stamp)
        return []

    return _Change(cmd.payment_id, f"{cmd.chargeback_id}/closed", change)


# Each reversal ``reverse_many`` takes, as the change its own command makes.
_CHANGES: dict[type, Callable[..., _Change]] = {
    RefundPayment: _refund,
    ReturnPayment: _return,
    OpenChargeback: _chargeback_opened,
    CloseChargeback: _chargeback_closed,
}


def _free(
    payment: Payment,
    amount: Money,
    request_id: str,
    rule: str,
    reason: str,
    stamp: Stamp,
    invoice: LoadInvoice,
) -> list[Invoice]:
    """Reverse allocations, newest first, for what the unallocated cash lacks. When the
    payment could not cover ``amount`` even so, reverse nothing: its own rule then
    refuses the command with the figures."""
    if amount.currency != payment.currency or payment.held < amount:
        return []
    shortfall = amount - payment.unallocated
    if not shortfall.is_positive():
        return []
    plan = payment.newest_first(shortfall)
    return _take_back(payment, f"{request_id}/free", rule, reason, plan, stamp, invoice)


def _take_back(
    payment: Payment,
    request_id: str,
    rule: str,
    reason: str,
    rows: list[tuple[UUID, Money]],
    stamp: Stamp,
    invoice: LoadInvoice,
) -> list[Invoice]:
    payment.unallocate(request_id, rule, reason, rows, stamp)
    invoices = []
    for invoice_id, amount in rows:
        reopened = invoice(invoice_id)
        reopened.reverse_payment(payment.id, amount, rule, reason, stamp)
        invoices.append(reopened)
    return invoices


class _Invoices:
    """The invoices one decision reopens, each loaded once: two reversals of a batch
    that reopen one invoice change one copy of it."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow
        self.loaded: dict[UUID, Invoice] = {}

    def load(self, invoice_id: UUID) -> Invoice:
        if invoice_id not in self.loaded:
            self.loaded[invoice_id] = self.uow.invoice(invoice_id)
        return self.loaded[invoice_id]


class _Reversals:
    """A run of reversals being decided: the payments and invoices it changes, each read
    once, and their events in the order they happened. The payments are read together up
    front (``peek``, then copied, as ``UnitOfWork.get`` copies the one it loads); an
    invoice when a reversal reopens it (the cache brings a long one up to date with what
    is new, where reading many together would read each whole)."""

    def __init__(self, uow: UnitOfWork, cmds: Sequence[Reversal]) -> None:
        self.uow, self.cmds = uow, cmds
        self.payments = self._read_payments(list({cmd.payment_id: 0 for cmd in cmds}))
        self.invoices = _Invoices(uow)
        self.events: list[DomainEventProtocol[UUID]] = []
        self.appended: list[bool] = []

    def take_all(self) -> tuple[int, LedgerError] | None:
        """Take each reversal in turn; the first refused, and why (None: none was)."""
        return command_runs.first_refused(self.cmds, self._take)

    def in_order(self) -> tuple[Aggregate, ...]:
        """What to save: the events one reversal after another, each's in the order its
        command alone stores them (the payment's, then the invoices'), then the
        aggregates they belong to."""
        payments, invoices = self.payments.values(), self.invoices.loaded.values()
        return command_runs.in_order(self.events, (*payments, *invoices))

    def _take(self, cmd: Reversal) -> None:
        change = _CHANGES[type(cmd)](cmd)
        payment = self._payment(change.payment_id)
        if change.request_id in payment.request_ids:
            self.appended.append(False)
            return
        invoices = change.apply(payment, self.invoices.load)
        self.events += payment.collect_events()
        for invoice in invoices:
            self.events += invoice.collect_events()
        self.appended.append(True)

    def _payment(self, payment_id: UUID) -> Payment:
        if payment_id not in self.payments:
            self.payments[payment_id] = self.uow.payment(payment_id)
        return self.payments[payment_id]

    def _read_payments(self, payment_ids: list[UUID]) -> dict[UUID, Payment]:
        try:
            payments = self.uow.peek(Payment, payment_ids, UnknownPayment("no such payment"))
        except UnknownPayment:
            return {}  # each reversal loads its own, and the one of no payment is refused
        return {payment.id: aggregate_copy(payment) for payment in payments}
