"""The bodies every resource shares (money, the ``Command`` base, an allocation row) and
the reply bodies; request bodies are in ``api.command_schemas``. Money is always
``{"amount": <int minor units>, "currency": "<ISO 4217>"}``; a float, a string or a
boolean amount is refused."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ledger.money import Money


class MoneyModel(BaseModel):
    """An amount in minor units of a currency: 12345 GBP is £123.45."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"amount": 12345, "currency": "GBP"}]}
    )

    amount: int
    currency: str = Field(min_length=3, max_length=3)

    @model_validator(mode="before")
    @classmethod
    def _strict(cls, value: Any) -> Any:
        Money.parse(value)  # raises MalformedMoney with a precise message
        return value

    def to_money(self) -> Money:
        return Money(self.amount, self.currency)

    @classmethod
    def of(cls, money: Money) -> MoneyModel:
        """A reply's Money, not checked as an input: a total may pass what one amount
        coming in may be."""
        return cls.model_construct(amount=money.amount_minor, currency=money.currency)


class Command(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AccountPublic(BaseModel):
    id: UUID
    name: str
    currency: str
    payment_terms_days: int
    email: str | None
    external_ref: str | None
    credit_limit: MoneyModel | None
    status: str
    opened_at: datetime
    last_contact_at: datetime | None = None
    suspension_recommended: bool = False
    escalated_to: str | None = None
    insolvency: str | None = None
    referred_to: str | None = None
    payment_method: str | None = None
    coordinator: str | None = None
    doubtful_debt: MoneyModel | None = None
    late_fee_policy: dict[str, Any] | None = None
    position: int | None = None


class InvoicePublic(BaseModel):
    id: UUID
    account_id: UUID
    number: str
    amount: MoneyModel
    allocated: MoneyModel
    outstanding: MoneyModel
    issued_on: date
    due_on: date
    description: str | None
    credited: MoneyModel
    written_off: MoneyModel
    disputed: MoneyModel | None = Field(default=None, description="not chased while disputed")
    credit_limit_exceeded: bool | None = Field(
        default=None, description="raised over the account's credit limit (allowed, flagged)"
    )
    sends: int | None = Field(default=None, description="times sent to the client")
    kind: Literal["invoice", "late_charge"] | None = None
    charged_for: UUID | None = Field(default=None, description="late_charge: the late invoice")
    status: Literal["open", "partially_paid", "paid", "written_off", "credited", "void"]
    overdue: bool
    position: int | None = None


class WriteOffPublic(BaseModel):
    id: UUID
    account_id: UUID
    invoice_id: UUID
    amount: MoneyModel
    reason: str
    requested_by: str
    status: Literal["pending_approval", "applied", "rejected"]
    decided_by: str | None
    decision_reason: str | None
    position: int | None = None


PaymentMethod = Literal["card", "bacs", "ach", "direct_debit", "cheque", "cash", "other"]


class PaymentPublic(BaseModel):
    id: UUID
    account_id: UUID
    amount: MoneyModel
    allocated: MoneyModel
    unallocated: MoneyModel
    refunded: MoneyModel | None = None
    taken_back: MoneyModel | None = Field(
        default=None, description="returned by the bank or charged back"
    )
    open_chargebacks: list[str] = Field(default_factory=list)
    receipts: int | None = Field(default=None, description="receipts sent to the client")
    purpose: Literal["payment", "deposit"] = "payment"
    forfeited: MoneyModel | None = Field(default=None, description="deposit kept")
    method: str
    status: Literal["pending", "succeeded", "failed", "returned"]
    received_on: date
    reference: str | None
    failure_code: str | None
    failure_message: str | None
    position: int | None = None


class AllocationRow(Command):
    invoice_id: UUID
    amount: MoneyModel


class AllocationPublic(BaseModel):
    payment_id: UUID
    allocations: list[AllocationRow]
    unallocated: MoneyModel
    position: int


class BalancePublic(BaseModel):
    account_id: UUID
    currency: str
    as_of: date
    invoiced: MoneyModel
    paid: MoneyModel
    allocated: MoneyModel
    unallocated: MoneyModel
    credited: MoneyModel
    written_off: MoneyModel
    refunded: MoneyModel = Field(description="cash paid back to the client")
    deposits_held: MoneyModel = Field(description="deposits received and not applied")
    outstanding: MoneyModel
    overdue: MoneyModel
    position: int


class EventPage(BaseModel):
    account_id: UUID
    events: list[dict[str, Any]]
    next_after: int | None = Field(description="pass as `after` for the next page")
    position: int


class DisputePublic(BaseModel):
    id: str
    invoice: InvoicePublic
    position: int


class NoticeInvoice(BaseModel):
    invoice_id: UUID
    number: str
    due_on: date
    days_overdue: int
    outstanding: MoneyModel
    disputed: MoneyModel
    chased: MoneyModel
    reissue: bool


class NoticePublic(BaseModel):
    id: str
    account_id: UUID
    stage: str
    channel: str
    notice_on: date
    invoices: list[NoticeInvoice] = Field(description="what the notice rested on, and why")
    total_chased: MoneyModel
    position: int


class PromisePublic(BaseModel):
    id: UUID
    account_id: UUID
    amount: MoneyModel
    made_on: date
    promised_on: date
    invoice_ids: list[UUID]
    status: Literal["open", "kept", "broken", "cancelled"]
    paid: MoneyModel | None = Field(description="what was paid by the date, once decided")
    position: int | None = None


class InstalmentOut(BaseModel):
    due_on: date
    amount: MoneyModel
    outcome: Literal["kept", "missed"] | None


class PaymentPlanPublic(BaseModel):
    id: UUID
    account_id: UUID
    invoice_ids: list[UUID]
    starts_on: date
    missed_allowed: int
    instalments: list[InstalmentOut]
    status: Literal["active", "completed", "broken", "cancelled"]
    position: int | None = None
