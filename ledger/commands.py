"""Commands: what a user or service asks the ledger to do. Distinct from events, which
record what was done."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from uuid import UUID

from ledger.checked import Checked
from ledger.money import Money
from ledger.stamp import Stamp


@dataclass(frozen=True)
class OpenAccount(Checked):
    name: str
    currency: str
    payment_terms_days: int
    stamp: Stamp
    email: str | None = None
    external_ref: str | None = None
    credit_limit: Money | None = None
    account_id: UUID | None = None
    # The coordinator (an actor name) who looks after the account, when it is opened
    # with one (an opening book names them); otherwise set by a details update.
    coordinator: str | None = None


@dataclass(frozen=True)
class UpdateAccount(Checked):
    """Change some of an account's details; fields left as None are not changed, except
    those named in ``clear`` (email, external_ref, credit_limit, coordinator), which are
    removed."""

    account_id: UUID
    stamp: Stamp
    name: str | None = None
    email: str | None = None
    external_ref: str | None = None
    payment_terms_days: int | None = None
    credit_limit: Money | None = None
    coordinator: str | None = None
    clear: tuple[str, ...] = ()
    reason: str | None = None


@dataclass(frozen=True)
class LogContact(Checked):
    account_id: UUID
    channel: str
    direction: str
    outcome: str
    stamp: Stamp
    notes: str | None = None
    contact_name: str | None = None


@dataclass(frozen=True)
class ChangeStanding(Checked):
    """hold, recommend_suspension, suspend, reinstate or terminate, with a reason."""

    account_id: UUID
    action: str
    reason: str
    stamp: Stamp


@dataclass(frozen=True)
class Escalate(Checked):
    account_id: UUID
    manager: str
    reason: str
    stamp: Stamp


@dataclass(frozen=True)
class OpenInsolvencyCase(Checked):
    account_id: UUID
    kind: str
    stamp: Stamp
    reference: str | None = None


@dataclass(frozen=True)
class ReferForCollection(Checked):
    """Refer an account's debt to enforcement or an outside agency, with the value the
    referral is expected to collect."""

    account_id: UUID
    kind: str
    agency: str
    collection_value: Money
    reason: str
    stamp: Stamp


@dataclass(frozen=True)
class SetUpPaymentMethod(Checked):
    """How the client pays from now on (a mandate's reference for direct debit and ACH)."""

    account_id: UUID
    method: str
    stamp: Stamp
    reference: str | None = None


@dataclass(frozen=True)
class FlagDoubtfulDebt(Checked):
    """Raise a concern that part of what an account owes may never be paid."""

    account_id: UUID
    amount: Money
    reason: str
    stamp: Stamp


@dataclass(frozen=True)
class RaiseInvoice(Checked):
    account_id: UUID
    number: str
    amount: Money
    issued_on: date
    due_on: date
    stamp: Stamp
    description: str | None = None


@dataclass(frozen=True)
class IssueCreditNote(Checked):
    """Reduce what an invoice's client owes, partly or fully, for a stated reason."""

    invoice_id: UUID
    amount: Money
    reason: str
    issued_on: date
    stamp: Stamp
    credit_note_id: UUID


@dataclass(frozen=True)
class VoidInvoice(Checked):
    """Cancel an invoice raised in error (one with nothing allocated)."""

    invoice_id: UUID
    reason: str
    stamp: Stamp


@dataclass(frozen=True)
class RequestWriteOff(Checked):
    """Write off bad debt on an invoice: applied at once within the requester's limit,
    else left for approval."""

    invoice_id: UUID
    amount: Money
    reason: str
    role: str
    stamp: Stamp
    write_off_id: UUID


@dataclass(frozen=True)
class DecideWriteOff(Checked):
    """Approve (``approve=True``) or reject a write-off waiting for approval."""

    write_off_id: UUID
    approve: bool
    role: str
    stamp: Stamp
    reason: str | None = None


@dataclass(frozen=True)
class RecordPayment(Checked):
    account_id: UUID
    amount: Money
    method: str
    received_on: date
    stamp: Stamp
    reference: str | None = None
    status: str = "succeeded"
    failure_code: str | None = None
    failure_message: str | None = None
    payment_id: UUID | None = None
    purpose: str = "payment"


@dataclass(frozen=True)
class RecordPaymentLink(Checked):
    invoice_id: UUID
    link_id: str
    url: str
    amount: Money
    customer_id: str | None
    expires_at: datetime | None
    stamp: Stamp


@dataclass(frozen=True)
class RecordPaymentOutcome(Checked):
    """A pending payment succeeded (the cash arrived) or failed (declined, returned)."""

    payment_id: UUID
    status: str
    stamp: Stamp
    failure_code: str | None = None
    failure_message: str | None = None


@dataclass(frozen=True)
class AllocatePayment(Checked):
    """Apply a payment to invoices: either the explicit ``allocations`` or, with
    ``strategy="oldest_first"``, to the account's open invoices by due date."""

    payment_id: UUID
    request_id: str
    stamp: Stamp
    allocations: tuple[tuple[UUID, Money], ...] = ()
    strategy: str = "explicit"


@dataclass(frozen=True)
class UnallocatePayment(Checked):
    """Take back a payment's allocations: the given (invoice, amount) rows, or all of
    them when ``allocations`` is empty. The freed cash can then be allocated again."""

    payment_id: UUID
    request_id: str
    reason: str
    stamp: Stamp
    allocations: tuple[tuple[UUID, Money], ...] = ()


@dataclass(frozen=True)
class RefundPayment(Checked):
    """Pay cash back to the client. With ``reverse_allocations``, allocations are taken
    back newest first for whatever the unallocated cash does not cover."""

    payment_id: UUID
    request_id: str
    amount: Money
    reason: str
    refunded_on: date
    stamp: Stamp
    reverse_allocations: bool = False


@dataclass(frozen=True)
class ReturnPayment(Checked):
    """A succeeded bank payment came back (late direct-debit failure, bounced cheque)."""

    payment_id: UUID
    request_id: str
    return_code: str
    returned_on: date
    stamp: Stamp
    reason: str | None = None


@dataclass(frozen=True)
class OpenChargeback(Checked):
    payment_id: UUID
    chargeback_id: str
    amount: Money
    reason: str
    opened_on: date
    stamp: Stamp


@dataclass(frozen=True)
class CloseChargeback(Checked):
    payment_id: UUID
    chargeback_id: str
    won: bool
    reason: str
    stamp: Stamp


@dataclass(frozen=True)
class DisputeInvoice(Checked):
    invoice_id: UUID
    dispute_id: str
    amount: Money
    reason: str
    stamp: Stamp


@dataclass(frozen=True)
class ResolveDispute(Checked):
    """Upheld (a credit note for the disputed amount, or the smaller ``credit``) or
    rejected (collection resumes)."""

    invoice_id: UUID
    dispute_id: str
    upheld: bool
    reason: str
    resolved_on: date
    stamp: Stamp
    credit: Money | None = None


@dataclass(frozen=True)
class IssueNotice(Checked):
    """A reminder, final demand or default notice on the named invoices, or on every
    eligible one when ``invoice_ids`` is empty."""

    account_id: UUID
    notice_id: str
    stage: str
    channel: str
    notice_on: date
    stamp: Stamp
    invoice_ids: tuple[UUID, ...] = ()


@dataclass(frozen=True)
class MakePromise(Checked):
    """The client promises to pay ``amount`` by ``promised_on``."""

    account_id: UUID
    promise_id: UUID
    amount: Money
    made_on: date
    promised_on: date
    stamp: Stamp
    invoice_ids: tuple[UUID, ...] = ()
    notes: str | None = None


@dataclass(frozen=True)
class AgreePaymentPlan(Checked):
    """Instalments (due date, amount) over some invoices; ``missed_allowed`` misses are
    tolerated before the plan breaks."""

    account_id: UUID
    plan_id: UUID
    invoice_ids: tuple[UUID, ...]
    instalments: tuple[tuple[date, Money], ...]
    starts_on: date
    stamp: Stamp
    missed_allowed: int = 0


@dataclass(frozen=True)
class CancelArrangement(Checked):
    """Cancel an open promise or an active payment plan, with a reason."""

    arrangement_id: UUID
    reason: str
    stamp: Stamp


@dataclass(frozen=True)
class SendDocument(Checked):
    """Send an invoice (first send or resend) or a payment's receipt to the client."""

    subject_id: UUID
    channel: str
    stamp: Stamp
    recipient: str | None = None


@dataclass(frozen=True)
class ForfeitDeposit(Checked):
    payment_id: UUID
    request_id: str
    amount: Money
    reason: str
    stamp: Stamp


@dataclass(frozen=True)
class SetLateFeePolicy(Checked):
    account_id: UUID
    interest_rate_bps: int
    grace_days: int
    stamp: Stamp
    fixed_fee: Money | None = None


@dataclass(frozen=True)
class ChargeLateFee(Checked):
    """Raise a separate charge for paying an invoice late, up to ``charge_on``."""

    invoice_id: UUID
    charge_on: date
    stamp: Stamp
