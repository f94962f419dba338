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

from projections.receivable_batch import Batch
from projections.totals import TOTAL
from projections.writer import unseen_per_account

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

Handler = Callable[[Batch, dict[str, Any]], None]


def effective_date(ce: dict[str, Any]) -> date:
    """The business date of a CloudEvent (UTC)."""
    return datetime.fromisoformat(ce["effectivetime"]).astimezone(UTC).date()


def _account_opened(batch: Batch, ce: dict[str, Any]) -> None:
    if not batch.accounts.has(ce["accountid"]):
        d = ce["data"]
        batch.accounts.add(
            ce["accountid"],
            {"name": d["name"], "currency": d["currency"], "position": ce["position"]},
        )


def _account_details_updated(batch: Batch, ce: dict[str, Any]) -> None:
    name = ce["data"]["changes"].get("name")
    account = batch.accounts.get(ce["accountid"])
    if name is not None and account is not None:
        account["name"] = name


def _invoice_raised(batch: Batch, ce: dict[str, Any]) -> None:
    if not batch.invoices.has(ce["subject"]):
        d = ce["data"]
        batch.invoices.add(
            ce["subject"],
            {
                "account_id": ce["accountid"],
                "number": d["number"],
                "currency": d["amount"]["currency"],
                "amount_minor": d["amount"]["amount"],
                "issued_on": date.fromisoformat(d["issued_on"]),
                "due_on": date.fromisoformat(d["due_on"]),
                "recorded_at": ce["time"],
            },
        )
    _movement(batch, ce)


def _movement(batch: Batch, ce: dict[str, Any]) -> None:
    """One change to an invoice's outstanding amount, dated no earlier than its issue."""
    invoice = batch.invoices.get(ce["subject"])
    if invoice is None:
        return
    kind, sign = MOVEMENTS[ce["type"]]
    d = ce["data"]
    amount = sign * d["amount"]["amount"]
    batch.move(ce, invoice, kind, amount, effective_date(ce), d.get("payment_id"))


def _settled(batch: Batch, ce: dict[str, Any]) -> None:
    invoice = batch.invoices.get(ce["subject"])
    if invoice is not None:
        invoice["settled_on"] = effective_date(ce)


def _reopened(batch: Batch, ce: dict[str, Any]) -> None:
    invoice = batch.invoices.get(ce["subject"])
    if invoice is not None:
        invoice["settled_on"] = None


def _payment_recorded(batch: Batch, ce: dict[str, Any]) -> None:
    if not batch.payments.has(ce["subject"]):
        d = ce["data"]
        batch.payments.add(
            ce["subject"],
            {
                "account_id": ce["accountid"],
                "currency": d["amount"]["currency"],
                "amount_minor": d["amount"]["amount"],
                "method": d["method"],
                "purpose": d.get("purpose", "payment"),
            },
        )
    if ce["data"]["status"] == "succeeded":
        _cash(batch, ce, "received", None)


def _cash(batch: Batch, ce: dict[str, Any], kind: str, amount: int | None) -> None:
    """Cash into (+) or out of (-) a payment; ``None`` is the payment's whole amount."""
    payment = batch.payments.get(ce["subject"])
    if payment is not None:
        whole = payment["amount_minor"] if amount is None else amount
        batch.cash_moved(ce, payment, kind, whole, effective_date(ce))


def _cash_moved(batch: Batch, ce: dict[str, Any]) -> None:
    kind, sign = CASH[ce["type"]]
    _cash(batch, ce, kind, sign * ce["data"]["amount"]["amount"])


def _chargeback_closed(batch: Batch, ce: dict[str, Any]) -> None:
    if ce["data"]["outcome"] == "won":
        _cash(batch, ce, "chargeback_won", ce["data"]["amount"]["amount"])


HANDLERS: dict[str, Handler] = {
    "arledger.account.opened": _account_opened,
    "arledger.account.details_updated": _account_details_updated,
    "arledger.invoice.raised": _invoice_raised,
    **{kind: _movement for kind in MOVEMENTS if kind != "arledger.invoice.raised"},
    "arledger.invoice.settled": _settled,
    "arledger.invoice.reopened": _reopened,
    "arledger.payment.recorded": _payment_recorded,
    "arledger.payment.succeeded": lambda batch, ce: _cash(batch, ce, "received", None),
    **{kind: _cash_moved for kind in CASH},
    "arledger.payment.chargeback_closed": _chargeback_closed,
}
# The events whose subject is an invoice, or a payment, that a handler reads or makes.
_OF_INVOICES = frozenset(k for k in HANDLERS if k.startswith("arledger.invoice."))
_OF_PAYMENTS = frozenset(k for k in HANDLERS if k.startswith("arledger.payment."))


def apply(conn: Connection[Any], events: Sequence[dict[str, Any]]) -> None:
    """Apply new CloudEvents, each account's once: the rows they touch read in one round
    trip, changed and made in memory, written in another (``receivable_batch.py``)."""
    fresh = unseen_per_account(conn, "receivable_accounts", events)
    if not fresh:
        return
    batch = Batch()
    batch.load(
        conn,
        accounts={ce["accountid"] for ce in fresh},
        invoices={ce["subject"] for ce in fresh if ce["type"] in _OF_INVOICES},
        payments={ce["subject"] for ce in fresh if ce["type"] in _OF_PAYMENTS},
    )
    for ce in fresh:
        handler = HANDLERS.get(ce["type"])
        if handler is not None:
            handler(batch, ce)
        account = batch.accounts.get(ce["accountid"])
        if account is not None:
            account["position"] = ce["position"]
    batch.write(conn)


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
