"""Cash posting from the receivables read model: for a day, a week (Monday to Sunday)
or a calendar month, the cash received each day by method, what went back out (refunds,
bank returns, chargebacks, forfeits), how much cash was applied to invoices, how much of
the period's receipts is still unallocated, and the books balanced:

    opening receivables + invoiced - cash applied - credits - write-offs = closing

where credits include voided invoices (a void cancels a sale as a credit note does) and
cash applied is allocations less un-allocations taking effect in the period."""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from psycopg import Connection

from projections.ageing import aged_total

PERIODS = ("day", "week", "month")


def period_bounds(period: str, on: date) -> tuple[date, date]:
    """The first and last day of the ``period`` containing ``on``."""
    if period == "day":
        return on, on
    if period == "week":
        start = on - timedelta(days=on.weekday())
        return start, start + timedelta(days=6)
    if period == "month":
        last = calendar.monthrange(on.year, on.month)[1]
        return on.replace(day=1), on.replace(day=last)
    raise ValueError(f"period must be one of {', '.join(PERIODS)}")


@dataclass
class Day:
    on: date
    received_by_method: dict[str, int] = field(default_factory=dict)
    deposits_received: int = 0
    cash_out: dict[str, int] = field(default_factory=dict)  # by kind, as positive amounts
    applied: int = 0  # cash applied to invoices, net of un-allocations
    unallocated: int = 0  # of this day's receipts, not applied by the period's end

    @property
    def received(self) -> int:
        return sum(self.received_by_method.values())


@dataclass(frozen=True)
class RollForward:
    opening: int
    invoiced: int
    cash_applied: int
    credits: int
    write_offs: int
    closing: int

    @property
    def difference(self) -> int:
        """Zero when the books balance."""
        expected = self.opening + self.invoiced - self.cash_applied - self.credits
        return expected - self.write_offs - self.closing


CASH_SQL = """
SELECT c.effective_on, c.method, c.purpose, c.kind, SUM(c.amount_minor)
  FROM receivable_cash c
 WHERE c.currency = %(currency)s AND c.effective_on BETWEEN %(start)s AND %(end)s
   AND (%(known)s::bigint IS NULL OR c.position <= %(known)s::bigint)
 GROUP BY 1, 2, 3, 4
"""

# What of each day's receipts had not been applied to invoices by the period's end.
UNALLOCATED_SQL = """
SELECT c.effective_on, SUM(c.amount_minor - COALESCE(a.applied, 0))
  FROM receivable_cash c
  LEFT JOIN LATERAL (
       SELECT SUM(-m.amount_minor) AS applied FROM receivable_movements m
        WHERE m.payment_id = c.payment_id AND m.kind IN ('allocated', 'unallocated')
          AND m.effective_on <= %(end)s
          AND (%(known)s::bigint IS NULL OR m.position <= %(known)s::bigint)
       ) a ON true
 WHERE c.currency = %(currency)s AND c.kind = 'received' AND c.purpose = 'payment'
   AND c.effective_on BETWEEN %(start)s AND %(end)s
   AND (%(known)s::bigint IS NULL OR c.position <= %(known)s::bigint)
 GROUP BY 1
"""

MOVEMENTS_SQL = """
SELECT m.effective_on, m.kind, SUM(m.amount_minor)
  FROM receivable_movements m
 WHERE m.currency = %(currency)s AND m.effective_on <= %(end)s
   AND (%(known)s::bigint IS NULL OR m.position <= %(known)s::bigint)
   AND m.effective_on >= %(start)s
 GROUP BY 1, 2
"""

OPENING_SQL = """
SELECT COALESCE(SUM(m.amount_minor), 0) FROM receivable_movements m
 WHERE m.currency = %(currency)s AND m.effective_on < %(start)s
   AND (%(known)s::bigint IS NULL OR m.position <= %(known)s::bigint)
"""


def cash_posting(
    conn: Connection[Any],
    currency: str,
    start: date,
    end: date,
    known_position: int | None = None,
) -> tuple[list[Day], RollForward]:
    params = {"currency": currency, "start": start, "end": end, "known": known_position}
    days = {on: Day(on) for on in (start + timedelta(days=n) for n in range(_span(start, end)))}
    for on, method, purpose, kind, amount in conn.execute(CASH_SQL, params).fetchall():
        day, amount = days[on], int(amount)
        if kind == "received" and purpose == "deposit":
            day.deposits_received += amount
        elif kind == "received":
            day.received_by_method[method] = day.received_by_method.get(method, 0) + amount
        else:
            day.cash_out[kind] = day.cash_out.get(kind, 0) - amount
    for on, amount in conn.execute(UNALLOCATED_SQL, params).fetchall():
        days[on].unallocated = int(amount)
    row = conn.execute(OPENING_SQL, params).fetchone()
    opening = int(row[0]) if row else 0
    by_kind: dict[str, int] = {}
    for on, kind, amount in conn.execute(MOVEMENTS_SQL, params).fetchall():
        by_kind[kind] = by_kind.get(kind, 0) + int(amount)
        if kind in ("allocated", "unallocated"):
            days[on].applied -= int(amount)
    roll = RollForward(
        opening=opening,
        invoiced=by_kind.get("invoiced", 0),
        cash_applied=-(by_kind.get("allocated", 0) + by_kind.get("unallocated", 0)),
        credits=-(by_kind.get("credited", 0) + by_kind.get("voided", 0)),
        write_offs=-by_kind.get("written_off", 0),
        # Read another way, invoice by invoice as aged debt reads it, so that the check
        # means something: an amount with no invoice or account behind it shows.
        closing=aged_total(conn, currency, end, known_position),
    )
    return list(days.values()), roll


def _span(start: date, end: date) -> int:
    return (end - start).days + 1
