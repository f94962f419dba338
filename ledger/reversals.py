"""Commands that take money back off invoices: un-allocation, refunds, bank returns and
chargebacks. Each reversal is recorded on the payment (with the rule that produced it)
and on every invoice it reopens, saved together in one transaction."""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

from ledger import limits, rules
from ledger.commands import (
    CloseChargeback,
    ForfeitDeposit,
    OpenChargeback,
    RefundPayment,
    ReturnPayment,
    UnallocatePayment,
)
from ledger.errors import InvalidRequest
from ledger.invoice import Invoice
from ledger.money import Money
from ledger.payment import Payment
from ledger.stamp import Stamp
from ledger.unit_of_work import Decision, Saved, UnitOfWork, already_ran, changed


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

        def change(payment: Payment) -> list[Invoice]:
            rows = list(cmd.allocations) or [
                (UUID(key), amount) for key, amount in payment.applied.items()
            ]
            if not rows:
                raise InvalidRequest(f"payment {payment.id} has nothing allocated to take back")
            return self._take_back(payment, cmd.request_id, "manual", cmd.reason, rows, cmd.stamp)

        return self._on_payment(cmd.payment_id, cmd.request_id, change)

    def refund_payment(self, cmd: RefundPayment) -> Saved:
        rules.require_positive(cmd.amount, "amount")
        rules.require_text(cmd.reason, "reason", limits.DESCRIPTION_LENGTH_MAX, optional=False)
        stamp = cmd.stamp.effective_on(cmd.refunded_on)

        def change(payment: Payment) -> list[Invoice]:
            invoices = []
            if cmd.reverse_allocations:
                invoices = self._free(
                    payment, cmd.amount, cmd.request_id, "refund", cmd.reason, stamp
                )
            payment.refund(cmd.request_id, cmd.amount, cmd.reason, cmd.refunded_on, stamp)
            return invoices

        return self._on_payment(cmd.payment_id, cmd.request_id, change)

    def return_payment(self, cmd: ReturnPayment) -> Saved:
        rules.require_text(
            cmd.return_code, "return_code", limits.REFERENCE_LENGTH_MAX, optional=False
        )
        stamp = cmd.stamp.effective_on(cmd.returned_on)
        reason = cmd.reason or f"returned by the bank: {cmd.return_code}"

        def change(payment: Payment) -> list[Invoice]:
            invoices = []
            if payment.status == "succeeded" and payment.applied:
                rows = [(UUID(key), amount) for key, amount in payment.applied.items()]
                invoices = self._take_back(
                    payment, f"{cmd.request_id}/unallocate", "return", reason, rows, stamp
                )
            payment.mark_returned(cmd.request_id, cmd.return_code, cmd.reason, stamp)
            return invoices

        return self._on_payment(cmd.payment_id, cmd.request_id, change)

    def open_chargeback(self, cmd: OpenChargeback) -> Saved:
        rules.require_positive(cmd.amount, "amount")
        rules.require_text(cmd.reason, "reason", limits.DESCRIPTION_LENGTH_MAX, optional=False)
        stamp = cmd.stamp.effective_on(cmd.opened_on)

        def change(payment: Payment) -> list[Invoice]:
            invoices = self._free(
                payment, cmd.amount, cmd.chargeback_id, "chargeback", cmd.reason, stamp
            )
            payment.open_chargeback(cmd.chargeback_id, cmd.amount, cmd.reason, stamp)
            return invoices

        return self._on_payment(cmd.payment_id, cmd.chargeback_id, change)

    def forfeit_deposit(self, cmd: ForfeitDeposit) -> Saved:
        """Keep part or all of a deposit's unallocated cash."""
        rules.require_positive(cmd.amount, "amount")
        rules.require_text(cmd.reason, "reason", limits.DESCRIPTION_LENGTH_MAX, optional=False)

        def change(payment: Payment) -> list[Invoice]:
            payment.forfeit(cmd.request_id, cmd.amount, cmd.reason, cmd.stamp)
            return []

        return self._on_payment(cmd.payment_id, cmd.request_id, change)

    def close_chargeback(self, cmd: CloseChargeback) -> Saved:
        rules.require_text(cmd.reason, "reason", limits.DESCRIPTION_LENGTH_MAX, optional=False)

        def change(payment: Payment) -> list[Invoice]:
            payment.close_chargeback(cmd.chargeback_id, cmd.won, cmd.reason, cmd.stamp)
            return []

        return self._on_payment(cmd.payment_id, f"{cmd.chargeback_id}/closed", change)

    # --- plumbing -------------------------------------------------------------------

    def _free(
        self,
        payment: Payment,
        amount: Money,
        request_id: str,
        rule: str,
        reason: str,
        stamp: Stamp,
    ) -> list[Invoice]:
        """Reverse allocations, newest first, for what the unallocated cash lacks. When
        the payment could not cover ``amount`` even so, reverse nothing: its own rule then
        refuses the command with the figures."""
        if amount.currency != payment.currency or payment.held < amount:
            return []
        shortfall = amount - payment.unallocated
        if not shortfall.is_positive():
            return []
        plan = payment.newest_first(shortfall)
        return self._take_back(payment, f"{request_id}/free", rule, reason, plan, stamp)

    def _take_back(
        self,
        payment: Payment,
        request_id: str,
        rule: str,
        reason: str,
        rows: list[tuple[UUID, Money]],
        stamp: Stamp,
    ) -> list[Invoice]:
        payment.unallocate(request_id, rule, reason, rows, stamp)
        invoices = []
        for invoice_id, amount in rows:
            invoice = self.uow.invoice(invoice_id)
            invoice.reverse_payment(payment.id, amount, rule, reason, stamp)
            invoices.append(invoice)
        return invoices

    def _on_payment(
        self, payment_id: UUID, request_id: str, change: Callable[[Payment], list[Invoice]]
    ) -> Saved:
        """Load the payment, apply ``change`` (which may touch invoices), save all
        together; a request already applied appends nothing."""

        def decide() -> Decision:
            payment = self.uow.payment(payment_id)
            if request_id in payment.request_ids:
                return already_ran(payment)
            return changed(payment, *change(payment))

        return self.uow.run(decide)
