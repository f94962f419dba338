"""The lists' layouts (worklist, payments feed, audit trail, account events, bank
statement lines, accounts, invoices, arrangements): each row of the JSON a row of the
sheet, in the JSON's order."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from api.tabular import Column, Document, Layout, Row, Sheet
from api.tabular_layouts import currency_of, ident, money, text
from api.tabular_write import day


def _reasons(row: Row) -> str:
    return "; ".join(f"{r['code']}: {r['detail']}" for r in row.get("reasons") or [])


def worklist(body: dict[str, Any], currency: str | None = None) -> Document:
    columns = [
        ident("Account ID", "account_id"),
        text("Name", "name"),
        text("Status", "status"),
        Column("Priority", "priority", "int"),
        currency_of("overdue"),
        money("Overdue", "overdue"),
        Column("Days overdue", "days_overdue", "int"),
        Column("Broken promises", "broken_promises", "int"),
        Column("Failed payments not retried", "failed_payments_not_retried", "int"),
        money("Disputed", "disputed"),
        Column("Last contact at (UTC)", "last_contact_at", "datetime"),
        Column("Reasons", _reasons, width=60),
    ]
    return Document(
        "Worklist",
        "-".join(p for p in ("worklist", currency, body["as_of"]) if p),
        [("As of", day(body["as_of"])), ("Currency", currency or "all")],
        [Sheet("Worklist", columns, body["rows"])],
    )


PAYMENT = [
    ident("Payment ID", "payment_id"),
    ident("Account ID", "account_id"),
    text("Account name", "account_name"),
    Column("Received on", "received_on", "date"),
    currency_of("amount"),
    money("Amount", "amount"),
    text("Method", "method"),
    text("Status", "status"),
    text("Purpose", "purpose"),
    text("Reference", "reference"),
    text("Failure code", "failure_code"),
    text("Failure message", "failure_message"),
    money("Unallocated", "unallocated"),
    text("Action", "action"),
    Column("Recorded position", "recorded_position", "int"),
]


def payments_feed(body: dict[str, Any], filters: dict[str, Any] | None = None) -> Document:
    params = [(k.replace("_", " ").capitalize(), v) for k, v in (filters or {}).items()]
    return Document(
        "Payments",
        "payments",
        [*params, ("Next page (before)", body.get("next_before"))],
        [Sheet("Payments", PAYMENT, body["payments"])],
    )


AUDIT = [
    Column("Position", "position", "int"),
    ident("Account ID", "account_id"),
    text("Type", "type", 34),
    ident("Subject", "subject"),
    text("Actor", "actor"),
    text("Reason", "reason", 40),
    Column("Effective at (UTC)", "effective_at", "datetime"),
    Column("Recorded at (UTC)", "recorded_at", "datetime"),
    currency_of("outstanding_after"),
    money("Outstanding after", "outstanding_after"),
    text("Correlation ID", "correlation_id"),
    text("Causation ID", "causation_id"),
    text("Data", "data", 60),
]


def audit_trail(
    rows: Iterable[Row], params: list[tuple[str, Any]], account_id: Any = None
) -> Document:
    """The trail's entries (a page, or every page streamed as it is read)."""
    stem = f"audit-trail-{account_id}" if account_id else "audit-trail"
    return Document("Audit trail", stem, params, [Sheet("Audit trail", AUDIT, rows)])


def audit_page(params: list[tuple[str, Any]], account_id: Any = None) -> Layout:
    """A layout for one page of the trail (``AuditTrail`` as JSON)."""

    def layout(body: dict[str, Any]) -> Document:
        shown = [*params, ("Next page (after)", body.get("next_after"))]
        return audit_trail(body["entries"], shown, account_id)

    return layout


def account_events(body: dict[str, Any]) -> Document:
    columns = [
        Column("Position", "position", "int"),
        text("Type", "type", 34),
        ident("Subject", "subject"),
        Column("Recorded at (UTC)", "time", "datetime"),
        Column("Effective at (UTC)", "effectivetime", "datetime"),
        text("Actor", "actor"),
        Column("Version", "aggregateversion", "int"),
        text("Event ID", "id"),
        text("Correlation ID", "correlationid"),
        text("Causation ID", "causationid"),
        text("Data", "data", 60),
    ]
    account = body["account_id"]
    return Document(
        "Account events",
        f"account-events-{account}",
        [("Account", account), ("Next page (after)", body.get("next_after"))],
        [Sheet("Events", columns, body["events"])],
    )


def bank_lines(body: dict[str, Any]) -> Document:
    columns = [
        ident("Line ID", "line_id"),
        ident("Statement ID", "statement_id"),
        Column("Row", "row", "int"),
        Column("Received on", "received_on", "date"),
        currency_of("amount"),
        money("Amount", "amount"),
        text("Reference", "reference"),
        text("Payer", "payer"),
        text("Method", "method"),
        text("Outcome", "outcome"),
        text("Reason", "reason"),
        ident("Account ID", "account_id"),
        ident("Payment ID", "payment_id"),
        text("Resolved by", "resolved_by"),
        text("Note", "note"),
        text("Action", "action", 40),
        Column("Candidates", lambda r: len(r.get("candidates") or []), "int"),
    ]
    return Document(
        "Bank statement lines", "bank-lines", [], [Sheet("Lines", columns, body["lines"])]
    )


def accounts(body: dict[str, Any]) -> Document:
    columns = [
        ident("Account ID", "id"),
        text("Name", "name"),
        Column("Currency", "currency", width=9),
        text("Status", "status"),
        text("External ref", "external_ref"),
        text("Email", "email"),
        money("Outstanding", "outstanding"),
    ]
    return Document("Accounts", "accounts", [], [Sheet("Accounts", columns, body["accounts"])])


INVOICE = [
    ident("Invoice ID", "id"),
    text("Number", "number"),
    text("Kind", "kind"),
    Column("Issued on", "issued_on", "date"),
    Column("Due on", "due_on", "date"),
    currency_of("amount"),
    money("Amount", "amount"),
    money("Allocated", "allocated"),
    money("Credited", "credited"),
    money("Written off", "written_off"),
    money("Disputed", "disputed"),
    money("Outstanding", "outstanding"),
    text("Status", "status"),
    Column("Overdue", "overdue", "bool"),
    Column("Sends", "sends", "int"),
    text("Description", "description", 40),
]


def invoices(account_id: Any) -> Layout:
    def layout(body: dict[str, Any]) -> Document:
        return Document(
            "Invoices",
            f"invoices-{account_id}",
            [("Account", str(account_id))],
            [Sheet("Invoices", INVOICE, body["invoices"])],
        )

    return layout


def arrangements(account_id: Any) -> Layout:
    """Promises, then payment plans' instalments (one row each)."""
    promises = [
        ident("Promise ID", "id"),
        Column("Made on", "made_on", "date"),
        Column("Promised on", "promised_on", "date"),
        currency_of("amount"),
        money("Amount", "amount"),
        text("Status", "status"),
        money("Paid", "paid"),
        Column("Invoices", lambda r: ", ".join(r.get("invoice_ids") or []), width=40),
    ]
    instalments = [
        ident("Plan ID", "plan_id"),
        text("Plan status", "plan_status"),
        Column("Due on", "due_on", "date"),
        currency_of("amount"),
        money("Amount", "amount"),
        text("Outcome", "outcome"),
    ]

    def layout(body: dict[str, Any]) -> Document:
        rows = [
            {**i, "plan_id": p["id"], "plan_status": p["status"]}
            for p in body["payment_plans"]
            for i in p["instalments"]
        ]
        return Document(
            "Arrangements",
            f"arrangements-{account_id}",
            [("Account", str(account_id))],
            [
                Sheet("Promises", promises, body["promises"]),
                Sheet("Instalments", instalments, rows),
            ],
        )

    return layout
