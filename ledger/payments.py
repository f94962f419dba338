"""Cash coming in: recording a payment, its outcome at the channel, allocating it to
invoices, and a reconciliation run against a payment channel."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

from ledger import rules
from ledger.accounts import require_currency
from ledger.allocation import Plan, plan_allocation
from ledger.commands import AllocatePayment, RecordPayment, RecordPaymentOutcome
from ledger.errors import InvalidRequest
from ledger.invoice import Invoice
from ledger.payment import Payment
from ledger.reconciliation import Reconciliation
from ledger.stamp import Stamp
from ledger.unit_of_work import Decision, Saved, UnitOfWork, already_ran, changed, new


@dataclass(frozen=True)
class AllocationResult:
    payment: Payment
    allocations: Plan
    position: int
    replayed: bool = False


class Payments:
    """A payment and the invoices it is allocated to change together, in one
    transaction: an invoice is never over-allocated and a payment never over-spent."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    def record_payment(self, cmd: RecordPayment) -> Saved:
        rules.check_record_payment(cmd)
        account = self.uow.account(cmd.account_id)
        require_currency(account, cmd.amount, "payment")
        payment = new(
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
        return self.uow.create(payment, self.uow.payment)

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
            account = self.uow.account(payment.account_id)
            plan, invoices = plan_allocation(
                cmd, payment, account, self.uow.invoice, self.uow.invoices
            )
            touched = _apply(cmd, payment, plan, invoices)
            # Stored in the order they happened: the invoices, then the payment.
            return changed(*touched, payment, reply=(payment, plan))

        saved = self.uow.run(decide)
        payment, plan = saved.aggregate
        return AllocationResult(payment, plan, saved.position, saved.replayed)

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
