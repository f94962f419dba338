"""What the processes beside the API read from the balances read model: the bank
statement import, the Stripe reconciliation and the scheduler. The tables stay this
read model's own (``balance_tables``); callers get rows and never write SQL against them.
Each function takes an open connection, so a caller that reads twice keeps one."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

from psycopg import Connection
from psycopg.rows import dict_row

ACCOUNT_INVOICES_SQL = """
SELECT a.account_id, a.name, a.currency, a.external_ref, i.invoice_id, i.number, i.due_on,
       i.amount_minor - i.allocated_minor - i.credited_minor - i.written_off_minor
       - i.voided_minor AS outstanding
  FROM balance_accounts a LEFT JOIN balance_invoices i ON i.account_id = a.account_id
 WHERE a.currency = %s
 ORDER BY a.account_id, i.due_on, i.number, i.invoice_id
"""
# ``bank_lines`` is the bank channel's table: a payment a statement line already took is
# not a receipt recorded by hand.
BY_HAND_SQL = """
SELECT p.payment_id, p.account_id, p.amount_minor, p.received_on FROM balance_payments p
 WHERE p.currency = %s AND p.status = 'succeeded' AND p.method <> 'card'
   AND p.received_on BETWEEN %s AND %s
   AND NOT EXISTS (SELECT 1 FROM bank_lines b WHERE b.payment_id = p.payment_id)
"""
STRIPE_PAYMENTS_SQL = """
SELECT payment_id, account_id, currency, amount_minor, status, reference, refunded_minor
  FROM balance_payments
 WHERE reference LIKE 'pi\\_%%' AND received_on BETWEEN %s AND %s
"""


def account_invoices(conn: Connection[Any], currency: str) -> list[tuple[Any, ...]]:
    """Every account in ``currency`` with each of its invoices and what is outstanding on
    it: ``(account_id, name, currency, external_ref, invoice_id, number, due_on,
    outstanding)``, the invoice columns None for an account without invoices."""
    return conn.execute(ACCOUNT_INVOICES_SQL, (currency,)).fetchall()


def by_hand_payments(
    conn: Connection[Any], currency: str, first: date, last: date
) -> list[tuple[Any, ...]]:
    """Succeeded non-card payments received from ``first`` to ``last`` that no bank
    statement line took: ``(payment_id, account_id, amount_minor, received_on)``."""
    return conn.execute(BY_HAND_SQL, (currency, first, last)).fetchall()


def stripe_payments(conn: Connection[Any], first: date, last: date) -> list[dict[str, Any]]:
    """The payments received from ``first`` to ``last`` whose reference is a Stripe
    PaymentIntent id, whatever their status."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(STRIPE_PAYMENTS_SQL, (first, last)).fetchall()


def held_payments(conn: Connection[Any], account_id: UUID) -> list[tuple[Any, ...]]:
    """The account's succeeded payments (deposits left out), oldest received first, with
    the cash each still holds after refunds, returns and chargebacks:
    ``(payment_id, received_on, held_minor)``."""
    return conn.execute(
        "SELECT payment_id, received_on, amount_minor - refunded_minor - taken_back_minor"
        " FROM balance_payments WHERE account_id = %s AND status = 'succeeded'"
        " AND purpose = 'payment' ORDER BY received_on, position",
        (account_id,),
    ).fetchall()


def newly_overdue(conn: Connection[Any], today: date) -> list[tuple[Any, ...]]:
    """Invoices due before ``today``, not voided, with something outstanding, whose
    becoming overdue is not yet noted: ``(invoice_id, due_on)``, earliest due first."""
    return conn.execute(
        "SELECT invoice_id, due_on FROM balance_invoices"
        " WHERE NOT overdue_noted AND voided_minor = 0 AND due_on < %s"
        " AND amount_minor - allocated_minor - credited_minor - written_off_minor > 0"
        " ORDER BY due_on, invoice_id",
        (today,),
    ).fetchall()


def accounts_with_open_arrangements(conn: Connection[Any]) -> list[tuple[Any, ...]]:
    """``(account_id,)`` of each account with a promise or plan still open, in the order
    their first open one was made."""
    return conn.execute(
        "SELECT account_id FROM balance_arrangements WHERE status = 'open'"
        " GROUP BY account_id ORDER BY MIN(position)"
    ).fetchall()


def arrangements_to_decide(conn: Connection[Any], account_id: UUID) -> list[tuple[Any, ...]]:
    """``(arrangement_id, position)`` of the account's open and kept promises and every
    plan, in the order they were made."""
    return conn.execute(
        "SELECT arrangement_id, position FROM balance_arrangements WHERE account_id = %s"
        " AND (status IN ('open', 'kept') OR kind = 'payment_plan') ORDER BY position",
        (account_id,),
    ).fetchall()


def accounts_by_external_ref(conn: Connection[Any]) -> dict[str, UUID | None]:
    """Each external reference and its account; ``None`` where two accounts share one."""
    found: dict[str, UUID | None] = {}
    rows = conn.execute(
        "SELECT external_ref, account_id FROM balance_accounts WHERE external_ref IS NOT NULL"
    ).fetchall()
    for ref, account_id in rows:
        found[ref] = None if ref in found else account_id
    return found


def accounts_going_by(conn: Connection[Any], external_ref: str) -> list[UUID]:
    """Every account whose external reference is ``external_ref`` (several, where a
    reference is shared), in id order."""
    rows = conn.execute(
        "SELECT account_id FROM balance_accounts WHERE external_ref = %s ORDER BY account_id",
        (external_ref,),
    ).fetchall()
    return [row[0] for row in rows]
