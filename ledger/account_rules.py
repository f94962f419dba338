"""The checks an account's commands make before the account records anything: which
channels, kinds and methods exist, and what the figures given must satisfy. Kept apart
from ``ledger/account.py`` so that the account module is its events and how they change
the account."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from ledger.errors import DuplicateInvoiceNumber, InvalidRequest, RuleViolation
from ledger.money import Money
from ledger.standing import INSOLVENCY_KINDS, StandingNotAllowed

UPDATABLE = frozenset(
    {"name", "email", "external_ref", "payment_terms_days", "credit_limit", "coordinator"}
)
CONTACT_CHANNELS = ("call", "email", "letter", "sms", "meeting", "portal")
REFERRAL_KINDS = ("enforcement", "outside_agency", "solicitor")
# How the client pays from now on: a card on file, a direct-debit or ACH mandate, or
# transfers (BACS) and cheques they send themselves.
PAYMENT_SETUPS = ("card", "direct_debit", "ach", "bacs", "cheque")
NOTICE_CHANNELS = ("email", "post", "portal")


class NothingToCollect(RuleViolation):
    code = "nothing-to-collect"
    title = "The account owes less than the referral would collect"


def check_number_unused(account_id: UUID, invoice_ids: dict[str, UUID], number: str) -> None:
    """An invoice number is used once per account."""
    if number in invoice_ids:
        raise DuplicateInvoiceNumber(
            f"invoice number {number!r} is already used on account {account_id}",
            invoice_id=str(invoice_ids[number]),
        )


def details_changed(account: object, changes: dict[str, Any]) -> dict[str, Any]:
    """What in ``changes`` differs from the account now: only that is recorded, and a
    change to nothing is refused rather than recorded as noise."""
    unknown = set(changes) - UPDATABLE
    if unknown:
        raise InvalidRequest(f"cannot update {', '.join(sorted(unknown))}")
    changed = {k: v for k, v in changes.items() if getattr(account, k) != v}
    if not changed:
        raise InvalidRequest("nothing to change: every value given is already current")
    return changed


def check_contact(channel: str, direction: str) -> None:
    if channel not in CONTACT_CHANNELS:
        raise InvalidRequest(f"channel must be one of {', '.join(CONTACT_CHANNELS)}")
    if direction not in ("outbound", "inbound"):
        raise InvalidRequest("direction must be outbound or inbound")


def check_insolvency_case(kind: str, open_case: str | None) -> None:
    """One case at a time, of a known kind."""
    if kind not in INSOLVENCY_KINDS:
        raise InvalidRequest(f"kind must be one of {', '.join(INSOLVENCY_KINDS)}")
    if open_case is not None:
        raise StandingNotAllowed(f"an insolvency case ({open_case}) is already open")


def check_referral(
    account_id: UUID, currency: str, kind: str, collection_value: Money, outstanding: Money
) -> None:
    """A referral collects, in the account's currency, no more than the account owes."""
    if kind not in REFERRAL_KINDS:
        raise InvalidRequest(f"kind must be one of {', '.join(REFERRAL_KINDS)}")
    if collection_value.currency != currency:
        raise InvalidRequest(
            f"collection_value is in {collection_value.currency}; the account is in {currency}"
        )
    if not outstanding.is_positive():
        raise NothingToCollect(f"account {account_id} owes nothing; there is nothing to refer")
    if outstanding < collection_value:
        raise NothingToCollect(
            f"collection value {collection_value} is more than the {outstanding} the account owes",
            outstanding=outstanding.to_json(),
        )


def check_payment_setup(method: str, reference: str | None, status: str) -> None:
    """A known method, a mandate's reference, and an account not terminated."""
    if method not in PAYMENT_SETUPS:
        raise InvalidRequest(f"method must be one of {', '.join(PAYMENT_SETUPS)}")
    if method in ("direct_debit", "ach") and not reference:
        raise InvalidRequest(f"a {method} mandate needs its reference")
    if status == "terminated":
        raise StandingNotAllowed("cannot set up payments on a terminated account")


def check_doubtful_debt(currency: str, amount: Money, outstanding: Money) -> None:
    """What is flagged is in the account's currency and no more than it owes."""
    if amount.currency != currency:
        raise InvalidRequest(f"amount is in {amount.currency}; the account is in {currency}")
    if outstanding < amount:
        raise NothingToCollect(
            f"{amount} is more than the {outstanding} the account owes",
            outstanding=outstanding.to_json(),
        )


def check_notice_channel(channel: str) -> None:
    if channel not in NOTICE_CHANNELS:
        raise InvalidRequest("channel must be one of email, post, portal")


def check_late_fee_policy(currency: str, fixed_fee: Money | None, interest_rate_bps: int) -> None:
    """A fee in the account's currency, an interest rate, or both."""
    if fixed_fee is not None and fixed_fee.currency != currency:
        raise InvalidRequest(f"fixed_fee is in {fixed_fee.currency}; the account is in {currency}")
    if fixed_fee is None and not interest_rate_bps:
        raise InvalidRequest("give a fixed_fee, an interest_rate_bps, or both")
