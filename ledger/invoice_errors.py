"""The refusals only an invoice makes, each with its problem type."""

from __future__ import annotations

from ledger.errors import RuleViolation


class InvoiceSettled(RuleViolation):
    code = "invoice-settled"
    title = "The invoice is settled: nothing is left to void"


class DisputeExceedsUndisputed(RuleViolation):
    code = "dispute-exceeds-undisputed"
    title = "More would be disputed than is outstanding and undisputed"


class DisputeNotOpen(RuleViolation):
    code = "dispute-not-open"
    title = "No open dispute with that id on the invoice"


class NothingToPay(RuleViolation):
    code = "nothing-to-pay"
    title = "The invoice owes nothing a link could collect"


class NotOverdue(RuleViolation):
    code = "invoice-not-newly-overdue"
    title = "The invoice is not overdue, or was already noted as overdue"
