"""The invoice: an amount a client owes from its issue date, due on its due date."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from ledger.errors import (
    BadDates,
    CreditExceedsOutstanding,
    CurrencyMismatch,
    InvalidRequest,
    InvoiceHasAllocations,
    InvoiceVoid,
    OverAllocation,
    WriteOffExceedsOutstanding,
)
from ledger.invoice_errors import (
    DisputeExceedsUndisputed,
    DisputeNotOpen,
    InvoiceSettled,
    NothingToPay,
    NotOverdue,
)
from ledger.money import Money
from ledger.stamp import Stamp

SEND_CHANNELS = ("email", "post", "portal")
_INVOICE_NAMESPACE = UUID("6f1f8f0e-7a5e-4c38-9d7c-2b1d5b7b9a01")


def invoice_id_for(account_id: UUID, number: str) -> UUID:
    """An invoice's id follows from its account and number, so a number cannot be used
    twice on one account even by two racing requests: the second insert conflicts."""
    return uuid5(_INVOICE_NAMESPACE, f"{account_id}/{number}")


def invoice_status(
    allocated: int, credited: int, written_off: int, outstanding: int, voided: int
) -> str:
    """``open`` (nothing applied), ``partially_paid`` (something applied, something
    outstanding), ``paid`` (settled, payments among what settled it), ``written_off``
    (settled, a write-off and no payment among it), ``credited`` (settled by credit notes
    alone) or ``void``. Amounts in minor units."""
    if voided:
        return "void"
    if outstanding == 0:
        return "paid" if allocated else "written_off" if written_off else "credited"
    return "partially_paid" if allocated or credited or written_off else "open"


class Invoice(Aggregate):
    """An invoice and what has been applied to it."""

    # Version 2 added disputes and the overdue notice.
    class_version = 2

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        """A snapshot taken before version 2: no disputes, not yet noted overdue."""
        state.setdefault("disputes", {})
        state.setdefault("resolved_dispute_ids", [])
        state.setdefault("overdue_noted", False)
        state.setdefault("credit_limit_exceeded", False)
        state.setdefault("sends", [])
        state.setdefault("kind", "invoice")
        state.setdefault("charged_for", None)
        state.setdefault("late_charged_to", None)
        state.setdefault("late_charge_count", 0)

    @staticmethod
    def create_id(account_id: UUID, number: str, **_: Any) -> UUID:
        return invoice_id_for(account_id, number)

    @event("Raised")
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
        # ``exposure``: what the account owed with this invoice, when it has a credit
        # limit; raising over the limit is allowed and flagged.
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

    @property
    def currency(self) -> str:
        return self.amount.currency

    @property
    def outstanding(self) -> Money:
        """The amount less allocations, credit notes and what a void cancelled."""
        return self.amount - self.allocated - self.credited - self.written_off - self.voided

    @property
    def disputed(self) -> Money:
        """What the client disputes and is not chased for while the disputes are open."""
        total = Money.zero(self.currency)
        for amount in self.disputes.values():
            total = total + amount
        return total

    @property
    def undisputed(self) -> Money:
        """What can be chased: the outstanding amount less what is disputed (never below
        zero: payments may have reduced what is owed below the disputed amount)."""
        left = self.outstanding.amount_minor - self.disputed.amount_minor
        return Money(max(0, left), self.currency)

    @property
    def is_void(self) -> bool:
        return self.voided.is_positive()

    @property
    def status(self) -> str:
        return invoice_status(
            self.allocated.amount_minor,
            self.credited.amount_minor,
            self.written_off.amount_minor,
            self.outstanding.amount_minor,
            self.voided.amount_minor,
        )

    def is_overdue(self, on: date) -> bool:
        return self.outstanding.is_positive() and self.due_on < on

    def apply_payment(self, payment_id: UUID, amount: Money, stamp: Stamp) -> None:
        """Apply ``amount`` of a payment; never more than is outstanding."""
        self._require_not_void("allocate a payment to it")
        self._require_currency(amount, "allocation")
        if self.outstanding < amount:
            raise OverAllocation(
                f"invoice {self.number} has {self.outstanding} outstanding; "
                f"cannot allocate {amount}",
                invoice_id=str(self.id),
                outstanding=self.outstanding.to_json(),
                requested=amount.to_json(),
            )
        self._payment_allocated(
            account_id=self.account_id, payment_id=payment_id, amount=amount, stamp=stamp
        )
        if self.outstanding.is_zero():
            self._settled(account_id=self.account_id, stamp=stamp)

    @event("PaymentAllocated")
    def _payment_allocated(
        self, account_id: UUID, payment_id: UUID, amount: Money, stamp: Stamp
    ) -> None:
        self.allocated = self.allocated + amount
        self.allocations.append((payment_id, amount))

    @event("Settled")
    def _settled(self, account_id: UUID, stamp: Stamp) -> None:
        """Nothing is outstanding: the event a booking system waits for to release a
        booking. It changes no amount; it says the invoice is settled, and when."""

    def reverse_payment(
        self, payment_id: UUID, amount: Money, rule: str, reason: str, stamp: Stamp
    ) -> None:
        """Take back ``amount`` of a payment's allocation (the payment checks it has that
        much here). A settled invoice that owes again is reopened, so that a service which
        released a booking on ``Settled`` hears of it."""
        self._require_currency(amount, "un-allocation")
        was_settled = self.outstanding.is_zero()
        self._payment_unallocated(
            account_id=self.account_id,
            payment_id=payment_id,
            amount=amount,
            rule=rule,
            reason=reason,
            stamp=stamp,
        )
        if was_settled and self.outstanding.is_positive():
            self._reopened(account_id=self.account_id, outstanding=self.outstanding, stamp=stamp)

    @event("PaymentUnallocated")
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

    @event("Reopened")
    def _reopened(self, account_id: UUID, outstanding: Money, stamp: Stamp) -> None:
        """A settled invoice owes again (its payment was returned, refunded or charged
        back)."""

    def issue_credit_note(
        self, credit_note_id: UUID, amount: Money, reason: str, issued_on: date, stamp: Stamp
    ) -> None:
        """Reduce what is owed by ``amount``, for ``reason``: never below zero."""
        self._require_not_void("credit it")
        self._require_currency(amount, "credit note")
        if issued_on < self.issued_on:
            raise BadDates(
                f"credit note dated {issued_on}, before invoice {self.number} "
                f"was issued on {self.issued_on}"
            )
        if self.outstanding < amount:
            raise CreditExceedsOutstanding(
                f"invoice {self.number} has {self.outstanding} outstanding; a credit note "
                f"of {amount} would take it below zero",
                outstanding=self.outstanding.to_json(),
                requested=amount.to_json(),
            )
        self._credit_note_issued(
            account_id=self.account_id,
            credit_note_id=credit_note_id,
            amount=amount,
            reason=reason,
            issued_on=issued_on,
            stamp=stamp,
        )
        if self.outstanding.is_zero():
            self._settled(account_id=self.account_id, stamp=stamp)

    @event("CreditNoteIssued")
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
        self._require_not_void("void it again")
        if self.allocated.is_positive():
            raise InvoiceHasAllocations(
                f"invoice {self.number} has {self.allocated} allocated; only an invoice "
                "with nothing allocated can be voided (issue a credit note instead)"
            )
        if not self.outstanding.is_positive():
            raise InvoiceSettled(f"invoice {self.number} is settled; nothing is left to void")
        self._voided(
            account_id=self.account_id, amount=self.outstanding, reason=reason, stamp=stamp
        )

    @event("Voided")
    def _voided(self, account_id: UUID, amount: Money, reason: str, stamp: Stamp) -> None:
        self.voided = amount

    def write_off(
        self, write_off_id: UUID, amount: Money, reason: str, authorised_by: str, stamp: Stamp
    ) -> None:
        """Write ``amount`` off as bad debt, authorised by ``authorised_by`` (the
        authority check is the write-off request's; this checks the amount)."""
        self.check_write_off(amount)
        self._written_off(
            account_id=self.account_id,
            write_off_id=write_off_id,
            amount=amount,
            reason=reason,
            authorised_by=authorised_by,
            stamp=stamp,
        )
        if self.outstanding.is_zero():
            self._settled(account_id=self.account_id, stamp=stamp)

    def check_write_off(self, amount: Money) -> None:
        self._require_not_void("write it off")
        self._require_currency(amount, "write-off")
        if self.outstanding < amount:
            raise WriteOffExceedsOutstanding(
                f"invoice {self.number} has {self.outstanding} outstanding; cannot write "
                f"off {amount}",
                outstanding=self.outstanding.to_json(),
                requested=amount.to_json(),
            )

    @event("WrittenOff")
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

    def written_off_on_authority_of(self, actor: str) -> Money:
        """What ``actor`` has already authorised writing off on this invoice."""
        by: dict[str, int] = getattr(self, "written_off_by", {})
        return Money(by.get(actor, 0), self.currency)

    def _require_currency(self, amount: Money, what: str) -> None:
        if amount.currency != self.currency:
            raise CurrencyMismatch(
                f"invoice {self.number} is in {self.currency}; the {what} is in {amount.currency}",
                expected=self.currency,
                got=amount.currency,
            )

    def _require_not_void(self, what: str) -> None:
        if self.is_void:
            raise InvoiceVoid(f"invoice {self.number} is void; cannot {what}")

    def send(self, channel: str, recipient: str | None, stamp: Stamp) -> None:
        """Send the invoice to the client (email, post, portal); a second send is a
        resend and says so."""
        self._require_not_void("send it")
        if channel not in SEND_CHANNELS:
            raise InvalidRequest(f"channel must be one of {', '.join(SEND_CHANNELS)}")
        self._sent(
            account_id=self.account_id,
            channel=channel,
            recipient=recipient,
            resend=bool(self.sends),
            stamp=stamp,
        )

    @event("Sent")
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
        self._require_not_void("send a payment link for it")
        self._require_currency(amount, "payment link")
        if not amount.is_positive() or self.outstanding < amount:
            raise NothingToPay(
                f"invoice {self.number} has {self.outstanding} outstanding; a link for "
                f"{amount} cannot be issued",
                outstanding=self.outstanding.to_json(),
            )
        self._payment_link_issued(
            account_id=self.account_id,
            link_id=link_id,
            url=url,
            amount=amount,
            customer_id=customer_id,
            expires_at=expires_at,
            replaces=self.payment_link_id,
            stamp=stamp,
        )

    @property
    def payment_link_id(self) -> str | None:
        """The link issued last (none before links existed)."""
        return getattr(self, "_payment_link_id", None)

    @event("PaymentLinkIssued")
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
        if self.overdue_noted or self.is_void or not self.is_overdue(on):
            raise NotOverdue(f"invoice {self.number} is not newly overdue on {on}")
        self._became_overdue(
            account_id=self.account_id,
            due_on=self.due_on,
            outstanding=self.outstanding,
            stamp=stamp,
        )

    @event("BecameOverdue")
    def _became_overdue(
        self, account_id: UUID, due_on: date, outstanding: Money, stamp: Stamp
    ) -> None:
        self.overdue_noted = True

    # --- disputes ----------------------------------------------------------------------

    def dispute(self, dispute_id: str, amount: Money, reason: str, stamp: Stamp) -> None:
        """The client disputes ``amount`` of the invoice: it stays owed (in the balance)
        but is not chased until the dispute is resolved."""
        self._require_not_void("dispute it")
        self._require_currency(amount, "dispute")
        if self.undisputed < amount:
            raise DisputeExceedsUndisputed(
                f"invoice {self.number} has {self.undisputed} outstanding and not yet "
                f"disputed; cannot dispute {amount}",
                undisputed=self.undisputed.to_json(),
                requested=amount.to_json(),
            )
        self._disputed(
            account_id=self.account_id,
            dispute_id=dispute_id,
            amount=amount,
            reason=reason,
            stamp=stamp,
        )

    @event("Disputed")
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
        if dispute_id not in self.disputes:
            raise DisputeNotOpen(f"invoice {self.number} has no open dispute {dispute_id}")
        disputed = self.disputes[dispute_id]
        credit = (credit or disputed) if upheld else Money.zero(self.currency)
        self._require_currency(credit, "credit")
        if disputed < credit:
            raise CreditExceedsOutstanding(
                f"the dispute is for {disputed}; an upheld dispute credits at most that, "
                f"not {credit}",
                disputed=disputed.to_json(),
                requested=credit.to_json(),
            )
        self._dispute_resolved(
            account_id=self.account_id,
            dispute_id=dispute_id,
            outcome="upheld" if upheld else "rejected",
            disputed=disputed,
            reason=reason,
            stamp=stamp,
        )
        if credit.is_positive():
            credit_note_id = uuid5(_INVOICE_NAMESPACE, f"{self.id}/dispute/{dispute_id}")
            reason = f"dispute upheld: {reason}"
            self.issue_credit_note(credit_note_id, credit, reason, issued_on, stamp)

    @event("DisputeResolved")
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
