"""The receivables sub-ledger trial balance at a date: per account, the debits (invoices
raised, allocations taken back) and the credits (cash applied, credit notes, voids,
write-offs) effective by then, and the balance; in total, the control account. It
reconciles when the control account's balance equals the sum of the account balances
and the total of the aged debt for the same date, which adds up invoice by invoice."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

from psycopg import Connection

from projections import ageing

DEBIT_KINDS = ("invoiced", "unallocated")
CREDIT_KINDS = ("allocated", "credited", "voided", "written_off")

TRIAL_SQL = """
SELECT m.account_id, a.name, m.kind, SUM(m.amount_minor)
  FROM receivable_movements m
  JOIN receivable_accounts a ON a.account_id = m.account_id
 WHERE m.currency = %(currency)s AND m.effective_on <= %(as_of)s
   AND (%(known)s::bigint IS NULL OR m.position <= %(known)s::bigint)
 GROUP BY m.account_id, a.name, m.kind
"""

CONTROL_SQL = """
SELECT m.kind, SUM(m.amount_minor)
  FROM receivable_movements m
 WHERE m.currency = %(currency)s AND m.effective_on <= %(as_of)s
   AND (%(known)s::bigint IS NULL OR m.position <= %(known)s::bigint)
 GROUP BY m.kind
"""


@dataclass
class Line:
    account_id: UUID | None
    name: str
    by_kind: dict[str, int]

    @property
    def debits(self) -> int:
        return sum(abs(self.by_kind.get(k, 0)) for k in DEBIT_KINDS)

    @property
    def credits(self) -> int:
        return sum(abs(self.by_kind.get(k, 0)) for k in CREDIT_KINDS)

    @property
    def balance(self) -> int:
        return self.debits - self.credits

    def to_json(self) -> dict[str, Any]:
        return {
            "account_id": str(self.account_id) if self.account_id else None,
            "name": self.name,
            **{k: abs(self.by_kind.get(k, 0)) for k in (*DEBIT_KINDS, *CREDIT_KINDS)},
            "debits": self.debits,
            "credits": self.credits,
            "balance": self.balance,
        }


@dataclass
class TrialBalance:
    lines: list[Line]
    control: Line
    aged_total: int

    @property
    def accounts_total(self) -> int:
        return sum(line.balance for line in self.lines)

    @property
    def reconciled(self) -> bool:
        return self.control.balance == self.accounts_total == self.aged_total


def trial_balance(
    conn: Connection[Any], currency: str, as_of: date, known_position: int | None = None
) -> TrialBalance:
    params = {"currency": currency, "as_of": as_of, "known": known_position}
    lines: dict[UUID, Line] = {}
    for account, name, kind, amount in conn.execute(TRIAL_SQL, params).fetchall():
        lines.setdefault(account, Line(account, name, {})).by_kind[kind] = int(amount)
    control = Line(None, "receivables control", {})
    for kind, amount in conn.execute(CONTROL_SQL, params).fetchall():
        control.by_kind[kind] = int(amount)
    ordered = sorted(lines.values(), key=lambda line: (line.name, str(line.account_id)))
    return TrialBalance(ordered, control, ageing.aged_total(conn, currency, as_of, known_position))
