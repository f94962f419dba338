"""Every bank statement line taken, once by its fingerprint, with what was done with it:
``allocated``, ``already-in-ledger`` (a person had recorded the receipt before),
``outgoing`` (money out, not a receipt), ``exception`` (waiting for a person, with its
candidate matches), then ``resolved`` or ``dismissed`` by that person.

A line is claimed and settled in one transaction around the ledger commands it causes,
whose ids come from the line: if the import dies half-way, the line's row goes with the
rollback and the next import of the file does the same thing again, which the ledger
then finds done (an import claims and settles its lines a chunk at a time, around one
ledger save for the chunk: ``claim_many``, ``settle_many``). The ledger's events are the
record of the money; this table is the queue a person works and the memory of which
lines were seen."""

from __future__ import annotations

from collections.abc import Sequence
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


# ``claim_many`` and ``settle_many`` send their arrays in PostgreSQL's binary format
# (``%b``): the text format escapes every element of an array with a regular expression,
# which cost a 1,000-line chunk 70 ms of CPU to settle (14 ms in binary).


def claim_many(
    conn: Connection[Any], lines: Sequence[StatementLine], statement_id: UUID, method: str
) -> dict[UUID, datetime]:
    """Take each of ``lines`` for this statement, unless it was taken before (by this
    statement, in an import that died, or by an earlier overlapping one); returns the
    fingerprints taken now, each with the time it was stamped as taken.

    Rows are inserted in fingerprint order, so that two imports of overlapping files
    wait for each other's lines instead of deadlocking. Each line is stamped as taken a
    microsecond after the one before it in the file, as when each line was taken in a
    transaction of its own: the queue's ``imported_at`` order and cursor stay the file's."""
    rows = conn.execute(
        "INSERT INTO bank_lines (line_id, statement_id, row_number, received_on, currency,"
        " amount_minor, reference, payer, method, outcome, imported_at)"
        " SELECT l.line_id, %b, l.row_number, l.received_on, l.currency, l.amount_minor,"
        " l.reference, l.payer, %b, 'taking', now() + l.n * interval '1 microsecond'"
        " FROM unnest(%b::uuid[], %b::int[], %b::date[], %b::text[], %b::bigint[], %b::text[],"
        " %b::text[]) WITH ORDINALITY"
        " AS l(line_id, row_number, received_on, currency, amount_minor, reference, payer, n)"
        " ORDER BY l.line_id ON CONFLICT (line_id) DO NOTHING RETURNING line_id, imported_at",
        (
            statement_id,
            method,
            [line.fingerprint for line in lines],
            [line.row for line in lines],
            [line.on for line in lines],
            [line.amount.currency for line in lines],
            [line.amount.amount_minor for line in lines],
            [line.reference for line in lines],
            [line.payer for line in lines],
        ),
    ).fetchall()
    return {line_id: imported_at for line_id, imported_at in rows}


JSON_FIELDS = ("evidence", "candidates", "allocations")
SETTLED_FIELDS = ("outcome", "reason", "account_id", "payment_id", *JSON_FIELDS)


def _settled_values(fields: dict[str, Any]) -> dict[str, Any]:
    """The columns ``settle_many`` sets from a line's ``fields``, as Python values."""
    assert set(fields) <= set(SETTLED_FIELDS), (
        f"not an outcome: {set(fields) - set(SETTLED_FIELDS)}"
    )
    return {
        name: (fields.get(name) or []) if name in JSON_FIELDS else fields.get(name)
        for name in SETTLED_FIELDS
    }


def settled_row(
    line: StatementLine,
    statement_id: UUID,
    method: str,
    imported_at: datetime,
    fields: dict[str, Any],
) -> dict[str, Any]:
    """The row a line claimed now (at ``imported_at``) holds once ``settle_many`` has set
    ``fields``, as ``get`` would read it back: what an import reports of the lines it
    took, without reading them again."""
    return {
        "line_id": line.fingerprint,
        "statement_id": statement_id,
        "row_number": line.row,
        "received_on": line.on,
        "currency": line.amount.currency,
        "amount_minor": line.amount.amount_minor,
        "reference": line.reference,
        "payer": line.payer,
        "method": method,
        **_settled_values(fields),
        "imported_at": imported_at,
        "resolved_by": None,
        "resolved_at": None,
        "note": None,
    }


def settle_many(conn: Connection[Any], settled: Sequence[tuple[UUID, dict[str, Any]]]) -> None:
    """Set each line's outcome and what goes with it, as ``settle`` does (a field not
    given keeps the value a claimed line has), in one statement."""
    if not settled:
        return
    columns: dict[str, list[Any]] = {name: [] for name in SETTLED_FIELDS}
    for _, fields in settled:
        for name, value in _settled_values(fields).items():
            columns[name].append(Jsonb(value) if name in JSON_FIELDS else value)
    conn.execute(
        "UPDATE bank_lines b SET outcome = v.outcome, reason = v.reason,"
        " account_id = v.account_id, payment_id = v.payment_id, evidence = v.evidence,"
        " candidates = v.candidates, allocations = v.allocations"
        " FROM unnest(%b::uuid[], %b::text[], %b::text[], %b::uuid[], %b::uuid[], %b::jsonb[],"
        " %b::jsonb[], %b::jsonb[])"
        " AS v(line_id, outcome, reason, account_id, payment_id, evidence, candidates,"
        " allocations) WHERE b.line_id = v.line_id",
        ([line_id for line_id, _ in settled], *columns.values()),
    )


def settle(conn: Connection[Any], line_id: UUID, **fields: Any) -> None:
    """Set the line's outcome and what goes with it (json fields as Python values)."""
    names = sorted(fields)
    values = [Jsonb(fields[n]) if n in JSON_FIELDS else fields[n] for n in names]
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


def outcomes_of(conn: Connection[Any], statement_id: UUID) -> list[dict[str, Any]]:
    """The lines the statement took, in ``listing``'s order, with what became of each but
    not what a person is shown of it (evidence, candidates, allocations): what the
    record of an import counts and names."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT line_id, row_number, currency, amount_minor, reference, payer, outcome,"
            " reason, account_id FROM bank_lines WHERE statement_id = %s"
            " ORDER BY imported_at, statement_id, row_number",
            (statement_id,),
        ).fetchall()


def of_lines(conn: Connection[Any], line_ids: list[UUID]) -> list[dict[str, Any]]:
    """The rows of these lines, whichever statement took them, in the order given (a
    line no statement took is left out)."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            f"SELECT {COLUMNS} FROM bank_lines WHERE line_id = ANY(%s)", (line_ids,)
        ).fetchall()
    by_id = {r["line_id"]: r for r in rows}
    return [by_id[i] for i in line_ids if i in by_id]
