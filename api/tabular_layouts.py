"""The reports' layouts: each a function from a report's JSON reply to the sheets of its
CSV and XLSX (``api.tabular``). Summary first, detail last (the CSV is the last sheet)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from api.tabular import Column, Document, Row, Sheet
from api.tabular_write import day, moment

AGED = [
    ("Current", "current"),
    ("1-30 days", "days_1_30"),
    ("31-60 days", "days_31_60"),
    ("61-90 days", "days_61_90"),
    ("91+ days", "days_91_plus"),
    ("Total", "total"),
]
CURRENCY = Column("Currency", "currency", width=9)


def money(header: str, key: str) -> Column:
    return Column(header, key, "money")


def text(header: str, key: str, width: float | None = None) -> Column:
    return Column(header, key, "text", width)


def ident(header: str, key: str) -> Column:
    return Column(header, key, "text", 38)


def currency_of(*keys: str) -> Column:
    """The currency of the row's first Money among ``keys``."""

    def found(row: Row) -> Any:
        for key in keys:
            if isinstance(row.get(key), dict):
                return row[key]["currency"]
        return None

    return Column("Currency", found, width=9)


def _stem(*parts: Any) -> str:
    return "-".join(str(p) for p in parts if p not in (None, ""))


def known_at(body: dict[str, Any]) -> tuple[str, Any]:
    return ("As known at (UTC)", moment(body.get("as_known_at")))


BUCKET_NAMES = dict((k, h) for h, k in AGED)
AGED_INVOICE = [
    ident("Account ID", "account_id"),
    text("Name", "name"),
    text("Invoice", "number"),
    Column("Issued on", "issued_on", "date"),
    Column("Due on", "due_on", "date"),
    Column("Days overdue", "days_overdue", "int"),
    Column("Bucket", lambda r: BUCKET_NAMES.get(r["bucket"], r["bucket"]), width=12),
    currency_of("outstanding"),
    money("Outstanding", "outstanding"),
]


def aged_debt(body: dict[str, Any]) -> Document:
    """Portfolio buckets, then each account, then (when the body has ``invoices``, with
    ``detail=invoice`` and always in the XLSX) each invoice; the CSV is the last."""
    buckets = [money(h, k) for h, k in AGED]
    summary = Sheet("Summary", [CURRENCY, *buckets], [body])
    detail = [ident("Account ID", "account_id"), text("Name", "name"), CURRENCY, *buckets]
    rows = [{**a, "currency": body["currency"]} for a in body["accounts"]]
    sheets = [summary, Sheet("By account", detail, rows)]
    if body.get("invoices") is not None:
        sheets.append(Sheet("By invoice", AGED_INVOICE, body["invoices"]))
    return Document(
        "Aged debt",
        _stem("aged-debt", body["currency"], body["as_of"]),
        [("Currency", body["currency"]), ("As of", day(body["as_of"])), known_at(body)],
        sheets,
    )


DEBTOR_DAYS = [
    Column("DSO standard", "dso_standard", "number"),
    Column("DSO countback", "dso_countback", "number"),
    Column("Best possible DSO", "best_possible_dso", "number"),
    Column("Average days delinquent", "average_days_delinquent", "number"),
    Column("Collection effectiveness index (%)", "collection_effectiveness_index", "number"),
    Column("Average days to pay", "average_days_to_pay", "number"),
    money("Opening receivables", "figures.opening_receivables"),
    money("Closing receivables", "figures.closing_receivables"),
    money("Not yet due", "figures.not_yet_due"),
    money("Credit sales", "figures.credit_sales"),
    money("Cash applied", "figures.cash_applied"),
]


def debtor_days(body: dict[str, Any]) -> Document:
    """The portfolio's (or one account's) figures; each account's with ``by_account``."""
    sheets = [Sheet("Summary", [CURRENCY, *DEBTOR_DAYS], [body])]
    if body.get("accounts") is not None:
        columns = [ident("Account ID", "account_id"), CURRENCY, *DEBTOR_DAYS]
        rows = [{**a, "currency": body["currency"]} for a in body["accounts"]]
        sheets.append(Sheet("By account", columns, rows))
    return Document(
        "Debtor days",
        _stem("debtor-days", body["currency"], body["period_start"], body["period_end"]),
        [
            ("Currency", body["currency"]),
            ("Period start", day(body["period_start"])),
            ("Period end", day(body["period_end"])),
            ("Account", body.get("account_id")),
            known_at(body),
        ],
        sheets,
    )


def debtor_days_trend(body: dict[str, Any]) -> Document:
    """One row a month, oldest first."""
    columns = [
        Column("Month", "month", "text"),
        Column("Period start", "period_start", "date"),
        Column("Period end", "period_end", "date"),
        CURRENCY,
        *DEBTOR_DAYS,
    ]
    rows = [{**m, "currency": body["currency"]} for m in body["months"]]
    return Document(
        "Debtor days by month",
        _stem("debtor-days-trend", body["currency"], body["period_end"]),
        [
            ("Currency", body["currency"]),
            ("Period end", day(body["period_end"])),
            ("Months", len(rows)),
            ("Account", body.get("account_id")),
            known_at(body),
        ],
        [Sheet("By month", columns, rows)],
    )


def _by_kind(prefix: str, key: str, kinds: list[str]) -> list[Column]:
    return [money(f"{prefix} {k}", f"{key}.{k}") for k in kinds]


def cash_posting(body: dict[str, Any]) -> Document:
    """Totals, the books balanced, then day by day (a column per method seen)."""
    cur = body["currency"]
    methods = sorted({m for d in body["days"] for m in d["received_by_method"]})
    outs = sorted({k for d in body["days"] for k in d["paid_out"]})
    summary = [CURRENCY, money("Received", "received")]
    summary += _by_kind("Received by", "received_by_method", methods)
    summary += [money("Applied", "applied"), money("Unallocated", "unallocated")]
    books = [CURRENCY] + [money(h, k) for h, k in BOOKS] + [Column("Balanced", "balanced", "bool")]
    days = [Column("Date", "date", "date"), CURRENCY, money("Received", "received")]
    days += _by_kind("Received by", "received_by_method", methods)
    days += [money("Deposits received", "deposits_received")]
    days += _by_kind("Paid out:", "paid_out", outs)
    days += [money("Applied", "applied"), money("Unallocated", "unallocated")]
    return Document(
        "Cash posting",
        _stem("cash-posting", cur, body["period"], body["period_start"]),
        [
            ("Currency", cur),
            ("Period", body["period"]),
            ("Period start", day(body["period_start"])),
            ("Period end", day(body["period_end"])),
            known_at(body),
        ],
        [
            Sheet("Summary", summary, [body]),
            Sheet("Books", books, [{**body["books"], "currency": cur}]),
            Sheet("Days", days, [{**d, "currency": cur} for d in body["days"]]),
        ],
    )


BOOKS = [
    ("Opening receivables", "opening_receivables"),
    ("Invoiced", "invoiced"),
    ("Cash applied", "cash_applied"),
    ("Credits", "credits"),
    ("Write-offs", "write_offs"),
    ("Closing receivables", "closing_receivables"),
    ("Difference", "difference"),
]


def payment_behaviour(body: dict[str, Any]) -> Document:
    columns = [
        ident("Account ID", "account_id"),
        text("Name", "name"),
        CURRENCY,
        Column("Settled invoices", "settled_invoices", "int"),
        Column("Late invoices", "late_invoices", "int"),
        Column("Average days late", "average_days_late", "number"),
        Column("Previous average days late", "previous_average_days_late", "number"),
        text("Trend", "trend"),
        Column("Routinely late", "routinely_late", "bool"),
    ]
    rows = [{**a, "currency": body["currency"]} for a in body["accounts"]]
    return Document(
        "Payment behaviour",
        _stem("payment-behaviour", body["currency"]),
        [("Currency", body["currency"])],
        [Sheet("Accounts", columns, rows)],
    )


TB_LINE = [
    money("Invoiced", "invoiced"),
    money("Unallocated cash", "unallocated"),
    money("Allocated", "allocated"),
    money("Credited", "credited"),
    money("Voided", "voided"),
    money("Written off", "written_off"),
    money("Debits", "debits"),
    money("Credits", "credits"),
    money("Balance", "balance"),
]


def trial_balance(body: dict[str, Any]) -> Document:
    """The control account and the totals it is checked against, then each account."""
    control = [
        text("Line", "name"),
        CURRENCY,
        *TB_LINE,
        money("Accounts total", "accounts_total"),
        money("Aged debt total", "aged_debt_total"),
        Column("Reconciled", "reconciled", "bool"),
    ]
    cur = body["currency"]
    summary = {
        **body["control"],
        "currency": cur,
        "accounts_total": body["accounts_total"],
        "aged_debt_total": body["aged_debt_total"],
        "reconciled": body["reconciled"],
    }
    accounts = [ident("Account ID", "account_id"), text("Name", "name"), CURRENCY, *TB_LINE]
    return Document(
        "Trial balance",
        _stem("trial-balance", cur, body["as_of"]),
        [("Currency", cur), ("As of", day(body["as_of"])), known_at(body)],
        [
            Sheet("Control", control, [summary]),
            Sheet("Accounts", accounts, [{**a, "currency": cur} for a in body["accounts"]]),
        ],
    )


def portfolio_balances(body: dict[str, Any]) -> Document:
    names = ["invoiced", "paid", "allocated", "unallocated", "credited", "written_off"]
    columns = [CURRENCY, Column("Accounts", "accounts", "int")]
    columns += [money(n.replace("_", " ").capitalize(), n) for n in names]
    columns += [money("Outstanding", "outstanding"), money("Overdue", "overdue")]
    return Document(
        "Portfolio balances",
        _stem("balances", body["currency"], body["as_of"]),
        [("Currency", body["currency"]), ("As of", day(body["as_of"]))],
        [Sheet("Balances", columns, [body])],
    )


STRIPE_FINDINGS = [
    text("Kind", "kind"),
    text("Reference", "reference"),
    currency_of("stripe_amount", "ledger_amount"),
    money("Stripe amount", "stripe_amount"),
    money("Ledger amount", "ledger_amount"),
    text("Stripe status", "stripe_status"),
    text("Ledger status", "ledger_status"),
    text("Detail", "detail"),
    text("Action", "action"),
]
COUNTS = [text("Kind", "kind"), Column("Count", "count", "int")]


def reconciliation(body: dict[str, Any]) -> Document:
    """Counts by kind, Stripe's payouts, then each finding (the CSV)."""
    counts = [{"kind": k, "count": n} for k, n in sorted(body["counts"].items())]
    findings = STRIPE_FINDINGS
    payouts = [
        text("Payout", "id"),
        CURRENCY,
        money("Amount", "money"),
        Column("Arrival date", lambda p: _epoch_day(p.get("arrival_date")), "date"),
        text("Status", "status"),
    ]
    payout_rows = [
        {**p, "money": {"amount": p["amount"], "currency": p["currency"]}} for p in body["payouts"]
    ]
    return Document(
        "Stripe reconciliation",
        _stem("stripe-reconciliation", body["from"], body["to"]),
        [("Run", body["run_id"]), ("From", day(body["from"])), ("To", day(body["to"]))],
        [
            Sheet("Counts", COUNTS, counts),
            Sheet("Payouts", payouts, payout_rows),
            Sheet("Findings", findings, body["findings"]),
        ],
    )


def _epoch_day(value: Any) -> Any:
    """Stripe's arrival date, a Unix time, as a date."""
    if isinstance(value, int):
        return datetime.fromtimestamp(value, UTC).date()
    return value
