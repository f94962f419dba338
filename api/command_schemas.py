"""Request bodies: what each command takes, checked before the ledger sees it. Extra
fields are refused (``Command``); money is a ``MoneyModel``."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import Field, model_validator

from api.fields import Day, Moment
from api.schemas import AllocationRow, Command, MoneyModel, PaymentMethod


class AccountCreate(Command):
    name: str = Field(min_length=1, max_length=200)
    currency: str
    payment_terms_days: int = Field(strict=True, ge=0, le=365)
    email: str | None = Field(default=None, max_length=200)
    external_ref: str | None = Field(default=None, max_length=200)
    credit_limit: MoneyModel | None = None
    coordinator: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="the coordinator (actor name) told of the account's failed payments",
    )


class AccountUpdate(Command):
    """Only the fields given change; ``clear`` removes email, external_ref or credit_limit."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    email: str | None = Field(default=None, max_length=200)
    external_ref: str | None = Field(default=None, max_length=200)
    payment_terms_days: int | None = Field(strict=True, default=None, ge=0, le=365)
    credit_limit: MoneyModel | None = None
    coordinator: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="the coordinator (actor name) told of the account's failed payments",
    )
    clear: list[Literal["email", "external_ref", "credit_limit", "coordinator"]] = Field(
        default_factory=list
    )
    reason: str | None = Field(default=None, max_length=2000)


class ContactCreate(Command):
    """A call, email, letter or meeting with the client."""

    channel: Literal["call", "email", "letter", "sms", "meeting", "portal"]
    direction: Literal["outbound", "inbound"] = "outbound"
    outcome: str = Field(min_length=1, max_length=200, examples=["promised to pay Friday"])
    notes: str | None = Field(default=None, max_length=2000)
    contact_name: str | None = Field(default=None, max_length=200)
    contacted_at: Moment | None = Field(default=None, description="default: now")


class StandingChange(Command):
    action: Literal["hold", "recommend_suspension", "suspend", "reinstate", "terminate"]
    reason: str = Field(min_length=1, max_length=2000)


class EscalationCreate(Command):
    manager: str = Field(min_length=1, max_length=200, description="who takes the account")
    reason: str = Field(min_length=1, max_length=2000)


class InsolvencyCaseCreate(Command):
    kind: Literal["administration", "insolvency", "liquidation", "iva"]
    reference: str | None = Field(default=None, max_length=200)


class ReferralCreate(Command):
    """Refer the debt to enforcement, an outside agency or a solicitor."""

    kind: Literal["enforcement", "outside_agency", "solicitor"]
    agency: str = Field(min_length=1, max_length=200, description="who takes the debt")
    collection_value: MoneyModel = Field(description="what the referral expects to collect")
    reason: str = Field(min_length=1, max_length=2000)


class PaymentMethodSetUp(Command):
    """How the client pays from now on; a direct-debit or ACH mandate needs its reference."""

    method: Literal["card", "direct_debit", "ach", "bacs", "cheque"]
    reference: str | None = Field(default=None, max_length=200, description="the mandate")


class DoubtfulDebtFlag(Command):
    """A concern that part of what the account owes may never be paid."""

    amount: MoneyModel
    reason: str = Field(min_length=1, max_length=2000)


class InvoiceCreate(Command):
    account_id: UUID
    number: str = Field(min_length=1, max_length=64)
    amount: MoneyModel
    issued_on: Day
    due_on: Day
    description: str | None = Field(default=None, max_length=2000)


class CreditNoteCreate(Command):
    amount: MoneyModel
    reason: str = Field(min_length=1, max_length=2000)
    issued_on: Day


class InvoiceVoid(Command):
    reason: str = Field(min_length=1, max_length=2000)


class WriteOffCreate(Command):
    amount: MoneyModel
    reason: str = Field(min_length=1, max_length=2000)


class WriteOffDecision(Command):
    reason: str | None = Field(default=None, max_length=2000)


class PaymentCreate(Command):
    account_id: UUID
    amount: MoneyModel
    method: PaymentMethod
    received_on: Day
    reference: str | None = Field(default=None, max_length=200)
    status: Literal["pending", "succeeded", "failed"] = "succeeded"
    failure_code: str | None = Field(default=None, max_length=200)
    failure_message: str | None = Field(default=None, max_length=2000)
    purpose: Literal["payment", "deposit"] = Field(
        default="payment",
        description="deposit: held as security; applied, refunded or forfeited explicitly",
    )


class PaymentOutcome(Command):
    """What became of a pending payment."""

    status: Literal["succeeded", "failed"]
    failure_code: str | None = Field(default=None, max_length=200)
    failure_message: str | None = Field(default=None, max_length=2000)


class AllocationCreate(Command):
    """Either explicit ``allocations`` or a ``strategy``; not both."""

    allocations: list[AllocationRow] | None = Field(default=None, min_length=1, max_length=100)
    strategy: Literal["oldest_first"] | None = None

    @model_validator(mode="after")
    def _one_of(self) -> AllocationCreate:
        if (self.allocations is None) == (self.strategy is None):
            raise ValueError("give either 'allocations' or 'strategy', exactly one of them")
        return self


class UnallocationCreate(Command):
    """Take back allocations: the rows given, or every allocation of the payment when
    ``allocations`` is left out."""

    allocations: list[AllocationRow] | None = Field(default=None, min_length=1, max_length=100)
    reason: str = Field(min_length=1, max_length=2000)


class RefundCreate(Command):
    amount: MoneyModel
    reason: str = Field(min_length=1, max_length=2000)
    refunded_on: Day
    reverse_allocations: bool = Field(
        default=False,
        description="take allocations back, newest first, for what unallocated cash lacks",
    )
    external_id: str | None = Field(
        default=None, max_length=200, description="e.g. Stripe's refund id: a repeat is a no-op"
    )


class PaymentReturn(Command):
    """A bank payment came back: a late direct-debit failure, a bounced cheque."""

    return_code: str = Field(min_length=1, max_length=200, examples=["ARUDD-0", "R01"])
    returned_on: Day
    reason: str | None = Field(default=None, max_length=2000)
    external_id: str | None = Field(default=None, max_length=200)


class ChargebackCreate(Command):
    amount: MoneyModel
    reason: str = Field(min_length=1, max_length=2000)
    opened_on: Day
    external_id: str | None = Field(
        default=None, max_length=200, description="e.g. Stripe's dispute id"
    )


class ChargebackClose(Command):
    outcome: Literal["won", "lost"]
    reason: str = Field(min_length=1, max_length=2000)


class DisputeCreate(Command):
    amount: MoneyModel = Field(description="what the client disputes: part or all")
    reason: str = Field(min_length=1, max_length=2000)


class DisputeResolution(Command):
    outcome: Literal["upheld", "rejected"]
    reason: str = Field(min_length=1, max_length=2000)
    resolved_on: Day
    credit: MoneyModel | None = Field(
        default=None, description="upheld only: credit less than the disputed amount"
    )


class NoticeCreate(Command):
    """A dunning notice on the named overdue invoices, or every eligible one."""

    stage: Literal["reminder", "final_demand", "default_notice"]
    channel: Literal["email", "post", "portal"]
    notice_on: Day | None = Field(default=None, description="default: today (UTC)")
    invoice_ids: list[UUID] | None = Field(default=None, min_length=1, max_length=100)
    all_eligible: bool = False

    @model_validator(mode="after")
    def _one_of(self) -> NoticeCreate:
        if (self.invoice_ids is None) == (not self.all_eligible):
            raise ValueError("give either 'invoice_ids' or 'all_eligible': true, exactly one")
        return self


class PromiseCreate(Command):
    """The client promises to pay ``amount`` by ``promised_on``."""

    amount: MoneyModel
    promised_on: Day
    made_on: Day | None = Field(default=None, description="default: today (UTC)")
    invoice_ids: list[UUID] = Field(default_factory=list, max_length=100)
    notes: str | None = Field(default=None, max_length=2000)


class InstalmentIn(Command):
    due_on: Day
    amount: MoneyModel


class PaymentPlanCreate(Command):
    invoice_ids: list[UUID] = Field(min_length=1, max_length=100)
    instalments: list[InstalmentIn] = Field(min_length=1, max_length=120)
    starts_on: Day | None = Field(default=None, description="default: today (UTC)")
    missed_allowed: int = Field(
        strict=True, default=0, ge=0, le=120, description="misses tolerated before it breaks"
    )


class ArrangementCancel(Command):
    reason: str = Field(min_length=1, max_length=2000)


class DocumentSend(Command):
    """Send an invoice (again) or a receipt to the client."""

    channel: Literal["email", "post", "portal"]
    recipient: str | None = Field(default=None, max_length=200, description="default: on file")


class DepositForfeit(Command):
    amount: MoneyModel
    reason: str = Field(min_length=1, max_length=2000)


class LateFeePolicyCreate(Command):
    """Charge late payers a fixed fee (first charge only) and/or simple interest."""

    fixed_fee: MoneyModel | None = None
    interest_rate_bps: int = Field(
        strict=True, default=0, ge=0, le=10_000, description="a year; 800 = 8%"
    )
    grace_days: int = Field(
        strict=True, default=0, ge=0, le=365, description="days after due before charging"
    )


class LateChargeCreate(Command):
    charge_on: Day = Field(
        description="charge for lateness up to the day before this date, at most today (UTC)"
    )
