"""Reply bodies of the reports, the worklist, the payments feed and the audit trail."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field

from api.schemas import MoneyModel


class AgedBuckets(BaseModel):
    current: MoneyModel = Field(description="not yet due at the as-of date")
    days_1_30: MoneyModel
    days_31_60: MoneyModel
    days_61_90: MoneyModel
    days_91_plus: MoneyModel
    total: MoneyModel


class AgedAccount(AgedBuckets):
    account_id: UUID
    name: str


class AgedDebtReport(AgedBuckets):
    currency: str
    as_of: date
    as_known_at: datetime | None = Field(
        description="only what had been recorded by this moment counts, when given"
    )
    accounts: list[AgedAccount] = Field(description="each account that owes, largest first")
    accounts_count: int = Field(description="how many accounts owe, listed or not")
    position: int


class DebtorDaysFigures(BaseModel):
    """What the ratios are worked out from."""

    opening_receivables: MoneyModel
    closing_receivables: MoneyModel
    not_yet_due: MoneyModel = Field(description="of the closing receivables, not yet due")
    credit_sales: MoneyModel
    cash_applied: MoneyModel


class DebtorDaysRatios(BaseModel):
    dso_standard: float | None = Field(description="none when there were no credit sales")
    dso_countback: float | None
    best_possible_dso: float | None
    average_days_delinquent: float | None
    collection_effectiveness_index: float | None = Field(description="a percentage")
    average_days_to_pay: float | None = Field(
        description="days from issue to payment, weighted by the cash applied in the period"
    )
    figures: DebtorDaysFigures


class DebtorDaysAccount(DebtorDaysRatios):
    account_id: UUID


class DebtorDaysReport(DebtorDaysRatios):
    currency: str
    period_start: date
    period_end: date
    account_id: UUID | None
    as_known_at: datetime | None
    accounts: list[DebtorDaysAccount] | None = Field(
        description="each account's own figures, with `by_account=true`"
    )
    position: int


class DebtorDaysMonth(DebtorDaysRatios):
    month: str = Field(description="the calendar month, YYYY-MM", examples=["2026-06"])
    period_start: date
    period_end: date = Field(description="the month's last day, or the report's end")


class DebtorDaysTrend(BaseModel):
    currency: str
    period_end: date
    account_id: UUID | None
    as_known_at: datetime | None
    months: list[DebtorDaysMonth] = Field(description="oldest first")
    position: int


class CashDay(BaseModel):
    date: date
    received: MoneyModel = Field(description="payments received (deposits apart)")
    received_by_method: dict[str, MoneyModel]
    deposits_received: MoneyModel
    paid_out: dict[str, MoneyModel] = Field(
        description="cash that left: refunded, returned, chargeback (less chargebacks won), "
        "forfeited"
    )
    applied: MoneyModel = Field(description="cash applied to invoices, net of un-allocations")
    unallocated: MoneyModel = Field(
        description="of this day's receipts, what was not applied by the period's end"
    )


class BooksBalanced(BaseModel):
    """opening + invoiced - cash_applied - credits - write_offs = closing."""

    opening_receivables: MoneyModel
    invoiced: MoneyModel
    cash_applied: MoneyModel
    credits: MoneyModel = Field(description="credit notes and voided invoices")
    write_offs: MoneyModel
    closing_receivables: MoneyModel
    difference: MoneyModel = Field(description="zero when the books balance")
    balanced: bool


class CashPostingReport(BaseModel):
    currency: str
    period: str
    period_start: date
    period_end: date
    as_known_at: datetime | None
    received: MoneyModel
    received_by_method: dict[str, MoneyModel]
    applied: MoneyModel
    unallocated: MoneyModel
    days: list[CashDay]
    books: BooksBalanced
    position: int


class PaymentBehaviourPublic(BaseModel):
    account_id: UUID
    name: str
    settled_invoices: int = Field(description="recent settled invoices the figures rest on")
    late_invoices: int
    average_days_late: float | None
    previous_average_days_late: float | None
    trend: str = Field(description="worsening, improving, steady or unknown")
    routinely_late: bool


class PaymentBehaviourReport(BaseModel):
    currency: str
    accounts: list[PaymentBehaviourPublic]
    position: int


class PortfolioBalances(BaseModel):
    currency: str
    accounts: int
    invoiced: MoneyModel
    paid: MoneyModel
    allocated: MoneyModel
    unallocated: MoneyModel
    credited: MoneyModel
    written_off: MoneyModel
    outstanding: MoneyModel
    overdue: MoneyModel
    as_of: date
    position: int


class WorklistReason(BaseModel):
    code: str = Field(
        description="overdue, broken-promises, failed-payment, no-recent-contact, "
        "dispute-open, referred, escalated"
    )
    detail: str


class WorklistRow(BaseModel):
    account_id: UUID
    name: str
    status: str
    priority: int
    overdue: MoneyModel = Field(description="undisputed debt past due")
    days_overdue: int = Field(description="of the oldest undisputed debt past due")
    broken_promises: int
    failed_payments_not_retried: int
    disputed: MoneyModel
    last_contact_at: datetime | None
    reasons: list[WorklistReason]


class Worklist(BaseModel):
    as_of: date
    rows: list[WorklistRow]
    position: int


class FeedPayment(BaseModel):
    payment_id: UUID
    account_id: UUID
    account_name: str
    amount: MoneyModel
    method: str
    status: str
    purpose: str
    received_on: date
    reference: str | None
    failure_code: str | None
    failure_message: str | None
    unallocated: MoneyModel
    action: str | None = Field(
        description="retry (failed, not re-attempted), allocate (cash not applied), or none"
    )
    recorded_position: int


class PaymentsFeed(BaseModel):
    payments: list[FeedPayment]
    next_before: int | None = Field(description="pass as `before` for the next page")
    position: int


class AuditEntry(BaseModel):
    position: int
    account_id: UUID
    type: str
    subject: UUID
    actor: str
    reason: str | None
    effective_at: datetime
    recorded_at: datetime
    outstanding_after: MoneyModel = Field(description="what the account owed after it")
    correlation_id: str | None
    causation_id: str | None
    data: dict[str, Any]


class AuditTrail(BaseModel):
    entries: list[AuditEntry]
    next_after: int | None = Field(description="pass as `after` for the next page")
    position: int
