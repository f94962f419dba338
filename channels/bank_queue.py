"""The queue of bank statement lines waiting for a person, and how each line is shown:
a person places a line (on an account, allocated as they say) or sets it aside."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid5

from psycopg import Connection
from psycopg_pool import ConnectionPool

from channels import bank_lines
from channels.bank_csv import kept_reference
from ledger.application import Ledger
from ledger.commands import AllocatePayment, RecordPayment
from ledger.errors import InvalidRequest, NotFound, RuleViolation
from ledger.limits import REFERENCE_LENGTH_MAX
from ledger.money import Money
from ledger.reconciliation import Reconciliation
from ledger.stamp import Stamp

STATEMENT_NAMESPACE = UUID("a3f0e6f4-2b8e-4f6a-9d0c-5b7e1c2d4e61")
ACTIONS = {
    "allocated": "nothing to do",
    "already-in-ledger": "nothing to do: the receipt had been recorded by hand",
    "already-imported": "nothing to do: an earlier statement carried this line",
    "outgoing": "nothing to do: money out is not a receipt",
    "overpaid": "the payment is on the account; place what is left over, or refund it",
    "named-invoice-paid": "the invoice named is paid; place the payment, or refund it",
    "allocation-unclear": "the payment is on the account; choose the invoices it pays",
    "account-unclear": "choose the account; nothing is recorded until then",
    "account-ambiguous": "choose the account among the candidates; nothing is recorded yet",
    "reference-and-payer-disagree": "choose the account; reference and payer name differ",
    "no-match": "find the account; nothing is recorded until then",
    "reference-too-long": "check the line and choose the account; its payment keeps the"
    f" reference's first {REFERENCE_LENGTH_MAX} characters, the line all of it",
    "ledger-refused": "read why the ledger refused it (evidence); place it on an account"
    " once that is put right, or set it aside",
    "resolved": "nothing to do: a person placed it",
    "dismissed": "nothing to do: a person set it aside",
}


class LineNotFound(NotFound):
    code = "unknown-bank-line"
    title = "Unknown bank statement line"


class LineNotOpen(RuleViolation):
    code = "bank-line-not-open"
    title = "The bank statement line is not waiting for a person"


def payment_id_for_line(line_id: UUID) -> UUID:
    return uuid5(STATEMENT_NAMESPACE, f"payment/{line_id}")


def statement_json(
    run: Reconciliation, position: int, duplicate: bool, rows: list[dict[str, Any]]
) -> dict[str, Any]:
    """An import's reply: the statement (``run``, its reconciliation) and each of its
    lines' ``rows``, a line an earlier statement took shown as already imported."""
    file = next((f for f in run.findings if f.get("kind") == "statement-file"), {})
    report = []
    for row in rows:
        shown = line_json(row)
        if row["statement_id"] != run.id:
            shown["outcome"] = "already-imported"
            shown["action"] = ACTIONS["already-imported"]
        report.append(shown)
    return {
        "statement_id": str(run.id),
        "duplicate": duplicate,
        "position": position,
        "bank_account": file.get("bank_account"),
        "sha256": file.get("sha256"),
        "period": {"from": run.period_start.isoformat(), "to": run.period_end.isoformat()},
        "counts": run.counts,
        "lines": report,
    }


def line_json(row: dict[str, Any]) -> dict[str, Any]:
    key = row["reason"] if row["outcome"] == "exception" else row["outcome"]
    return {
        "line_id": str(row["line_id"]),
        "statement_id": str(row["statement_id"]),
        "row": row["row_number"],
        "received_on": row["received_on"].isoformat(),
        "amount": Money(row["amount_minor"], row["currency"].strip()).to_json(),
        "reference": row["reference"],
        "payer": row["payer"],
        "method": row["method"],
        "outcome": row["outcome"],
        "reason": row["reason"],
        "account_id": str(row["account_id"]) if row["account_id"] else None,
        "payment_id": str(row["payment_id"]) if row["payment_id"] else None,
        "allocations": row["allocations"],
        "evidence": row["evidence"],
        "candidates": row["candidates"],
        "resolved_by": row["resolved_by"],
        "note": row["note"],
        "action": ACTIONS.get(key, "look at the line"),
        # The queue's order, and the cursor of its next page (``imported_after``).
        "imported_at": row["imported_at"].isoformat(),
    }


class BankQueue:
    def __init__(self, ledger: Ledger, pool: ConnectionPool) -> None:
        self.ledger, self.pool = ledger, pool

    def resolve(
        self,
        line_id: UUID,
        account_id: UUID | None,
        allocations: tuple[tuple[UUID, Money], ...],
        strategy: str,
        stamp: Stamp,
    ) -> dict[str, Any]:
        """A person places a waiting line: on the account named (or the one it is on
        already), then allocated as they say (explicitly, oldest first, or not yet)."""
        with self.pool.connection() as conn, conn.transaction():
            row = self._open_line(conn, line_id)
            on = row["account_id"]
            if on is not None and account_id is not None and account_id != on:
                raise LineNotOpen(
                    f"the line's payment is on account {on} already; refund or move it there"
                )
            account = on or account_id
            if account is None:
                raise InvalidRequest("account_id is required: the line is on no account yet")
            amount = Money(row["amount_minor"], row["currency"].strip())
            payment_id = row["payment_id"] or payment_id_for_line(line_id)
            line_stamp = stamp.effective_on(row["received_on"])
            if row["payment_id"] is None:
                self.ledger.record_payment(
                    RecordPayment(
                        account_id=account,
                        amount=amount,
                        method=row["method"],
                        received_on=row["received_on"],
                        stamp=line_stamp,
                        reference=kept_reference(row["reference"]),
                        payment_id=payment_id,
                    )
                )
            placed = list(row["allocations"])
            if allocations or strategy == "oldest_first":
                result = self.ledger.allocate_payment(
                    AllocatePayment(
                        payment_id, f"bank:{line_id}/resolution", line_stamp, allocations, strategy
                    )
                )
                placed += [
                    {"invoice_id": str(i), "amount": m.amount_minor} for i, m in result.allocations
                ]
            bank_lines.settle(
                conn,
                line_id,
                outcome="resolved",
                account_id=account,
                payment_id=payment_id,
                allocations=placed,
                resolved_by=stamp.actor,
                resolved_at=stamp.effective_at,
            )
            resolved = bank_lines.get(conn, line_id)
        assert resolved is not None
        return {**line_json(resolved), "position": self.ledger.head_position()}

    def dismiss(self, line_id: UUID, note: str, stamp: Stamp) -> dict[str, Any]:
        """Set aside a line that is not a client's receipt (a supplier's refund, a
        transfer between our own accounts). Only a line recorded on no account."""
        with self.pool.connection() as conn, conn.transaction():
            row = self._open_line(conn, line_id)
            if row["payment_id"] is not None:
                raise LineNotOpen(
                    f"the line is recorded as payment {row['payment_id']}; refund it instead"
                )
            bank_lines.settle(
                conn,
                line_id,
                outcome="dismissed",
                note=note,
                resolved_by=stamp.actor,
                resolved_at=stamp.effective_at,
            )
            dismissed = bank_lines.get(conn, line_id)
        assert dismissed is not None
        return line_json(dismissed)

    def lines(
        self, outcome: str | None, statement_id: UUID | None, after: Any, limit: int
    ) -> list[dict[str, Any]]:
        with self.pool.connection() as conn:
            rows = bank_lines.listing(conn, outcome, statement_id, after, limit)
        return [line_json(r) for r in rows]

    @staticmethod
    def _open_line(conn: Connection[Any], line_id: UUID) -> dict[str, Any]:
        row = bank_lines.get(conn, line_id, lock=True)
        if row is None:
            raise LineNotFound(f"no bank statement line {line_id}")
        if row["outcome"] != "exception":
            raise LineNotOpen(f"line {line_id} is {row['outcome']}, not waiting for a person")
        return row
