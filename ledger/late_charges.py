"""Late-payment charges: a fixed fee and/or simple interest, configured per account,
raised as a separate invoice (kind ``late_charge``) so that it is owed, aged, chased and
paid like any other, and recorded on the late invoice with how it was worked out.

Interest is simple: what is outstanding and not disputed x rate (basis points a year) x
days / 365, in integer minor units, rounded half up. The first charge runs from
``grace_days`` after the due date; each later one from the previous charge's date, so a
period is never charged twice. The fixed fee comes with the first charge only."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from ledger import limits
from ledger.commands import ChargeLateFee, SetLateFeePolicy
from ledger.errors import InvalidRequest, RuleViolation
from ledger.invoice import Invoice, invoice_id_for
from ledger.money import Money
from ledger.store import LedgerStore, Saved

BASIS_POINTS = 10_000
DAYS_IN_YEAR = 365
INTEREST_RATE_BPS_MAX = 10_000  # 100% a year


class LateFeesNotConfigured(RuleViolation):
    code = "late-fees-not-configured"
    title = "The account has no late-fee policy"


class LateChargeNotDue(RuleViolation):
    code = "late-charge-not-due"
    title = "Nothing can be charged for lateness on that date"


def simple_interest(base_minor: int, rate_bps: int, days: int) -> int:
    """``base`` x ``rate_bps``/10,000 x ``days``/365, rounded half up, in minor units."""
    numerator = base_minor * rate_bps * days
    denominator = BASIS_POINTS * DAYS_IN_YEAR
    return (2 * numerator + denominator) // (2 * denominator)


class LateCharges(LedgerStore):
    """Setting an account's late-fee policy, and charging an invoice under it."""

    def set_late_fee_policy(self, cmd: SetLateFeePolicy) -> Saved:
        if not 0 <= cmd.interest_rate_bps <= INTEREST_RATE_BPS_MAX:
            raise InvalidRequest(f"interest_rate_bps must be 0 to {INTEREST_RATE_BPS_MAX}")
        if not 0 <= cmd.grace_days <= limits.PAYMENT_TERMS_DAYS_MAX:
            raise InvalidRequest(f"grace_days must be 0 to {limits.PAYMENT_TERMS_DAYS_MAX}")
        if cmd.fixed_fee is not None and not cmd.fixed_fee.is_positive():
            raise InvalidRequest("fixed_fee must be above zero")

        def attempt() -> Saved:
            account = self.get_account(cmd.account_id)
            account.set_late_fee_policy(
                cmd.fixed_fee, cmd.interest_rate_bps, cmd.grace_days, cmd.stamp
            )
            return Saved(account, self._position(self.save(account)))

        return self._retrying(attempt)

    def charge_late_fee(self, cmd: ChargeLateFee) -> Saved:
        def attempt() -> Saved:
            invoice = self.get_invoice(cmd.invoice_id)
            account = self.get_account(invoice.account_id)
            policy = account.late_fee_policy
            if policy is None:
                raise LateFeesNotConfigured(f"account {account.id} has no late-fee policy")
            if invoice.kind == "late_charge":
                raise InvalidRequest("a late charge is not itself charged for lateness")
            start = invoice.late_charged_to or invoice.due_on + timedelta(policy["grace_days"])
            days = (cmd.charge_on - start).days
            base = invoice.undisputed
            if days <= 0 or not base.is_positive():
                raise LateChargeNotDue(
                    f"invoice {invoice.number} can be charged for lateness after {start} while "
                    f"something undisputed is outstanding ({base}); not on {cmd.charge_on}",
                    chargeable_after=start.isoformat(),
                )
            interest = Money(
                simple_interest(base.amount_minor, policy["interest_rate_bps"], days),
                account.currency,
            )
            fee = (
                policy["fixed_fee"]
                if policy["fixed_fee"] and not invoice.late_charge_count
                else None
            )
            fee = fee or Money.zero(account.currency)
            total = interest + fee
            if not total.is_positive():
                raise LateChargeNotDue(f"the charge for {days} days rounds to nothing")
            number = f"{invoice.number}-LC{invoice.late_charge_count + 1}"
            stamp = cmd.stamp.effective_on(cmd.charge_on)
            charge_id = invoice_id_for(account.id, number)
            account.register_invoice(charge_id, number, stamp)
            charge = Invoice(
                account_id=account.id,
                number=number,
                amount=total,
                issued_on=cmd.charge_on,
                due_on=cmd.charge_on + timedelta(account.payment_terms_days),
                description=_describe(invoice, fee, interest, base, policy, days),
                stamp=stamp,
                kind="late_charge",
                charged_for=invoice.id,
            )
            invoice.record_late_charge(charge_id, cmd.charge_on, base, days, fee, interest, stamp)
            return Saved(charge, self._position(self.save(account, invoice, charge)))

        return self._retrying(attempt)


def _figures(
    invoice: Invoice, policy: dict[str, Any], charge_on: date
) -> tuple[Money, int, Money, Money]:
    """What a charge on ``charge_on`` rests on: the undisputed outstanding, the days since
    the last charge (or the grace period's end), the fee and the interest."""
    start = invoice.late_charged_to or invoice.due_on + timedelta(policy["grace_days"])
    days = (charge_on - start).days
    base = invoice.undisputed
    if days <= 0 or not base.is_positive():
        raise LateChargeNotDue(
            f"invoice {invoice.number} can be charged for lateness after {start} while "
            f"something undisputed is outstanding ({base}); not on {charge_on}",
            chargeable_after=start.isoformat(),
        )
    rate_bps = int(policy["interest_rate_bps"])
    interest = Money(simple_interest(base.amount_minor, rate_bps, days), invoice.currency)
    first_fee = policy["fixed_fee"] if invoice.late_charge_count == 0 else None
    fee = first_fee or Money.zero(invoice.currency)
    if not (interest + fee).is_positive():
        raise LateChargeNotDue(f"the charge for {days} days rounds to nothing")
    return base, days, fee, interest


def _describe(
    invoice: Invoice, fee: Money, interest: Money, base: Money, policy: dict[str, Any], days: int
) -> str:
    rate = int(policy["interest_rate_bps"])
    return (
        f"late payment of {invoice.number}: fee {fee}, interest {interest} "
        f"({rate // 100}.{rate % 100:02d}% a year on {base} for {days} days)"
    )
