"""The balances read model: accounts with their running totals, invoices with their
outstanding amount and status, payments with what is left to allocate, and each
account's event history. One small handler per event type, changing rows in memory
(``projections/table_rows.py``): a batch reads the rows it touches and writes them back
in a few statements, whatever its length."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from psycopg import Connection

from projections import balance_tables
from projections.balance_batch import Batch
from projections.balance_tables import ACCOUNTS
from projections.table_rows import Row
from projections.writer import unseen_per_account

NAME = "balances"

SCHEMA = balance_tables.SCHEMA


Handler = Callable[[Batch, dict[str, Any]], None]


def _account_opened(batch: Batch, ce: dict[str, Any]) -> None:
    d = ce["data"]
    batch.accounts.add(
        ce["accountid"],
        {
            "name": d["name"],
            "currency": d["currency"],
            "payment_terms_days": d["payment_terms_days"],
            "email": d["email"],
            "external_ref": d["external_ref"],
            "credit_limit_minor": d["credit_limit"]["amount"] if d.get("credit_limit") else None,
            "status": "active",
            "opened_at": ce["time"],
            "position": ce["position"],
        },
    )


_DETAIL_COLUMNS = {
    "name": "name",
    "email": "email",
    "external_ref": "external_ref",
    "payment_terms_days": "payment_terms_days",
    "credit_limit": "credit_limit_minor",
    "coordinator": "coordinator",
}


def _account_details_updated(batch: Batch, ce: dict[str, Any]) -> None:
    account = batch.accounts.get(ce["accountid"])
    if account is None:
        return
    for field, value in ce["data"]["changes"].items():
        if field == "credit_limit" and value is not None:
            value = value["amount"]
        account[_DETAIL_COLUMNS[field]] = value


def _account_contact_logged(batch: Batch, ce: dict[str, Any]) -> None:
    account = batch.accounts.get(ce["accountid"])
    if account is None:
        return
    at = datetime.fromisoformat(ce["effectivetime"])
    last = account["last_contact_at"]
    if isinstance(last, str):
        last = datetime.fromisoformat(last)
    account["last_contact_at"] = at if last is None else max(last, at)


def _account_field(column: str, field: str) -> Handler:
    """A handler that copies ``data[field]`` of the event onto the account row."""
    assert column in ACCOUNTS.changing, column

    def handle(batch: Batch, ce: dict[str, Any]) -> None:
        account = batch.accounts.get(ce["accountid"])
        if account is not None:
            account[column] = ce["data"][field]

    return handle


def _invoice_raised(batch: Batch, ce: dict[str, Any]) -> None:
    d = ce["data"]
    batch.invoices.add(
        ce["subject"],
        {
            "account_id": ce["accountid"],
            "number": d["number"],
            "currency": d["amount"]["currency"],
            "amount_minor": d["amount"]["amount"],
            "issued_on": d["issued_on"],
            "due_on": d["due_on"],
            "description": d["description"],
            "raised_at": ce["time"],
            "position": ce["position"],
            "kind": d.get("kind") or "invoice",
            "charged_for": d.get("charged_for"),
            "credit_limit_exceeded": bool(d.get("credit_limit_exceeded")),
        },
    )
    batch.add_to_account(ce, "invoiced_minor", d["amount"]["amount"])


def _invoice(batch: Batch, ce: dict[str, Any]) -> Row | None:
    """The event's invoice, its position moved on to the event's."""
    invoice = batch.invoices.get(ce["subject"])
    if invoice is not None:
        invoice["position"] = ce["position"]
    return invoice


def _applied_to_invoice(invoice_column: str, account_column: str, sign: int = 1) -> Handler:
    """A handler that adds ``data.amount`` (times ``sign``: -1 takes it back) to an
    invoice's column and its account's."""
    assert invoice_column in {"allocated_minor", "credited_minor", "written_off_minor"}

    def handle(batch: Batch, ce: dict[str, Any]) -> None:
        amount = sign * ce["data"]["amount"]["amount"]
        invoice = _invoice(batch, ce)
        if invoice is not None:
            invoice[invoice_column] += amount
        batch.add_to_account(ce, account_column, amount)

    return handle


def _invoice_voided(batch: Batch, ce: dict[str, Any]) -> None:
    """A void takes the cancelled amount out of what the account was invoiced."""
    amount = ce["data"]["amount"]["amount"]
    invoice = _invoice(batch, ce)
    if invoice is not None:
        invoice["voided_minor"] = amount
    batch.add_to_account(ce, "invoiced_minor", -amount)


def _disputed(sign: int, field: str) -> Handler:
    """A dispute opened (+1, ``data.amount``) or resolved (-1, ``data.disputed``): what
    the invoice has in dispute, not chased but still owed."""

    def handle(batch: Batch, ce: dict[str, Any]) -> None:
        invoice = _invoice(batch, ce)
        if invoice is not None:
            invoice["disputed_minor"] += sign * ce["data"][field]["amount"]

    return handle


def _invoice_became_overdue(batch: Batch, ce: dict[str, Any]) -> None:
    invoice = _invoice(batch, ce)
    if invoice is not None:
        invoice["overdue_noted"] = True


def _invoice_sent(batch: Batch, ce: dict[str, Any]) -> None:
    """Sent to the client: the first send or a resend, each counted."""
    invoice = _invoice(batch, ce)
    if invoice is not None:
        invoice["sends"] += 1


def _arrangement_made(kind: str) -> Handler:
    """A promise made or a plan agreed: listed as open for the scheduler to decide."""

    def handle(batch: Batch, ce: dict[str, Any]) -> None:
        if batch.arrangements.has(ce["subject"]):
            return
        batch.arrangements.add(
            ce["subject"],
            {
                "account_id": ce["accountid"],
                "kind": kind,
                "status": "open",
                "position": ce["position"],
            },
        )

    return handle


def _arrangement_ended(status: str) -> Handler:
    """A promise kept, broken or cancelled; a plan completed, broken or cancelled."""

    def handle(batch: Batch, ce: dict[str, Any]) -> None:
        arrangement = batch.arrangements.get(ce["subject"])
        if arrangement is not None:
            arrangement["status"] = status
            arrangement["position"] = ce["position"]
        if status == "broken" and ce["type"] == "arledger.promise.broken":
            account = batch.accounts.get(ce["accountid"])
            if account is not None:
                account["broken_promises"] += 1

    return handle


def _payment_recorded(batch: Batch, ce: dict[str, Any]) -> None:
    d = ce["data"]
    purpose = d.get("purpose", "payment")
    batch.payments.add(
        ce["subject"],
        {
            "account_id": ce["accountid"],
            "currency": d["amount"]["currency"],
            "amount_minor": d["amount"]["amount"],
            "method": d["method"],
            "status": d["status"],
            "received_on": d["received_on"],
            "reference": d["reference"],
            "failure_code": d["failure_code"],
            "failure_message": d["failure_message"],
            "position": ce["position"],
            "recorded_position": ce["position"],
            "purpose": purpose,
        },
    )
    if d["status"] == "succeeded" and purpose == "payment":
        batch.add_to_account(ce, "paid_minor", d["amount"]["amount"])


def _payment(batch: Batch, ce: dict[str, Any]) -> Row | None:
    """The event's payment, its position moved on to the event's."""
    payment = batch.payments.get(ce["subject"])
    if payment is not None:
        payment["position"] = ce["position"]
    return payment


def _payment_succeeded(batch: Batch, ce: dict[str, Any]) -> None:
    """Its cash is paid; a deposit's is held (``deposits_held``) until applied."""
    payment = _payment(batch, ce)
    if payment is None:
        return
    payment["status"] = "succeeded"
    if payment["purpose"] == "payment":
        batch.add_to_account(ce, "paid_minor", payment["amount_minor"])


def _payment_failed(batch: Batch, ce: dict[str, Any]) -> None:
    d = ce["data"]
    payment = _payment(batch, ce)
    if payment is not None:
        payment.update(
            status="failed", failure_code=d["failure_code"], failure_message=d["failure_message"]
        )


def _payment_allocations(sign: int) -> Handler:
    """A handler for a payment's allocation (+1) or un-allocation (-1) of several rows."""

    def handle(batch: Batch, ce: dict[str, Any]) -> None:
        total = sign * sum(row["amount"]["amount"] for row in ce["data"]["allocations"])
        payment = _payment(batch, ce)
        if payment is None:
            return
        payment["allocated_minor"] += total
        if payment["purpose"] == "deposit":
            batch.add_to_account(ce, "paid_minor", total)  # applied: now cash paid

    return handle


def _cash_leaves(payment_column: str, status: str | None = None, sign: int = 1) -> Handler:
    """A handler for cash that leaves a payment (a refund, a bank return, a chargeback;
    ``sign`` -1 brings it back, a chargeback won): the payment's column grows, the
    account's cash paid shrinks, by ``data.amount`` (a deposit's leaves what it holds
    unapplied, never what is paid)."""
    assert payment_column in {"refunded_minor", "taken_back_minor"}

    def handle(batch: Batch, ce: dict[str, Any]) -> None:
        amount = sign * ce["data"]["amount"]["amount"]
        payment = _payment(batch, ce)
        if payment is not None:
            payment[payment_column] += amount
            if status is not None:
                payment["status"] = status
            if payment["purpose"] == "payment":
                batch.add_to_account(ce, "paid_minor", -amount)
        if payment_column == "refunded_minor":
            batch.add_to_account(ce, "refunded_minor", amount)

    return handle


_chargeback_won = _cash_leaves("taken_back_minor", sign=-1)


def _chargeback_closed(batch: Batch, ce: dict[str, Any]) -> None:
    if ce["data"]["outcome"] == "won":
        _chargeback_won(batch, ce)


HANDLERS: dict[str, Handler] = {
    "arledger.account.opened": _account_opened,
    "arledger.account.details_updated": _account_details_updated,
    "arledger.account.contact_logged": _account_contact_logged,
    "arledger.account.standing_changed": _account_field("status", "status"),
    "arledger.account.escalated": _account_field("escalated_to", "manager"),
    "arledger.account.insolvency_case_opened": _account_field("insolvency", "kind"),
    "arledger.account.referred_for_collection": _account_field("referred_to", "agency"),
    "arledger.invoice.raised": _invoice_raised,
    "arledger.invoice.payment_allocated": _applied_to_invoice("allocated_minor", "allocated_minor"),
    "arledger.invoice.credit_note_issued": _applied_to_invoice("credited_minor", "credited_minor"),
    "arledger.invoice.voided": _invoice_voided,
    "arledger.invoice.written_off": _applied_to_invoice("written_off_minor", "written_off_minor"),
    "arledger.payment.recorded": _payment_recorded,
    "arledger.payment.succeeded": _payment_succeeded,
    "arledger.payment.failed": _payment_failed,
    "arledger.payment.allocated": _payment_allocations(+1),
    "arledger.invoice.payment_unallocated": _applied_to_invoice(
        "allocated_minor", "allocated_minor", sign=-1
    ),
    "arledger.payment.unallocated": _payment_allocations(-1),
    "arledger.payment.refunded": _cash_leaves("refunded_minor"),
    "arledger.payment.returned": _cash_leaves("taken_back_minor", status="returned"),
    "arledger.payment.chargeback_opened": _cash_leaves("taken_back_minor"),
    "arledger.payment.chargeback_closed": _chargeback_closed,
    "arledger.payment.forfeited": _cash_leaves("taken_back_minor"),
    "arledger.invoice.disputed": _disputed(+1, "amount"),
    "arledger.invoice.dispute_resolved": _disputed(-1, "disputed"),
    "arledger.invoice.became_overdue": _invoice_became_overdue,
    "arledger.invoice.sent": _invoice_sent,
    "arledger.promise.made": _arrangement_made("promise"),
    "arledger.promise.kept": _arrangement_ended("kept"),
    "arledger.promise.broken": _arrangement_ended("broken"),
    "arledger.promise.cancelled": _arrangement_ended("cancelled"),
    "arledger.payment_plan.agreed": _arrangement_made("payment_plan"),
    "arledger.payment_plan.completed": _arrangement_ended("completed"),
    "arledger.payment_plan.broken": _arrangement_ended("broken"),
    "arledger.payment_plan.cancelled": _arrangement_ended("cancelled"),
}


def apply(conn: Connection[Any], events: Sequence[dict[str, Any]], *, copy: bool = False) -> None:
    """Apply new CloudEvents: each type's handler, and the account's history row.
    ``copy``: the tables are new and no one else writes them (``apply_new``)."""
    fresh = unseen_per_account(conn, "balance_accounts", events)
    if not fresh:
        return
    batch = Batch()
    batch.load(conn, fresh)
    history = batch.history

    def record(ce: dict[str, Any]) -> None:
        history.add(str(ce["position"]), history_row(ce))

    fold(batch, fresh, record)
    batch.write(conn, copy=copy)


def fold(
    batch: Batch, fresh: Sequence[dict[str, Any]], record: Callable[[dict[str, Any]], None]
) -> None:
    """Each event's handler on ``batch``'s rows, its account's position moved on, and
    ``record`` of the event for the account's history."""
    accounts = batch.accounts
    for ce in fresh:
        handler = HANDLERS.get(ce["type"])
        if handler is not None:
            handler(batch, ce)
        account = accounts.get(ce["accountid"])
        if account is not None:
            account["position"] = ce["position"]
        record(ce)


def history_row(ce: dict[str, Any]) -> Row:
    """The event's row in the account's history (``account_events``)."""
    return {
        "account_id": ce["accountid"],
        "type": ce["type"],
        "recorded_at": ce["time"],
        "cloudevent": document(ce),
    }


def apply_new(conn: Connection[Any], events: Sequence[dict[str, Any]]) -> None:
    """:func:`apply` to tables that are new and that no one else writes (a rebuild's side
    schema): the new rows go by COPY."""
    apply(conn, events, copy=True)


def document(ce: dict[str, Any]) -> dict[str, Any]:
    """The CloudEvent as the history keeps it: without ``partitionprev``, which says where
    it sat on the topic, not what happened."""
    if "partitionprev" not in ce:
        return ce
    document = dict(ce)
    del document["partitionprev"]
    return document
