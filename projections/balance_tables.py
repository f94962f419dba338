"""The balances read model's tables: accounts with their running totals, invoices with
what was applied to them and what the invoice said of itself (its kind, its sends, whether
it passed the account's credit limit), payments, open arrangements and each account's
event history. Columns added since a table was first made are added where missing, and
running totals made before they were wide are widened (``projections/totals.py``)."""

from __future__ import annotations

from projections.table_rows import Table
from projections.totals import TOTAL, widen

# An account's running totals: sums of any number of amounts, wider than one amount.
ACCOUNT_TOTALS = (
    "invoiced_minor",
    "paid_minor",
    "allocated_minor",
    "credited_minor",
    "written_off_minor",
    "refunded_minor",
)

SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS balance_accounts (
    account_id uuid PRIMARY KEY,
    name text NOT NULL,
    currency char(3) NOT NULL,
    payment_terms_days int NOT NULL,
    email text,
    external_ref text,
    credit_limit_minor bigint,
    status text NOT NULL,
    opened_at timestamptz NOT NULL,
    invoiced_minor {TOTAL} NOT NULL DEFAULT 0,
    paid_minor {TOTAL} NOT NULL DEFAULT 0,
    allocated_minor {TOTAL} NOT NULL DEFAULT 0,
    credited_minor {TOTAL} NOT NULL DEFAULT 0,
    written_off_minor {TOTAL} NOT NULL DEFAULT 0,
    position bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS balance_invoices (
    invoice_id uuid PRIMARY KEY,
    account_id uuid NOT NULL,
    number text NOT NULL,
    currency char(3) NOT NULL,
    amount_minor bigint NOT NULL,
    allocated_minor bigint NOT NULL DEFAULT 0,
    credited_minor bigint NOT NULL DEFAULT 0,
    written_off_minor bigint NOT NULL DEFAULT 0,
    issued_on date NOT NULL,
    due_on date NOT NULL,
    description text,
    raised_at timestamptz NOT NULL,
    position bigint NOT NULL
);
ALTER TABLE balance_invoices ADD COLUMN IF NOT EXISTS voided_minor bigint NOT NULL DEFAULT 0;
ALTER TABLE balance_invoices ADD COLUMN IF NOT EXISTS disputed_minor bigint NOT NULL DEFAULT 0;
ALTER TABLE balance_accounts ADD COLUMN IF NOT EXISTS last_contact_at timestamptz;
ALTER TABLE balance_accounts ADD COLUMN IF NOT EXISTS escalated_to text;
ALTER TABLE balance_accounts ADD COLUMN IF NOT EXISTS insolvency text;
ALTER TABLE balance_accounts ADD COLUMN IF NOT EXISTS referred_to text;
ALTER TABLE balance_accounts ADD COLUMN IF NOT EXISTS refunded_minor {TOTAL} NOT NULL DEFAULT 0;
ALTER TABLE balance_accounts ADD COLUMN IF NOT EXISTS coordinator text;
ALTER TABLE balance_invoices ADD COLUMN IF NOT EXISTS sends int NOT NULL DEFAULT 0;
ALTER TABLE balance_invoices ADD COLUMN IF NOT EXISTS kind text NOT NULL DEFAULT 'invoice';
ALTER TABLE balance_invoices ADD COLUMN IF NOT EXISTS charged_for uuid;
ALTER TABLE balance_invoices
    ADD COLUMN IF NOT EXISTS credit_limit_exceeded boolean NOT NULL DEFAULT false;
CREATE INDEX IF NOT EXISTS balance_invoices_account ON balance_invoices (account_id, due_on);
-- The account list's order (``projections/account_lists.py``): its first page reads the
-- index, not every account sorted.
CREATE INDEX IF NOT EXISTS balance_accounts_by_name ON balance_accounts (name, account_id);
CREATE TABLE IF NOT EXISTS balance_payments (
    payment_id uuid PRIMARY KEY,
    account_id uuid NOT NULL,
    currency char(3) NOT NULL,
    amount_minor bigint NOT NULL,
    allocated_minor bigint NOT NULL DEFAULT 0,
    method text NOT NULL,
    status text NOT NULL,
    received_on date NOT NULL,
    reference text,
    failure_code text,
    failure_message text,
    position bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS balance_payments_account ON balance_payments (account_id);
ALTER TABLE balance_payments ADD COLUMN IF NOT EXISTS refunded_minor bigint NOT NULL DEFAULT 0;
ALTER TABLE balance_payments ADD COLUMN IF NOT EXISTS taken_back_minor bigint NOT NULL DEFAULT 0;
ALTER TABLE balance_payments ADD COLUMN IF NOT EXISTS purpose text NOT NULL DEFAULT 'payment';
ALTER TABLE balance_payments ADD COLUMN IF NOT EXISTS recorded_position bigint;
CREATE INDEX IF NOT EXISTS balance_payments_feed ON balance_payments (recorded_position);
-- The payments feed's order (``projections/worklist.py``): newest recorded first, by
-- position where a row has no recorded_position. Its first page reads 100 rows of this
-- index, not every payment sorted.
CREATE INDEX IF NOT EXISTS balance_payments_recorded
    ON balance_payments ((COALESCE(recorded_position, position)));
ALTER TABLE balance_invoices ADD COLUMN IF NOT EXISTS overdue_noted boolean NOT NULL DEFAULT false;
ALTER TABLE balance_accounts ADD COLUMN IF NOT EXISTS broken_promises int NOT NULL DEFAULT 0;
CREATE TABLE IF NOT EXISTS balance_arrangements (
    arrangement_id uuid PRIMARY KEY,
    account_id uuid NOT NULL,
    kind text NOT NULL,
    status text NOT NULL,
    position bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS balance_arrangements_open ON balance_arrangements (status, kind);
-- Each account's history, every CloudEvent as the consumer wrote it. ``json``, not
-- ``jsonb``: the document is only ever read whole, and the server stores it as text,
-- 40% less of its CPU a row than parsing it into ``jsonb`` (10.0 against 5.9 us), and
-- hands it back without writing it out again (an account's history read 40% faster).
-- A table made before as ``jsonb`` works the same; ``arledger replay balances`` remakes it.
CREATE TABLE IF NOT EXISTS account_events (
    position bigint PRIMARY KEY,
    account_id uuid NOT NULL,
    type text NOT NULL,
    recorded_at timestamptz NOT NULL,
    cloudevent json NOT NULL
);
CREATE INDEX IF NOT EXISTS account_events_account ON account_events (account_id, position);
"""
    + widen("balance_accounts", *ACCOUNT_TOTALS)
).replace("{TOTAL}", TOTAL)

# The tables' shapes for the batch writes of ``projections/balances.py``: every column an
# insert writes (the key first, ``char(3)`` as text), a new row's defaults, and the
# columns events change.
ACCOUNTS = Table(
    "balance_accounts",
    {
        "account_id": "uuid",
        "name": "text",
        "currency": "text",
        "payment_terms_days": "int",
        "email": "text",
        "external_ref": "text",
        "credit_limit_minor": "bigint",
        "status": "text",
        "opened_at": "timestamptz",
        **dict.fromkeys(ACCOUNT_TOTALS, "numeric"),
        "position": "bigint",
        "last_contact_at": "timestamptz",
        "escalated_to": "text",
        "insolvency": "text",
        "referred_to": "text",
        "coordinator": "text",
        "broken_promises": "int",
    },
    defaults={**dict.fromkeys(ACCOUNT_TOTALS, 0), "broken_promises": 0},
    changing=(
        "name",
        "payment_terms_days",
        "email",
        "external_ref",
        "credit_limit_minor",
        "status",
        *ACCOUNT_TOTALS,
        "position",
        "last_contact_at",
        "escalated_to",
        "insolvency",
        "referred_to",
        "coordinator",
        "broken_promises",
    ),
    totals=ACCOUNT_TOTALS,
)
_INVOICE_SUMS = (
    "allocated_minor",
    "credited_minor",
    "written_off_minor",
    "voided_minor",
    "disputed_minor",
)
INVOICES = Table(
    "balance_invoices",
    {
        "invoice_id": "uuid",
        "account_id": "uuid",
        "number": "text",
        "currency": "text",
        "amount_minor": "bigint",
        **dict.fromkeys(_INVOICE_SUMS, "bigint"),
        "issued_on": "date",
        "due_on": "date",
        "description": "text",
        "raised_at": "timestamptz",
        "position": "bigint",
        "sends": "int",
        "kind": "text",
        "charged_for": "uuid",
        "credit_limit_exceeded": "boolean",
        "overdue_noted": "boolean",
    },
    defaults={**dict.fromkeys(_INVOICE_SUMS, 0), "sends": 0, "overdue_noted": False},
    changing=(*_INVOICE_SUMS, "position", "sends", "overdue_noted"),
)
_PAYMENT_SUMS = ("allocated_minor", "refunded_minor", "taken_back_minor")
PAYMENTS = Table(
    "balance_payments",
    {
        "payment_id": "uuid",
        "account_id": "uuid",
        "currency": "text",
        "amount_minor": "bigint",
        **dict.fromkeys(_PAYMENT_SUMS, "bigint"),
        "method": "text",
        "status": "text",
        "received_on": "date",
        "reference": "text",
        "failure_code": "text",
        "failure_message": "text",
        "position": "bigint",
        "purpose": "text",
        "recorded_position": "bigint",
    },
    defaults=dict.fromkeys(_PAYMENT_SUMS, 0),
    changing=(*_PAYMENT_SUMS, "status", "failure_code", "failure_message", "position"),
)
ARRANGEMENTS = Table(
    "balance_arrangements",
    {
        "arrangement_id": "uuid",
        "account_id": "uuid",
        "kind": "text",
        "status": "text",
        "position": "bigint",
    },
    changing=("status", "position"),
)
EVENTS = Table(
    "account_events",
    {
        "position": "bigint",
        "account_id": "uuid",
        "type": "text",
        "recorded_at": "timestamptz",
        "cloudevent": "json",
    },
)
