"""The scheduler: the events that happen because a date passes. An invoice becomes
overdue the day after its due date; a promise to pay is kept the day enough has been paid
or broken the day after its date; a plan's instalment is kept or missed the same way.

It decides from the balances read model (what is open, what was paid when), after
waiting for that model to reach the store's head, and records each decision through the
ledger with the business date it belongs to, whatever day it runs: a scheduler that was
down for a week catches up with the same events, dated as they would have been. Exactly
once comes from the aggregates, not from the scheduler's memory: a promise already
decided, or an invoice already noted overdue, refuses a second decision, so two
schedulers at once, or a run repeated after a crash, add nothing."""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from uuid import UUID, uuid5

import psycopg
from psycopg_pool import ConnectionPool

from ledger.application import Ledger
from ledger.errors import RuleViolation
from ledger.money import Money
from ledger.stamp import Stamp
from projections import tracking
from projections.balances import NAME as BALANCES

log = logging.getLogger("arledger.scheduler")

ACTOR = "scheduler"
_NAMESPACE = UUID("3d4c9b1e-5a7f-4e0b-8c2d-6f1e9a0b7c55")
DAY = timedelta(days=1)


class ProjectionBehind(Exception):
    """The read model has not reached the store's head: deciding now could miss a payment."""


def today_utc() -> date:
    return datetime.now(UTC).date()


def run_once(
    ledger: Ledger, pool: ConnectionPool, topic: str, today: date, wait_s: float = 30
) -> Counter[str]:
    """Decide everything due by ``today``; return how many of each decision were made."""
    if not tracking.wait_for(pool, BALANCES, topic, ledger.head_position(), wait_s):
        raise ProjectionBehind(f"the {BALANCES} read model has not reached the store's head")
    made: Counter[str] = Counter()
    stamp = Stamp(ACTOR, f"scheduler:{today}", str(uuid5(_NAMESPACE, str(today))), _now())
    for invoice_id, due_on in _newly_overdue(pool, today):
        made[_decide("overdue", ledger.note_overdue, invoice_id, due_on + DAY, stamp)] += 1
    for arrangement_id, kind in _open_arrangements(pool):
        if kind == "promise":
            made.update(_promise(ledger, pool, arrangement_id, today, stamp))
        else:
            made.update(_plan(ledger, pool, arrangement_id, today, stamp))
    made.pop("", None)
    log.info("scheduler ran", extra={"today": today.isoformat(), **made})
    return made


DATABASE_RETRY_SECONDS = 5.0


def run(
    ledger: Ledger, pool: ConnectionPool, topic: str, stop: threading.Event, interval_s: float
) -> None:
    """Run every ``interval_s`` until ``stop``, for the wall-clock date (UTC)."""
    while not stop.is_set():
        try:
            run_once(ledger, pool, topic, today_utc())
        except ProjectionBehind as e:
            log.warning("scheduler waits for the read model", extra={"error": str(e)})
        except psycopg.OperationalError as e:
            # The database restarted or is unreachable (AdminShutdown, a refused
            # connection): the pools reconnect, and the next run catches the day up.
            log.warning("scheduler lost the database; trying again", extra={"error": repr(e)})
            stop.wait(min(interval_s, DATABASE_RETRY_SECONDS))
            continue
        stop.wait(interval_s)


def _promise(
    ledger: Ledger, pool: ConnectionPool, promise_id: UUID, today: date, stamp: Stamp
) -> Counter[str]:
    """Kept on the day the payments since it was made reached the amount; broken the day
    after its date if they did not."""
    promise = ledger.get_promise(promise_id)
    payments = _paid(pool, promise.account_id, promise.made_on, min(promise.promised_on, today))
    reached, paid = _reached(payments, promise.amount)
    if reached is not None:
        decide = ledger.decide_promise
        decided = _decide("promise_kept", decide, promise_id, True, paid, reached, stamp)
    elif today > promise.promised_on:
        on = promise.promised_on + DAY
        decide = ledger.decide_promise
        decided = _decide("promise_broken", decide, promise_id, False, paid, on, stamp)
    else:
        return Counter()
    return Counter({decided: 1})


def _plan(
    ledger: Ledger, pool: ConnectionPool, plan_id: UUID, today: date, stamp: Stamp
) -> Counter[str]:
    """Decide the plan's instalments in order, as far as ``today`` allows."""
    made: Counter[str] = Counter()
    while True:
        plan = ledger.get_plan(plan_id)
        if plan.status != "active":
            return made
        index = plan.next_index
        due_on = plan.instalments[index]["due_on"]
        payments = _paid(pool, plan.account_id, plan.starts_on, min(due_on, today))
        reached, paid = _reached(payments, plan.due_by(index))
        if reached is not None:
            kept, on, name = True, reached, "instalment_kept"
        elif today > due_on:
            kept, on, name = False, due_on + DAY, "instalment_missed"
        else:
            return made
        outcome = _decide(name, ledger.decide_instalment, plan_id, kept, paid, on, stamp)
        if not outcome:
            return made
        made[outcome] += 1


def _decide(name: str, decision: Callable[..., object], *args: object) -> str:
    """Run a decision; one already taken (by another scheduler, or before a crash) is
    refused by its aggregate and counted as nothing."""
    try:
        decision(*args)
    except RuleViolation as e:
        log.info("already decided", extra={"decision": name, "detail": str(e)})
        return ""
    return name


def _reached(payments: list[tuple[date, int]], target: Money) -> tuple[date | None, Money]:
    """The day the running total of ``payments`` reached ``target`` (None if it did not),
    and the total paid."""
    total, reached = 0, None
    for received_on, amount_minor in payments:
        total += amount_minor
        if reached is None and total >= target.amount_minor:
            reached = received_on
    return reached, Money(total, target.currency)


def _paid(pool: ConnectionPool, account_id: UUID, start: date, end: date) -> list[tuple[date, int]]:
    """Cash each succeeded payment received in [start, end] still holds (refunds, returns
    and chargebacks taken off), oldest first."""
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT received_on, amount_minor - refunded_minor - taken_back_minor"
            " FROM balance_payments WHERE account_id = %s AND status = 'succeeded'"
            " AND received_on BETWEEN %s AND %s ORDER BY received_on, position",
            (account_id, start, end),
        ).fetchall()
    return [(row[0], int(row[1])) for row in rows]


def _newly_overdue(pool: ConnectionPool, today: date) -> Iterator[tuple[UUID, date]]:
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT invoice_id, due_on FROM balance_invoices"
            " WHERE NOT overdue_noted AND voided_minor = 0 AND due_on < %s"
            " AND amount_minor - allocated_minor - credited_minor - written_off_minor > 0"
            " ORDER BY due_on, invoice_id",
            (today,),
        ).fetchall()
    yield from ((row[0], row[1]) for row in rows)


def _open_arrangements(pool: ConnectionPool) -> list[tuple[UUID, str]]:
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT arrangement_id, kind FROM balance_arrangements WHERE status = 'open'"
            " ORDER BY position"
        ).fetchall()
    return [(row[0], row[1]) for row in rows]


def _now() -> datetime:
    return datetime.now(UTC)
