"""The checks an invoice's commands make before the invoice records anything: the
currency, whether it is void, and that what is applied, credited, written off, disputed
or linked for payment fits what is outstanding. Apart from ``ledger/invoice.py`` so that
the invoice module is its events and how they change the invoice."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from ledger.errors import (
    BadDates,
    CreditExceedsOutstanding,
    CurrencyMismatch,
    InvalidRequest,
    InvoiceHasAllocations,
    InvoiceVoid,
    OverAllocation,
    WriteOffExceedsOutstanding,
)
from ledger.invoice_errors import (
    DisputeExceedsUndisputed,
    DisputeNotOpen,
    InvoiceSettled,
    NothingToPay,
    NotOverdue,
)
from ledger.invoice_state import SEND_CHANNELS
from ledger.money import Money

if TYPE_CHECKING:
    from ledger.invoice import Invoice


def require_currency(invoice: Invoice, amount: Money, what: str) -> None:
    if amount.currency != invoice.currency:
        raise CurrencyMismatch(
            f"invoice {invoice.number} is in {invoice.currency}; the {what} is in "
            f"{amount.currency}",
            expected=invoice.currency,
            got=amount.currency,
        )


def require_not_void(invoice: Invoice, what: str) -> None:
    if invoice.is_void:
        raise InvoiceVoid(f"invoice {invoice.number} is void; cannot {what}")


def check_allocation(invoice: Invoice, amount: Money) -> None:
    """A payment is applied to a live invoice, never for more than is outstanding."""
    require_not_void(invoice, "allocate a payment to it")
    require_currency(invoice, amount, "allocation")
    if invoice.outstanding < amount:
        raise OverAllocation(
            f"invoice {invoice.number} has {invoice.outstanding} outstanding; "
            f"cannot allocate {amount}",
            invoice_id=str(invoice.id),
            outstanding=invoice.outstanding.to_json(),
            requested=amount.to_json(),
        )


def check_credit_note(invoice: Invoice, amount: Money, issued_on: date) -> None:
    """A credit note is dated on or after the invoice and never takes it below zero."""
    require_not_void(invoice, "credit it")
    require_currency(invoice, amount, "credit note")
    if issued_on < invoice.issued_on:
        raise BadDates(
            f"credit note dated {issued_on}, before invoice {invoice.number} "
            f"was issued on {invoice.issued_on}"
        )
    if invoice.outstanding < amount:
        raise CreditExceedsOutstanding(
            f"invoice {invoice.number} has {invoice.outstanding} outstanding; a credit note "
            f"of {amount} would take it below zero",
            outstanding=invoice.outstanding.to_json(),
            requested=amount.to_json(),
        )


def check_void(invoice: Invoice) -> None:
    """Voided once, with nothing allocated, and with something left to cancel."""
    require_not_void(invoice, "void it again")
    if invoice.allocated.is_positive():
        raise InvoiceHasAllocations(
            f"invoice {invoice.number} has {invoice.allocated} allocated; only an invoice "
            "with nothing allocated can be voided (issue a credit note instead)"
        )
    if not invoice.outstanding.is_positive():
        raise InvoiceSettled(f"invoice {invoice.number} is settled; nothing is left to void")


def check_write_off(invoice: Invoice, amount: Money) -> None:
    """Written off from a live invoice, never more than is outstanding."""
    require_not_void(invoice, "write it off")
    require_currency(invoice, amount, "write-off")
    if invoice.outstanding < amount:
        raise WriteOffExceedsOutstanding(
            f"invoice {invoice.number} has {invoice.outstanding} outstanding; cannot write "
            f"off {amount}",
            outstanding=invoice.outstanding.to_json(),
            requested=amount.to_json(),
        )


def check_send(invoice: Invoice, channel: str) -> None:
    require_not_void(invoice, "send it")
    if channel not in SEND_CHANNELS:
        raise InvalidRequest(f"channel must be one of {', '.join(SEND_CHANNELS)}")


def check_payment_link(invoice: Invoice, amount: Money) -> None:
    """A link collects something, and no more than is outstanding."""
    require_not_void(invoice, "send a payment link for it")
    require_currency(invoice, amount, "payment link")
    if not amount.is_positive() or invoice.outstanding < amount:
        raise NothingToPay(
            f"invoice {invoice.number} has {invoice.outstanding} outstanding; a link for "
            f"{amount} cannot be issued",
            outstanding=invoice.outstanding.to_json(),
        )


def check_newly_overdue(invoice: Invoice, on: date) -> None:
    """Overdue on ``on`` and not said before (nor void)."""
    if invoice.overdue_noted or invoice.is_void or not invoice.is_overdue(on):
        raise NotOverdue(f"invoice {invoice.number} is not newly overdue on {on}")


def check_dispute(invoice: Invoice, amount: Money) -> None:
    """What is disputed is owed and not already disputed."""
    require_not_void(invoice, "dispute it")
    require_currency(invoice, amount, "dispute")
    if invoice.undisputed < amount:
        raise DisputeExceedsUndisputed(
            f"invoice {invoice.number} has {invoice.undisputed} outstanding and not yet "
            f"disputed; cannot dispute {amount}",
            undisputed=invoice.undisputed.to_json(),
            requested=amount.to_json(),
        )


def resolution_credit(
    invoice: Invoice, dispute_id: str, upheld: bool, credit: Money | None
) -> tuple[Money, Money]:
    """The open dispute's amount, and what its resolution credits: an upheld dispute
    credits the disputed amount or the smaller ``credit`` given; a rejected one nothing."""
    if dispute_id not in invoice.disputes:
        raise DisputeNotOpen(f"invoice {invoice.number} has no open dispute {dispute_id}")
    disputed = invoice.disputes[dispute_id]
    credit = (credit or disputed) if upheld else Money.zero(invoice.currency)
    require_currency(invoice, credit, "credit")
    if disputed < credit:
        raise CreditExceedsOutstanding(
            f"the dispute is for {disputed}; an upheld dispute credits at most that, not {credit}",
            disputed=disputed.to_json(),
            requested=credit.to_json(),
        )
    return disputed, credit
