"""The invoice: an amount a client owes from its issue date, due on its due date."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from ledger import invoice_rules as rules
from ledger.invoice_state import (
    InvoiceFigures,
    dispute_credit_note_id,
    invoice_id_for,
    invoice_status,
)
from ledger.invoice_state import upcast_state_v1_v2 as _upcast_state_v1_v2
from ledger.money import Money
from ledger.stamp import Stamp

__all__ = ["Invoice", "invoice_id_for", "invoice_status"]


class Invoice(InvoiceFigures, Aggregate):
    """An invoice and what has been applied to it."""

    # Version 2 added disputes and the overdue notice.
    class_version = 2
    upcast_v1_v2 = staticmethod(_upcast_state_v1_v2)

    @staticmethod
    def create_id(account_id: UUID, number: str, **_: Any) -> UUID:
        return invoice_id_for(account_id, number)

    class Raised(Aggregate.Created):
        """An invoice was raised; ``exposure`` is what the account owed with it, when the
        account has a credit limit: raising over the limit is allowed and flagged."""

        cloudevent_type: ClassVar[str] = "arledger.invoice.raised"
        account_id: UUID
        number: str
        amount: Money
        issued_on: date
        due_on: date
        description: str | None
        stamp: Stamp
        credit_limit_exceeded: bool
        exposure: Money | None
        kind: str
        charged_for: UUID | None

    @event(Raised)
    def __init__(
        self,
        account_id: UUID,
        number: str,
        amount: Money,
        issued_on: date,
        due_on: date,
        description: str | None,
        stamp: Stamp,
        credit_limit_exceeded: bool = False,
        exposure: Money | None = None,
        kind: str = "invoice",
        charged_for: UUID | None = None,
    ) -> None:
        # ``kind`` "late_charge": a separate charge for paying ``charged_for`` late.
        self.kind = kind
        self.charged_for = charged_for
        self.late_charged_to: date | None = None  # the last late charge's date
        self.late_charge_count = 0
        self.account_id = account_id
        self.number = number
        self.credit_limit_exceeded = credit_limit_exceeded
        self.amount = amount
        self.issued_on = issued_on
        self.due_on = due_on
        self.description = description
        self.allocated = Money.zero(amount.currency)
        self.credited = Money.zero(amount.currency)
        self.written_off = Money.zero(amount.currency)
        self.voided = Money.zero(amount.currency)
        self.allocations: list[tuple[UUID, Money]] = []
        self.credit_note_ids: list[UUID] = []  # a list: snapshots are JSON
        self.disputes: dict[str, Money] = {}  # open disputes by id
        self.overdue_noted = False
        self.sends: list[str] = []  # the channel of each send, first and resends
        self.resolved_dispute_ids: list[str] = []

    def apply_payment(self, payment_id: UUID, amount: Money, stamp: Stamp) -> None:
        """Apply ``amount`` of a payment; never more than is outstanding."""
        rules.check_allocation(self, amount)
        self._payment_allocated(self.account_id, payment_id, amount, stamp)
        self._settle_if_paid(stamp)

    class PaymentAllocated(Aggregate.Event):
        """Part of a payment was applied to the invoice."""

        cloudevent_type: ClassVar[str] = "arledger.invoice.payment_allocated"
        account_id: UUID
        payment_id: UUID
        amount: Money
        stamp: Stamp

    @event(PaymentAllocated)
    def _payment_allocated(
        self, account_id: UUID, payment_id: UUID, amount: Money, stamp: Stamp
    ) -> None:
        self.allocated = self.allocated + amount
        self.allocations.append((payment_id, amount))

    def _settle_if_paid(self, stamp: Stamp) -> None:
        if self.outstanding.is_zero():
            self._settled(account_id=self.account_id, stamp=stamp)

    class Settled(Aggregate.Event):
        """Nothing is outstanding: the event a booking system waits for to release a
        booking. It changes no amount; it says the invoice is settled, and when."""

        cloudevent_type: ClassVar[str] = "arledger.invoice.settled"
        account_id: UUID
        stamp: Stamp

    @event(Settled)
    def _settled(self, account_id: UUID, stamp: Stamp) -> None:
        """Changes no state: the event itself is the news."""

    def reverse_payment(
        self, payment_id: UUID, amount: Money, rule: str, reason: str, stamp: Stamp
    ) -> None:
        """Take back ``amount`` of a payment's allocation (the payment checks it has that
        much here). A settled invoice that owes again is reopened, so that a service which
        released a booking on ``Settled`` hears of it."""
        rules.require_currency(self, amount, "un-allocation")
        was_settled = self.outstanding.is_zero()
        self._payment_unallocated(self.account_id, payment_id, amount, rule, reason, stamp)
        if was_settled and self.outstanding.is_positive():
            self._reopened(account_id=self.account_id, outstanding=self.outstanding, stamp=stamp)

    class PaymentUnallocated(Aggregate.Event):
        """Part of a payment's allocation was taken back (``rule``: why)."""

        cloudevent_type: ClassVar[str] = "arledger.invoice.payment_unallocated"
        account_id: UUID
        payment_id: UUID
        amount: Money
        rule: str
        reason: str
        stamp: Stamp

    @event(PaymentUnallocated)
    def _payment_unallocated(
        self,
        account_id: UUID,
        payment_id: UUID,
        amount: Money,
        rule: str,
        reason: str,
        stamp: Stamp,
    ) -> None:
        self.allocated = self.allocated - amount

    class Reopened(Aggregate.Event):
        """A settled invoice owes again (its payment was taken back)."""

        cloudevent_type: ClassVar[str] = "arledger.invoice.reopened"
        account_id: UUID
        outstanding: Money
        stamp: Stamp

    @event(Reopened)
    def _reopened(self, account_id: UUID, outstanding: Money, stamp: Stamp) -> None:
        """Changes no state: the event itself is the news."""

    def issue_credit_note(
        self, credit_note_id: UUID, amount: Money, reason: str, issued_on: date, stamp: Stamp
    ) -> None:
        """Reduce what is owed by ``amount``, for ``reason``: never below zero."""
        rules.check_credit_note(self, amount, issued_on)
        self._credit_note_issued(self.account_id, credit_note_id, amount, reason, issued_on, stamp)
        self._settle_if_paid(stamp)

    class CreditNoteIssued(Aggregate.Event):
        """A credit note reduced what the invoice owes."""

        cloudevent_type: ClassVar[str] = "arledger.invoice.credit_note_issued"
        account_id: UUID
        credit_note_id: UUID
        amount: Money
        reason: str
        issued_on: date
        stamp: Stamp

    @event(CreditNoteIssued)
    def _credit_note_issued(
        self,
        account_id: UUID,
        credit_note_id: UUID,
        amount: Money,
        reason: str,
        issued_on: date,
        stamp: Stamp,
    ) -> None:
        self.credited = self.credited + amount
        self.credit_note_ids.append(credit_note_id)

    def void(self, reason: str, stamp: Stamp) -> None:
        """Cancel an invoice raised in error, once. Only one with nothing allocated:
        money received against it must be un-allocated first. Credit notes and write-offs
        already made stand; the void cancels what is left, so one that leaves nothing
        (settled) cannot be voided."""
        rules.check_void(self)
        self._voided(self.account_id, self.outstanding, reason, stamp)

    class Voided(Aggregate.Event):
        """The invoice was cancelled as raised in error; ``amount`` is what it cancelled."""

        cloudevent_type: ClassVar[str] = "arledger.invoice.voided"
        account_id: UUID
        amount: Money
        reason: str
        stamp: Stamp

    @event(Voided)
    def _voided(self, account_id: UUID, amount: Money, reason: str, stamp: Stamp) -> None:
        self.voided = amount

    def write_off(
        self, write_off_id: UUID, amount: Money, reason: str, authorised_by: str, stamp: Stamp
    ) -> None:
        """Write ``amount`` off as bad debt, authorised by ``authorised_by`` (the
        authority check is the write-off request's; this checks the amount)."""
        self.check_write_off(amount)
        self._written_off(self.account_id, write_off_id, amount, reason, authorised_by, stamp)
        self._settle_if_paid(stamp)

    def check_write_off(self, amount: Money) -> None:
        rules.check_write_off(self, amount)

    class WrittenOff(Aggregate.Event):
        """Part of the invoice was written off as bad debt, on someone's authority."""

        cloudevent_type: ClassVar[str] = "arledger.invoice.written_off"
        account_id: UUID
        write_off_id: UUID
        amount: Money
        reason: str
        authorised_by: str
        stamp: Stamp

    @event(WrittenOff)
    def _written_off(
        self,
        account_id: UUID,
        write_off_id: UUID,
        amount: Money,
        reason: str,
        authorised_by: str,
        stamp: Stamp,
    ) -> None:
        self.written_off = self.written_off + amount
        # Minor units written off on each actor's authority; read with a default, so
        # snapshots taken before it was kept still load (and the next event adds it).
        by: dict[str, int] = getattr(self, "written_off_by", {})
        used = by.get(authorised_by, 0) + amount.amount_minor
        self.written_off_by = {**by, authorised_by: used}

    def send(self, channel: str, recipient: str | None, stamp: Stamp) -> None:
        """Send the invoice to the client (email, post, portal); a second send is a
        resend and says so."""
        rules.check_send(self, channel)
        self._sent(self.account_id, channel, recipient, bool(self.sends), stamp)

    class Sent(Aggregate.Event):
        """The invoice was sent to the client (``resend`` after the first time)."""

        cloudevent_type: ClassVar[str] = "arledger.invoice.sent"
        account_id: UUID
        channel: str
        recipient: str | None
        resend: bool
        stamp: Stamp

    @event(Sent)
    def _sent(
        self, account_id: UUID, channel: str, recipient: str | None, resend: bool, stamp: Stamp
    ) -> None:
        self.sends.append(channel)

    def issue_payment_link(
        self,
        link_id: str,
        url: str,
        amount: Money,
        customer_id: str | None,
        expires_at: datetime | None,
        stamp: Stamp,
    ) -> None:
        """A link the client pays the invoice's outstanding amount through (a Stripe
        Checkout Session). A new one replaces, and has expired, the one before."""
        rules.check_payment_link(self, amount)
        replaces = self.payment_link_id
        self._payment_link_issued(
            self.account_id, link_id, url, amount, customer_id, expires_at, replaces, stamp
        )

    class PaymentLinkIssued(Aggregate.Event):
        """A link the client pays through was issued; it ``replaces`` the one before."""

        cloudevent_type: ClassVar[str] = "arledger.invoice.payment_link_issued"
        account_id: UUID
        link_id: str
        url: str
        amount: Money
        customer_id: str | None
        expires_at: datetime | None
        replaces: str | None
        stamp: Stamp

    @event(PaymentLinkIssued)
    def _payment_link_issued(
        self,
        account_id: UUID,
        link_id: str,
        url: str,
        amount: Money,
        customer_id: str | None,
        expires_at: datetime | None,
        replaces: str | None,
        stamp: Stamp,
    ) -> None:
        self._payment_link_id = link_id

    def record_late_charge(
        self, charge_invoice_id: UUID, charge_on: date, figures: dict[str, Any], stamp: Stamp
    ) -> None:
        """Say on this invoice that a late charge was raised for it, and how it was
        worked out (``ledger/late_charges.py``): ``interest`` for ``days`` on what was
        owed undisputed each day (``periods``; ``base`` on average), plus ``fee``."""
        self._late_charged(
            account_id=self.account_id,
            charge_invoice_id=charge_invoice_id,
            charge_on=charge_on,
            stamp=stamp,
            **figures,
        )

    class LateCharged(Aggregate.Event):
        """A late charge was raised for this invoice. Version 2 charges interest day by
        day on what was owed undisputed each day: ``periods`` lists the spans of days
        with the amount (``from`` to the day before ``to``), ``base`` is the amount on an
        average day. Version 1 charged ``base`` (then the undisputed outstanding) for
        every day; its events have no ``periods``."""

        cloudevent_type: ClassVar[str] = "arledger.invoice.late_charged"
        class_version = 2
        account_id: UUID
        charge_invoice_id: UUID
        charge_on: date
        base: Money
        days: int
        fee: Money
        interest: Money
        stamp: Stamp
        periods: list[dict[str, Any]]

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["periods"] = []

    @event(LateCharged)
    def _late_charged(
        self,
        account_id: UUID,
        charge_invoice_id: UUID,
        charge_on: date,
        base: Money,
        days: int,
        fee: Money,
        interest: Money,
        stamp: Stamp,
        periods: list[dict[str, Any]],
    ) -> None:
        self.late_charged_to = charge_on
        self.late_charge_count += 1

    def note_overdue(self, on: date, stamp: Stamp) -> None:
        """The due date has passed with money outstanding: said once per invoice, by the
        scheduler, effective on the day after ``due_on``."""
        rules.check_newly_overdue(self, on)
        self._became_overdue(self.account_id, self.due_on, self.outstanding, stamp)

    class BecameOverdue(Aggregate.Event):
        """The due date passed with money outstanding (said once per invoice)."""

        cloudevent_type: ClassVar[str] = "arledger.invoice.became_overdue"
        account_id: UUID
        due_on: date
        outstanding: Money
        stamp: Stamp

    @event(BecameOverdue)
    def _became_overdue(
        self, account_id: UUID, due_on: date, outstanding: Money, stamp: Stamp
    ) -> None:
        self.overdue_noted = True

    def dispute(self, dispute_id: str, amount: Money, reason: str, stamp: Stamp) -> None:
        """The client disputes ``amount`` of the invoice: it stays owed (in the balance)
        but is not chased until the dispute is resolved."""
        rules.check_dispute(self, amount)
        self._disputed(self.account_id, dispute_id, amount, reason, stamp)

    class Disputed(Aggregate.Event):
        """The client disputes ``amount``: still owed, not chased while it is open."""

        cloudevent_type: ClassVar[str] = "arledger.invoice.disputed"
        account_id: UUID
        dispute_id: str
        amount: Money
        reason: str
        stamp: Stamp

    @event(Disputed)
    def _disputed(
        self, account_id: UUID, dispute_id: str, amount: Money, reason: str, stamp: Stamp
    ) -> None:
        self.disputes[dispute_id] = amount

    def resolve_dispute(
        self,
        dispute_id: str,
        upheld: bool,
        credit: Money | None,
        reason: str,
        issued_on: date,
        stamp: Stamp,
    ) -> None:
        """Upheld: the client was right, and a credit note for the disputed amount (or
        the smaller ``credit`` given) reduces what is owed. Rejected: collection resumes."""
        disputed, credit = rules.resolution_credit(self, dispute_id, upheld, credit)
        outcome = "upheld" if upheld else "rejected"
        self._dispute_resolved(self.account_id, dispute_id, outcome, disputed, reason, stamp)
        if credit.is_positive():
            credit_note_id = dispute_credit_note_id(self.id, dispute_id)
            reason = f"dispute upheld: {reason}"
            self.issue_credit_note(credit_note_id, credit, reason, issued_on, stamp)

    class DisputeResolved(Aggregate.Event):
        """A dispute was upheld (a credit note follows) or rejected (chasing resumes)."""

        cloudevent_type: ClassVar[str] = "arledger.invoice.dispute_resolved"
        account_id: UUID
        dispute_id: str
        outcome: str
        disputed: Money
        reason: str
        stamp: Stamp

    @event(DisputeResolved)
    def _dispute_resolved(
        self,
        account_id: UUID,
        dispute_id: str,
        outcome: str,
        disputed: Money,
        reason: str,
        stamp: Stamp,
    ) -> None:
        del self.disputes[dispute_id]
        self.resolved_dispute_ids.append(dispute_id)
