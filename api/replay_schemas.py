"""Reply bodies of an account replayed from the event store and of "why"."""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

from pydantic import BaseModel, Field

from api.report_schemas import AgedBuckets, AuditEntry
from api.schemas import MoneyModel


class ReplayedBalance(BaseModel):
    """The figures of ``GET /v1/accounts/{id}/balance``, at the replay's date."""

    invoiced: MoneyModel = Field(description="net of voids")
    paid: MoneyModel = Field(description="cash held: received less refunds, returns, chargebacks")
    allocated: MoneyModel
    unallocated: MoneyModel
    credited: MoneyModel
    written_off: MoneyModel
    refunded: MoneyModel
    deposits_held: MoneyModel
    outstanding: MoneyModel
    overdue: MoneyModel = Field(description="outstanding on invoices due before as_of")


class ReplayedInvoice(BaseModel):
    invoice_id: UUID
    number: str
    kind: str
    amount: MoneyModel
    issued_on: date
    due_on: date
    allocated: MoneyModel
    credited: MoneyModel
    written_off: MoneyModel
    voided: MoneyModel
    disputed: MoneyModel = Field(description="in open disputes: owed but not chased")
    outstanding: MoneyModel
    days_past_due: int = Field(description="at as_of; 0 or less is not yet overdue")
    bucket: str
    status: str


class ReplayIntegrity(BaseModel):
    streams: int = Field(description="the account's stream and each created for it")
    chains_intact: bool = Field(description="every stored hash matches its content and link")
    broken_links: list[int] = Field(description="positions whose stored hash does not match")


class AccountReplay(BaseModel):
    """The account rebuilt from its events alone: no read model is consulted."""

    account_id: UUID
    name: str
    currency: str
    standing: str
    as_of: date = Field(description="business date: what had taken effect by its end")
    as_known_at: datetime | None = Field(description="only events recorded by then, when given")
    position: int = Field(description="the last event replayed")
    events: int = Field(description="how many events were replayed")
    balance: ReplayedBalance
    ageing: AgedBuckets
    invoices: list[ReplayedInvoice] = Field(description="each invoice issued by as_of")
    integrity: ReplayIntegrity


class Person(BaseModel):
    actor: str
    did: list[str] = Field(description="the event types they did, or authorised, approved")


class Why(BaseModel):
    """An event, what it rested on, and who did it."""

    event: AuditEntry
    people: list[Person] = Field(description="the event's own actor and approvers first")
    same_command: list[AuditEntry] = Field(description="what the same command also appended")
    rested_on: dict[str, list[AuditEntry]] = Field(
        description="for each stream the event names, its events before it, oldest first"
    )
    collection_history: list[AuditEntry] = Field(
        description="for a notice or change of standing: the account's collection history"
        " before it (notices, overdue invoices, broken promises and plans, failed payments)"
    )
    position: int
