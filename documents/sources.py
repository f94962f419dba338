"""Where documents read the ledger: a statement from the audit read model (every event
of the account, in store order, with when it took effect and when it was recorded), up to
a position, so that a past statement reads exactly the same events. A moment
(``as_known_at``) maps to the last position committed by then, in commit order
(``infra/commits.py``), as the reports and the replay map it: never by the writing
process's clock, which can stamp a later position earlier than the one before it."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

from psycopg import Connection
from psycopg.rows import dict_row

from documents.statement import Statement, build
from infra.commits import known_position_or_none

STATEMENT_SQL = """
SELECT position, type, subject, effective_at, recorded_at, data
  FROM audit_entries
 WHERE account_id = %(account)s
   AND (%(upto)s::bigint IS NULL OR position <= %(upto)s::bigint)
 ORDER BY position
"""


def _upto(conn: Connection[Any], as_known_at: datetime | None, upto: int | None) -> int | None:
    """The last position to read: the one committed by ``as_known_at`` and at most
    ``upto``, whichever is earlier (``None``: every position)."""
    bounds = [p for p in (known_position_or_none(conn, as_known_at), upto) if p is not None]
    return min(bounds) if bounds else None


def statement_rows(
    conn: Connection[Any], account_id: UUID, as_known_at: datetime | None, upto: int | None
) -> list[dict[str, Any]]:
    params = {"account": account_id, "upto": _upto(conn, as_known_at, upto)}
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(STATEMENT_SQL, params).fetchall()


def statement(
    conn: Connection[Any],
    account_id: UUID,
    period: tuple[date, date],
    as_known_at: datetime | None = None,
    upto: int | None = None,
) -> Statement | None:
    """None when the read model holds nothing of the account (yet)."""
    rows = statement_rows(conn, account_id, as_known_at, upto)
    if not rows:
        return None
    return build(str(account_id), rows, period, as_known_at)
