"""Queries on the balances read model, returning plain rows for the API to shape."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

from psycopg import Connection
from psycopg.rows import dict_row

from projections.replay.fold import fold
from projections.totals import whole_rows

BALANCE_SQL = """
SELECT a.account_id, a.currency, a.invoiced_minor, a.paid_minor, a.allocated_minor,
       a.credited_minor, a.written_off_minor, a.refunded_minor,
       COALESCE((SELECT SUM(i.amount_minor - i.allocated_minor - i.credited_minor
                            - i.written_off_minor - i.voided_minor)
                   FROM balance_invoices i
                  WHERE i.account_id = a.account_id AND i.due_on < %(as_of)s), 0) AS overdue_minor,
       COALESCE((SELECT SUM(p.amount_minor - p.refunded_minor - p.taken_back_minor
                            - p.allocated_minor)
                   FROM balance_payments p
                  WHERE p.account_id = a.account_id AND p.purpose = 'deposit'
                    AND p.status = 'succeeded'), 0) AS deposits_held_minor
  FROM balance_accounts a
 WHERE a.account_id = %(account_id)s
"""

# The figures of a balance (an account's or the portfolio's): totals, read back as ints.
FIGURES = (
    "invoiced_minor",
    "paid_minor",
    "allocated_minor",
    "credited_minor",
    "written_off_minor",
    "refunded_minor",
    "overdue_minor",
    "deposits_held_minor",
)


def outstanding_minor(row: dict[str, Any]) -> int:
    """What a balances row (an account's, or the portfolio's) says is still owed."""
    return int(
        row["invoiced_minor"]
        - row["allocated_minor"]
        - row["credited_minor"]
        - row["written_off_minor"]
    )


def balance(conn: Connection[Any], account_id: UUID, as_of: date) -> dict[str, Any] | None:
    """The account's running totals (everything recorded, whatever its date: today's
    balance); ``overdue_minor`` is what is outstanding on invoices due before ``as_of``.
    At a date, every figure: :func:`balance_as_of`."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(BALANCE_SQL, {"account_id": account_id, "as_of": as_of})
        return next(iter(whole_rows(rows, *FIGURES)), None)


def balance_as_of(conn: Connection[Any], account_id: UUID, as_of: date) -> dict[str, Any] | None:
    """The account's figures at the end of ``as_of`` by effective time, as the reports
    date them (the README's "Receivables at a date"): the replay fold
    (``projections/replay/fold.py``) over the account's history in this read model. The
    same keys as :func:`balance`."""
    rows = conn.execute(
        "SELECT cloudevent FROM account_events WHERE account_id = %s ORDER BY position",
        (account_id,),
    ).fetchall()
    if not rows:
        return None
    state = fold(account_id, [row[0] for row in rows], as_of)
    return {
        "account_id": account_id,
        "currency": state.currency,
        "invoiced_minor": state.invoiced,
        "paid_minor": state.paid,
        "allocated_minor": state.allocated,
        "credited_minor": state.credited,
        "written_off_minor": state.written_off,
        "refunded_minor": state.refunded,
        "overdue_minor": state.overdue,
        "deposits_held_minor": state.deposits_held,
    }


def invoice(conn: Connection[Any], invoice_id: UUID) -> dict[str, Any] | None:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT * FROM balance_invoices WHERE invoice_id = %s", (invoice_id,)
        ).fetchone()


def account_events(
    conn: Connection[Any], account_id: UUID, known: int | None, after: int, limit: int
) -> list[dict[str, Any]]:
    """The account's events in store order, only those up to position ``known`` if given
    (the last committed by a moment: ``infra/commits.py``)."""
    rows = conn.execute(
        "SELECT cloudevent FROM account_events"
        " WHERE account_id = %s AND position > %s"
        " AND (%s::bigint IS NULL OR position <= %s::bigint)"
        " ORDER BY position LIMIT %s",
        (account_id, after, known, known, limit),
    ).fetchall()
    return [row[0] for row in rows]


PORTFOLIO_SQL = """
SELECT COUNT(*) AS accounts,
       COALESCE(SUM(a.invoiced_minor), 0) AS invoiced_minor,
       COALESCE(SUM(a.paid_minor), 0) AS paid_minor,
       COALESCE(SUM(a.allocated_minor), 0) AS allocated_minor,
       COALESCE(SUM(a.credited_minor), 0) AS credited_minor,
       COALESCE(SUM(a.written_off_minor), 0) AS written_off_minor,
       (SELECT COALESCE(SUM(i.amount_minor - i.allocated_minor - i.credited_minor
                            - i.written_off_minor - i.voided_minor), 0)
          FROM balance_invoices i
         WHERE i.currency = %(currency)s AND i.due_on < %(as_of)s) AS overdue_minor
  FROM balance_accounts a
 WHERE a.currency = %(currency)s
"""


def portfolio(conn: Connection[Any], currency: str, as_of: date) -> dict[str, Any]:
    """The accounts of ``currency`` added up; ``overdue_minor`` as in :func:`balance`."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(PORTFOLIO_SQL, {"currency": currency, "as_of": as_of})
        (row,) = whole_rows(rows, "accounts", *FIGURES)
    return row
