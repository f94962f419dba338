"""A promise to pay: the client says they will pay an amount by a date. It is kept when
the cash it counts, from the day it was made up to and including that date, reaches the
amount (cash applied to the invoices it names, or cash that reached the account when it
names none; each unit of cash keeps one arrangement only: ``ledger/arrangement_cash.py``);
broken when the date passes without. The scheduler decides both."""

from __future__ import annotations

from datetime import date
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from ledger.errors import RuleViolation
from ledger.money import Money
from ledger.stamp import Stamp


class ArrangementNotOpen(RuleViolation):
    code = "arrangement-not-open"
    title = "The promise or payment plan is already kept, broken, completed or cancelled"


class Promise(Aggregate):
    """One promise to pay and its outcome."""

    class Made(Aggregate.Created):
        """The client promised to pay ``amount`` by ``promised_on``."""

        cloudevent_type: ClassVar[str] = "arledger.promise.made"
        account_id: UUID
        amount: Money
        made_on: date
        promised_on: date
        invoice_ids: list[UUID]
        notes: str | None
        stamp: Stamp

    @event(Made)
    def __init__(
        self,
        account_id: UUID,
        amount: Money,
        made_on: date,
        promised_on: date,
        invoice_ids: list[UUID],
        notes: str | None,
        stamp: Stamp,
    ) -> None:
        self.account_id = account_id
        self.amount = amount
        self.made_on = made_on
        self.promised_on = promised_on
        self.invoice_ids = invoice_ids
        self.notes = notes
        self.status = "open"
        self.paid: Money | None = None
        self.kept_by: list[dict[str, Any]] = []

    def keep(self, paid: Money, kept_by: list[dict[str, Any]], stamp: Stamp) -> None:
        """Enough was paid by the promised date: ``kept_by`` is the cash that kept it
        (payment, invoice or None for cash on the account, amount)."""
        self._require_open()
        self._kept(account_id=self.account_id, paid=paid, kept_by=kept_by, stamp=stamp)

    class Kept(Aggregate.Event):
        """Kept, by the cash in ``kept_by`` (version 2; an event stored before it has
        none recorded)."""

        cloudevent_type: ClassVar[str] = "arledger.promise.kept"
        class_version = 2
        account_id: UUID
        paid: Money
        stamp: Stamp
        kept_by: tuple[dict[str, Any], ...] = ()

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["kept_by"] = []

    @event(Kept)
    def _kept(self, account_id: UUID, paid: Money, stamp: Stamp, kept_by: Any = ()) -> None:
        self.status, self.paid, self.kept_by = "kept", paid, list(kept_by)

    def break_(self, paid: Money, stamp: Stamp) -> None:
        """The promised date passed with less paid than promised."""
        self._require_open()
        self._broken(account_id=self.account_id, paid=paid, promised=self.amount, stamp=stamp)

    class Broken(Aggregate.Event):
        """The promised date passed with less paid than promised."""

        cloudevent_type: ClassVar[str] = "arledger.promise.broken"
        account_id: UUID
        paid: Money
        promised: Money
        stamp: Stamp

    @event(Broken)
    def _broken(self, account_id: UUID, paid: Money, promised: Money, stamp: Stamp) -> None:
        self.status, self.paid = "broken", paid

    def cancel(self, reason: str, stamp: Stamp) -> None:
        self._require_open()
        self._cancelled(account_id=self.account_id, reason=reason, stamp=stamp)

    class Cancelled(Aggregate.Event):
        """The promise was called off before it was decided."""

        cloudevent_type: ClassVar[str] = "arledger.promise.cancelled"
        account_id: UUID
        reason: str
        stamp: Stamp

    @event(Cancelled)
    def _cancelled(self, account_id: UUID, reason: str, stamp: Stamp) -> None:
        self.status = "cancelled"

    def _require_open(self) -> None:
        if self.status != "open":
            raise ArrangementNotOpen(f"promise {self.id} is already {self.status}")
