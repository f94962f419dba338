"""The collections worklist, from the balances read model: the accounts a coordinator
should chase, most pressing first, each with the reasons it is there.

An account is listed when it has undisputed debt past due, or a failed payment nobody
has tried again (no later payment pending or succeeded). It is left out while on hold,
in an insolvency case, or when all it owes is in dispute: none of those is chased.

Priority, highest first: the age of the oldest chased debt (1,000 a bucket: 1-30 days
is 1, 91 or more is 4), then 400 a broken promise and 300 a failed payment not retried
(each counted up to 3), then 200 when nobody has been in contact for ``STALE_CONTACT_DAYS``
days; equal priorities go by the larger chased amount."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

from psycopg import Connection
from psycopg.rows import dict_row

from ledger.money import Money
from projections.ageing import bucket_index_sql

STALE_CONTACT_DAYS = 14

WORKLIST_SQL = """
WITH owed AS (
    SELECT i.account_id,
           i.due_on,
           i.amount_minor - i.allocated_minor - i.credited_minor - i.written_off_minor
               - i.voided_minor AS outstanding,
           i.disputed_minor AS disputed
      FROM balance_invoices i
), debt AS (
    SELECT account_id,
           SUM(GREATEST(outstanding - disputed, 0))
               FILTER (WHERE due_on < %(as_of)s) AS chased_overdue,
           SUM(GREATEST(outstanding - disputed, 0)) AS undisputed,
           SUM(LEAST(disputed, GREATEST(outstanding, 0))) AS disputed,
           MIN(due_on) FILTER (WHERE due_on < %(as_of)s AND outstanding > disputed) AS oldest_due
      FROM owed GROUP BY account_id
), failed AS (
    SELECT p.account_id, COUNT(*) AS unretried
      FROM balance_payments p
     WHERE p.status = 'failed'
       AND NOT EXISTS (
           SELECT 1 FROM balance_payments q
            WHERE q.account_id = p.account_id AND q.status IN ('pending', 'succeeded')
              AND COALESCE(q.recorded_position, q.position)
                  > COALESCE(p.recorded_position, p.position))
     GROUP BY p.account_id
), listed AS (
SELECT a.account_id, a.name, a.currency, a.status, a.broken_promises, a.last_contact_at,
       a.escalated_to, a.referred_to,
       COALESCE(d.chased_overdue, 0) AS chased_overdue,
       COALESCE(d.disputed, 0) AS disputed,
       d.oldest_due,
       COALESCE(f.unretried, 0) AS failed_unretried
  FROM balance_accounts a
  LEFT JOIN debt d ON d.account_id = a.account_id
  LEFT JOIN failed f ON f.account_id = a.account_id
 WHERE a.status <> 'on_hold' AND a.insolvency IS NULL
   AND COALESCE(d.undisputed, 0) > 0
   AND (COALESCE(d.chased_overdue, 0) > 0 OR COALESCE(f.unretried, 0) > 0)
   AND (%(currency)s::text IS NULL OR a.currency = %(currency)s::text)
), ranked AS (
SELECT l.*,
       COALESCE(%(as_of)s::date - l.oldest_due, 0) AS days_overdue,
       CASE WHEN l.chased_overdue > 0
            THEN 1000 * (__BUCKET__) ELSE 0 END
       + 400 * LEAST(l.broken_promises, 3)
       + 300 * LEAST(l.failed_unretried, 3)
       + CASE WHEN l.last_contact_at IS NULL
                OR l.last_contact_at::date < %(as_of)s::date - %(stale_days)s::int
              THEN 200 ELSE 0 END AS priority
  FROM listed l
)
SELECT * FROM ranked
 ORDER BY priority DESC, chased_overdue DESC, name COLLATE "C", account_id::text COLLATE "C"
 LIMIT %(limit)s
""".replace("__BUCKET__", bucket_index_sql("COALESCE(%(as_of)s::date - l.oldest_due, 0)"))


@dataclass
class Reason:
    code: str
    detail: str


@dataclass
class Row:
    account_id: UUID
    name: str
    currency: str
    status: str
    overdue: int
    days_overdue: int
    broken_promises: int
    failed_unretried: int
    disputed: int
    last_contact_at: datetime | None
    priority: int = 0
    reasons: list[Reason] = field(default_factory=list)


def _assess(r: dict[str, Any], as_of: date) -> Row:
    """A ranked row with the reasons behind its priority (worked out in the query)."""
    currency = r["currency"].strip()
    days = int(r["days_overdue"])
    row = Row(
        account_id=r["account_id"],
        name=r["name"],
        currency=currency,
        status=r["status"],
        overdue=int(r["chased_overdue"]),
        days_overdue=days,
        broken_promises=int(r["broken_promises"]),
        failed_unretried=int(r["failed_unretried"]),
        disputed=int(r["disputed"]),
        last_contact_at=r["last_contact_at"],
        priority=int(r["priority"]),
    )
    if row.overdue > 0:
        row.reasons.append(
            Reason("overdue", f"{Money(row.overdue, currency)} overdue, oldest {days} days")
        )
    if row.broken_promises:
        row.reasons.append(
            Reason("broken-promises", f"{row.broken_promises} promise(s) to pay broken")
        )
    if row.failed_unretried:
        row.reasons.append(
            Reason("failed-payment", f"{row.failed_unretried} failed payment(s) not retried")
        )
    stale = as_of - timedelta(days=STALE_CONTACT_DAYS)
    if row.last_contact_at is None or row.last_contact_at.date() < stale:
        said = (
            "never contacted"
            if row.last_contact_at is None
            else f"no contact since {row.last_contact_at.date()}"
        )
        row.reasons.append(Reason("no-recent-contact", said))
    if row.disputed:
        row.reasons.append(
            Reason("dispute-open", f"{Money(row.disputed, currency)} in dispute, not chased")
        )
    if r["referred_to"]:
        row.reasons.append(Reason("referred", f"referred to {r['referred_to']}"))
    if r["escalated_to"]:
        row.reasons.append(Reason("escalated", f"escalated to {r['escalated_to']}"))
    return row


def worklist(
    conn: Connection[Any], as_of: date, currency: str | None = None, limit: int = 100
) -> list[Row]:
    """The ``limit`` most pressing accounts, ranked in the database."""
    params = {
        "as_of": as_of,
        "currency": currency,
        "limit": limit,
        "stale_days": STALE_CONTACT_DAYS,
    }
    with conn.cursor(row_factory=dict_row) as cur:
        found = cur.execute(WORKLIST_SQL, params).fetchall()
    return [_assess(r, as_of) for r in found]


FEED_SQL = """
SELECT p.payment_id, p.account_id, a.name, p.currency, p.amount_minor, p.method, p.status,
       p.purpose, p.received_on, p.reference, p.failure_code, p.failure_message,
       -- cash on account: of a succeeded payment only, never of a deposit (held as
       -- security: what it has not applied is in deposits_held)
       CASE WHEN p.status = 'succeeded' AND p.purpose = 'payment'
            THEN p.amount_minor - p.refunded_minor - p.taken_back_minor - p.allocated_minor
            ELSE 0 END AS unallocated_minor,
       COALESCE(p.recorded_position, p.position) AS recorded_position,
       CASE
         WHEN p.status = 'failed' AND NOT EXISTS (
              SELECT 1 FROM balance_payments q
               WHERE q.account_id = p.account_id AND q.status IN ('pending', 'succeeded')
                 AND COALESCE(q.recorded_position, q.position)
                     > COALESCE(p.recorded_position, p.position)) THEN 'retry'
         WHEN p.status = 'succeeded' AND p.purpose = 'payment'
              AND p.amount_minor - p.refunded_minor - p.taken_back_minor
                  - p.allocated_minor > 0 THEN 'allocate'
       END AS action
  FROM balance_payments p
  JOIN balance_accounts a ON a.account_id = p.account_id
 WHERE (%(status)s::text IS NULL OR p.status = %(status)s::text)
   AND (%(account)s::uuid IS NULL OR p.account_id = %(account)s::uuid)
   AND (%(method)s::text IS NULL OR p.method = %(method)s::text)
   AND (%(received_from)s::date IS NULL OR p.received_on >= %(received_from)s::date)
   AND (%(received_to)s::date IS NULL OR p.received_on <= %(received_to)s::date)
   AND (%(before)s::bigint IS NULL
        OR COALESCE(p.recorded_position, p.position) < %(before)s::bigint)
"""


def payments_feed(
    conn: Connection[Any],
    *,
    status: str | None,
    account_id: UUID | None,
    needs_action: bool,
    before: int | None,
    limit: int,
    method: str | None = None,
    received_from: date | None = None,
    received_to: date | None = None,
) -> list[dict[str, Any]]:
    """Payments newest first, each with the action it still needs (``retry`` a failed
    payment not re-attempted, ``allocate`` succeeded cash not applied), if any."""
    sql = f"SELECT * FROM ({FEED_SQL}) f"
    if needs_action:
        sql += " WHERE f.action IS NOT NULL"
    sql += " ORDER BY f.recorded_position DESC LIMIT %(limit)s"
    params = {
        "status": status,
        "account": account_id,
        "before": before,
        "limit": limit,
        "method": method,
        "received_from": received_from,
        "received_to": received_to,
    }
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(sql, params).fetchall()
