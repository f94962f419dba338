"""What the notifier says, for each occasion a notification request names: a failed or
returned payment (to the coordinator and the client), and the documents the client is
sent: a dunning notice's letter (the PDF attached), an emailed invoice or receipt, a
payment link. Everything is read from the store (the request's own event, by position),
so composing the same request again gives the same message and the same attachment."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from documents.company import Company, money_text
from documents.letters import Letter, letter_for, link_at
from documents.pdf import render_letter
from infra.settings import Settings
from ledger.account import Account
from ledger.application import Ledger
from ledger.payment import Payment

WHAT = {"payment_failed": "failed", "payment_returned": "was returned by the bank"}


@dataclass(frozen=True)
class Document:
    kind: str  # dunning_letter
    reference: str  # the notice's id
    filename: str
    content: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


@dataclass(frozen=True)
class Composed:
    about: UUID
    recipients: list[dict[str, Any]]
    subject: str
    body: str
    document: Document | None = None


def compose(request: dict[str, Any], account: Account, payment: Payment) -> tuple[str, str]:
    """The subject and text of a failed payment: what failed, when, why, what next."""
    what = WHAT.get(request["occasion"], "failed")
    reference = f" (reference {payment.reference})" if payment.reference else ""
    subject = f"Payment of {payment.amount} from {account.name} {what}"
    why = request["code"] or "no reason given"
    if request["message"]:
        why += f": {request['message']}"
    why = why.rstrip()
    if not why.endswith((".", "!", "?")):  # Stripe's messages end a sentence themselves
        why += "."
    body = (
        f"The {payment.method} payment of {payment.amount}{reference} received on "
        f"{payment.received_on.isoformat()} for account {account.name} {what}. "
        f"Reason: {why} The invoices it was meant for are still owed; please pay again "
        f"or contact us to arrange another way to pay."
    )
    if not account.email:
        body += " (The client has no email address on file and was not told.)"
    return subject, body


def _client(to: str | None) -> list[dict[str, Any]]:
    return [{"role": "client", "to": to}]


def _mailbox(recipient: str | None, account: Account) -> str | None:
    """Where a document goes: the address the command named, else the account's."""
    return recipient if recipient and "@" in recipient else account.email


class Composer:
    def __init__(self, ledger: Ledger, settings: Settings) -> None:
        self.ledger = ledger
        self.company = Company.from_settings(settings)
        self.unassigned_to = settings.notify_unassigned_to
        self.occasions: dict[str, Callable[[dict[str, Any], Any, Account], Composed]] = {
            "notice": self._notice,
            "receipt": self._receipt,
            "invoice_sent": self._invoice_sent,
            "payment_link": self._payment_link,
        }

    def compose(self, request: dict[str, Any]) -> Composed:
        account = self.ledger.get_account(request["account_id"])
        handler = self.occasions.get(request["occasion"])
        if handler is None:
            return self._payment_failed(request, account)
        return handler(request, self._event_at(request["position"]), account)

    def _event_at(self, position: int) -> Any:
        (notification,) = self.ledger.read_log(position - 1, 1)
        return self.ledger.decode(notification)

    def _payment_failed(self, request: dict[str, Any], account: Account) -> Composed:
        payment = self.ledger.get_payment(request["about"])
        recipients: list[dict[str, Any]] = [
            {"role": "coordinator", "to": account.coordinator or self.unassigned_to},
            {"role": "client", "to": account.email},
        ]
        return Composed(payment.id, recipients, *compose(request, account, payment))

    def letter(self, account_id: UUID, notice_id: str) -> tuple[Letter, Document]:
        letter = letter_for(self.ledger, account_id, notice_id)
        pdf = render_letter(letter, self.company)
        return letter, Document("dunning_letter", notice_id, letter.filename, pdf)

    def _notice(self, request: dict[str, Any], event: Any, account: Account) -> Composed:
        letter, document = self.letter(account.id, str(event.notice_id))
        to = letter.account_email if letter.channel == "email" else None
        subject = f"{letter.title}: {money_text(letter.total_chased)} overdue"
        lines = [
            f"Dear {letter.account_name},",
            "",
            f"{letter.title}. The total we ask you to pay now is "
            f"{money_text(letter.total_chased)}:",
            *(
                f"  {r.number}, due {r.due_on.isoformat()}, {r.days_overdue} days overdue: "
                f"{money_text(r.chased)}"
                + (f" - pay online: {r.payment_link}" if r.payment_link else "")
                for r in letter.rows
            ),
            "",
            letter.next_step,
            "",
            f"The letter is attached ({letter.filename}).",
            self.company.name,
        ]
        return Composed(request["about"], _client(to), subject, "\n".join(lines), document)

    def _receipt(self, request: dict[str, Any], event: Any, account: Account) -> Composed:
        payment = self.ledger.get_payment(request["about"])
        reference = f" (reference {payment.reference})" if payment.reference else ""
        subject = f"Receipt: your payment of {money_text(event.amount)} to {self.company.name}"
        body = (
            f"Dear {account.name},\n\nThank you: we received your {payment.method} payment of "
            f"{money_text(event.amount)}{reference} on {payment.received_on.isoformat()}.\n\n"
            f"{self.company.name}"
        )
        return Composed(payment.id, _client(_mailbox(event.recipient, account)), subject, body)

    def _invoice_sent(self, request: dict[str, Any], event: Any, account: Account) -> Composed:
        invoice = self.ledger.get_invoice(request["about"])
        link = link_at(self.ledger, invoice.id, event.timestamp)
        again = " (a copy)" if event.resend else ""
        amount = money_text(invoice.amount)
        subject = f"Invoice {invoice.number}{again} from {self.company.name}: {amount}"
        body = (
            f"Dear {account.name},\n\nInvoice {invoice.number} for "
            f"{money_text(invoice.amount)}, issued on {invoice.issued_on.isoformat()}, is due "
            f"on {invoice.due_on.isoformat()}."
            + (f"\nPay it online: {link}" if link else "")
            + f"\n\n{self.company.name}"
        )
        return Composed(invoice.id, _client(_mailbox(event.recipient, account)), subject, body)

    def _payment_link(self, request: dict[str, Any], event: Any, account: Account) -> Composed:
        invoice = self.ledger.get_invoice(request["about"])
        expires = (
            f" (the link works until {event.expires_at.isoformat()})" if event.expires_at else ""
        )
        subject = f"Pay invoice {invoice.number} online: {money_text(event.amount)}"
        body = (
            f"Dear {account.name},\n\nYou can pay {money_text(event.amount)} of invoice "
            f"{invoice.number} online here: {event.url}{expires}\n\n{self.company.name}"
        )
        return Composed(invoice.id, _client(account.email), subject, body)
