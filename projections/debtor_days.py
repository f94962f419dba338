"""Debtor days for a period, from the receivables read model, by PRODUCT.md's
definitions: standard and countback DSO, best possible DSO, average days delinquent, the
collection effectiveness index, and average days to pay.

The figures a period needs (opening and closing receivables, what was not yet due at the
end, credit sales, each month's sales, cash applied and how long it took) are sums, so
the portfolio's are the accounts' added up; the ratios are worked out from them in exact
fractions and rounded half up to two places only at the end.

The portfolio's sums, as the ledger stands now, come from the receivables projection's
running sums by day (``receivable_days``, ``receivable_not_yet_due``): a row a day, not
a row a movement. One account's, every account's own, and any ``as_known_at`` are added
up from the movements."""

from __future__ import annotations

import calendar
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any
from uuid import UUID

from psycopg import Connection

from projections.receivables import SALES_KINDS

COUNTBACK_MONTHS = 24  # how far back countback walks before it stops counting


@dataclass
class Figures:
    """The sums (minor units) debtor days are worked out from."""

    opening: int = 0  # receivables at the end of the day before the period
    closing: int = 0  # receivables at the end of the period
    not_yet_due: int = 0  # of ``closing``, on invoices not yet due at the end
    sales: int = 0  # credit sales in the period (credit notes and voids subtract)
    monthly_sales: dict[date, int] = field(default_factory=dict)  # by month start
    cash_applied: int = 0  # allocations taking effect in the period
    cash_applied_days: int = 0  # each allocation times days from invoice issue to it

    def add(self, other: Figures) -> None:
        self.opening += other.opening
        self.closing += other.closing
        self.not_yet_due += other.not_yet_due
        self.sales += other.sales
        self.cash_applied += other.cash_applied
        self.cash_applied_days += other.cash_applied_days
        for month, amount in other.monthly_sales.items():
            self.monthly_sales[month] = self.monthly_sales.get(month, 0) + amount


@dataclass(frozen=True)
class DebtorDays:
    dso_standard: Decimal | None
    dso_countback: Decimal | None
    best_possible_dso: Decimal | None
    average_days_delinquent: Decimal | None
    collection_effectiveness_index: Decimal | None
    average_days_to_pay: Decimal | None


def _round(value: Fraction | None) -> Decimal | None:
    if value is None:
        return None
    exact = Decimal(value.numerator) / Decimal(value.denominator)
    return exact.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _month_start(day: date) -> date:
    return day.replace(day=1)


def _previous_month(month: date) -> date:
    return (month - timedelta(days=1)).replace(day=1)


def countback(period_end: date, closing: int, monthly_sales: dict[date, int]) -> Fraction | None:
    """Walk back month by month from ``period_end`` (its own month counted up to that
    day), taking each month's credit sales from the receivables at the end: a month fully
    used adds its days, the month only partly used adds (what is left / its sales) times
    its days. A month without sales adds its days and the walk goes on."""
    if closing <= 0:
        return Fraction(0)
    left, days, month = closing, Fraction(0), _month_start(period_end)
    for n in range(COUNTBACK_MONTHS):
        month_days = period_end.day if n == 0 else calendar.monthrange(month.year, month.month)[1]
        sales = monthly_sales.get(month, 0)
        if sales > 0 and left <= sales:
            return days + Fraction(left, sales) * month_days
        days += month_days
        left -= max(sales, 0)
        month = _previous_month(month)
    return days


def debtor_days(period_start: date, period_end: date, f: Figures) -> DebtorDays:
    days = (period_end - period_start).days + 1
    standard = Fraction(f.closing, f.sales) * days if f.sales > 0 else None
    best = Fraction(f.not_yet_due, f.sales) * days if f.sales > 0 else None
    delinquent = standard - best if standard is not None and best is not None else None
    collectable = f.opening + f.sales - f.not_yet_due
    cei = Fraction(f.opening + f.sales - f.closing, collectable) * 100 if collectable else None
    to_pay = Fraction(f.cash_applied_days, f.cash_applied) if f.cash_applied > 0 else None
    return DebtorDays(
        dso_standard=_round(standard),
        dso_countback=_round(countback(period_end, f.closing, f.monthly_sales)),
        best_possible_dso=_round(best),
        average_days_delinquent=_round(delinquent),
        collection_effectiveness_index=_round(cei),
        average_days_to_pay=_round(to_pay),
    )


FIGURES_SQL = """
SELECT m.account_id,
       SUM(m.amount_minor) FILTER (WHERE m.effective_on < %(start)s),
       SUM(m.amount_minor),
       SUM(m.amount_minor) FILTER (WHERE i.due_on >= %(end)s),
       SUM(m.amount_minor) FILTER (WHERE m.effective_on >= %(start)s
                                     AND m.kind = ANY(%(sales)s)),
       SUM(-m.amount_minor) FILTER (WHERE m.effective_on >= %(start)s
                                      AND m.kind = 'allocated'),
       SUM(-m.amount_minor::numeric * (m.effective_on - i.issued_on))
           FILTER (WHERE m.effective_on >= %(start)s AND m.kind = 'allocated')
  FROM receivable_movements m
  JOIN receivable_invoices i ON i.invoice_id = m.invoice_id
 WHERE m.currency = %(currency)s AND m.effective_on <= %(end)s
   AND (%(known)s::bigint IS NULL OR m.position <= %(known)s::bigint)
   AND (%(account)s::uuid IS NULL OR m.account_id = %(account)s::uuid)
 GROUP BY m.account_id
"""

MONTHLY_SALES_SQL = """
SELECT m.account_id, date_trunc('month', m.effective_on)::date, SUM(m.amount_minor)
  FROM receivable_movements m
 WHERE m.currency = %(currency)s AND m.kind = ANY(%(sales)s)
   AND m.effective_on BETWEEN %(earliest)s AND %(end)s
   AND (%(known)s::bigint IS NULL OR m.position <= %(known)s::bigint)
   AND (%(account)s::uuid IS NULL OR m.account_id = %(account)s::uuid)
 GROUP BY 1, 2
"""


def figures(
    conn: Connection[Any],
    currency: str,
    period_start: date,
    period_end: date,
    known_position: int | None = None,
    account_id: UUID | None = None,
) -> dict[UUID, Figures]:
    """Each account's figures for the period (accounts with nothing owed or sold in it
    are left out)."""
    earliest, _ = _countback_window(period_end)
    params = {
        "currency": currency,
        "start": period_start,
        "end": period_end,
        "earliest": earliest,
        "sales": list(SALES_KINDS),
        "known": known_position,
        "account": account_id,
    }
    out: dict[UUID, Figures] = defaultdict(Figures)
    for account, *sums in conn.execute(FIGURES_SQL, params).fetchall():
        opening, closing, not_yet_due, sales, applied, applied_days = (int(s or 0) for s in sums)
        out[account] = Figures(opening, closing, not_yet_due, sales, {}, applied, applied_days)
    for account, month, amount in conn.execute(MONTHLY_SALES_SQL, params).fetchall():
        out[account].monthly_sales[month] = int(amount)
    return dict(out)


# The portfolio's sums for a period from the running sums by day: the same figures as
# FIGURES_SQL's rows added up, and what was not yet due at the end, from the sums by
# due date (only movements no later than their invoice's due date can count there).
PORTFOLIO_SQL = """
SELECT SUM(d.amount_minor) FILTER (WHERE d.effective_on < %(start)s),
       SUM(d.amount_minor),
       (SELECT SUM(n.amount_minor) FROM receivable_not_yet_due n
         WHERE n.currency = %(currency)s AND n.due_on >= %(end)s AND n.effective_on <= %(end)s),
       SUM(d.amount_minor) FILTER (WHERE d.effective_on >= %(start)s
                                     AND d.kind = ANY(%(sales)s)),
       SUM(-d.amount_minor) FILTER (WHERE d.effective_on >= %(start)s
                                      AND d.kind = 'allocated'),
       SUM(-d.days_minor) FILTER (WHERE d.effective_on >= %(start)s AND d.kind = 'allocated')
  FROM receivable_days d
 WHERE d.currency = %(currency)s AND d.effective_on <= %(end)s
"""

PORTFOLIO_MONTHLY_SALES_SQL = """
SELECT date_trunc('month', d.effective_on)::date, SUM(d.amount_minor)
  FROM receivable_days d
 WHERE d.currency = %(currency)s AND d.kind = ANY(%(sales)s)
   AND d.effective_on BETWEEN %(earliest)s AND %(end)s
 GROUP BY 1
"""


def total_figures(
    conn: Connection[Any],
    currency: str,
    period_start: date,
    period_end: date,
    known_position: int | None = None,
    account_id: UUID | None = None,
) -> Figures:
    """The period's figures of the portfolio (or of one account): what ``figures``
    gives added up. The portfolio as the ledger stands now is read from the running
    sums by day; as known at a position, or one account, from the movements."""
    if known_position is not None or account_id is not None:
        total = Figures()
        for f in figures(
            conn, currency, period_start, period_end, known_position, account_id
        ).values():
            total.add(f)
        return total
    earliest, _ = _countback_window(period_end)
    params = {
        "currency": currency,
        "start": period_start,
        "end": period_end,
        "earliest": earliest,
        "sales": list(SALES_KINDS),
    }
    row = conn.execute(PORTFOLIO_SQL, params).fetchone() or ()
    opening, closing, not_yet_due, sales, applied, applied_days = (int(s or 0) for s in row)
    monthly = {m: int(a) for m, a in conn.execute(PORTFOLIO_MONTHLY_SALES_SQL, params).fetchall()}
    return Figures(opening, closing, not_yet_due, sales, monthly, applied, applied_days)


# The portfolio's sums month by month, in one pass over the movements: a month's
# opening and closing receivables are running totals of what took effect before it.
MONTHS_SQL = """
SELECT date_trunc('month', m.effective_on)::date AS month,
       SUM(m.amount_minor),
       SUM(m.amount_minor) FILTER (WHERE m.kind = ANY(%(sales)s)),
       SUM(-m.amount_minor) FILTER (WHERE m.kind = 'allocated'),
       SUM(-m.amount_minor::numeric * (m.effective_on - i.issued_on))
           FILTER (WHERE m.kind = 'allocated')
  FROM receivable_movements m
  JOIN receivable_invoices i ON i.invoice_id = m.invoice_id
 WHERE m.currency = %(currency)s AND m.effective_on <= %(end)s
   AND (%(known)s::bigint IS NULL OR m.position <= %(known)s::bigint)
   AND (%(account)s::uuid IS NULL OR m.account_id = %(account)s::uuid)
 GROUP BY 1
"""

# What was owed at each month's end on invoices not yet due then: only invoices due on
# or after the first month's end can count, so only their movements are read.
NOT_YET_DUE_SQL = """
SELECT e.stop, SUM(m.amount_minor)
  FROM unnest(%(stops)s::date[]) AS e(stop)
  JOIN receivable_invoices i ON i.due_on >= e.stop
  JOIN receivable_movements m ON m.invoice_id = i.invoice_id AND m.effective_on <= e.stop
 WHERE m.currency = %(currency)s AND i.due_on >= %(first_stop)s
   AND (%(known)s::bigint IS NULL OR m.position <= %(known)s::bigint)
   AND (%(account)s::uuid IS NULL OR m.account_id = %(account)s::uuid)
 GROUP BY e.stop
"""


# MONTHS_SQL and NOT_YET_DUE_SQL for the portfolio as the ledger stands now: from the
# running sums by day and by due date.
PORTFOLIO_MONTHS_SQL = """
SELECT date_trunc('month', d.effective_on)::date AS month,
       SUM(d.amount_minor),
       SUM(d.amount_minor) FILTER (WHERE d.kind = ANY(%(sales)s)),
       SUM(-d.amount_minor) FILTER (WHERE d.kind = 'allocated'),
       SUM(-d.days_minor) FILTER (WHERE d.kind = 'allocated')
  FROM receivable_days d
 WHERE d.currency = %(currency)s AND d.effective_on <= %(end)s
 GROUP BY 1
"""

PORTFOLIO_NOT_YET_DUE_SQL = """
SELECT e.stop, SUM(n.amount_minor)
  FROM unnest(%(stops)s::date[]) AS e(stop)
  JOIN receivable_not_yet_due n
    ON n.currency = %(currency)s AND n.due_on >= e.stop AND n.effective_on <= e.stop
 GROUP BY e.stop
"""


def trend(
    conn: Connection[Any],
    currency: str,
    months: list[tuple[date, date]],
    known_position: int | None = None,
    account_id: UUID | None = None,
) -> list[Figures]:
    """The portfolio's (or one account's) figures for each consecutive span in
    ``months`` (oldest first, each a calendar month, the last one ending where the
    report ends): the same sums ``figures`` adds up for each span, in two queries (over
    the running sums by day for the portfolio as it stands now)."""
    if not months:
        return []
    for start, stop in months:
        if start.day != 1 or (start.year, start.month) != (stop.year, stop.month) or stop < start:
            raise ValueError(f"{start}..{stop} is not a calendar month or its first part")
    params = {
        "currency": currency,
        "end": months[-1][1],
        "stops": [stop for _, stop in months],
        "first_stop": months[0][1],
        "sales": list(SALES_KINDS),
        "known": known_position,
        "account": account_id,
    }
    portfolio_now = known_position is None and account_id is None
    months_sql, not_yet_due_sql = (
        (PORTFOLIO_MONTHS_SQL, PORTFOLIO_NOT_YET_DUE_SQL)
        if portfolio_now
        else (MONTHS_SQL, NOT_YET_DUE_SQL)
    )
    by_month: dict[date, tuple[int, ...]] = {
        month: tuple(int(s or 0) for s in sums)
        for month, *sums in conn.execute(months_sql, params).fetchall()
    }
    not_yet_due = {stop: int(s or 0) for stop, s in conn.execute(not_yet_due_sql, params)}
    monthly_sales = {month: sums[1] for month, sums in by_month.items() if sums[1]}
    out: list[Figures] = []
    for start, stop in months:
        opening = sum(sums[0] for month, sums in by_month.items() if month < start)
        inside = by_month.get(_month_start(start), (0, 0, 0, 0))
        window = _countback_window(stop)
        out.append(
            Figures(
                opening=opening,
                closing=opening + inside[0],
                not_yet_due=not_yet_due.get(stop, 0),
                sales=inside[1],
                monthly_sales={m: v for m, v in monthly_sales.items() if window[0] <= m <= stop},
                cash_applied=inside[2],
                cash_applied_days=inside[3],
            )
        )
    return out


def _countback_window(period_end: date) -> tuple[date, date]:
    """The months countback may walk over for a period ending ``period_end``."""
    earliest = _month_start(period_end)
    for _ in range(COUNTBACK_MONTHS - 1):
        earliest = _previous_month(earliest)
    return earliest, period_end


def months_to(end: date, count: int) -> list[tuple[date, date]]:
    """The ``count`` calendar months up to the one holding ``end``, oldest first; the
    last one ends at ``end``."""
    spans: list[tuple[date, date]] = []
    last = end
    for _ in range(count):
        first = last.replace(day=1)
        spans.append((first, last))
        last = first - timedelta(days=1)
    return spans[::-1]
