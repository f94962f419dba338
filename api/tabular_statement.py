"""A statement of account as CSV and XLSX: its lines with the running balance (the CSV),
and a summary sheet with the opening and closing balances and the ageing of what is
open."""

from __future__ import annotations

from typing import Any

from api.tabular import Column, Document, Sheet
from api.tabular_layouts import currency_of, money, text

LINES = [
    Column("Date", "date", "date"),
    text("Kind", "kind"),
    text("Reference", "reference"),
    text("Description", "description", 40),
    currency_of("balance"),
    money("Debit", "debit"),
    money("Credit", "credit"),
    money("Balance", "balance"),
]
SUMMARY = [text("Figure", "figure", 30), currency_of("amount"), money("Amount", "amount")]


def statement(body: dict[str, Any]) -> Document:
    """The statement's JSON (``documents.statement.Statement.to_json``) as a document."""
    figures = [
        {"figure": "Opening balance", "amount": body["opening_balance"]},
        *({"figure": f"Ageing: {k}", "amount": v} for k, v in body["ageing"].items()),
        {"figure": "Unallocated cash", "amount": body["unallocated"]},
        {"figure": "Deposits held", "amount": body["deposits_held"]},
        {"figure": "Closing balance", "amount": body["closing_balance"]},
    ]
    params: list[tuple[str, Any]] = [
        ("Account", body["account_name"]),
        ("From", body["from"]),
        ("To", body["to"]),
        ("As known at", body.get("as_known_at")),
        ("Position", body["position"]),
    ]
    return Document(
        "Statement of account",
        f"statement-{body['account_id']}-{body['from']}-{body['to']}",
        params,
        [Sheet("Summary", SUMMARY, figures), Sheet("Lines", LINES, body["lines"])],
    )
