"""Every bank statement line taken, once by its fingerprint, with what was done with it:
``allocated``, ``already-in-ledger`` (a person had recorded the receipt before),
``outgoing`` (money out, not a receipt), ``exception`` (waiting for a person, with its
candidate matches), then ``resolved`` or ``dismissed`` by that person.

A line is claimed and settled in one transaction around the ledger commands it causes,
whose ids come from the line: if the import dies half-way, the line's row goes with the
rollback and the next import of the file does the same thing again, which the ledger
then finds done. The ledger's events are the record of the money; this table is the
queue a person works and the memory of which lines were seen."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import Connection
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from channels.bank_csv import StatementLine
from infra.database import ensure_tables

SCHEMA = """
CREATE TABLE IF NOT EXISTS bank_lines (
    line_id uuid PRIMARY KEY,
    statement_id uuid NOT NULL,
    row_number int NOT NULL,
    received_on date NOT NULL,
    currency char(3) NOT NULL,
    amount_minor bigint NOT NULL,
    reference text NOT NULL,
    payer text NOT NULL,
    method text NOT NULL,
    outcome text NOT NULL,
    reason text,
    account_id uuid,
    payment_id uuid,
    evidence jsonb NOT NULL DEFAULT '[]',
    candidates jsonb NOT NULL DEFAULT '[]',
    allocations jsonb NOT NULL DEFAULT '[]',
    imported_at timestamptz NOT NULL DEFAULT now(),
    resolved_by text,
    resolved_at timestamptz,
    note text
);
CREATE INDEX IF NOT EXISTS bank_lines_statement ON bank_lines (statement_id, row_number);
CREATE INDEX IF NOT EXISTS bank_lines_open ON bank_lines (imported_at, line_id)
    WHERE outcome = 'exception';
"""

COLUMNS = (
    "line_id, statement_id, row_number, received_on, currency, amount_minor, reference,"
    " payer, method, outcome, reason, account_id, payment_id, evidence, candidates, allocations,"
    " imported_at, resolved_by, resolved_at, note"
)


def ensure_schema(conn: Connection[Any]) -> None:
    ensure_tables(conn, SCHEMA)


def claim(
    conn: Connection[Any], line: StatementLine, statement_id: UUID, method: str
) -> dict[str, Any] | None:
    """Take the line for this statement; when it was taken before (by this statement,
    in an import that died, or by an earlier overlapping one), its row instead."""
    inserted = conn.execute(
        "INSERT INTO bank_lines (line_id, statement_id, row_number, received_on, currency,"
        " amount_minor, reference, payer, method, outcome) VALUES (%s, %s, %s, %s, %s, %s, %s,"
        " %s, %s, 'taking') ON CONFLICT (line_id) DO NOTHING RETURNING line_id",
        (
            line.fingerprint,
            statement_id,
            line.row,
            line.on,
            line.amount.currency,
            line.amount.amount_minor,
            line.reference,
            line.payer,
            method,
        ),
    ).fetchone()
    return None if inserted else get(conn, line.fingerprint)


def settle(conn: Connection[Any], line_id: UUID, **fields: Any) -> None:
    """Set the line's outcome and what goes with it (json fields as Python values)."""
    names = sorted(fields)
    values = [
        Jsonb(fields[n]) if n in ("evidence", "candidates", "allocations") else fields[n]
        for n in names
    ]
    assignments = ", ".join(f"{n} = %s" for n in names)
    conn.execute(f"UPDATE bank_lines SET {assignments} WHERE line_id = %s", (*values, line_id))


def get(conn: Connection[Any], line_id: UUID, lock: bool = False) -> dict[str, Any] | None:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            f"SELECT {COLUMNS} FROM bank_lines WHERE line_id = %s{' FOR UPDATE' if lock else ''}",
            (line_id,),
        ).fetchone()


def listing(
    conn: Connection[Any],
    outcome: str | None,
    statement_id: UUID | None,
    after: datetime | None,
    limit: int,
) -> list[dict[str, Any]]:
    """Lines oldest first; ``after`` pages on ``imported_at``."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            f"SELECT {COLUMNS} FROM bank_lines"
            " WHERE (%(outcome)s::text IS NULL OR outcome = %(outcome)s)"
            " AND (%(statement)s::uuid IS NULL OR statement_id = %(statement)s)"
            " AND (%(after)s::timestamptz IS NULL OR imported_at > %(after)s)"
            " ORDER BY imported_at, statement_id, row_number LIMIT %(limit)s",
            {"outcome": outcome, "statement": statement_id, "after": after, "limit": limit},
        ).fetchall()


def of_statement(conn: Connection[Any], statement_id: UUID) -> list[dict[str, Any]]:
    return listing(conn, None, statement_id, None, 1_000_000)


def of_lines(conn: Connection[Any], line_ids: list[UUID]) -> list[dict[str, Any]]:
    """The rows of these lines, whichever statement took them, in the order given."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            f"SELECT {COLUMNS} FROM bank_lines WHERE line_id = ANY(%s)", (line_ids,)
        ).fetchall()
    by_id = {r["line_id"]: r for r in rows}
    return [by_id[i] for i in line_ids if i in by_id]
