"""A payment plan: what an account owes on some invoices, paid in instalments. Each
instalment is kept when the cash applied to the plan's invoices since the plan began
reaches the running total due by its date, missed otherwise (each unit of cash keeps one
arrangement only: ``ledger/arrangement_cash.py``); the plan completes when every
instalment is kept, and breaks when more are missed than it allows."""

from __future__ import annotations

from datetime import date
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from ledger.money import Money
from ledger.promise import ArrangementNotOpen
from ledger.stamp import Stamp


class PaymentPlan(Aggregate):
    """Instalments over one or more invoices, and how each went."""

    class Agreed(Aggregate.Created):
        """A payment plan was agreed: ``instalments`` rows of due date and amount."""

        cloudevent_type: ClassVar[str] = "arledger.payment_plan.agreed"
        account_id: UUID
        invoice_ids: list[UUID]
        instalments: list[dict[str, Any]]
        starts_on: date
        missed_allowed: int
        stamp: Stamp

    @event(Agreed)
    def __init__(
        self,
        account_id: UUID,
        invoice_ids: list[UUID],
        instalments: list[dict[str, Any]],
        starts_on: date,
        missed_allowed: int,
        stamp: Stamp,
    ) -> None:
        self.account_id = account_id
        self.invoice_ids = invoice_ids
        self.instalments = instalments  # [{"due_on": date, "amount": Money}]
        self.starts_on = starts_on
        self.missed_allowed = missed_allowed
        self.outcomes: list[str] = []  # "kept" or "missed", one per instalment decided
        self.kept_by: list[dict[str, Any]] = []  # the cash that kept its instalments
        self.status = "active"

    @property
    def next_index(self) -> int:
        return len(self.outcomes)

    def due_by(self, index: int) -> Money:
        """The running total due up to and including instalment ``index``."""
        total = Money.zero(self.instalments[0]["amount"].currency)
        for instalment in self.instalments[: index + 1]:
            total = total + instalment["amount"]
        return total

    @property
    def counted(self) -> int:
        """The cash (minor units) its kept instalments counted."""
        return sum(row["amount"].amount_minor for row in self.kept_by)

    def decide_next(
        self, kept: bool, paid: Money, stamp: Stamp, kept_by: list[dict[str, Any]] | None = None
    ) -> None:
        """Record the next instalment kept (by the cash in ``kept_by``) or missed;
        complete or break the plan when that decides it."""
        self._require_active()
        index = self.next_index
        if kept:
            self._instalment_kept(
                account_id=self.account_id,
                index=index,
                paid=paid,
                kept_by=kept_by or [],
                stamp=stamp,
            )
        else:
            self._instalment_missed(
                account_id=self.account_id,
                index=index,
                paid=paid,
                due=self.due_by(index),
                stamp=stamp,
            )
        if self.outcomes.count("missed") > self.missed_allowed:
            self._broken(
                account_id=self.account_id, missed=self.outcomes.count("missed"), stamp=stamp
            )
        elif len(self.outcomes) == len(self.instalments):
            self._completed(account_id=self.account_id, stamp=stamp)

    class InstalmentKept(Aggregate.Event):
        """An instalment kept, by the cash in ``kept_by`` (version 2; an event stored
        before it has none recorded)."""

        cloudevent_type: ClassVar[str] = "arledger.payment_plan.instalment_kept"
        class_version = 2
        account_id: UUID
        index: int
        paid: Money
        stamp: Stamp
        kept_by: tuple[dict[str, Any], ...] = ()

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["kept_by"] = []

    @event(InstalmentKept)
    def _instalment_kept(
        self, account_id: UUID, index: int, paid: Money, stamp: Stamp, kept_by: Any = ()
    ) -> None:
        self.outcomes.append("kept")
        self.kept_by.extend(kept_by)

    class InstalmentMissed(Aggregate.Event):
        """An instalment's date passed with less paid than was due by it."""

        cloudevent_type: ClassVar[str] = "arledger.payment_plan.instalment_missed"
        account_id: UUID
        index: int
        paid: Money
        due: Money
        stamp: Stamp

    @event(InstalmentMissed)
    def _instalment_missed(
        self, account_id: UUID, index: int, paid: Money, due: Money, stamp: Stamp
    ) -> None:
        self.outcomes.append("missed")

    class Completed(Aggregate.Event):
        """Every instalment was kept."""

        cloudevent_type: ClassVar[str] = "arledger.payment_plan.completed"
        account_id: UUID
        stamp: Stamp

    @event(Completed)
    def _completed(self, account_id: UUID, stamp: Stamp) -> None:
        self.status = "completed"

    class Broken(Aggregate.Event):
        """More instalments were missed than the plan allows."""

        cloudevent_type: ClassVar[str] = "arledger.payment_plan.broken"
        account_id: UUID
        missed: int
        stamp: Stamp

    @event(Broken)
    def _broken(self, account_id: UUID, missed: int, stamp: Stamp) -> None:
        self.status = "broken"

    def cancel(self, reason: str, stamp: Stamp) -> None:
        self._require_active()
        self._cancelled(account_id=self.account_id, reason=reason, stamp=stamp)

    class Cancelled(Aggregate.Event):
        """The plan was called off before it was decided."""

        cloudevent_type: ClassVar[str] = "arledger.payment_plan.cancelled"
        account_id: UUID
        reason: str
        stamp: Stamp

    @event(Cancelled)
    def _cancelled(self, account_id: UUID, reason: str, stamp: Stamp) -> None:
        self.status = "cancelled"

    def _require_active(self) -> None:
        if self.status != "active":
            raise ArrangementNotOpen(f"payment plan {self.id} is already {self.status}")
