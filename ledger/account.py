"""The account: a client that is invoiced, pays, and is chased. It keeps the index of its
invoice numbers so that a number is unique per account and open invoices can be found
for oldest-first allocation without asking a read model."""

from __future__ import annotations

from uuid import UUID

from eventsourcing.domain import Aggregate, event

from ledger.errors import DuplicateInvoiceNumber
from ledger.money import Money
from ledger.stamp import Stamp


class Account(Aggregate):
    """A debtor account in one currency."""

    @event("Opened")
    def __init__(
        self,
        name: str,
        currency: str,
        payment_terms_days: int,
        email: str | None,
        external_ref: str | None,
        credit_limit: Money | None,
        stamp: Stamp,
    ) -> None:
        self.name = name
        self.currency = currency
        self.payment_terms_days = payment_terms_days
        self.email = email
        self.external_ref = external_ref
        self.credit_limit = credit_limit
        self.status = "active"
        self.opened_stamp = stamp
        self.invoice_ids_by_number: dict[str, UUID] = {}

    @property
    def account_id(self) -> UUID:
        return self.id

    def register_invoice(self, invoice_id: UUID, number: str, stamp: Stamp) -> None:
        """Claim ``number`` for a new invoice; a number is used once per account."""
        if number in self.invoice_ids_by_number:
            raise DuplicateInvoiceNumber(
                f"invoice number {number!r} is already used on account {self.id}",
                invoice_id=str(self.invoice_ids_by_number[number]),
            )
        self._register_invoice(invoice_id=invoice_id, number=number, stamp=stamp)

    @event("InvoiceRegistered")
    def _register_invoice(self, invoice_id: UUID, number: str, stamp: Stamp) -> None:
        self.invoice_ids_by_number[number] = invoice_id

    def invoice_ids(self) -> list[UUID]:
        """Every invoice ever raised on the account, in the order raised."""
        return list(self.invoice_ids_by_number.values())
