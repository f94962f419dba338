"""Dunning: which invoices of an account a reminder, final demand or default notice may
rest on, and why. Pure functions over loaded aggregates, so that the rules read in one
place and the evidence they produce is what the notice's event records.

A notice goes out only on invoices that are overdue at the notice date and not wholly
disputed; never to an account that owes nothing, is on hold, terminated, or in an
insolvency case; and stages go in order on each invoice (a reminder before a final demand,
a final demand before a default notice). Issuing the same stage again is a reissue."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from ledger.errors import InvalidRequest, RuleViolation, WrongAccount
from ledger.invoice import Invoice
from ledger.money import Money

STAGES = ("reminder", "final_demand", "default_notice")
CHANNELS = ("email", "post", "portal")
# Standings in which nobody is chased: a hold stops the chase while it lasts.
NO_DUNNING_STATUSES = ("on_hold", "terminated")


class DunningStopped(RuleViolation):
    code = "dunning-stopped"
    title = "The account may not be sent notices"


class AccountSettled(RuleViolation):
    code = "account-settled"
    title = "The account owes nothing"


class InvoiceNotOverdue(RuleViolation):
    code = "invoice-not-overdue"
    title = "The invoice is not overdue"


class InvoiceDisputed(RuleViolation):
    code = "invoice-disputed"
    title = "Everything overdue on the invoice is disputed"


class NoticeStageOutOfOrder(RuleViolation):
    code = "notice-stage-out-of-order"
    title = "The invoice has not had the notice that comes before this one"


class NoEligibleInvoices(RuleViolation):
    code = "no-eligible-invoices"
    title = "No invoice of the account is eligible for this notice"


def check_account(status: str, insolvency: str | None, invoices: Sequence[Invoice]) -> None:
    """Refuse a notice to an account that may not be chased at all."""
    if insolvency is not None:
        raise DunningStopped(f"the account is in {insolvency}: dunning stops for the case")
    if status in NO_DUNNING_STATUSES:
        raise DunningStopped(f"the account is {status.replace('_', ' ')}: nobody chases it")
    if not any(invoice.outstanding.is_positive() for invoice in invoices):
        raise AccountSettled("every invoice of the account is settled; there is nothing to chase")


def check_invoice(
    invoice: Invoice, account_id: object, stage: str, reached: str | None, on: date
) -> dict[str, Any]:
    """Why ``invoice`` may carry a ``stage`` notice on ``on`` (``reached`` is the last
    stage it has had): the evidence row, or the rule it breaks."""
    if invoice.account_id != account_id:
        raise WrongAccount(f"invoice {invoice.number} belongs to another account")
    if not invoice.is_overdue(on):
        raise InvoiceNotOverdue(
            f"invoice {invoice.number} is due on {invoice.due_on} with "
            f"{invoice.outstanding} outstanding; it is not overdue on {on}"
        )
    if not invoice.undisputed.is_positive():
        raise InvoiceDisputed(
            f"invoice {invoice.number} has {invoice.outstanding} outstanding, all of it "
            "disputed; resolve the dispute first"
        )
    have = STAGES.index(reached) + 1 if reached else 0
    want = STAGES.index(stage)
    if want > have:
        raise NoticeStageOutOfOrder(
            f"invoice {invoice.number} has had {reached or 'no notice'}; "
            f"a {STAGES[want - 1].replace('_', ' ')} comes before a {stage.replace('_', ' ')}"
        )
    return {
        "invoice_id": invoice.id,
        "number": invoice.number,
        "due_on": invoice.due_on,
        "days_overdue": (on - invoice.due_on).days,
        "outstanding": invoice.outstanding,
        "disputed": invoice.disputed,
        "chased": invoice.undisputed,
        "reissue": reached == stage,
    }


def eligible(
    invoices: Sequence[Invoice],
    account_id: object,
    stage: str,
    reached: dict[str, str],
    on: date,
    chosen: bool,
) -> list[dict[str, Any]]:
    """Evidence rows for the invoices a notice rests on. ``chosen``: the caller named
    the invoices, so any that fails is an error; otherwise the ineligible are skipped."""
    if stage not in STAGES:
        raise InvalidRequest(f"stage must be one of {', '.join(STAGES)}")
    rows = []
    for invoice in invoices:
        try:
            rows.append(check_invoice(invoice, account_id, stage, reached.get(str(invoice.id)), on))
        except RuleViolation:
            if chosen:
                raise
    if not rows:
        raise NoEligibleInvoices(f"no invoice of the account is eligible for a {stage} on {on}")
    return rows


def total_chased(rows: Sequence[dict[str, Any]], currency: str) -> Money:
    total = Money.zero(currency)
    for row in rows:
        total = total + row["chased"]
    return total
