"""Raising invoices on an account, and what happens to an invoice after: a payment link
issued for it, and its falling overdue."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from ledger import rules
from ledger.account import Account
from ledger.accounts import outstanding_of, require_currency
from ledger.commands import RaiseInvoice, RecordPaymentLink
from ledger.errors import ConcurrencyExhausted, DuplicateInvoiceNumber
from ledger.invoice import Invoice, invoice_id_for
from ledger.money import Money
from ledger.stamp import Stamp
from ledger.unit_of_work import Decision, Saved, UnitOfWork, changed


class Invoicing:
    """An invoice is raised together with the account's claim on its number, in one
    transaction: two invoices never share a number on one account."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    def raise_invoice(self, cmd: RaiseInvoice) -> Saved:
        rules.check_raise_invoice(cmd)

        def decide() -> Decision:
            account = self.uow.account(cmd.account_id)
            require_currency(account, cmd.amount, "invoice")
            # What the account would owe with this invoice, before it claims the number.
            exposure: Money | None = None
            if account.credit_limit:
                exposure = outstanding_of(self.uow, account) + cmd.amount
            invoice = raise_on(account, cmd, exposure)
            return changed(account, invoice, reply=invoice)

        try:
            return self.uow.run(decide)
        except ConcurrencyExhausted:
            if self.uow.exists(invoice_id_for(cmd.account_id, cmd.number)):
                raise DuplicateInvoiceNumber(
                    f"invoice number {cmd.number!r} is already used on account {cmd.account_id}"
                ) from None
            raise

    def record_payment_link(self, cmd: RecordPaymentLink) -> Saved:
        """A payment link issued for an invoice (its id and address at the card channel)."""
        return self.uow.change(
            self.uow.invoice,
            cmd.invoice_id,
            lambda i: i.issue_payment_link(
                cmd.link_id, cmd.url, cmd.amount, cmd.customer_id, cmd.expires_at, cmd.stamp
            ),
            already=lambda i: i.payment_link_id == cmd.link_id,
        )

    def note_overdue(self, invoice_id: UUID, on: date, stamp: Stamp) -> Saved:
        return self.uow.change(
            self.uow.invoice, invoice_id, lambda i: i.note_overdue(on, stamp.effective_on(on))
        )


def raise_on(account: Account, cmd: RaiseInvoice, exposure: Money | None) -> Invoice:
    """The account's claim on the number, then the invoice (each checks its rules), so
    that recorded times follow the order in which the events are stored. ``exposure`` is
    what the account would owe with this invoice, where it has a credit limit."""
    stamp = cmd.stamp.effective_on(cmd.issued_on)
    account.register_invoice(invoice_id_for(account.id, cmd.number), cmd.number, stamp)
    return Invoice(
        account_id=account.id,
        number=cmd.number,
        amount=cmd.amount,
        issued_on=cmd.issued_on,
        due_on=cmd.due_on,
        description=cmd.description,
        stamp=stamp,
        credit_limit_exceeded=bool(
            account.credit_limit and exposure and account.credit_limit < exposure
        ),
        exposure=exposure,
    )
