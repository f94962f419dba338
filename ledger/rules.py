"""Checks on command fields that do not need any aggregate's state."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from ledger import limits
from ledger.commands import OpenAccount, RaiseInvoice, RecordPayment, UpdateAccount
from ledger.errors import BadDates, InvalidRequest, MalformedMoney, PaymentDatedInFuture
from ledger.money import Money, check_currency
from ledger.payment import PAYMENT_METHODS, PAYMENT_PURPOSES, PAYMENT_STATUSES
from ledger.text import forbidden_character


def require_text(value: str | None, field: str, max_length: int, *, optional: bool) -> None:
    if value is None and optional:
        return
    if value is None or not value.strip():
        raise InvalidRequest(f"{field} must not be empty")
    if len(value) > max_length:
        raise InvalidRequest(f"{field} is {len(value)} characters; the limit is {max_length}")
    bad = forbidden_character(value)
    if bad is not None:
        raise InvalidRequest(f"{field} holds a control character ({bad}); remove it")


def require_positive(amount: Money, field: str) -> None:
    if not amount.is_positive():
        raise MalformedMoney(f"{field} must be greater than zero; got {amount}")
    if amount.amount_minor > limits.AMOUNT_MINOR_MAX:
        raise MalformedMoney(
            f"{field} {amount.amount_minor} exceeds the largest amount the ledger takes, "
            f"{limits.AMOUNT_MINOR_MAX} minor units"
        )


def check_open_account(cmd: OpenAccount) -> None:
    require_text(cmd.name, "name", limits.NAME_LENGTH_MAX, optional=False)
    check_currency(cmd.currency)
    if not 0 <= cmd.payment_terms_days <= limits.PAYMENT_TERMS_DAYS_MAX:
        raise InvalidRequest(
            f"payment_terms_days must be between 0 and {limits.PAYMENT_TERMS_DAYS_MAX}; "
            f"got {cmd.payment_terms_days}"
        )
    require_text(cmd.email, "email", limits.NAME_LENGTH_MAX, optional=True)
    require_text(cmd.external_ref, "external_ref", limits.REFERENCE_LENGTH_MAX, optional=True)
    require_text(cmd.coordinator, "coordinator", limits.NAME_LENGTH_MAX, optional=True)
    if cmd.credit_limit is not None:
        if cmd.credit_limit.currency != cmd.currency:
            raise MalformedMoney(
                f"credit_limit is in {cmd.credit_limit.currency}; the account is in {cmd.currency}"
            )
        if cmd.credit_limit.amount_minor < 0:
            raise MalformedMoney("credit_limit must not be negative")


def check_raise_invoice(cmd: RaiseInvoice) -> None:
    require_text(cmd.number, "number", limits.INVOICE_NUMBER_LENGTH_MAX, optional=False)
    require_text(cmd.description, "description", limits.DESCRIPTION_LENGTH_MAX, optional=True)
    require_positive(cmd.amount, "amount")
    if cmd.due_on < cmd.issued_on:
        raise BadDates(
            f"due_on {cmd.due_on} is before issued_on {cmd.issued_on}",
            issued_on=cmd.issued_on.isoformat(),
            due_on=cmd.due_on.isoformat(),
        )


# A payment may be dated at most this many days after today (UTC): a value date a day
# ahead of a receiver's clock is ordinary, money received weeks from now is not received.
RECEIVED_ON_FUTURE_DAYS = 1


def latest_received_on(today: date | None = None) -> date:
    """The last ``received_on`` a payment may have today (UTC)."""
    return (today or datetime.now(UTC).date()) + timedelta(days=RECEIVED_ON_FUTURE_DAYS)


def check_received_on(received_on: date, today: date | None = None) -> None:
    """Money is counted from the day it was received: never from a day still to come."""
    latest = latest_received_on(today)
    if received_on > latest:
        raise PaymentDatedInFuture(
            f"received_on {received_on} is after {latest}: a payment is recorded once it "
            f"is received, dated at most {RECEIVED_ON_FUTURE_DAYS} day after today (UTC)",
            received_on=received_on.isoformat(),
            latest=latest.isoformat(),
        )


def check_record_payment(cmd: RecordPayment) -> None:
    require_positive(cmd.amount, "amount")
    check_received_on(cmd.received_on)
    if cmd.method not in PAYMENT_METHODS:
        raise InvalidRequest(f"method must be one of {', '.join(PAYMENT_METHODS)}")
    if cmd.purpose not in PAYMENT_PURPOSES:
        raise InvalidRequest(f"purpose must be one of {', '.join(PAYMENT_PURPOSES)}")
    if cmd.status not in PAYMENT_STATUSES:
        raise InvalidRequest(f"status must be one of {', '.join(PAYMENT_STATUSES)}")
    require_text(cmd.reference, "reference", limits.REFERENCE_LENGTH_MAX, optional=True)
    require_text(cmd.failure_code, "failure_code", limits.REFERENCE_LENGTH_MAX, optional=True)


CLEARABLE = ("email", "external_ref", "credit_limit", "coordinator")


def account_changes(cmd: UpdateAccount, currency: str) -> dict[str, Any]:
    """The fields an account update sets, checked as when an account is opened."""
    bad = set(cmd.clear) - set(CLEARABLE)
    if bad:
        raise InvalidRequest(f"only {', '.join(CLEARABLE)} can be cleared, not {sorted(bad)}")
    changes: dict[str, Any] = {name: None for name in cmd.clear}
    for name in (
        "name",
        "email",
        "external_ref",
        "payment_terms_days",
        "credit_limit",
        "coordinator",
    ):
        value = getattr(cmd, name)
        if value is not None:
            changes[name] = value
    probe = OpenAccount(
        name=changes.get("name") or "unchanged",
        currency=currency,
        payment_terms_days=changes.get("payment_terms_days") or 0,
        stamp=cmd.stamp,
        email=changes.get("email"),
        external_ref=changes.get("external_ref"),
        credit_limit=changes.get("credit_limit"),
    )
    check_open_account(probe)
    return changes
