"""The audit trail read model: every event of the ledger, with who did it, why, when it
took effect and when it was recorded, and what the account owed after it (its
outstanding: invoiced, less allocations, credits, voids and write-offs, plus what was
un-allocated), filterable by account, actor, type and time."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import Connection
from psycopg.rows import dict_row

from projections.receivables import MOVEMENTS
from projections.table_rows import Table, TableRows, json_text
from projections.totals import TOTAL, whole_rows, widen
from projections.writer import OPENED, unseen_per_account

NAME = "audit"
# The column of an entry that is a running total (numeric: read back with ``whole_rows``).
OUTSTANDING = "outstanding_after_minor"

SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS audit_accounts (
    account_id uuid PRIMARY KEY,
    currency char(3) NOT NULL,
    outstanding_minor {TOTAL} NOT NULL DEFAULT 0,
    position bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS audit_entries (
    position bigint PRIMARY KEY,
    account_id uuid NOT NULL,
    type text NOT NULL,
    subject uuid NOT NULL,
    actor text NOT NULL,
    reason text,
    effective_at timestamptz NOT NULL,
    recorded_at timestamptz NOT NULL,
    currency char(3) NOT NULL,
    outstanding_after_minor {TOTAL} NOT NULL,
    correlation_id text,
    causation_id text,
    -- The event's data as sent (``json``, not ``jsonb``: see ``account_events``).
    data json NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_entries_account ON audit_entries (account_id, position);
CREATE INDEX IF NOT EXISTS audit_entries_actor ON audit_entries (actor, position);
CREATE INDEX IF NOT EXISTS audit_entries_recorded ON audit_entries (recorded_at);
-- The write-offs waiting for a decision: their requests and decisions, found by write-off.
CREATE INDEX IF NOT EXISTS audit_entries_write_offs ON audit_entries (subject, type)
    WHERE type IN ('arledger.write_off.requested', 'arledger.write_off.approved',
                   'arledger.write_off.rejected');
"""
    + widen("audit_accounts", "outstanding_minor")
    + widen("audit_entries", OUTSTANDING)
).replace("{TOTAL}", TOTAL)


ACCOUNTS = Table(
    "audit_accounts",
    {
        "account_id": "uuid",
        "currency": "text",
        "outstanding_minor": "numeric",
        "position": "bigint",
    },
    defaults={"outstanding_minor": 0},
    changing=("outstanding_minor", "position"),
    totals=("outstanding_minor",),
)
ENTRIES = Table(
    "audit_entries",
    {
        "position": "bigint",
        "account_id": "uuid",
        "type": "text",
        "subject": "uuid",
        "actor": "text",
        "reason": "text",
        "effective_at": "timestamptz",
        "recorded_at": "timestamptz",
        "currency": "text",
        OUTSTANDING: "numeric",
        "correlation_id": "text",
        "causation_id": "text",
        "data": "json",
    },
)


def apply(conn: Connection[Any], events: Sequence[dict[str, Any]]) -> None:
    """An entry per event, with what its account owed after it; the accounts read and
    the entries and accounts written in a statement each (``projections/table_rows.py``)."""
    fresh = unseen_per_account(conn, "audit_accounts", events)
    if not fresh:
        return
    accounts, entries = TableRows(ACCOUNTS), TableRows(ENTRIES)
    with conn.pipeline():
        accounts.load(conn, {ce["accountid"] for ce in fresh if ce["type"] != OPENED})
        accounts.loaded()
    for ce in fresh:
        if ce["type"] == OPENED and not accounts.has(ce["accountid"]):
            accounts.add(ce["accountid"], {"currency": ce["data"]["currency"]})
        account = accounts.get(ce["accountid"])
        if account is None:
            continue
        if ce["type"] in MOVEMENTS:
            account["outstanding_minor"] += (
                MOVEMENTS[ce["type"]][1] * ce["data"]["amount"]["amount"]
            )
        account["position"] = ce["position"]
        entries.add(
            ce["position"],
            {
                "account_id": ce["accountid"],
                "type": ce["type"],
                "subject": ce["subject"],
                "actor": ce["actor"],
                "reason": _reason(ce["data"]),
                "effective_at": ce["effectivetime"],
                "recorded_at": ce["time"],
                "currency": account["currency"],
                OUTSTANDING: account["outstanding_minor"],
                "correlation_id": ce.get("correlationid"),
                "causation_id": ce.get("causationid"),
                "data": json_text(ce["data"]),
            },
        )
    with conn.pipeline():
        accounts.write(conn)
        entries.write(conn, "ON CONFLICT (position) DO NOTHING", arrays=True)


def _reason(data: dict[str, Any]) -> str | None:
    reason = data.get("reason")
    return str(reason) if reason else None


def trail(
    conn: Connection[Any],
    *,
    account_id: UUID | None = None,
    actor: str | None = None,
    event_type: str | None = None,
    recorded_from: datetime | None = None,
    recorded_to: datetime | None = None,
    effective_from: datetime | None = None,
    effective_to: datetime | None = None,
    after: int = 0,
    limit: int = 200,
) -> list[dict[str, Any]]:
    """Entries in store order after position ``after``. ``event_type`` is a whole type,
    or a prefix ending in ``*`` (``arledger.payment.*``)."""
    prefix = event_type[:-1] if event_type and event_type.endswith("*") else None
    exact = None if prefix is not None else event_type
    params = {
        "account": account_id,
        "actor": actor,
        "exact": exact,
        "prefix": prefix,
        "rfrom": recorded_from,
        "rto": recorded_to,
        "efrom": effective_from,
        "eto": effective_to,
        "after": after,
        "limit": limit,
    }
    with conn.cursor(row_factory=dict_row) as cur:
        return whole_rows(cur.execute(TRAIL_SQL, params), OUTSTANDING)


TRAIL_SQL = """
SELECT * FROM audit_entries
 WHERE position > %(after)s
   AND (%(account)s::uuid IS NULL OR account_id = %(account)s::uuid)
   AND (%(actor)s::text IS NULL OR actor = %(actor)s::text)
   AND (%(exact)s::text IS NULL OR type = %(exact)s::text)
   AND (%(prefix)s::text IS NULL OR starts_with(type, %(prefix)s::text))
   AND (%(rfrom)s::timestamptz IS NULL OR recorded_at >= %(rfrom)s::timestamptz)
   AND (%(rto)s::timestamptz IS NULL OR recorded_at <= %(rto)s::timestamptz)
   AND (%(efrom)s::timestamptz IS NULL OR effective_at >= %(efrom)s::timestamptz)
   AND (%(eto)s::timestamptz IS NULL OR effective_at <= %(eto)s::timestamptz)
 ORDER BY position
 LIMIT %(limit)s
"""
