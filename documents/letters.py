"""Dunning letters: a reminder, final demand or default notice as the client reads it.
A letter is a pure function of the store: the notice's own event (the invoices it rested
on, with the figures that made each eligible), the account as it stood at that event, and
the payment links its invoices had been given by then. So a letter renders the same bytes
however often, and whenever, it is asked for."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from uuid import UUID

from contract.catalog import recorded_at
from ledger.account import Account
from ledger.errors import UnknownNotice
from ledger.invoice import Invoice
from ledger.money import Money
from ledger.store import LedgerStore

TITLES = {
    "reminder": "Payment reminder",
    "final_demand": "Final demand",
    "default_notice": "Default notice",
}
# What happens next at each stage, and in how many days.
NEXT_STEPS: dict[str, tuple[int, str]] = {
    "reminder": (
        7,
        "If we have not received payment by {pay_by}, we will send you a final demand.",
    ),
    "final_demand": (
        7,
        "If the total is not paid by {pay_by}, we will issue a default notice and may "
        "charge late-payment fees and interest as our terms allow.",
    ),
    "default_notice": (
        14,
        "Your account is in default. Unless the total is paid by {pay_by}, we may "
        "suspend your account and refer the debt for collection or legal action, "
        "which can add to what you owe.",
    ),
}


@dataclass(frozen=True)
class LetterRow:
    invoice_id: str
    number: str
    due_on: date
    days_overdue: int
    outstanding: Money
    disputed: Money
    chased: Money
    payment_link: str | None


@dataclass(frozen=True)
class Letter:
    notice_id: str
    account_id: str
    account_name: str
    account_email: str | None
    stage: str
    channel: str
    notice_on: date
    rows: tuple[LetterRow, ...]
    total_chased: Money

    @property
    def title(self) -> str:
        return TITLES.get(self.stage, self.stage.replace("_", " ").capitalize())

    @property
    def pay_by(self) -> date:
        return self.notice_on + timedelta(days=NEXT_STEPS.get(self.stage, (7, ""))[0])

    @property
    def next_step(self) -> str:
        text = NEXT_STEPS.get(self.stage, (7, "Please pay by {pay_by}."))[1]
        return text.format(pay_by=self.pay_by.isoformat())

    @property
    def dated(self) -> datetime:
        """The PDF's creation date: the notice's own date, never the time of rendering."""
        return datetime.combine(self.notice_on, time(0, 0), tzinfo=UTC)

    @property
    def filename(self) -> str:
        return (
            f"{self.stage.replace('_', '-')}-{self.notice_on.isoformat()}-{self.notice_id[:8]}.pdf"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "notice_id": self.notice_id,
            "account_id": self.account_id,
            "account_name": self.account_name,
            "stage": self.stage,
            "title": self.title,
            "channel": self.channel,
            "notice_on": self.notice_on.isoformat(),
            "invoices": [_row_json(row) for row in self.rows],
            "total_chased": self.total_chased.to_json(),
            "pay_by": self.pay_by.isoformat(),
            "next_step": self.next_step,
        }


def _row_json(row: LetterRow) -> dict[str, Any]:
    return {
        "invoice_id": row.invoice_id,
        "number": row.number,
        "due_on": row.due_on.isoformat(),
        "days_overdue": row.days_overdue,
        "outstanding": row.outstanding.to_json(),
        "disputed": row.disputed.to_json(),
        "chased": row.chased.to_json(),
        "payment_link": row.payment_link,
    }


def notice_event(ledger: LedgerStore, account_id: UUID, notice_id: str) -> Any:
    """The ``NoticeIssued`` event of ``notice_id`` on the account, or UnknownNotice."""
    for event in ledger.events.get(account_id):
        if isinstance(event, Account.NoticeIssued) and event.notice_id == notice_id:
            return event
    raise UnknownNotice(f"account {account_id} has no notice {notice_id}")


def letter_for(ledger: LedgerStore, account_id: UUID, notice_id: str) -> Letter:
    event = notice_event(ledger, account_id, notice_id)
    account: Account = ledger.repository.get(account_id, version=event.originator_version)
    rows = tuple(_row(ledger, row, event.timestamp, account.currency) for row in event.invoices)
    return Letter(
        notice_id,
        str(account_id),
        account.name,
        account.email,
        event.stage,
        event.channel,
        event.notice_on,
        rows,
        event.total_chased,
    )


def _row(ledger: LedgerStore, row: dict[str, Any], by: datetime, currency: str) -> LetterRow:
    zero = Money.zero(currency)
    return LetterRow(
        str(row["invoice_id"]),
        str(row["number"]),
        row["due_on"],
        int(row["days_overdue"]),
        row.get("outstanding", zero),
        row.get("disputed", zero),
        row.get("chased", zero),
        link_at(ledger, UUID(str(row["invoice_id"])), by),
    )


def link_at(ledger: LedgerStore, invoice_id: UUID, by: datetime) -> str | None:
    """The payment link the invoice had last been given by ``by`` (recorded time)."""
    url = None
    for event in ledger.events.get(invoice_id):
        if recorded_at(event) > by:
            break
        if isinstance(event, Invoice.PaymentLinkIssued):
            url = str(event.url)
    return url
