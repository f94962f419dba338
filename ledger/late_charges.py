"""Late-payment charges: a fixed fee and/or simple interest, configured per account,
raised as a separate invoice (kind ``late_charge``) so that it is owed, aged, chased and
paid like any other, and recorded on the late invoice with how it was worked out.

Interest is simple and charged day by day (``ledger/late_interest.py``): on each day of
the period, what the invoice owed and did not dispute at the end of that day x rate
(basis points a year) / 365, added up exactly and rounded once, half up, to minor units.
The first charge runs from ``grace_days`` after the due date; each later one from the
previous charge's date, so a period is never charged twice; a charge runs to
``charge_on``, which may not be after today (UTC): interest is never charged in advance.
The fixed fee comes with the first charge only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from ledger import limits
from ledger.commands import ChargeLateFee, SetLateFeePolicy
from ledger.errors import BadDates, InvalidRequest, RuleViolation
from ledger.invoice import Invoice, invoice_id_for
from ledger.late_interest import Span, average, changes, interest_on, undisputed_spans
from ledger.late_interest import simple_interest as simple_interest
from ledger.money import Money
from ledger.unit_of_work import Decision, Saved, UnitOfWork, changed

INTEREST_RATE_BPS_MAX = 10_000  # 100% a year


class LateFeesNotConfigured(RuleViolation):
    code = "late-fees-not-configured"
    title = "The account has no late-fee policy"


class LateChargeNotDue(RuleViolation):
    code = "late-charge-not-due"
    title = "Nothing can be charged for lateness on that date"


class LateChargeDatedInFuture(BadDates):
    code = "late-charge-dated-in-future"
    title = "A late charge runs at most to today"


class LateCharges:
    """Setting an account's late-fee policy, and charging an invoice under it."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    def set_late_fee_policy(self, cmd: SetLateFeePolicy) -> Saved:
        if not 0 <= cmd.interest_rate_bps <= INTEREST_RATE_BPS_MAX:
            raise InvalidRequest(f"interest_rate_bps must be 0 to {INTEREST_RATE_BPS_MAX}")
        if not 0 <= cmd.grace_days <= limits.PAYMENT_TERMS_DAYS_MAX:
            raise InvalidRequest(f"grace_days must be 0 to {limits.PAYMENT_TERMS_DAYS_MAX}")
        if cmd.fixed_fee is not None and not cmd.fixed_fee.is_positive():
            raise InvalidRequest("fixed_fee must be above zero")
        return self.uow.change(
            self.uow.account,
            cmd.account_id,
            lambda a: a.set_late_fee_policy(
                cmd.fixed_fee, cmd.interest_rate_bps, cmd.grace_days, cmd.stamp
            ),
        )

    def charge_late_fee(self, cmd: ChargeLateFee) -> Saved:
        today = datetime.now(UTC).date()
        if cmd.charge_on > today:
            raise LateChargeDatedInFuture(
                f"charge_on {cmd.charge_on} is after today ({today}, UTC): lateness is "
                "charged for days that have passed, never in advance",
                charge_on=cmd.charge_on.isoformat(),
                latest=today.isoformat(),
            )

        def decide() -> Decision:
            invoice = self.uow.invoice(cmd.invoice_id)
            account = self.uow.account(invoice.account_id)
            policy = account.late_fee_policy
            if policy is None:
                raise LateFeesNotConfigured(f"account {account.id} has no late-fee policy")
            if invoice.kind == "late_charge":
                raise InvalidRequest("a late charge is not itself charged for lateness")
            figures = self._late_charge(invoice, policy, cmd.charge_on)
            number = f"{invoice.number}-LC{invoice.late_charge_count + 1}"
            stamp = cmd.stamp.effective_on(cmd.charge_on)
            charge_id = invoice_id_for(account.id, number)
            account.register_invoice(charge_id, number, stamp)
            charge = Invoice(
                account_id=account.id,
                number=number,
                amount=figures.total,
                issued_on=cmd.charge_on,
                due_on=cmd.charge_on + timedelta(account.payment_terms_days),
                description=figures.describe(invoice.number, int(policy["interest_rate_bps"])),
                stamp=stamp,
                kind="late_charge",
                charged_for=invoice.id,
            )
            invoice.record_late_charge(charge_id, cmd.charge_on, figures.record(), stamp)
            return changed(account, invoice, charge, reply=charge)

        return self.uow.run(decide)

    def _late_charge(self, invoice: Invoice, policy: dict[str, Any], charge_on: date) -> Figures:
        """What a charge to ``charge_on`` rests on: what the invoice owed undisputed each
        day since the last charge (or the grace period's end), the fee and the interest."""
        start = invoice.late_charged_to or invoice.due_on + timedelta(policy["grace_days"])
        history = self.uow.history(invoice.id, lte=invoice.version)
        spans = undisputed_spans(changes(history, invoice.issued_on), start, charge_on)
        if not any(span.undisputed for span in spans):
            raise LateChargeNotDue(
                f"invoice {invoice.number} can be charged for lateness after {start}, for "
                f"days on which something undisputed was outstanding; not on {charge_on}",
                chargeable_after=start.isoformat(),
            )
        cur = invoice.currency
        interest = Money(interest_on(spans, int(policy["interest_rate_bps"])), cur)
        first_fee = policy["fixed_fee"] if invoice.late_charge_count == 0 else None
        figures = Figures(spans, first_fee or Money.zero(cur), interest)
        if not figures.total.is_positive():
            raise LateChargeNotDue(f"the charge for {figures.days} days rounds to nothing")
        return figures


@dataclass(frozen=True)
class Figures:
    """A late charge: the spans of days it charges interest on, its fee and interest."""

    spans: list[Span]
    fee: Money
    interest: Money

    @property
    def total(self) -> Money:
        return self.fee + self.interest

    @property
    def days(self) -> int:
        return sum(span.days for span in self.spans)

    @property
    def base(self) -> Money:
        """What was owed undisputed on an average day of the period."""
        return Money(average(self.spans), self.fee.currency)

    def record(self) -> dict[str, Any]:
        """How it was worked out, as recorded on the late invoice's event."""
        periods = [span.to_record(self.fee.currency) for span in self.spans]
        return {
            "base": self.base,
            "days": self.days,
            "fee": self.fee,
            "interest": self.interest,
            "periods": periods,
        }

    def describe(self, number: str, rate: int) -> str:
        return (
            f"late payment of {number}: fee {self.fee}, interest {self.interest} "
            f"({rate // 100}.{rate % 100:02d}% a year for {self.days} days on what was "
            f"owed undisputed each day, {self.base} on average)"
        )
