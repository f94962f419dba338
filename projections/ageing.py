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


def owed_by_invoice(known: bool, account: bool) -> str:
    """SQL of what each invoice owed at the end of the as-of date, one row an invoice
    that owes: ``(invoice_id, account_id, due_on, owed)``. The aged-debt queries below
    add them up or list them.

    Not every movement is added up: what an invoice owes now (its running sum,
    ``owed_minor``, kept by the receivables projection) less its movements dated after
    the as-of date, and with ``known`` those recorded after position ``%(known)s`` too.
    So a report reads the open invoices and the movements since the date, not the whole
    book; an invoice that owed then and owes nothing now is found by its later ones."""
    later = "m.effective_on > %(as_of)s" + (" OR m.position > %(known)s" if known else "")
    invoice_of = " AND i.account_id = %(account)s" if account else ""
    movement_of = " AND m.account_id = %(account)s" if account else ""
    return f"""
SELECT o.invoice_id, o.account_id, o.due_on, SUM(o.owed) AS owed
  FROM (SELECT i.invoice_id, i.account_id, i.due_on, i.owed_minor AS owed
          FROM receivable_invoices i
         WHERE i.currency = %(currency)s AND i.owed_minor <> 0{invoice_of}
         UNION ALL
        SELECT m.invoice_id, i.account_id, i.due_on, -m.amount_minor
          FROM receivable_movements m
          JOIN receivable_invoices i ON i.invoice_id = m.invoice_id
         WHERE m.currency = %(currency)s AND ({later}){movement_of}) o
 GROUP BY o.invoice_id, o.account_id, o.due_on
HAVING SUM(o.owed) <> 0
"""


def aged_sql(known: bool, account: bool) -> str:
    """Outstanding per invoice at the end of the as-of date, put in its bucket by the
    days past due then, added up per account (in the database: one row an account comes
    back). The parameters: :func:`owed_by_invoice`'s."""
    return f"""
SELECT a.account_id, a.name, b.current, b.days_1_30, b.days_31_60, b.days_61_90, b.days_91_plus
  FROM (SELECT o.account_id,
               SUM(o.owed) FILTER (WHERE o.due_on >= %(as_of)s::date) AS current,
               SUM(o.owed) FILTER (WHERE %(as_of)s::date - o.due_on BETWEEN 1 AND 30)
                   AS days_1_30,
               SUM(o.owed) FILTER (WHERE %(as_of)s::date - o.due_on BETWEEN 31 AND 60)
                   AS days_31_60,
               SUM(o.owed) FILTER (WHERE %(as_of)s::date - o.due_on BETWEEN 61 AND 90)
                   AS days_61_90,
               SUM(o.owed) FILTER (WHERE %(as_of)s::date - o.due_on > 90) AS days_91_plus
          FROM ({owed_by_invoice(known, account)}) o
         GROUP BY o.account_id) b
  JOIN receivable_accounts a ON a.account_id = b.account_id
"""


def _params(
    currency: str, as_of: date, known_position: int | None, account_id: UUID | None
) -> dict[str, Any]:
    return {"currency": currency, "as_of": as_of, "known": known_position, "account": account_id}


def aged_debt(
    conn: Connection[Any],
    currency: str,
    as_of: date,
    known_position: int | None = None,
    account_id: UUID | None = None,
) -> tuple[Aged, list[AgedAccount]]:
    """The portfolio's ageing and each owing account's, largest total first."""
    rows = conn.execute(
        aged_sql(known_position is not None, account_id is not None),
        _params(currency, as_of, known_position, account_id),
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
        f"SELECT SUM({owed}) FROM ({aged_sql(known_position is not None, False)}) aged",
        _params(currency, as_of, known_position, None),
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


# The aged debt's rows before they are added up: what each invoice owed at the end of
# the as-of date, one row an invoice (from the same :func:`owed_by_invoice` as the
# per-account figures, so its rows add up to them exactly).
def aged_invoices_sql(known: bool, account: bool) -> str:
    return f"""
SELECT i.account_id, a.name, i.invoice_id, i.number, i.issued_on, i.due_on,
       %(as_of)s::date - i.due_on AS days_past_due, o.owed
  FROM ({owed_by_invoice(known, account)}) o
  JOIN receivable_invoices i ON i.invoice_id = o.invoice_id
  JOIN receivable_accounts a ON a.account_id = i.account_id
"""


def aged_invoices(
    conn: Connection[Any],
    currency: str,
    as_of: date,
    known_position: int | None = None,
    account_id: UUID | None = None,
) -> list[AgedInvoice]:
    """Each invoice that owed something at the end of ``as_of``, in no particular order
    (``by_account`` adds them up; ``listed_invoices`` orders them)."""
    sql = aged_invoices_sql(known_position is not None, account_id is not None)
    with conn.cursor() as cur:
        cur.execute(sql, _params(currency, as_of, known_position, account_id))
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
