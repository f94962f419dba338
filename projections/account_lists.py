"""Lists over the balances read model: accounts found by name or reference, and an
account's invoices with what each still owes."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from psycopg import Connection
from psycopg.rows import dict_row

from projections.totals import whole_rows

ACCOUNTS_SQL = """
SELECT a.account_id, a.name, a.currency, a.status, a.external_ref, a.email,
       a.invoiced_minor - a.allocated_minor - a.credited_minor - a.written_off_minor
           AS outstanding_minor
  FROM balance_accounts a
 WHERE (%(q)s::text IS NULL OR a.name ILIKE %(like)s OR a.external_ref ILIKE %(like)s)
 ORDER BY a.name, a.account_id
 LIMIT %(limit)s
"""


def _escaped(q: str) -> str:
    return "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def accounts(conn: Connection[Any], q: str | None, limit: int) -> list[dict[str, Any]]:
    """Accounts whose name or external reference contains ``q``, by name."""
    params = {"q": q, "like": _escaped(q or ""), "limit": limit}
    with conn.cursor(row_factory=dict_row) as cur:
        return whole_rows(cur.execute(ACCOUNTS_SQL, params), "outstanding_minor")


def invoices(
    conn: Connection[Any], account_id: UUID, open_only: bool, limit: int
) -> list[dict[str, Any]]:
    """The account's invoices, oldest due first (open ones only if asked)."""
    sql = "SELECT * FROM balance_invoices WHERE account_id = %s"
    if open_only:
        sql += (
            " AND amount_minor - allocated_minor - credited_minor - written_off_minor"
            " - voided_minor > 0"
        )
    sql += " ORDER BY due_on, issued_on, number LIMIT %s"
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(sql, (account_id, limit)).fetchall()


def arrangements(conn: Connection[Any], account_id: UUID) -> list[tuple[UUID, str]]:
    """The account's promises and payment plans (id and kind), by last change."""
    rows = conn.execute(
        "SELECT arrangement_id, kind FROM balance_arrangements WHERE account_id = %s"
        " ORDER BY position",
        (account_id,),
    ).fetchall()
    return [(r[0], r[1]) for r in rows]
