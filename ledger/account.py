"""The account: a client that is invoiced, pays, and is chased. It keeps the index of its
invoice numbers so that a number is unique per account and open invoices can be found
for oldest-first allocation without asking a read model."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from ledger import account_rules as rules
from ledger.money import Money
from ledger.stamp import Stamp
from ledger.standing import StandingNotAllowed, next_status


class Account(Aggregate):
    """A debtor account in one currency."""

    # The coordinator who looks after the account (an actor name), told of its failed
    # payments; set by a details update. A class default, so older snapshots have it.
    coordinator: str | None = None

    # Version 2 added referrals, payment set-up, doubtful debt and dunning stages.
    class_version = 2

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        """A snapshot taken before version 2: nothing referred, set up, flagged or sent."""
        state.setdefault("referred_to", None)
        state.setdefault("payment_method", None)
        state.setdefault("doubtful_debt", None)
        state.setdefault("notice_stages", {})
        state.setdefault("notice_ids", [])
        state.setdefault("late_fee_policy", None)

    class Opened(Aggregate.Created):
        """An account was opened for a client."""

        cloudevent_type: ClassVar[str] = "arledger.account.opened"
        name: str
        currency: str
        payment_terms_days: int
        email: str | None
        external_ref: str | None
        credit_limit: Money | None
        stamp: Stamp

    @event(Opened)
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
        self.last_contact_at: datetime | None = None
        self.suspension_recommended = False
        self.escalated_to: str | None = None
        self.insolvency: str | None = None
        self.referred_to: str | None = None
        self.payment_method: str | None = None
        self.notice_stages: dict[str, str] = {}  # the last notice stage each invoice had
        self.notice_ids: list[str] = []
        self.late_fee_policy: dict[str, Any] | None = None
        self.doubtful_debt: Money | None = None
        self.opened_stamp = stamp
        self.invoice_ids_by_number: dict[str, UUID] = {}

    @property
    def account_id(self) -> UUID:
        return self.id

    def register_invoice(self, invoice_id: UUID, number: str, stamp: Stamp) -> None:
        """Claim ``number`` for a new invoice; a number is used once per account."""
        rules.check_number_unused(self.id, self.invoice_ids_by_number, number)
        self._register_invoice(invoice_id=invoice_id, number=number, stamp=stamp)

    class InvoiceRegistered(Aggregate.Event):
        """An invoice number was claimed on the account."""

        cloudevent_type: ClassVar[str] = "arledger.account.invoice_registered"
        invoice_id: UUID
        number: str
        stamp: Stamp

    @event(InvoiceRegistered)
    def _register_invoice(self, invoice_id: UUID, number: str, stamp: Stamp) -> None:
        self.invoice_ids_by_number[number] = invoice_id

    def invoice_ids(self) -> list[UUID]:
        """Every invoice ever raised on the account, in the order raised."""
        return list(self.invoice_ids_by_number.values())

    def update_details(self, changes: dict[str, Any], reason: str | None, stamp: Stamp) -> None:
        """Change contact details, payment terms or credit limit. Only what differs is
        recorded; a change to nothing is refused rather than recorded as noise."""
        changed = rules.details_changed(self, changes)
        self._details_updated(changes=changed, reason=reason, stamp=stamp)

    class DetailsUpdated(Aggregate.Event):
        """Contact details, payment terms or the credit limit changed (only what did)."""

        cloudevent_type: ClassVar[str] = "arledger.account.details_updated"
        changes: dict[str, Any]
        reason: str | None
        stamp: Stamp

    @event(DetailsUpdated)
    def _details_updated(self, changes: dict[str, Any], reason: str | None, stamp: Stamp) -> None:
        for name, value in changes.items():
            setattr(self, name, value)

    def log_contact(
        self,
        channel: str,
        direction: str,
        outcome: str,
        notes: str | None,
        contact_name: str | None,
        stamp: Stamp,
    ) -> None:
        """A call, email, letter or meeting with the client, and how it went."""
        rules.check_contact(channel, direction)
        self._contact_logged(channel, direction, outcome, notes, contact_name, stamp)

    class ContactLogged(Aggregate.Event):
        """A call, email, letter or meeting with the client, and its outcome."""

        cloudevent_type: ClassVar[str] = "arledger.account.contact_logged"
        channel: str
        direction: str
        outcome: str
        notes: str | None
        contact_name: str | None
        stamp: Stamp

    @event(ContactLogged)
    def _contact_logged(
        self,
        channel: str,
        direction: str,
        outcome: str,
        notes: str | None,
        contact_name: str | None,
        stamp: Stamp,
    ) -> None:
        self.last_contact_at = stamp.effective_at

    def change_standing(self, action: str, reason: str, stamp: Stamp) -> None:
        """Hold, recommend suspension, suspend, reinstate or terminate (see
        ``ledger.standing`` for which move is allowed from where)."""
        to = next_status(action, self.status)
        self._standing_changed(action=action, status=to, reason=reason, stamp=stamp)

    class StandingChanged(Aggregate.Event):
        """The account was held, suspended, reinstated or terminated."""

        cloudevent_type: ClassVar[str] = "arledger.account.standing_changed"
        action: str
        status: str
        reason: str
        stamp: Stamp

    @event(StandingChanged)
    def _standing_changed(self, action: str, status: str, reason: str, stamp: Stamp) -> None:
        self.status = status
        if action == "recommend_suspension":
            self.suspension_recommended = True
        elif status in ("suspended", "active"):
            self.suspension_recommended = False

    def escalate(self, manager: str, reason: str, stamp: Stamp) -> None:
        """Hand the account to a named manager (a key-account controller, say)."""
        if self.status == "terminated":
            raise StandingNotAllowed("cannot escalate a terminated account")
        self._escalated(manager=manager, reason=reason, stamp=stamp)

    class Escalated(Aggregate.Event):
        """The account was handed to a named manager."""

        cloudevent_type: ClassVar[str] = "arledger.account.escalated"
        manager: str
        reason: str
        stamp: Stamp

    @event(Escalated)
    def _escalated(self, manager: str, reason: str, stamp: Stamp) -> None:
        self.escalated_to = manager

    def open_insolvency_case(self, kind: str, reference: str | None, stamp: Stamp) -> None:
        """Administration or insolvency: all dunning stops; the debt is claimed through
        the case instead."""
        rules.check_insolvency_case(kind, self.insolvency)
        self._insolvency_opened(kind=kind, reference=reference, stamp=stamp)

    class InsolvencyCaseOpened(Aggregate.Event):
        """The client went into administration or insolvency: dunning stops."""

        cloudevent_type: ClassVar[str] = "arledger.account.insolvency_case_opened"
        kind: str
        reference: str | None
        stamp: Stamp

    @event(InsolvencyCaseOpened)
    def _insolvency_opened(self, kind: str, reference: str | None, stamp: Stamp) -> None:
        self.insolvency = kind

    def refer_for_collection(
        self,
        kind: str,
        agency: str,
        collection_value: Money,
        outstanding: Money,
        reason: str,
        stamp: Stamp,
    ) -> None:
        """Refer the debt to enforcement or an outside collection agency, with the value
        expected to be collected; ``outstanding`` is what the account owed at referral,
        recorded as the evidence the referral rested on."""
        rules.check_referral(self.id, self.currency, kind, collection_value, outstanding)
        self._referred(kind, agency, collection_value, outstanding, reason, stamp)

    class ReferredForCollection(Aggregate.Event):
        """The debt was referred to enforcement or a collection agency."""

        cloudevent_type: ClassVar[str] = "arledger.account.referred_for_collection"
        kind: str
        agency: str
        collection_value: Money
        outstanding: Money
        reason: str
        stamp: Stamp

    @event(ReferredForCollection)
    def _referred(
        self,
        kind: str,
        agency: str,
        collection_value: Money,
        outstanding: Money,
        reason: str,
        stamp: Stamp,
    ) -> None:
        self.referred_to = agency

    def set_up_payment_method(self, method: str, reference: str | None, stamp: Stamp) -> None:
        """Record how the client pays from now on: a card taken over the phone and kept, a
        direct-debit or ACH mandate (``reference`` is the mandate), or their own transfers."""
        rules.check_payment_setup(method, reference, self.status)
        self._payment_method_set_up(method=method, reference=reference, stamp=stamp)

    class PaymentMethodSetUp(Aggregate.Event):
        """How the client pays from now on (a card, a mandate, their own transfers)."""

        cloudevent_type: ClassVar[str] = "arledger.account.payment_method_set_up"
        method: str
        reference: str | None
        stamp: Stamp

    @event(PaymentMethodSetUp)
    def _payment_method_set_up(self, method: str, reference: str | None, stamp: Stamp) -> None:
        self.payment_method = method

    def flag_doubtful_debt(
        self, amount: Money, outstanding: Money, reason: str, stamp: Stamp
    ) -> None:
        """Raise a concern that ``amount`` of what the account owes may never be paid: a
        provision for the accounts, and the first step before a write-off. ``outstanding``
        is what it owed at the time, recorded as evidence."""
        rules.check_doubtful_debt(self.currency, amount, outstanding)
        self._debt_flagged_doubtful(amount, outstanding, reason, stamp)

    class DebtFlaggedDoubtful(Aggregate.Event):
        """Part of what the account owes may never be paid (a provision)."""

        cloudevent_type: ClassVar[str] = "arledger.account.debt_flagged_doubtful"
        amount: Money
        outstanding: Money
        reason: str
        stamp: Stamp

    @event(DebtFlaggedDoubtful)
    def _debt_flagged_doubtful(
        self, amount: Money, outstanding: Money, reason: str, stamp: Stamp
    ) -> None:
        self.doubtful_debt = amount

    def issue_notice(
        self,
        notice_id: str,
        stage: str,
        channel: str,
        notice_on: date,
        invoices: list[dict[str, Any]],
        total_chased: Money,
        stamp: Stamp,
    ) -> None:
        """Record a reminder, final demand or default notice and the invoices it rested
        on, with the figures that made each eligible (see ``ledger.dunning``)."""
        rules.check_notice_channel(channel)
        self._notice_issued(notice_id, stage, channel, notice_on, invoices, total_chased, stamp)

    class NoticeIssued(Aggregate.Event):
        """A reminder, final demand or default notice, with the invoices it rested on."""

        cloudevent_type: ClassVar[str] = "arledger.account.notice_issued"
        notice_id: str
        stage: str
        channel: str
        notice_on: date
        invoices: list[dict[str, Any]]
        total_chased: Money
        stamp: Stamp

    @event(NoticeIssued)
    def _notice_issued(
        self,
        notice_id: str,
        stage: str,
        channel: str,
        notice_on: date,
        invoices: list[dict[str, Any]],
        total_chased: Money,
        stamp: Stamp,
    ) -> None:
        for row in invoices:
            self.notice_stages[str(row["invoice_id"])] = stage
        self.notice_ids.append(notice_id)

    class StatementSent(Aggregate.Event):
        """A statement of account was sent, by the SHA-256 of its PDF."""

        cloudevent_type: ClassVar[str] = "arledger.account.statement_sent"
        period_from: date
        period_to: date
        channel: str
        recipient: str
        at_position: int
        filename: str
        sha256: str
        stamp: Stamp

    @event(StatementSent)
    def send_statement(
        self,
        period_from: date,
        period_to: date,
        channel: str,
        recipient: str,
        at_position: int,
        filename: str,
        sha256: str,
        stamp: Stamp,
    ) -> None:
        """A statement of account for the period sent to ``recipient``: the PDF rendered
        from the account's events up to store position ``at_position``, and its SHA-256."""

    def set_late_fee_policy(
        self, fixed_fee: Money | None, interest_rate_bps: int, grace_days: int, stamp: Stamp
    ) -> None:
        """Charge late payers a fixed fee (once per invoice) and/or simple interest at an
        annual rate in basis points, from ``grace_days`` after the due date."""
        rules.check_late_fee_policy(self.currency, fixed_fee, interest_rate_bps)
        self._late_fee_policy_set(fixed_fee, interest_rate_bps, grace_days, stamp)

    class LateFeePolicySet(Aggregate.Event):
        """What a late payer is charged from now on: a fixed fee, interest, or both."""

        cloudevent_type: ClassVar[str] = "arledger.account.late_fee_policy_set"
        fixed_fee: Money | None
        interest_rate_bps: int
        grace_days: int
        stamp: Stamp

    @event(LateFeePolicySet)
    def _late_fee_policy_set(
        self, fixed_fee: Money | None, interest_rate_bps: int, grace_days: int, stamp: Stamp
    ) -> None:
        self.late_fee_policy = {
            "fixed_fee": fixed_fee,
            "interest_rate_bps": interest_rate_bps,
            "grace_days": grace_days,
        }
