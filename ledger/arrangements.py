"""Promises to pay and payment plans: made by a collections specialist, decided by the
scheduler as their dates pass (see ``runtime/scheduler.py``)."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

from ledger import limits, rules
from ledger.account import Account
from ledger.accounts import require_currency
from ledger.commands import AgreePaymentPlan, CancelArrangement, MakePromise
from ledger.errors import BadDates, InvalidRequest, NotFound, WrongAccount
from ledger.invoice import Invoice
from ledger.money import Money
from ledger.payment_plan import PaymentPlan
from ledger.promise import Promise
from ledger.stamp import Stamp
from ledger.standing import StandingNotAllowed
from ledger.unit_of_work import Saved, UnitOfWork, new

INSTALMENTS_MAX = 120


class UnknownArrangement(NotFound):
    code = "unknown-arrangement"
    title = "Unknown promise or payment plan"


class PlanExceedsOutstanding(InvalidRequest):
    code = "plan-exceeds-outstanding"
    title = "The instalments add up to more than the invoices owe"


class Arrangements:
    """Promises and plans: their rules when made, and the decisions the scheduler takes."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    def make_promise(self, cmd: MakePromise) -> Saved:
        rules.require_positive(cmd.amount, "amount")
        rules.require_text(cmd.notes, "notes", limits.DESCRIPTION_LENGTH_MAX, optional=True)
        if cmd.promised_on < cmd.made_on:
            raise BadDates(f"promised_on {cmd.promised_on} is before made_on {cmd.made_on}")
        account = self._chaseable(cmd.account_id)
        require_currency(account, cmd.amount, "promise")
        self._invoices_of(account, cmd.invoice_ids)
        promise = new(
            Promise,
            "Made",
            cmd.promise_id,
            account_id=account.id,
            amount=cmd.amount,
            made_on=cmd.made_on,
            promised_on=cmd.promised_on,
            invoice_ids=list(cmd.invoice_ids),
            notes=cmd.notes,
            stamp=cmd.stamp.effective_on(cmd.made_on),
        )
        return self.uow.create(promise, self.get_promise)

    def agree_payment_plan(self, cmd: AgreePaymentPlan) -> Saved:
        if not cmd.instalments or len(cmd.instalments) > INSTALMENTS_MAX:
            raise InvalidRequest(f"a plan has 1 to {INSTALMENTS_MAX} instalments")
        if not 0 <= cmd.missed_allowed < len(cmd.instalments):
            raise InvalidRequest("missed_allowed must be below the number of instalments")
        account = self._chaseable(cmd.account_id)
        invoices = self._invoices_of(account, cmd.invoice_ids)
        if not invoices:
            raise InvalidRequest("a plan covers at least one invoice")
        total = _check_instalments(account, cmd.instalments, cmd.starts_on)
        owed = Money.zero(account.currency)
        for invoice in invoices:
            owed = owed + invoice.outstanding
        if owed < total:
            raise PlanExceedsOutstanding(
                f"the instalments add up to {total}; the invoices owe {owed}",
                outstanding=owed.to_json(),
                planned=total.to_json(),
            )
        plan = new(
            PaymentPlan,
            "Agreed",
            cmd.plan_id,
            account_id=account.id,
            invoice_ids=list(cmd.invoice_ids),
            instalments=[{"due_on": d, "amount": a} for d, a in cmd.instalments],
            starts_on=cmd.starts_on,
            missed_allowed=cmd.missed_allowed,
            stamp=cmd.stamp.effective_on(cmd.starts_on),
        )
        return self.uow.create(plan, self.get_plan)

    def cancel_arrangement(self, cmd: CancelArrangement) -> Saved:
        rules.require_text(cmd.reason, "reason", limits.DESCRIPTION_LENGTH_MAX, optional=False)
        return self.uow.change(
            self.get_arrangement, cmd.arrangement_id, lambda a: a.cancel(cmd.reason, cmd.stamp)
        )

    # --- the scheduler's decisions ------------------------------------------------

    def decide_promise(
        self,
        promise_id: UUID,
        kept: bool,
        paid: Money,
        on: date,
        stamp: Stamp,
        kept_by: list[dict[str, Any]] | None = None,
    ) -> Saved:
        """Kept (by the cash in ``kept_by``) or broken, dated ``on``."""
        effective = stamp.effective_on(on)

        def change(promise: Promise) -> None:
            if kept:
                promise.keep(paid, kept_by or [], effective)
            else:
                promise.break_(paid, effective)

        return self.uow.change(self.get_promise, promise_id, change)

    def decide_instalment(
        self,
        plan_id: UUID,
        kept: bool,
        paid: Money,
        on: date,
        stamp: Stamp,
        kept_by: list[dict[str, Any]] | None = None,
    ) -> Saved:
        """The plan's next instalment kept (by the cash in ``kept_by``) or missed."""
        return self.uow.change(
            self.get_plan,
            plan_id,
            lambda plan: plan.decide_next(kept, paid, stamp.effective_on(on), kept_by),
        )

    # --- reads and checks -----------------------------------------------------------

    def get_promise(self, promise_id: UUID) -> Promise:
        return self.uow.get(Promise, promise_id, UnknownArrangement(f"no promise {promise_id}"))

    def get_plan(self, plan_id: UUID) -> PaymentPlan:
        missing = UnknownArrangement(f"no payment plan {plan_id}")
        return self.uow.get(PaymentPlan, plan_id, missing)

    def get_arrangement(self, arrangement_id: UUID) -> Promise | PaymentPlan:
        try:
            return self.get_promise(arrangement_id)
        except UnknownArrangement:
            return self.get_plan(arrangement_id)

    def _chaseable(self, account_id: UUID) -> Account:
        account = self.uow.account(account_id)
        if account.status == "terminated":
            raise StandingNotAllowed("the account is terminated; no arrangement can be made")
        return account

    def _invoices_of(self, account: Account, invoice_ids: tuple[UUID, ...]) -> list[Invoice]:
        invoices = [self.uow.invoice(i) for i in invoice_ids]
        for invoice in invoices:
            if invoice.account_id != account.id:
                raise WrongAccount(f"invoice {invoice.number} belongs to another account")
        return invoices


def _check_instalments(
    account: Account, instalments: tuple[tuple[date, Money], ...], starts_on: date
) -> Money:
    """Dates strictly increasing from the start, amounts positive in the account's
    currency; returns their total."""
    total = Money.zero(account.currency)
    previous = starts_on
    for n, (due_on, amount) in enumerate(instalments):
        rules.require_positive(amount, f"instalments[{n}].amount")
        require_currency(account, amount, "instalment")
        if due_on <= previous and not (n == 0 and due_on == starts_on):
            raise BadDates(f"instalment {n + 1} is due on {due_on}, not after {previous}")
        previous = due_on
        total = total + amount
    return total
