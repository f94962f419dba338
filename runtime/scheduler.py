"""The scheduler: the events that happen because a date passes. An invoice becomes
overdue the day after its due date; a promise to pay is kept the day enough has been paid
or broken the day after its date; a plan's instalment is kept or missed the same way.
What counts as paid, and that each unit of cash keeps one arrangement only, is the
domain's rule (``ledger/arrangement_cash.py``); an account's decisions are taken in the
order their days fall.

It decides from the balances read model (what is open, what each payment holds) and the
receivables one (what each payment applied to which invoice, when), after waiting for
both to reach the store's head, and records each decision through the
ledger with the business date it belongs to, whatever day it runs: a scheduler that was
down for a week catches up with the same events, dated as they would have been. Exactly
once comes from the aggregates, not from the scheduler's memory: a promise already
decided, or an invoice already noted overdue, refuses a second decision, so two
schedulers at once, or a run repeated after a crash, add nothing."""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import TypeVar
from uuid import UUID, uuid5

import psycopg
from psycopg_pool import ConnectionPool

from ledger.application import Ledger
from ledger.arrangement_cash import (
    Cash,
    CashBook,
    Decision,
    Pending,
    Terms,
    cash_of_rows,
    next_decision,
)
from ledger.errors import RuleViolation
from ledger.money import Money
from ledger.payment_plan import PaymentPlan
from ledger.promise import Promise
from ledger.stamp import Stamp
from projections import balance_queries, receivables, tracking
from projections.balances import NAME as BALANCES
from projections.receivables import NAME as RECEIVABLES

log = logging.getLogger("arledger.scheduler")

ACTOR = "scheduler"
_NAMESPACE = UUID("3d4c9b1e-5a7f-4e0b-8c2d-6f1e9a0b7c55")
DAY = timedelta(days=1)
T = TypeVar("T")


class ProjectionBehind(Exception):
    """The read model has not reached the store's head: deciding now could miss a payment."""


def today_utc() -> date:
    return datetime.now(UTC).date()


def run_once(
    ledger: Ledger,
    pool: ConnectionPool,
    topic: str,
    today: date,
    wait_s: float = 30,
    stop: threading.Event | None = None,
) -> Counter[str]:
    """Decide everything due by ``today``; return how many of each decision were made.
    Once ``stop`` is set (the process asked to end) it stops waiting for the read models
    and takes no further decision: the next run takes up the rest."""
    head = ledger.head_position()
    for name in (BALANCES, RECEIVABLES):
        if not tracking.wait_for(pool, name, topic, head, wait_s, stop):
            if stop is not None and stop.is_set():
                return Counter()
            raise ProjectionBehind(f"the {name} read model has not reached the store's head")
    made: Counter[str] = Counter()
    stamp = Stamp(ACTOR, f"scheduler:{today}", str(uuid5(_NAMESPACE, str(today))), _now())
    for invoice_id, due_on in _until_stopped(_newly_overdue(pool, today), stop):
        made[_decide("overdue", ledger.note_overdue, invoice_id, due_on + DAY, stamp)] += 1
    for account_id in _until_stopped(_open_accounts(pool), stop):
        made.update(decide_account(ledger, pool, account_id, today, stamp))
    made.pop("", None)
    log.info("scheduler ran", extra={"today": today.isoformat(), **made})
    return made


DATABASE_RETRY_SECONDS = 5.0


def _until_stopped(items: Iterable[T], stop: threading.Event | None) -> Iterator[T]:
    """``items`` until ``stop`` is set."""
    for item in items:
        if stop is not None and stop.is_set():
            return
        yield item


def run(
    ledger: Ledger, pool: ConnectionPool, topic: str, stop: threading.Event, interval_s: float
) -> None:
    """Run every ``interval_s`` until ``stop``, for the wall-clock date (UTC); a run in
    progress ends at its next decision once ``stop`` is set."""
    while not stop.is_set():
        try:
            run_once(ledger, pool, topic, today_utc(), stop=stop)
        except ProjectionBehind as e:
            log.warning("scheduler waits for the read model", extra={"error": str(e)})
        except psycopg.OperationalError as e:
            # The database restarted or is unreachable (AdminShutdown, a refused
            # connection): the pools reconnect, and the next run catches the day up.
            log.warning("scheduler lost the database; trying again", extra={"error": repr(e)})
            stop.wait(min(interval_s, DATABASE_RETRY_SECONDS))
            continue
        stop.wait(interval_s)


def decide_account(
    ledger: Ledger, pool: ConnectionPool, account_id: UUID, today: date, stamp: Stamp
) -> Counter[str]:
    """Decide an account's open promises and instalments, the earliest decision first,
    each counting only cash no earlier kept decision counted."""
    book = _cash_book(pool, account_id)
    pending: dict[UUID, Pending] = {}
    for arrangement_id, order in _arrangements_of(pool, account_id):
        arrangement = ledger.get_arrangement(arrangement_id)
        book.spend(cash_of_rows(arrangement.kept_by, today))
        nxt = _pending(arrangement, order)
        if nxt is not None:
            pending[arrangement_id] = nxt
    made: Counter[str] = Counter()
    while (decision := next_decision(book, list(pending.values()), today)) is not None:
        name = _take(ledger, decision, stamp)
        if not name:
            return made  # decided elsewhere meanwhile: the next run starts afresh
        made[name] += 1
        book.spend(decision.tally.kept_by)
        arrangement_id = decision.pending.arrangement_id
        nxt = _pending(ledger.get_arrangement(arrangement_id), decision.pending.order)
        if nxt is None:
            del pending[arrangement_id]
        else:
            pending[arrangement_id] = nxt
    return made


def _pending(arrangement: Promise | PaymentPlan, order: int) -> Pending | None:
    """The arrangement's next decision: the promise itself, or the plan's next
    instalment (due the running total less what its kept instalments counted)."""
    invoices = frozenset(arrangement.invoice_ids)
    if isinstance(arrangement, Promise):
        if arrangement.status != "open":
            return None
        terms = Terms(
            invoices, arrangement.made_on, arrangement.promised_on, arrangement.amount.amount_minor
        )
        return Pending(arrangement.id, "promise", order, terms, arrangement.amount.currency)
    if arrangement.status != "active":
        return None
    index = arrangement.next_index
    due = arrangement.due_by(index).amount_minor - arrangement.counted
    due_on = arrangement.instalments[index]["due_on"]
    terms = Terms(invoices, arrangement.starts_on, due_on, due)
    currency = arrangement.instalments[index]["amount"].currency
    return Pending(arrangement.id, "payment_plan", order, terms, currency, arrangement.counted)


def _take(ledger: Ledger, decision: Decision, stamp: Stamp) -> str:
    """Record one decision through the ledger; the name it is counted under, or "" if
    its aggregate refused it (already decided)."""
    pending, tally = decision.pending, decision.tally
    cur = pending.currency
    paid = Money(pending.before + tally.counted, cur)
    kept_by = [cash.row(cur) for cash in tally.kept_by]
    decide: Callable[..., object]
    if pending.kind == "promise":
        decide, name = ledger.decide_promise, "promise_kept" if decision.kept else "promise_broken"
    else:
        decide = ledger.decide_instalment
        name = "instalment_kept" if decision.kept else "instalment_missed"
    args = (pending.arrangement_id, decision.kept, paid, decision.on, stamp, kept_by)
    return _decide(name, decide, *args)


def _decide(name: str, decision: Callable[..., object], *args: object) -> str:
    """Run a decision; one already taken (by another scheduler, or before a crash) is
    refused by its aggregate and counted as nothing."""
    try:
        decision(*args)
    except RuleViolation as e:
        log.info("already decided", extra={"decision": name, "detail": str(e)})
        return ""
    return name


def _cash_book(pool: ConnectionPool, account_id: UUID) -> CashBook:
    """The account's countable cash from the read models: each succeeded payment's cash
    still held (refunds, returns and chargebacks taken off) on its ``received_on``, and
    what it has applied to each invoice now, on the allocation's date. Deposits are
    left out: they never keep a promise or an instalment."""
    with pool.connection() as conn:
        payments = balance_queries.held_payments(conn, account_id)
        applied = receivables.applied_cash(conn, account_id)
    held = {row[0]: int(row[2]) for row in payments}
    return CashBook(
        held=held,
        received=[Cash(row[0], None, row[1], int(row[2])) for row in payments],
        applied=[Cash(row[0], row[1], row[2], int(row[3])) for row in applied],
    )


def _newly_overdue(pool: ConnectionPool, today: date) -> Iterator[tuple[UUID, date]]:
    with pool.connection() as conn:
        rows = balance_queries.newly_overdue(conn, today)
    yield from ((row[0], row[1]) for row in rows)


def _open_accounts(pool: ConnectionPool) -> list[UUID]:
    """The accounts with a promise or a plan still to decide."""
    with pool.connection() as conn:
        rows = balance_queries.accounts_with_open_arrangements(conn)
    return [row[0] for row in rows]


def _arrangements_of(pool: ConnectionPool, account_id: UUID) -> list[tuple[UUID, int]]:
    """Every promise and plan of the account that has counted cash or may: the open
    ones, kept promises and every plan (each with its order of making, for the open)."""
    with pool.connection() as conn:
        rows = balance_queries.arrangements_to_decide(conn, account_id)
    return [(row[0], int(row[1])) for row in rows]


def _now() -> datetime:
    return datetime.now(UTC)
