"""The store's truth, computed independently of the projections: fold every event in the
store into balances per account, and read what the projection says for comparison.
``paid`` is cash held against invoices: a deposit counts only as far as it is applied.
The fold also holds the store to the rules no read model could show broken: an invoice
is voided at most once, and only while it owes something and has nothing allocated
(never once settled); a void cancels exactly what was left."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from psycopg_pool import ConnectionPool

from ledger.account import Account
from ledger.application import Ledger
from ledger.invoice import Invoice
from ledger.payment import Payment

FIELDS = ("invoiced", "paid", "allocated", "credited", "written_off", "refunded")


def fold_store(ledger: Ledger) -> dict[str, dict[str, int]]:
    """Balances per account from the domain events in the store."""
    totals: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(FIELDS, 0))
    invoices: dict[str, dict[str, Any]] = {}
    after = 0
    while batch := ledger.read_log(after, 1000):
        for notification in batch:
            event = ledger.decode(notification)
            _fold(event, totals, invoices)
        after = batch[-1].id
    return {
        "accounts": {k: dict(v) for k, v in totals.items()},
        "invoices": {k: v for k, v in invoices.items() if not k.startswith("_")},
    }  # type: ignore[return-value]


def _fold(event: Any, totals: dict[str, dict[str, int]], invoices: dict[str, Any]) -> None:
    if isinstance(event, Account.Opened):  # type: ignore[attr-defined]
        totals[str(event.originator_id)]  # an account with nothing yet still has a balance
    elif isinstance(event, Invoice.Raised):  # type: ignore[attr-defined]
        totals[str(event.account_id)]["invoiced"] += event.amount.amount_minor
        invoices[str(event.originator_id)] = {
            "amount": event.amount.amount_minor,
            "allocated": 0,
            "credited": 0,
            "written_off": 0,
            "voided": 0,
        }
    elif isinstance(event, Invoice.PaymentAllocated):  # type: ignore[attr-defined]
        totals[str(event.account_id)]["allocated"] += event.amount.amount_minor
        if str(event.payment_id) in invoices.get("_deposits", ()):
            totals[str(event.account_id)]["paid"] += event.amount.amount_minor
        invoices[str(event.originator_id)]["allocated"] += event.amount.amount_minor
    elif isinstance(event, Invoice.CreditNoteIssued):  # type: ignore[attr-defined]
        totals[str(event.account_id)]["credited"] += event.amount.amount_minor
        invoices[str(event.originator_id)]["credited"] += event.amount.amount_minor
    elif isinstance(event, Invoice.WrittenOff):  # type: ignore[attr-defined]
        totals[str(event.account_id)]["written_off"] += event.amount.amount_minor
        invoices[str(event.originator_id)]["written_off"] += event.amount.amount_minor
    elif isinstance(event, Invoice.Voided):  # type: ignore[attr-defined]
        _check_void(event, invoices)
        totals[str(event.account_id)]["invoiced"] -= event.amount.amount_minor
        invoices[str(event.originator_id)]["voided"] += event.amount.amount_minor
    elif isinstance(event, Payment.Recorded):  # type: ignore[attr-defined]
        invoices.setdefault("_payments", {})[str(event.originator_id)] = event.amount.amount_minor
        if event.purpose == "deposit":
            invoices.setdefault("_deposits", set()).add(str(event.originator_id))
        elif event.status == "succeeded":
            totals[str(event.account_id)]["paid"] += event.amount.amount_minor
    elif isinstance(event, Payment.Succeeded):  # type: ignore[attr-defined]
        if str(event.originator_id) not in invoices.get("_deposits", ()):
            totals[str(event.account_id)]["paid"] += invoices["_payments"][str(event.originator_id)]
    else:
        _fold_reversal(event, totals, invoices)


def _check_void(event: Any, invoices: dict[str, Any]) -> None:
    """A void happens once, to an invoice that owes something and has nothing allocated
    (not settled by payment), and cancels exactly what it still owed."""
    invoice_id = str(event.originator_id)
    invoice, voided = invoices[invoice_id], invoices.setdefault("_voided", set())
    assert invoice_id not in voided, f"invoice {invoice_id} voided a second time"
    voided.add(invoice_id)
    owed = invoice["amount"] - sum(invoice[k] for k in ("allocated", "credited", "written_off"))
    assert invoice["allocated"] == 0, f"invoice {invoice_id} voided with cash allocated"
    assert owed > 0, f"invoice {invoice_id} voided once settled (it owed {owed})"
    assert event.amount.amount_minor == owed, (invoice_id, event.amount, owed)


def _fold_reversal(event: Any, totals: dict[str, dict[str, int]], invoices: dict[str, Any]) -> None:
    """Money taken back: un-allocations, refunds, returns and chargebacks."""
    account = totals[str(event.account_id)] if hasattr(event, "account_id") else None
    deposits = invoices.get("_deposits", set())
    # A deposit's cash leaves from what it holds unapplied: never from what is paid.
    paid = 0 if str(event.originator_id) in deposits else 1
    if isinstance(event, Invoice.PaymentUnallocated):  # type: ignore[attr-defined]
        assert account is not None
        account["allocated"] -= event.amount.amount_minor
        invoices[str(event.originator_id)]["allocated"] -= event.amount.amount_minor
        if str(event.payment_id) in deposits:
            account["paid"] -= event.amount.amount_minor
    elif isinstance(event, Payment.Refunded):  # type: ignore[attr-defined]
        assert account is not None
        account["paid"] -= paid * event.amount.amount_minor
        account["refunded"] += event.amount.amount_minor
    elif isinstance(event, Payment.Returned | Payment.ChargebackOpened | Payment.Forfeited):  # type: ignore[attr-defined]
        assert account is not None
        account["paid"] -= paid * event.amount.amount_minor
    elif isinstance(event, Payment.ChargebackClosed) and event.outcome == "won":  # type: ignore[attr-defined]
        assert account is not None
        account["paid"] += paid * event.amount.amount_minor


def read_projection(pool: ConnectionPool) -> dict[str, dict[str, Any]]:
    with pool.connection() as conn:
        accounts = conn.execute(
            "SELECT account_id, invoiced_minor, paid_minor, allocated_minor, credited_minor,"
            " written_off_minor, refunded_minor"
            " FROM balance_accounts"
        ).fetchall()
        invoices = conn.execute(
            "SELECT invoice_id, amount_minor, allocated_minor, credited_minor,"
            " written_off_minor, voided_minor"
            " FROM balance_invoices"
        ).fetchall()
    return {
        "accounts": {str(a): dict(zip(FIELDS, rest, strict=True)) for a, *rest in accounts},
        "invoices": {
            str(i): {
                "amount": amt,
                "allocated": al,
                "credited": cr,
                "written_off": wo,
                "voided": vo,
            }
            for i, amt, al, cr, wo, vo in invoices
        },
    }
