"""The balances read model: accounts with their running totals, invoices with their
outstanding amount and status, payments with what is left to allocate, and each
account's event history. One small handler per event type."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from psycopg import Connection
from psycopg.types.json import Jsonb

from projections import balance_tables
from projections.writer import fresh_per_account

NAME = "balances"

SCHEMA = balance_tables.SCHEMA

Handler = Callable[[Connection[Any], dict[str, Any]], None]


def _account_opened(conn: Connection[Any], ce: dict[str, Any]) -> None:
    d = ce["data"]
    limit = d["credit_limit"]["amount"] if d.get("credit_limit") else None
    conn.execute(
        "INSERT INTO balance_accounts (account_id, name, currency, payment_terms_days, email,"
        " external_ref, credit_limit_minor, status, opened_at, position)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, 'active', %s, %s)",
        (
            ce["accountid"],
            d["name"],
            d["currency"],
            d["payment_terms_days"],
            d["email"],
            d["external_ref"],
            limit,
            ce["time"],
            ce["position"],
        ),
    )


_DETAIL_COLUMNS = {
    "name": "name",
    "email": "email",
    "external_ref": "external_ref",
    "payment_terms_days": "payment_terms_days",
    "credit_limit": "credit_limit_minor",
    "coordinator": "coordinator",
}


def _set_account(conn: Connection[Any], ce: dict[str, Any], column: str, value: Any) -> None:
    assert column in _ACCOUNT_COLUMNS, column  # names come from this module, never a message
    conn.execute(
        f"UPDATE balance_accounts SET {column} = %s WHERE account_id = %s",
        (value, ce["accountid"]),
    )


_ACCOUNT_COLUMNS = {
    *_DETAIL_COLUMNS.values(),
    "status",
    "escalated_to",
    "insolvency",
    "referred_to",
}


def _account_details_updated(conn: Connection[Any], ce: dict[str, Any]) -> None:
    for field, value in ce["data"]["changes"].items():
        if field == "credit_limit" and value is not None:
            value = value["amount"]
        _set_account(conn, ce, _DETAIL_COLUMNS[field], value)


def _account_contact_logged(conn: Connection[Any], ce: dict[str, Any]) -> None:
    conn.execute(
        "UPDATE balance_accounts SET last_contact_at = GREATEST(last_contact_at, %s)"
        " WHERE account_id = %s",
        (ce["effectivetime"], ce["accountid"]),
    )


def _account_field(column: str, field: str) -> Handler:
    """A handler that copies ``data[field]`` of the event onto the account row."""
    return lambda conn, ce: _set_account(conn, ce, column, ce["data"][field])


def _invoice_raised(conn: Connection[Any], ce: dict[str, Any]) -> None:
    d = ce["data"]
    conn.execute(
        "INSERT INTO balance_invoices (invoice_id, account_id, number, currency, amount_minor,"
        " issued_on, due_on, description, raised_at, position, kind, charged_for,"
        " credit_limit_exceeded) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            ce["subject"],
            ce["accountid"],
            d["number"],
            d["amount"]["currency"],
            d["amount"]["amount"],
            d["issued_on"],
            d["due_on"],
            d["description"],
            ce["time"],
            ce["position"],
            d.get("kind") or "invoice",
            d.get("charged_for"),
            bool(d.get("credit_limit_exceeded")),
        ),
    )
    _add_to_account(conn, ce, "invoiced_minor", d["amount"]["amount"])


def _applied_to_invoice(invoice_column: str, account_column: str, sign: int = 1) -> Handler:
    """A handler that adds ``data.amount`` (times ``sign``: -1 takes it back) to an
    invoice's column and its account's."""
    assert invoice_column in {"allocated_minor", "credited_minor", "written_off_minor"}

    def handle(conn: Connection[Any], ce: dict[str, Any]) -> None:
        amount = sign * ce["data"]["amount"]["amount"]
        conn.execute(
            f"UPDATE balance_invoices SET {invoice_column} = {invoice_column} + %s,"
            " position = %s WHERE invoice_id = %s",
            (amount, ce["position"], ce["subject"]),
        )
        _add_to_account(conn, ce, account_column, amount)

    return handle


def _invoice_voided(conn: Connection[Any], ce: dict[str, Any]) -> None:
    """A void takes the cancelled amount out of what the account was invoiced."""
    amount = ce["data"]["amount"]["amount"]
    conn.execute(
        "UPDATE balance_invoices SET voided_minor = %s, position = %s WHERE invoice_id = %s",
        (amount, ce["position"], ce["subject"]),
    )
    _add_to_account(conn, ce, "invoiced_minor", -amount)


def _disputed(sign: int, field: str) -> Handler:
    """A dispute opened (+1, ``data.amount``) or resolved (-1, ``data.disputed``): what
    the invoice has in dispute, not chased but still owed."""

    def handle(conn: Connection[Any], ce: dict[str, Any]) -> None:
        conn.execute(
            "UPDATE balance_invoices SET disputed_minor = disputed_minor + %s, position = %s"
            " WHERE invoice_id = %s",
            (sign * ce["data"][field]["amount"], ce["position"], ce["subject"]),
        )

    return handle


def _arrangement_made(kind: str) -> Handler:
    """A promise made or a plan agreed: listed as open for the scheduler to decide."""

    def handle(conn: Connection[Any], ce: dict[str, Any]) -> None:
        conn.execute(
            "INSERT INTO balance_arrangements (arrangement_id, account_id, kind, status, position)"
            " VALUES (%s, %s, %s, 'open', %s) ON CONFLICT (arrangement_id) DO NOTHING",
            (ce["subject"], ce["accountid"], kind, ce["position"]),
        )

    return handle


def _arrangement_ended(status: str) -> Handler:
    """A promise kept, broken or cancelled; a plan completed, broken or cancelled."""

    def handle(conn: Connection[Any], ce: dict[str, Any]) -> None:
        conn.execute(
            "UPDATE balance_arrangements SET status = %s, position = %s WHERE arrangement_id = %s",
            (status, ce["position"], ce["subject"]),
        )
        if status == "broken" and ce["type"] == "arledger.promise.broken":
            conn.execute(
                "UPDATE balance_accounts SET broken_promises = broken_promises + 1"
                " WHERE account_id = %s",
                (ce["accountid"],),
            )

    return handle


def _invoice_became_overdue(conn: Connection[Any], ce: dict[str, Any]) -> None:
    conn.execute(
        "UPDATE balance_invoices SET overdue_noted = true, position = %s WHERE invoice_id = %s",
        (ce["position"], ce["subject"]),
    )


def _invoice_sent(conn: Connection[Any], ce: dict[str, Any]) -> None:
    """Sent to the client: the first send or a resend, each counted."""
    conn.execute(
        "UPDATE balance_invoices SET sends = sends + 1, position = %s WHERE invoice_id = %s",
        (ce["position"], ce["subject"]),
    )


def _payment_recorded(conn: Connection[Any], ce: dict[str, Any]) -> None:
    d = ce["data"]
    conn.execute(
        "INSERT INTO balance_payments (payment_id, account_id, currency, amount_minor, method,"
        " status, received_on, reference, failure_code, failure_message, position,"
        " recorded_position) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            ce["subject"],
            ce["accountid"],
            d["amount"]["currency"],
            d["amount"]["amount"],
            d["method"],
            d["status"],
            d["received_on"],
            d["reference"],
            d["failure_code"],
            d["failure_message"],
            ce["position"],
            ce["position"],
        ),
    )
    if d.get("purpose", "payment") != "payment":
        conn.execute(
            "UPDATE balance_payments SET purpose = %s WHERE payment_id = %s",
            (d["purpose"], ce["subject"]),
        )
    if d["status"] == "succeeded" and d.get("purpose", "payment") == "payment":
        _add_to_account(conn, ce, "paid_minor", d["amount"]["amount"])


def _payment_succeeded(conn: Connection[Any], ce: dict[str, Any]) -> None:
    """Its cash is paid; a deposit's is held (``deposits_held``) until applied."""
    row = conn.execute(
        "UPDATE balance_payments SET status = 'succeeded', position = %s"
        " WHERE payment_id = %s RETURNING amount_minor, purpose",
        (ce["position"], ce["subject"]),
    ).fetchone()
    if row is not None and row[1] == "payment":
        _add_to_account(conn, ce, "paid_minor", int(row[0]))


def _payment_failed(conn: Connection[Any], ce: dict[str, Any]) -> None:
    d = ce["data"]
    conn.execute(
        "UPDATE balance_payments SET status = 'failed', failure_code = %s,"
        " failure_message = %s, position = %s WHERE payment_id = %s",
        (d["failure_code"], d["failure_message"], ce["position"], ce["subject"]),
    )


def _payment_allocations(sign: int) -> Handler:
    """A handler for a payment's allocation (+1) or un-allocation (-1) of several rows."""

    def handle(conn: Connection[Any], ce: dict[str, Any]) -> None:
        total = sign * sum(row["amount"]["amount"] for row in ce["data"]["allocations"])
        row = conn.execute(
            "UPDATE balance_payments SET allocated_minor = allocated_minor + %s, position = %s"
            " WHERE payment_id = %s RETURNING purpose",
            (total, ce["position"], ce["subject"]),
        ).fetchone()
        if row is not None and row[0] == "deposit":
            _add_to_account(conn, ce, "paid_minor", total)  # applied: now cash paid

    return handle


def _cash_leaves(payment_column: str, status: str | None = None, sign: int = 1) -> Handler:
    """A handler for cash that leaves a payment (a refund, a bank return, a chargeback;
    ``sign`` -1 brings it back, a chargeback won): the payment's column grows, the
    account's cash paid shrinks, by ``data.amount`` (a deposit's leaves what it holds
    unapplied, never what is paid)."""
    assert payment_column in {"refunded_minor", "taken_back_minor"}

    def handle(conn: Connection[Any], ce: dict[str, Any]) -> None:
        amount = sign * ce["data"]["amount"]["amount"]
        row = conn.execute(
            f"UPDATE balance_payments SET {payment_column} = {payment_column} + %s,"
            " status = COALESCE(%s, status), position = %s WHERE payment_id = %s"
            " RETURNING purpose",
            (amount, status, ce["position"], ce["subject"]),
        ).fetchone()
        if row is not None and row[0] == "payment":
            _add_to_account(conn, ce, "paid_minor", -amount)
        if payment_column == "refunded_minor":
            _add_to_account(conn, ce, "refunded_minor", amount)

    return handle


def _chargeback_closed(conn: Connection[Any], ce: dict[str, Any]) -> None:
    if ce["data"]["outcome"] == "won":
        _cash_leaves("taken_back_minor", sign=-1)(conn, ce)


def _add_to_account(conn: Connection[Any], ce: dict[str, Any], column: str, amount: int) -> None:
    assert column in {
        "invoiced_minor",
        "paid_minor",
        "allocated_minor",
        "credited_minor",
        "written_off_minor",
        "refunded_minor",
    }
    conn.execute(
        f"UPDATE balance_accounts SET {column} = {column} + %s WHERE account_id = %s",
        (amount, ce["accountid"]),
    )


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


def apply(conn: Connection[Any], events: Sequence[dict[str, Any]]) -> None:
    """Apply new CloudEvents: each type's handler, and the account's history row. The
    writes are pipelined: one round trip, not one per row."""
    fresh = fresh_per_account(conn, "balance_accounts", events)
    with conn.pipeline():
        for ce in fresh:
            handler = HANDLERS.get(ce["type"])
            if handler is not None:
                handler(conn, ce)
            conn.execute(
                "INSERT INTO account_events (position, account_id, type, recorded_at, cloudevent)"
                " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (position) DO NOTHING",
                (ce["position"], ce["accountid"], ce["type"], ce["time"], _jsonb(ce)),
            )


def _jsonb(ce: dict[str, Any]) -> Jsonb:
    return Jsonb({k: v for k, v in ce.items() if k != "partitionprev"})
