"""The checks a payment's commands make before the payment records anything, and the
refusals only a payment makes. Apart from ``ledger/payment.py`` so that the payment
module is its events and how they change the payment."""

from __future__ import annotations

from typing import TYPE_CHECKING
from uuid import UUID

from ledger.errors import (
    CurrencyMismatch,
    OverAllocation,
    PaymentNotAllocatable,
    PaymentNotPending,
    RuleViolation,
)
from ledger.money import Money

if TYPE_CHECKING:
    from ledger.payment import Payment

# Methods whose money can come back days after it arrived (a direct debit the payer's bank
# returns, a cheque that bounces): a returned payment reverses everything it paid.
RETURNABLE_METHODS = ("bacs", "ach", "direct_debit", "cheque")
CHARGEBACK_METHODS = ("card",)


class OverUnallocation(RuleViolation):
    code = "over-unallocation"
    title = "More would be un-allocated than was allocated"


class RefundExceedsUnallocated(RuleViolation):
    code = "refund-exceeds-unallocated"
    title = "The refund is larger than the payment's unallocated cash"


class PaymentNotReversible(RuleViolation):
    code = "payment-not-reversible"
    title = "The payment cannot be refunded, returned or charged back"


class ChargebackNotOpen(RuleViolation):
    code = "chargeback-not-open"
    title = "No open chargeback with that id"


def require_pending(payment: Payment, what: str) -> None:
    if payment.status != "pending":
        raise PaymentNotPending(
            f"payment {payment.id} is already {payment.status}; only a pending payment can {what}"
        )


def require_reversible(payment: Payment, what: str) -> None:
    if payment.status != "succeeded":
        raise PaymentNotReversible(
            f"payment {payment.id} is {payment.status}; only a succeeded payment can {what}"
        )


def check_allocation(payment: Payment, allocations: list[tuple[UUID, Money]]) -> None:
    """Only a succeeded payment's cash, in its currency, and no more than it holds
    unallocated."""
    if payment.status != "succeeded":
        raise PaymentNotAllocatable(
            f"payment {payment.id} is {payment.status}; only a succeeded payment can be allocated"
        )
    total = Money.zero(payment.currency)
    for _, amount in allocations:
        if amount.currency != payment.currency:
            raise CurrencyMismatch(
                f"payment is in {payment.currency}; allocation is in {amount.currency}",
                expected=payment.currency,
                got=amount.currency,
            )
        total = total + amount
    if payment.unallocated < total:
        raise OverAllocation(
            f"payment {payment.id} has {payment.unallocated} unallocated; cannot allocate {total}",
            payment_id=str(payment.id),
            unallocated=payment.unallocated.to_json(),
            requested=total.to_json(),
        )


def check_unallocation(payment: Payment, rows: list[tuple[UUID, Money]]) -> None:
    """Never more taken back from an invoice than is applied to it."""
    for invoice_id, amount in rows:
        if payment.applied_to(invoice_id) < amount:
            raise OverUnallocation(
                f"payment {payment.id} has {payment.applied_to(invoice_id)} allocated to "
                f"invoice {invoice_id}; cannot un-allocate {amount}",
                allocated=payment.applied_to(invoice_id).to_json(),
                requested=amount.to_json(),
            )


def check_refund(payment: Payment, amount: Money) -> None:
    """Only unallocated cash is refunded (allocations are reversed first)."""
    require_reversible(payment, "refund")
    if payment.unallocated < amount:
        raise RefundExceedsUnallocated(
            f"payment {payment.id} has {payment.unallocated} unallocated; cannot refund "
            f"{amount} (reverse allocations first, or pass reverse_allocations)",
            unallocated=payment.unallocated.to_json(),
            requested=amount.to_json(),
        )


def check_return(payment: Payment) -> None:
    """Only a bank returns a payment: not a card's (that is charged back)."""
    require_reversible(payment, "return")
    if payment.method not in RETURNABLE_METHODS:
        raise PaymentNotReversible(
            f"a {payment.method} payment is not returned by a bank "
            f"(only {', '.join(RETURNABLE_METHODS)}); a card payment is charged back"
        )


def check_chargeback(payment: Payment, amount: Money) -> None:
    """Only a card payment is charged back, and only cash no longer allocated."""
    require_reversible(payment, "charge back")
    if payment.method not in CHARGEBACK_METHODS:
        raise PaymentNotReversible(f"only a card payment is charged back, not {payment.method}")
    if payment.unallocated < amount:
        raise RefundExceedsUnallocated(
            f"payment {payment.id} has {payment.unallocated} unallocated; a chargeback of "
            f"{amount} needs its allocations reversed first",
            unallocated=payment.unallocated.to_json(),
            requested=amount.to_json(),
        )


def check_chargeback_open(payment: Payment, chargeback_id: str) -> None:
    if chargeback_id not in payment.chargebacks:
        raise ChargebackNotOpen(f"payment {payment.id} has no open chargeback {chargeback_id}")


def check_receipt(payment: Payment) -> None:
    """A receipt is for cash received."""
    if payment.status != "succeeded":
        raise PaymentNotReversible(
            f"payment {payment.id} is {payment.status}; a receipt is for a succeeded payment"
        )


def check_forfeit(payment: Payment, amount: Money) -> None:
    """Only a deposit's unallocated cash is forfeited."""
    require_reversible(payment, "be forfeited")
    if payment.purpose != "deposit":
        raise PaymentNotReversible(
            f"payment {payment.id} is not a deposit; only a deposit is forfeited"
        )
    if payment.unallocated < amount:
        raise RefundExceedsUnallocated(
            f"deposit {payment.id} has {payment.unallocated} unallocated; cannot forfeit {amount}",
            unallocated=payment.unallocated.to_json(),
            requested=amount.to_json(),
        )
