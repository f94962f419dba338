"""Aged debt from the receivables read model: what each invoice owed at the end of the
``as_of`` date, put in a bucket by how many days it was past its ``due_on`` then
(``current`` is not yet due), per account and in total. With ``known_position`` (the last
position committed by an ``as_known_at`` moment, ``infra/commits.py``), only what
had been committed by then counts: the report as it was run then."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any
from uuid import UUID

from psycopg import Connection

BUCKETS = ("current", "days_1_30", "days_31_60", "days_61_90", "days_91_plus")


# The last day past due of each bucket but the oldest, which has no end.
BUCKET_ENDS = (0, 30, 60, 90)


def bucket_for(days_past_due: int) -> str:
    """The ageing bucket of an amount ``days_past_due`` days past its due date."""
    for bucket, last_day in zip(BUCKETS, BUCKET_ENDS, strict=False):
        if days_past_due <= last_day:
            return bucket
    return BUCKETS[-1]


def bucket_index_sql(days_past_due: str) -> str:
    """``bucket_for``'s place in ``BUCKETS`` as an SQL expression over ``days_past_due``."""
    whens = " ".join(f"WHEN {days_past_due} <= {d} THEN {n}" for n, d in enumerate(BUCKET_ENDS))
    return f"CASE {whens} ELSE {len(BUCKET_ENDS)} END"


@dataclass
class Aged:
    """Amounts (minor units) per bucket."""

    buckets: dict[str, int] = field(default_factory=lambda: dict.fromkeys(BUCKETS, 0))

    def add(self, bucket: str, amount: int) -> None:
        self.buckets[bucket] += amount

    @property
    def total(self) -> int:
        return sum(self.buckets.values())


@dataclass
class AgedAccount:
    account_id: UUID
    name: str
    aged: Aged


# What each invoice owed at the end of the as-of date (one row an invoice that owes), with
# its account: what the aged-debt queries below add up or list.
OWED_BY_INVOICE = """
  FROM (SELECT m.invoice_id, SUM(m.amount_minor) AS owed
          FROM receivable_movements m
         WHERE m.currency = %(currency)s AND m.effective_on <= %(as_of)s
           AND (%(known)s::bigint IS NULL OR m.position <= %(known)s::bigint)
           AND (%(account)s::uuid IS NULL OR m.account_id = %(account)s::uuid)
         GROUP BY m.invoice_id) o
  JOIN receivable_invoices i ON i.invoice_id = o.invoice_id
  JOIN receivable_accounts a ON a.account_id = i.account_id
 WHERE o.owed <> 0
"""

# Outstanding per invoice at the end of the as-of date, put in its bucket by the days
# past due then, added up per account (in the database: one row an account comes back).
AGED_SQL = (
    """
SELECT i.account_id, a.name,
       SUM(o.owed) FILTER (WHERE i.due_on >= %(as_of)s::date) AS current,
       SUM(o.owed) FILTER (WHERE %(as_of)s::date - i.due_on BETWEEN 1 AND 30) AS days_1_30,
       SUM(o.owed) FILTER (WHERE %(as_of)s::date - i.due_on BETWEEN 31 AND 60) AS days_31_60,
       SUM(o.owed) FILTER (WHERE %(as_of)s::date - i.due_on BETWEEN 61 AND 90) AS days_61_90,
       SUM(o.owed) FILTER (WHERE %(as_of)s::date - i.due_on > 90) AS days_91_plus
"""
    + OWED_BY_INVOICE
    + """
 GROUP BY i.account_id, a.name
"""
)


def aged_debt(
    conn: Connection[Any],
    currency: str,
    as_of: date,
    known_position: int | None = None,
    account_id: UUID | None = None,
) -> tuple[Aged, list[AgedAccount]]:
    """The portfolio's ageing and each owing account's, largest total first."""
    rows = conn.execute(
        AGED_SQL,
        {"currency": currency, "as_of": as_of, "known": known_position, "account": account_id},
    ).fetchall()
    total = Aged()
    accounts = []
    for account, name, *amounts in rows:
        aged = Aged(dict(zip(BUCKETS, (int(a or 0) for a in amounts), strict=True)))
        for bucket, amount in aged.buckets.items():
            total.add(bucket, amount)
        accounts.append(AgedAccount(account, name, aged))
    accounts.sort(key=lambda a: (-a.aged.total, a.name, str(a.account_id)))
    return total, accounts


def aged_total(
    conn: Connection[Any], currency: str, as_of: date, known_position: int | None = None
) -> int:
    """What the portfolio's ageing adds up to, without each account's."""
    owed = " + ".join(f'COALESCE(aged."{bucket}", 0)' for bucket in BUCKETS)
    (total,) = conn.execute(
        f"SELECT SUM({owed}) FROM ({AGED_SQL}) aged",
        {"currency": currency, "as_of": as_of, "known": known_position, "account": None},
    ).fetchone() or (0,)
    return int(total or 0)


@dataclass(frozen=True, slots=True)
class AgedInvoice:
    """One invoice that owed something at the end of the as-of date (minor units)."""

    account_id: UUID
    name: str
    invoice_id: UUID
    number: str
    issued_on: date
    due_on: date
    days_past_due: int  # negative: not yet due
    outstanding: int

    @property
    def days_overdue(self) -> int:
        return max(self.days_past_due, 0)

    @property
    def bucket(self) -> str:
        return bucket_for(self.days_past_due)


# AGED_SQL's rows before they are added up: what each invoice owed at the end of the as-of
# date, one row an invoice, in one pass over the movements (the same filters as AGED_SQL,
# so the per-invoice rows add up to its per-account and portfolio figures exactly).
AGED_INVOICES_SQL = (
    """
SELECT i.account_id, a.name, i.invoice_id, i.number, i.issued_on, i.due_on,
       %(as_of)s::date - i.due_on AS days_past_due, o.owed
"""
    + OWED_BY_INVOICE
)


def aged_invoices(
    conn: Connection[Any],
    currency: str,
    as_of: date,
    known_position: int | None = None,
    account_id: UUID | None = None,
) -> list[AgedInvoice]:
    """Each invoice that owed something at the end of ``as_of``, in no particular order
    (``by_account`` adds them up; ``listed_invoices`` orders them)."""
    params = {"currency": currency, "as_of": as_of, "known": known_position, "account": account_id}
    with conn.cursor() as cur:
        cur.execute(AGED_INVOICES_SQL, params)
        return [
            AgedInvoice(account, name, invoice, number, issued, due, int(past), int(owed))
            for account, name, invoice, number, issued, due, past, owed in cur
        ]


def by_account(invoices: list[AgedInvoice]) -> tuple[Aged, list[AgedAccount]]:
    """What ``aged_debt`` answers, added up from the invoices' rows: the portfolio's
    ageing and each owing account's, largest total first."""
    total = Aged()
    accounts: dict[UUID, AgedAccount] = {}
    for inv in invoices:
        account = accounts.get(inv.account_id)
        if account is None:
            account = accounts[inv.account_id] = AgedAccount(inv.account_id, inv.name, Aged())
        account.aged.add(inv.bucket, inv.outstanding)
        total.add(inv.bucket, inv.outstanding)
    listed = sorted(accounts.values(), key=lambda a: (-a.aged.total, a.name, str(a.account_id)))
    return total, listed


def listed_invoices(invoices: list[AgedInvoice], accounts: list[AgedAccount]) -> list[AgedInvoice]:
    """The invoices of ``accounts``, in their order (largest first), each account's
    oldest due first."""
    rank = {a.account_id: n for n, a in enumerate(accounts)}
    return sorted(
        (i for i in invoices if i.account_id in rank),
        key=lambda i: (rank[i.account_id], i.due_on, i.number, str(i.invoice_id)),
    )
