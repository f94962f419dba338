"""Payment behaviour from the receivables read model: how late each account has paid
its recent invoices, which way that is going, and whether it routinely pays late.

* days late of a settled invoice: the days from its ``due_on`` to the day it was settled
  (0 when paid on time or early);
* ``average_days_late``: over the account's last ``RECENT`` settled invoices;
* ``trend``: ``worsening`` or ``improving`` when that average moved by more than
  ``TREND_DAYS`` against the ``RECENT`` invoices before them, else ``steady`` (or
  ``unknown`` without earlier invoices);
* ``routinely_late``: at least ``LATE_COUNT`` of the recent invoices were paid late, and
  at least half of them: a flag for escalation."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from uuid import UUID

from psycopg import Connection

RECENT = 6
TREND_DAYS = 2
LATE_COUNT = 3


@dataclass(frozen=True)
class Behaviour:
    account_id: UUID
    name: str
    settled_invoices: int  # how many the figures rest on (at most RECENT)
    late_invoices: int
    average_days_late: Decimal | None
    previous_average_days_late: Decimal | None
    trend: str
    routinely_late: bool


def _average(days: list[int]) -> Decimal | None:
    if not days:
        return None
    exact = Decimal(sum(days)) / Decimal(len(days))
    return exact.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def assess(account_id: UUID, name: str, days_late_newest_first: list[int]) -> Behaviour:
    """The behaviour of an account from the days late of its settled invoices."""
    recent = days_late_newest_first[:RECENT]
    earlier = days_late_newest_first[RECENT : 2 * RECENT]
    now, before = _average(recent), _average(earlier)
    trend = "unknown"
    if now is not None and before is not None:
        trend = (
            "worsening"
            if now - before > TREND_DAYS
            else "improving"
            if before - now > TREND_DAYS
            else "steady"
        )
    late = sum(1 for d in recent if d > 0)
    return Behaviour(
        account_id=account_id,
        name=name,
        settled_invoices=len(recent),
        late_invoices=late,
        average_days_late=now,
        previous_average_days_late=before,
        trend=trend,
        routinely_late=late >= LATE_COUNT and 2 * late >= len(recent),
    )


BEHAVIOUR_SQL = """
SELECT s.account_id, a.name, s.days_late
  FROM (SELECT i.account_id, GREATEST(i.settled_on - i.due_on, 0) AS days_late,
               row_number() OVER (PARTITION BY i.account_id
                                  ORDER BY i.settled_on DESC, i.due_on DESC, i.number DESC) AS n
          FROM receivable_invoices i
         WHERE i.settled_on IS NOT NULL AND i.currency = %(currency)s
           AND (%(account)s::uuid IS NULL OR i.account_id = %(account)s::uuid)) s
  JOIN receivable_accounts a ON a.account_id = s.account_id
 WHERE s.n <= %(keep)s
 ORDER BY s.account_id, s.n
"""


def behaviours(
    conn: Connection[Any], currency: str, account_id: UUID | None = None
) -> list[Behaviour]:
    """Every account of ``currency`` with a settled invoice (or just ``account_id``)."""
    rows = conn.execute(
        BEHAVIOUR_SQL, {"currency": currency, "account": account_id, "keep": 2 * RECENT}
    ).fetchall()
    days: dict[UUID, tuple[str, list[int]]] = {}
    for account, name, late in rows:
        days.setdefault(account, (name, []))[1].append(int(late))
    return [assess(account, name, late) for account, (name, late) in days.items()]
