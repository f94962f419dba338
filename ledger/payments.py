"""Cash coming in: recording a payment, its outcome at the channel, allocating it to
invoices, many receipts recorded and allocated at once (a bank statement), and a
reconciliation run against a payment channel."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, cast
from uuid import UUID

from eventsourcing.domain import Aggregate, DomainEventProtocol

from ledger import command_runs, rules
from ledger.account import Account
from ledger.accounts import require_currency
from ledger.allocation import Plan, plan_allocation
from ledger.commands import AllocatePayment, RecordPayment, RecordPaymentOutcome
from ledger.copying import aggregate_copy
from ledger.errors import InvalidRequest, LedgerError, UnknownAccount, UnknownInvoice
from ledger.invoice import Invoice
from ledger.payment import Payment
from ledger.reconciliation import Reconciliation
from ledger.stamp import Stamp
from ledger.unit_of_work import Decision, Saved, UnitOfWork, already_ran, changed, new

# Receipts saved in one transaction at most (a bank import saves a statement's a chunk
# at a time, as ``ledger/bulk.py`` raises invoices): a save stays a few thousand events,
# which the store's lock is held for only a moment, and a conflict re-decides little.
RECEIPTS_PER_SAVE_MAX = 1_000


@dataclass(frozen=True)
class AllocationResult:
    payment: Payment
    allocations: Plan
    position: int
    replayed: bool = False


@dataclass(frozen=True)
class Receipt:
    """Money received and, when it is known, what it pays (a bank statement line's
    payment): recorded and allocated together, as ``record_payment`` and then
    ``allocate_payment`` would, in one save. ``payment.payment_id`` is required: the
    receipt's idempotency key, as ``allocation.request_id`` is the allocation's."""

    payment: RecordPayment
    allocation: AllocatePayment | None = None
    # Whether to allocate the payment when the store holds it already. A batch of new
    # payments says no: one another writer recorded first is theirs to allocate or not.
    allocate_stored: bool = True


@dataclass(frozen=True)
class ReceiptsRecorded:
    """What ``record_receipts`` saved: the first ``recorded`` receipts (all of them, or
    those before the one refused, whose refusal is ``refused``), and the position the
    save reached (the store's head when it appended nothing)."""

    recorded: int
    position: int
    refused: LedgerError | None = None
    # The payments this save recorded; the others it took were in the store already.
    created: frozenset[UUID] = frozenset()


class Payments:
    """A payment and the invoices it is allocated to change together, in one
    transaction: an invoice is never over-allocated and a payment never over-spent."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    def record_payment(self, cmd: RecordPayment) -> Saved:
        rules.check_record_payment(cmd)
        account = self.uow.opened_account(cmd.account_id)  # its currency, fixed
        require_currency(account, cmd.amount, "payment")
        return self.uow.create(_recorded(cmd, account), self.uow.payment)

    def record_payment_outcome(self, cmd: RecordPaymentOutcome) -> Saved:
        """Settle a pending payment's fate: succeeded, or failed with a reason."""
        if cmd.status not in ("succeeded", "failed"):
            raise InvalidRequest("status must be succeeded or failed")

        def change(payment: Payment) -> None:
            if cmd.status == "succeeded":
                payment.succeed(cmd.stamp)
            else:
                payment.fail(cmd.failure_code or "unspecified", cmd.failure_message, cmd.stamp)

        return self.uow.change(self.uow.payment, cmd.payment_id, change)

    def allocate_payment(self, cmd: AllocatePayment) -> AllocationResult:
        """Apply a payment to invoices, as ``cmd`` plans it; a request applied before
        appends nothing and replies with what it allocated then."""

        def decide() -> Decision:
            payment = self.uow.payment(cmd.payment_id)
            if cmd.request_id in payment.allocation_requests:
                return already_ran((payment, payment.allocation_requests[cmd.request_id]))
            account = self.uow.peek_account(payment.account_id)  # read, not changed
            plan, invoices = plan_allocation(
                cmd, payment, account, self.uow.invoice, self.uow.invoices
            )
            touched = _apply(cmd, payment, plan, invoices)
            # Stored in the order they happened: the invoices, then the payment.
            return changed(*touched, payment, reply=(payment, plan))

        saved = self.uow.run(decide)
        payment, plan = saved.aggregate
        return AllocationResult(payment, plan, saved.position, saved.replayed)

    def record_receipts(self, receipts: Sequence[Receipt]) -> ReceiptsRecorded:
        """Record and allocate receipts in one transaction, in their order, each checked
        on its own as ``record_payment`` and ``allocate_payment`` check it; a payment
        recorded before, or an allocation made before, is not made again. The first
        receipt refused ends the run: those before it are saved, it and those after it
        are not."""
        assert len(receipts) <= RECEIPTS_PER_SAVE_MAX, "record receipts in smaller runs"
        refused: list[LedgerError] = []
        created: set[UUID] = set()

        def decide() -> Decision:
            batch, taking, refusal = command_runs.decided_until_refused(
                lambda n: _Receipts(self.uow, receipts[:n]), len(receipts)
            )
            refused[:] = [] if refusal is None else [refusal]
            created.clear()
            created.update(batch.created)
            if not batch.events:
                return already_ran(taking)
            return changed(*batch.in_order(), reply=taking)

        saved = self.uow.run(decide)
        refusal = refused[0] if refused else None
        return ReceiptsRecorded(saved.aggregate, saved.position, refusal, frozenset(created))

    def record_reconciliation(
        self,
        run_id: UUID,
        channel: str,
        period: tuple[date, date],
        counts: dict[str, Any],
        findings: list[dict[str, Any]],
        stamp: Stamp,
    ) -> Saved:
        """A reconciliation run and its findings, as an event of its own."""
        run = new(
            Reconciliation,
            "Completed",
            run_id,
            channel=channel,
            period_start=period[0],
            period_end=period[1],
            counts=counts,
            findings=findings,
            stamp=stamp,
        )
        return self.uow.create(run, self.uow.aggregate)


def _recorded(cmd: RecordPayment, account: Account) -> Payment:
    """The payment ``cmd`` records on ``account``, new (its checks passed)."""
    return new(
        Payment,
        "Recorded",
        cmd.payment_id,
        account_id=account.id,
        amount=cmd.amount,
        method=cmd.method,
        received_on=cmd.received_on,
        reference=cmd.reference,
        status=cmd.status,
        failure_code=cmd.failure_code,
        failure_message=cmd.failure_message,
        stamp=cmd.stamp.effective_on(cmd.received_on),
        purpose=cmd.purpose,
    )


class _Receipts:
    """A run of receipts being decided: the accounts, payments and invoices it reads or
    changes, each loaded once (a later receipt sees what an earlier one changed), and
    their events in the order they happened."""

    def __init__(self, uow: UnitOfWork, receipts: Sequence[Receipt]) -> None:
        self.uow, self.receipts = uow, receipts
        ids = [r.payment.payment_id for r in receipts]
        assert None not in ids, "a receipt's payment id is its idempotency key"
        self.stored = set(uow.latest_versions(cast("list[UUID]", ids)))  # one read for all
        self.accounts = self._read_accounts(list({r.payment.account_id: 0 for r in receipts}))
        self.payments: dict[UUID, Payment] = {}
        self.created: set[UUID] = set()  # the payments recorded now, not found stored
        self.invoices = self._load_invoices(receipts)
        self.events: list[DomainEventProtocol[UUID]] = []

    def take_all(self) -> tuple[int, LedgerError] | None:
        """Take each receipt in turn; the first refused, and why (None: none was)."""
        return command_runs.first_refused(self.receipts, self._take)

    def in_order(self) -> tuple[Aggregate, ...]:
        """What to save: the events one receipt after another, each receipt's in the
        order ``record_payment`` then ``allocate_payment`` store them, then the
        aggregates they belong to."""
        return command_runs.in_order(
            self.events, (*self.payments.values(), *self.invoices.values())
        )

    def _take(self, receipt: Receipt) -> None:
        cmd = receipt.payment
        rules.check_record_payment(cmd)
        account = self._account(cmd.account_id)
        require_currency(account, cmd.amount, "payment")
        payment = self._payment(cmd, account)
        allocation = receipt.allocation
        if allocation is None or allocation.request_id in payment.allocation_requests:
            return
        if not receipt.allocate_stored and payment.id not in self.created:
            return
        plan, invoices = plan_allocation(
            allocation,
            payment,
            self._account(payment.account_id),
            self._invoice,
            self._peek_invoices,
        )
        for invoice in _apply(allocation, payment, plan, invoices):
            self.events += invoice.collect_events()
        self.events += payment.collect_events()

    def _payment(self, cmd: RecordPayment, account: Account) -> Payment:
        """The receipt's payment: recorded now, or as recorded before (by an earlier
        receipt of the run, or in the store: then appending nothing, as
        ``record_payment`` would)."""
        payment_id = cast(UUID, cmd.payment_id)
        if payment_id not in self.payments:
            if payment_id in self.stored:
                self.payments[payment_id] = self.uow.payment(payment_id)
            else:
                self.payments[payment_id] = payment = _recorded(cmd, account)
                self.events += payment.collect_events()
                self.created.add(payment_id)
        return self.payments[payment_id]

    def _read_accounts(self, account_ids: list[UUID]) -> dict[UUID, Account]:
        """The receipts' accounts, to read only (a payment changes none): together."""
        try:
            accounts = self.uow.peek(Account, account_ids, UnknownAccount("no such account"))
        except UnknownAccount:
            return {}  # each receipt reads its own, and the one on no account is refused
        return {account.id: account for account in accounts}

    def _load_invoices(self, receipts: Sequence[Receipt]) -> dict[UUID, Invoice]:
        """The invoices the receipts' allocations name, to be changed: read together (the
        store's latest versions in one round trip, ``peek``), each copied, as
        ``UnitOfWork.get`` copies the one it loads. The save refuses a copy that another
        writer changed since, as it would one loaded alone."""
        named = {i: 0 for r in receipts if r.allocation for i, _ in r.allocation.allocations}
        try:
            invoices = self.uow.invoices(list(named))
        except UnknownInvoice:
            return {}  # each allocation loads its own, and the one naming no invoice is refused
        return {invoice.id: aggregate_copy(invoice) for invoice in invoices}

    def _account(self, account_id: UUID) -> Account:
        if account_id not in self.accounts:
            self.accounts[account_id] = self.uow.account(account_id)
        return self.accounts[account_id]

    def _invoice(self, invoice_id: UUID) -> Invoice:
        if invoice_id not in self.invoices:
            self.invoices[invoice_id] = self.uow.invoice(invoice_id)
        return self.invoices[invoice_id]

    def _peek_invoices(self, invoice_ids: Sequence[UUID]) -> list[Invoice]:
        return [self.invoices.get(i.id, i) for i in self.uow.invoices(invoice_ids)]


def _apply(
    cmd: AllocatePayment, payment: Payment, plan: Plan, invoices: dict[UUID, Invoice]
) -> list[Invoice]:
    """Apply ``plan`` to the invoices and the payment; returns the invoices it touched.

    An allocation takes effect on the later of the payment's receipt and the invoice's
    issue; a deposit's on the day it is applied (it was security, not cash against
    invoices, until then), so no closed day changes."""
    effective = payment.received_on
    if payment.purpose == "deposit":
        effective = max(effective, cmd.stamp.effective_at.date())
    for invoice_id, amount in plan:
        invoice = invoices[invoice_id]
        on = max(effective, invoice.issued_on)
        invoice.apply_payment(payment.id, amount, cmd.stamp.effective_on(on))
        effective = max(effective, on)
    payment.allocate(cmd.request_id, cmd.strategy, plan, cmd.stamp.effective_on(effective))
    return [invoices[invoice_id] for invoice_id, _ in plan]
