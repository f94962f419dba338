"""The receivables read model: every change to what is owed and every movement of cash,
as dated rows, so that reports can be asked about any date (``as_of``, business time)
and as the ledger stood at any moment (``as_known_at``: the rows up to the last position
committed by then, ``infra/commits.py``).

A row is never changed once written: a report for a past date reads the rows effective
by then, and one ``as_known_at`` a moment also reads only the rows of the positions
committed by then, so both are reproducible. Dates follow PRODUCT.md's definitions: an
invoice counts from its ``issued_on``; an allocation takes effect on the later of its
payment's ``received_on`` and its invoice's ``issued_on`` (the event's own effective time
already says so); a credit note, write-off or void on its own date. No movement of an
invoice is dated before the invoice was issued.

Beside the rows, three running sums of the movements, kept in the same transaction, so
that a portfolio report reads a row an open invoice or a row a day instead of every
movement: each invoice's ``owed_minor`` (all its movements, whatever their date), each
day's movements by kind (``receivable_days``), and, by due date, what was moved on
invoices before they fell due (``receivable_not_yet_due``). A report for a date subtracts
the few movements dated after it; one ``as_known_at`` reads the rows."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

from psycopg import Connection

from projections.totals import TOTAL
from projections.writer import fresh_per_account

NAME = "receivables"

# What a movement does to an invoice's outstanding amount: its kind and its sign.
MOVEMENTS = {
    "arledger.invoice.raised": ("invoiced", +1),
    "arledger.invoice.payment_allocated": ("allocated", -1),
    "arledger.invoice.payment_unallocated": ("unallocated", +1),
    "arledger.invoice.credit_note_issued": ("credited", -1),
    "arledger.invoice.voided": ("voided", -1),
    "arledger.invoice.written_off": ("written_off", -1),
}
SALES_KINDS = ("invoiced", "credited", "voided")  # a void cancels a sale, as a credit note
# What a cash event does to the cash held: its kind and its sign.
CASH = {
    "arledger.payment.refunded": ("refunded", -1),
    "arledger.payment.returned": ("returned", -1),
    "arledger.payment.chargeback_opened": ("chargeback", -1),
    "arledger.payment.forfeited": ("forfeited", -1),
}

# The running sums of a run of new movements (``%(positions)s``), each statement's rows
# taken in key order: consumers of other partitions add to the same days at once, and
# rows locked in one order cannot deadlock.
SUMS_SQL = (
    """
UPDATE receivable_invoices i SET owed_minor = i.owed_minor + m.moved
  FROM (SELECT invoice_id, SUM(amount_minor) AS moved FROM receivable_movements
         WHERE position = ANY(%(positions)s::bigint[]) GROUP BY invoice_id) m
 WHERE i.invoice_id = m.invoice_id
""",
    """
INSERT INTO receivable_days AS d (currency, effective_on, kind, amount_minor, days_minor)
SELECT m.currency, m.effective_on, m.kind, SUM(m.amount_minor),
       SUM(m.amount_minor::numeric * (m.effective_on - i.issued_on))
  FROM receivable_movements m JOIN receivable_invoices i ON i.invoice_id = m.invoice_id
 WHERE m.position = ANY(%(positions)s::bigint[])
 GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
ON CONFLICT (currency, effective_on, kind) DO UPDATE
   SET amount_minor = d.amount_minor + EXCLUDED.amount_minor,
       days_minor = d.days_minor + EXCLUDED.days_minor
""",
    """
INSERT INTO receivable_not_yet_due AS n (currency, due_on, effective_on, amount_minor)
SELECT m.currency, i.due_on, m.effective_on, SUM(m.amount_minor)
  FROM receivable_movements m JOIN receivable_invoices i ON i.invoice_id = m.invoice_id
 WHERE m.position = ANY(%(positions)s::bigint[]) AND m.effective_on <= i.due_on
 GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
ON CONFLICT (currency, due_on, effective_on) DO UPDATE
   SET amount_minor = n.amount_minor + EXCLUDED.amount_minor
""",
)

# A database made before the running sums: on the first start after, they are added up
# once from the movements, under a lock that keeps consumers from adding movements
# meanwhile (they wait, then keep the sums). Nothing happens once the column exists.
SUMS_BACKFILL = f"""
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_attribute
                WHERE attrelid = 'receivable_invoices'::regclass
                  AND attname = 'owed_minor' AND NOT attisdropped) THEN
        RETURN;
    END IF;
    LOCK TABLE receivable_movements IN SHARE MODE;
    ALTER TABLE receivable_invoices ADD COLUMN owed_minor {TOTAL} NOT NULL DEFAULT 0;
    UPDATE receivable_invoices i SET owed_minor = m.moved
      FROM (SELECT invoice_id, SUM(amount_minor) AS moved
              FROM receivable_movements GROUP BY invoice_id) m
     WHERE i.invoice_id = m.invoice_id;
    DELETE FROM receivable_days;
    INSERT INTO receivable_days (currency, effective_on, kind, amount_minor, days_minor)
    SELECT m.currency, m.effective_on, m.kind, SUM(m.amount_minor),
           SUM(m.amount_minor::numeric * (m.effective_on - i.issued_on))
      FROM receivable_movements m JOIN receivable_invoices i ON i.invoice_id = m.invoice_id
     GROUP BY 1, 2, 3;
    DELETE FROM receivable_not_yet_due;
    INSERT INTO receivable_not_yet_due (currency, due_on, effective_on, amount_minor)
    SELECT m.currency, i.due_on, m.effective_on, SUM(m.amount_minor)
      FROM receivable_movements m JOIN receivable_invoices i ON i.invoice_id = m.invoice_id
     WHERE m.effective_on <= i.due_on
     GROUP BY 1, 2, 3;
END $$;
"""

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS receivable_accounts (
    account_id uuid PRIMARY KEY,
    name text NOT NULL,
    currency char(3) NOT NULL,
    position bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS receivable_invoices (
    invoice_id uuid PRIMARY KEY,
    account_id uuid NOT NULL,
    number text NOT NULL,
    currency char(3) NOT NULL,
    amount_minor bigint NOT NULL,
    issued_on date NOT NULL,
    due_on date NOT NULL,
    recorded_at timestamptz NOT NULL,
    settled_on date,
    owed_minor {TOTAL} NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS receivable_invoices_settled
    ON receivable_invoices (account_id, settled_on);
CREATE TABLE IF NOT EXISTS receivable_movements (
    position bigint PRIMARY KEY,
    account_id uuid NOT NULL,
    invoice_id uuid NOT NULL,
    payment_id uuid,
    currency char(3) NOT NULL,
    kind text NOT NULL,
    amount_minor bigint NOT NULL,
    effective_on date NOT NULL,
    recorded_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS receivable_movements_dated
    ON receivable_movements (currency, effective_on);
CREATE INDEX IF NOT EXISTS receivable_movements_account
    ON receivable_movements (account_id, effective_on);
CREATE INDEX IF NOT EXISTS receivable_movements_payment
    ON receivable_movements (payment_id) WHERE payment_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS receivable_payments (
    payment_id uuid PRIMARY KEY,
    account_id uuid NOT NULL,
    currency char(3) NOT NULL,
    amount_minor bigint NOT NULL,
    method text NOT NULL,
    purpose text NOT NULL
);
CREATE TABLE IF NOT EXISTS receivable_cash (
    position bigint PRIMARY KEY,
    account_id uuid NOT NULL,
    payment_id uuid NOT NULL,
    currency char(3) NOT NULL,
    method text NOT NULL,
    purpose text NOT NULL,
    kind text NOT NULL,
    amount_minor bigint NOT NULL,
    effective_on date NOT NULL,
    recorded_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS receivable_cash_dated ON receivable_cash (currency, effective_on);
CREATE TABLE IF NOT EXISTS receivable_days (
    currency char(3) NOT NULL,
    effective_on date NOT NULL,
    kind text NOT NULL,
    amount_minor {TOTAL} NOT NULL,
    days_minor {TOTAL} NOT NULL,  -- each amount times its days from its invoice's issue
    PRIMARY KEY (currency, effective_on, kind)
);
CREATE TABLE IF NOT EXISTS receivable_not_yet_due (
    currency char(3) NOT NULL,
    due_on date NOT NULL,
    effective_on date NOT NULL,  -- no later than due_on: what moved before it fell due
    amount_minor {TOTAL} NOT NULL,
    PRIMARY KEY (currency, due_on, effective_on)
);
{SUMS_BACKFILL}
CREATE INDEX IF NOT EXISTS receivable_invoices_owing
    ON receivable_invoices (currency, account_id) WHERE owed_minor <> 0;
"""

Handler = Callable[[Connection[Any], dict[str, Any]], None]


def effective_date(ce: dict[str, Any]) -> date:
    """The business date of a CloudEvent (UTC)."""
    return datetime.fromisoformat(ce["effectivetime"]).astimezone(UTC).date()


def _account_opened(conn: Connection[Any], ce: dict[str, Any]) -> None:
    d = ce["data"]
    conn.execute(
        "INSERT INTO receivable_accounts (account_id, name, currency, position)"
        " VALUES (%s, %s, %s, %s) ON CONFLICT (account_id) DO NOTHING",
        (ce["accountid"], d["name"], d["currency"], ce["position"]),
    )


def _account_details_updated(conn: Connection[Any], ce: dict[str, Any]) -> None:
    name = ce["data"]["changes"].get("name")
    if name is not None:
        conn.execute(
            "UPDATE receivable_accounts SET name = %s WHERE account_id = %s",
            (name, ce["accountid"]),
        )


def _invoice_raised(conn: Connection[Any], ce: dict[str, Any]) -> None:
    d = ce["data"]
    conn.execute(
        "INSERT INTO receivable_invoices (invoice_id, account_id, number, currency,"
        " amount_minor, issued_on, due_on, recorded_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (invoice_id) DO NOTHING",
        (
            ce["subject"],
            ce["accountid"],
            d["number"],
            d["amount"]["currency"],
            d["amount"]["amount"],
            d["issued_on"],
            d["due_on"],
            ce["time"],
        ),
    )
    _movement(conn, ce)


def _movement(conn: Connection[Any], ce: dict[str, Any]) -> None:
    """One change to an invoice's outstanding amount, dated no earlier than its issue."""
    kind, sign = MOVEMENTS[ce["type"]]
    d = ce["data"]
    conn.execute(
        "INSERT INTO receivable_movements (position, account_id, invoice_id, payment_id,"
        " currency, kind, amount_minor, effective_on, recorded_at)"
        " SELECT %(position)s, i.account_id, i.invoice_id, %(payment)s, i.currency, %(kind)s,"
        " %(amount)s, GREATEST(%(on)s::date, i.issued_on), %(recorded)s"
        " FROM receivable_invoices i WHERE i.invoice_id = %(invoice)s"
        " ON CONFLICT (position) DO NOTHING",
        {
            "position": ce["position"],
            "payment": d.get("payment_id"),
            "kind": kind,
            "amount": sign * d["amount"]["amount"],
            "on": effective_date(ce),
            "recorded": ce["time"],
            "invoice": ce["subject"],
        },
    )


def _settled(conn: Connection[Any], ce: dict[str, Any]) -> None:
    conn.execute(
        "UPDATE receivable_invoices SET settled_on = %s WHERE invoice_id = %s",
        (effective_date(ce), ce["subject"]),
    )


def _reopened(conn: Connection[Any], ce: dict[str, Any]) -> None:
    conn.execute(
        "UPDATE receivable_invoices SET settled_on = NULL WHERE invoice_id = %s", (ce["subject"],)
    )


def _payment_recorded(conn: Connection[Any], ce: dict[str, Any]) -> None:
    d = ce["data"]
    conn.execute(
        "INSERT INTO receivable_payments (payment_id, account_id, currency, amount_minor,"
        " method, purpose) VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (payment_id) DO NOTHING",
        (
            ce["subject"],
            ce["accountid"],
            d["amount"]["currency"],
            d["amount"]["amount"],
            d["method"],
            d.get("purpose", "payment"),
        ),
    )
    if d["status"] == "succeeded":
        _cash(conn, ce, "received", None)


def _cash(conn: Connection[Any], ce: dict[str, Any], kind: str, amount: int | None) -> None:
    """Cash into (+) or out of (-) a payment; ``None`` is the payment's whole amount."""
    conn.execute(
        "INSERT INTO receivable_cash (position, account_id, payment_id, currency, method,"
        " purpose, kind, amount_minor, effective_on, recorded_at)"
        " SELECT %(position)s, p.account_id, p.payment_id, p.currency, p.method, p.purpose,"
        " %(kind)s, COALESCE(%(amount)s, p.amount_minor), %(on)s, %(recorded)s"
        " FROM receivable_payments p WHERE p.payment_id = %(payment)s"
        " ON CONFLICT (position) DO NOTHING",
        {
            "position": ce["position"],
            "kind": kind,
            "amount": amount,
            "on": effective_date(ce),
            "recorded": ce["time"],
            "payment": ce["subject"],
        },
    )


def _cash_moved(conn: Connection[Any], ce: dict[str, Any]) -> None:
    kind, sign = CASH[ce["type"]]
    _cash(conn, ce, kind, sign * ce["data"]["amount"]["amount"])


def _chargeback_closed(conn: Connection[Any], ce: dict[str, Any]) -> None:
    if ce["data"]["outcome"] == "won":
        _cash(conn, ce, "chargeback_won", ce["data"]["amount"]["amount"])


HANDLERS: dict[str, Handler] = {
    "arledger.account.opened": _account_opened,
    "arledger.account.details_updated": _account_details_updated,
    "arledger.invoice.raised": _invoice_raised,
    **{kind: _movement for kind in MOVEMENTS if kind != "arledger.invoice.raised"},
    "arledger.invoice.settled": _settled,
    "arledger.invoice.reopened": _reopened,
    "arledger.payment.recorded": _payment_recorded,
    "arledger.payment.succeeded": lambda conn, ce: _cash(conn, ce, "received", None),
    **{kind: _cash_moved for kind in CASH},
    "arledger.payment.chargeback_closed": _chargeback_closed,
}


def apply(conn: Connection[Any], events: Sequence[dict[str, Any]]) -> None:
    """Apply new CloudEvents, each account's once, pipelined."""
    fresh = fresh_per_account(conn, "receivable_accounts", events)
    moved: list[int] = []  # the positions of the movements among them
    with conn.pipeline():
        for ce in fresh:
            handler = HANDLERS.get(ce["type"])
            if handler is not None:
                handler(conn, ce)
                if ce["type"] in MOVEMENTS:
                    moved.append(ce["position"])
        if moved:
            for statement in SUMS_SQL:
                conn.execute(statement, {"positions": moved})


def applied_cash(conn: Connection[Any], account_id: UUID) -> list[tuple[Any, ...]]:
    """What each of the account's payments (deposits left out) still has applied to each
    invoice, dated by its first allocation there, earliest first: ``(payment_id,
    invoice_id, allocated_on, applied_minor)``. The scheduler counts this cash."""
    return conn.execute(
        "SELECT m.payment_id, m.invoice_id,"
        " MIN(m.effective_on) FILTER (WHERE m.kind = 'allocated'), -SUM(m.amount_minor)"
        " FROM receivable_movements m"
        " JOIN receivable_payments p ON p.payment_id = m.payment_id"
        " WHERE m.account_id = %s AND m.kind IN ('allocated', 'unallocated')"
        " AND p.purpose = 'payment'"
        " GROUP BY 1, 2 HAVING SUM(m.amount_minor) < 0 ORDER BY 3, MIN(m.position)",
        (account_id,),
    ).fetchall()
