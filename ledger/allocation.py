"""Deciding how a payment is split across invoices: explicitly, or oldest first."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from uuid import UUID

from ledger import limits
from ledger.account import Account
from ledger.commands import AllocatePayment
from ledger.errors import InvalidRequest, MalformedMoney, PaymentNotAllocatable, WrongAccount
from ledger.invoice import Invoice
from ledger.money import Money
from ledger.payment import Payment

Plan = list[tuple[UUID, Money]]
GetInvoice = Callable[[UUID], Invoice]
PeekInvoices = Callable[[Sequence[UUID]], list[Invoice]]


def plan_allocation(
    cmd: AllocatePayment,
    payment: Payment,
    account: Account,
    get_invoice: GetInvoice,
    peek_invoices: PeekInvoices,
) -> tuple[Plan, dict[UUID, Invoice]]:
    """Return the (invoice, amount) rows to apply and the invoices they touch (loaded to
    be changed: ``peek_invoices`` only chooses among the account's invoices)."""
    if cmd.strategy == "oldest_first":
        return _oldest_first(payment, account, get_invoice, peek_invoices)
    if cmd.strategy != "explicit":
        raise InvalidRequest(f"unknown allocation strategy {cmd.strategy!r}")
    return _explicit(cmd, payment, get_invoice)


def _explicit(
    cmd: AllocatePayment, payment: Payment, get_invoice: GetInvoice
) -> tuple[Plan, dict[UUID, Invoice]]:
    if not cmd.allocations:
        raise InvalidRequest("give either allocations or strategy")
    if len(cmd.allocations) > limits.ALLOCATIONS_PER_COMMAND_MAX:
        raise InvalidRequest(
            f"{len(cmd.allocations)} allocations; the limit is "
            f"{limits.ALLOCATIONS_PER_COMMAND_MAX} per request"
        )
    invoices: dict[UUID, Invoice] = {}
    for invoice_id, amount in cmd.allocations:
        if invoice_id in invoices:
            raise InvalidRequest(f"invoice {invoice_id} appears twice; give one row per invoice")
        if not amount.is_positive():
            raise MalformedMoney(f"allocation to invoice {invoice_id} must be above zero")
        invoice = get_invoice(invoice_id)
        if invoice.account_id != payment.account_id:
            raise WrongAccount(
                f"invoice {invoice.number} belongs to account {invoice.account_id}, "
                f"not to the payment's account {payment.account_id}"
            )
        invoices[invoice_id] = invoice
    return list(cmd.allocations), invoices


def _oldest_first(
    payment: Payment, account: Account, get_invoice: GetInvoice, peek_invoices: PeekInvoices
) -> tuple[Plan, dict[UUID, Invoice]]:
    if payment.purpose == "deposit":
        raise PaymentNotAllocatable(
            f"payment {payment.id} is a deposit: held as security, it is applied only "
            "explicitly (name the invoices and amounts), never oldest first"
        )
    remaining = payment.unallocated
    if not remaining.is_positive():
        raise PaymentNotAllocatable(
            f"payment {payment.id} has nothing unallocated"
            if payment.status == "succeeded"
            else f"payment {payment.id} is {payment.status}; only a succeeded payment "
            "can be allocated"
        )
    # Chosen from every invoice the account has had, read together; only the invoices
    # the payment reaches are loaded to be changed, and what they owe is taken from them.
    candidates = [i for i in peek_invoices(account.invoice_ids()) if i.outstanding.is_positive()]
    candidates.sort(key=lambda inv: (inv.due_on, inv.issued_on, inv.number))
    plan: Plan = []
    invoices: dict[UUID, Invoice] = {}
    for candidate in candidates:
        if not remaining.is_positive():
            break
        invoice = get_invoice(candidate.id)
        if not invoice.outstanding.is_positive():
            continue
        amount = min(invoice.outstanding.amount_minor, remaining.amount_minor)
        plan.append((invoice.id, Money(amount, remaining.currency)))
        invoices[invoice.id] = invoice
        remaining = Money(remaining.amount_minor - amount, remaining.currency)
    if not plan:
        raise PaymentNotAllocatable(f"account {account.id} has no open invoices to allocate to")
    return plan, invoices
