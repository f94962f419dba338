"""One hierarchy of domain errors. Each has a stable ``code`` that the API turns into a
problem-details ``type``; the HTTP mapping lives in one place (``api/problems.py``)."""

from __future__ import annotations

from typing import Any


class LedgerError(Exception):
    """A command was refused because it breaks a rule; nothing was appended."""

    code = "ledger-error"
    title = "The command was refused"

    def __init__(self, detail: str, **extensions: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extensions = extensions


class InvalidRequest(LedgerError):
    code = "invalid-request"
    title = "The request is not valid"


class MalformedMoney(InvalidRequest, ValueError):
    """Also a ValueError, so that request parsing reports it as itself."""

    code = "malformed-money"
    title = "Malformed money"


class UnknownCurrency(MalformedMoney):
    code = "unknown-currency"
    title = "Unknown currency"


class BadDates(InvalidRequest):
    code = "bad-dates"
    title = "The dates are inconsistent"


class PaymentDatedInFuture(BadDates):
    code = "payment-dated-in-future"
    title = "The payment is dated after today"


class NotFound(LedgerError):
    code = "not-found"
    title = "Not found"


class UnknownAccount(NotFound):
    code = "unknown-account"
    title = "Unknown account"


class UnknownInvoice(NotFound):
    code = "unknown-invoice"
    title = "Unknown invoice"


class UnknownPayment(NotFound):
    code = "unknown-payment"
    title = "Unknown payment"


class RuleViolation(LedgerError):
    """The request is well formed but the ledger's state forbids it."""

    code = "rule-violation"
    title = "The ledger's rules forbid this"


class CurrencyMismatch(RuleViolation):
    code = "currency-mismatch"
    title = "Currency mismatch"


class DuplicateInvoiceNumber(RuleViolation):
    code = "duplicate-invoice-number"
    title = "Duplicate invoice number"


class DuplicateExternalRef(RuleViolation):
    """An account is opened under an external reference that names an account already:
    one with other details, or one opened otherwise."""

    code = "duplicate-external-ref"
    title = "Duplicate external reference"


class OverAllocation(RuleViolation):
    code = "over-allocation"
    title = "Over-allocation"


class PaymentNotAllocatable(RuleViolation):
    code = "payment-not-allocatable"
    title = "The payment cannot be allocated"


class CreditExceedsOutstanding(RuleViolation):
    code = "credit-exceeds-outstanding"
    title = "The credit note is larger than what is outstanding"


class InvoiceHasAllocations(RuleViolation):
    code = "invoice-has-allocations"
    title = "The invoice has payments allocated to it"


class InvoiceVoid(RuleViolation):
    code = "invoice-void"
    title = "The invoice is void"


class WriteOffExceedsOutstanding(RuleViolation):
    code = "write-off-exceeds-outstanding"
    title = "The write-off is larger than what is outstanding"


class WriteOffNotPending(RuleViolation):
    code = "write-off-not-pending"
    title = "The write-off has already been decided"


class NotAuthorised(LedgerError):
    """The caller's role or identity may not do this, however well formed the request."""

    code = "not-authorised"
    title = "Not authorised"


class FourEyesRequired(NotAuthorised):
    code = "four-eyes-required"
    title = "A write-off is approved by someone other than its requester"


class InsufficientAuthority(NotAuthorised):
    code = "insufficient-authority"
    title = "The amount is above the approver's write-off limit"


class DailyWriteOffLimitReached(NotAuthorised):
    code = "daily-write-off-limit-reached"
    title = "The write-off is above what the approver may still write off today"


class UnknownWriteOff(NotFound):
    code = "unknown-write-off"
    title = "Unknown write-off"


class UnknownNotice(NotFound):
    code = "unknown-notice"
    title = "The account has no such dunning notice"


class PaymentNotPending(RuleViolation):
    code = "payment-not-pending"
    title = "The payment's outcome is already known"


class WrongAccount(RuleViolation):
    code = "wrong-account"
    title = "The invoice belongs to another account"


class Unavailable(LedgerError):
    """The command cannot be served just now (a read model behind, a channel not set
    up, writers racing); nothing was appended, and the same request may be retried."""

    code = "unavailable"
    title = "The service cannot do this now"


class ConcurrencyExhausted(Unavailable):
    """Too many concurrent writers kept changing the same aggregates; retry later."""

    code = "concurrent-modification"
    title = "Concurrent modification"
