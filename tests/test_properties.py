"""For any sequence of commands: money is conserved, nothing is over-allocated or
negative, and the projection built from the events equals a fold of the store. An
invoice is voided at most once, and never once settled or with cash allocated. Deposits
are never cash against invoices until applied, and applied no earlier than the day they
are; promises and plans made over the book and decided by the scheduler are kept only by
cash in their scope, and no unit of cash keeps two of them."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections import Counter
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consumers.catchup import catch_up
from infra import commits
from infra.database import eventstore_env, open_pool
from ledger.account import Account
from ledger.application import Ledger
from ledger.commands import AgreePaymentPlan, MakePromise
from ledger.errors import LedgerError
from ledger.invoice import Invoice
from ledger.money import Money
from ledger.payment import Payment
from ledger.payment_plan import PaymentPlan
from ledger.promise import Promise
from projections.registry import AUDIT, BALANCES, PROJECTIONS, RECEIVABLES
from runtime import scheduler
from tests.book import stamp, write_book
from tests.folds import fold_store, read_projection
from tests.known_at import as_known_at_reports_equal_the_prefix

PARTITIONS = 6


@pytest.fixture
def store(database_url):
    ledger = Ledger(eventstore_env(database_url), snapshot_interval=4)
    pool = open_pool(database_url, max_size=2)
    for projection in PROJECTIONS.values():
        projection.ensure_schema(pool)
    yield ledger, pool
    pool.close()
    ledger.close()


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(seed=st.integers(0, 2**32 - 1), commands=st.integers(1, 60))
def test_any_command_sequence_conserves_money_and_projects_to_the_store(store, seed, commands):
    ledger, pool = store
    first = ledger.head_position() + 1
    write_book(ledger, random.Random(seed), commands, accounts=3)
    folded = fold_store(ledger)  # which also fails on a second void, or one of a paid invoice
    for invoice in folded["invoices"].values():
        assert 0 <= invoice["allocated"] <= invoice["amount"]
    for totals in folded["accounts"].values():
        assert 0 <= totals["allocated"] <= totals["paid"]
        assert totals["allocated"] <= totals["invoiced"]
    for account_id in folded["accounts"]:
        account = ledger.get_account(uuid.UUID(account_id))
        assert isinstance(account, Account)
        invoices = [ledger.get_invoice(i) for i in account.invoice_ids()]
        outstanding = sum(i.outstanding.amount_minor for i in invoices)
        allocated = sum(i.allocated.amount_minor for i in invoices)
        credited = sum(i.credited.amount_minor for i in invoices)
        written_off = sum(i.written_off.amount_minor for i in invoices)
        # Money is conserved: what was invoiced (less voids) is owed, paid, credited or
        # written off.
        applied = allocated + credited + written_off
        assert outstanding + applied == folded["accounts"][account_id]["invoiced"]
        assert all(i.outstanding.amount_minor >= 0 for i in invoices)

    _payments_agree_with_invoices(ledger)
    _voided_at_most_once_and_never_once_settled(ledger, folded)

    # The projection, fed from the store by the same code the Kafka consumer uses, agrees.
    catch_up(ledger, pool, BALANCES, set(range(PARTITIONS)), PARTITIONS)
    assert read_projection(pool) == folded

    # The receivables and audit read models, built the same way, agree with the
    # aggregates on what every invoice and account owes and what every payment holds.
    for projection in (RECEIVABLES, AUDIT):
        catch_up(ledger, pool, projection, set(range(PARTITIONS)), PARTITIONS)
    _read_models_agree_with_aggregates(ledger, pool, folded)
    _deposits_count_only_once_applied(ledger, pool)

    _arrangements_decided_keep_distinct_cash(ledger, pool, random.Random(seed), first)
    _as_known_at_reports_equal_the_events_up_to_the_mapped_position(
        ledger, pool, random.Random(seed)
    )


def _read_models_agree_with_aggregates(ledger: Ledger, pool, folded) -> None:
    with pool.connection() as conn:
        by_invoice = dict(
            conn.execute(
                "SELECT invoice_id, SUM(amount_minor) FROM receivable_movements GROUP BY 1"
            ).fetchall()
        )
        by_account = dict(
            conn.execute(
                "SELECT account_id, SUM(amount_minor) FROM receivable_movements GROUP BY 1"
            ).fetchall()
        )
        audited = dict(
            conn.execute("SELECT account_id, outstanding_minor FROM audit_accounts").fetchall()
        )
        cash = dict(
            conn.execute(
                "SELECT payment_id, SUM(amount_minor) FROM receivable_cash GROUP BY 1"
            ).fetchall()
        )
    for account_id in folded["accounts"]:
        account = ledger.get_account(uuid.UUID(account_id))
        invoices = [ledger.get_invoice(i) for i in account.invoice_ids()]
        for invoice in invoices:
            assert by_invoice[invoice.id] == invoice.outstanding.amount_minor
        owed = sum(i.outstanding.amount_minor for i in invoices)
        assert by_account.get(account.id, 0) == owed
        assert audited[account.id] == owed
    for payment in _payments(ledger):
        assert cash.get(payment.id, 0) == payment.held.amount_minor, payment.status


def _events(ledger: Ledger) -> Iterator[object]:
    """Every event in the store, in store order."""
    after = 0
    while batch := ledger.read_log(after, 1000):
        yield from map(ledger.decode, batch)
        after = batch[-1].id


def _payments(ledger: Ledger) -> Iterator[Payment]:
    """Every payment in the store, as it stands now."""
    for event in _events(ledger):
        if isinstance(event, Payment.Recorded):  # type: ignore[attr-defined]
            yield ledger.get_payment(event.originator_id)


def _voided_at_most_once_and_never_once_settled(ledger: Ledger, folded) -> None:
    """Each invoice has at most one ``Voided`` event (the fold, reading them in store
    order, also fails on one of an invoice with cash allocated or nothing left to owe);
    a voided invoice stays void with nothing allocated, and the fold's sum of its voids
    is what the invoice says it voided."""
    voids = Counter(
        event.originator_id  # type: ignore[attr-defined]
        for event in _events(ledger)
        if isinstance(event, Invoice.Voided)  # type: ignore[attr-defined]
    )
    assert [i for i, n in voids.items() if n > 1] == []
    for invoice_id in voids:
        invoice = ledger.get_invoice(invoice_id)
        assert invoice.is_void and invoice.allocated.is_zero(), invoice_id
        assert folded["invoices"][str(invoice_id)]["voided"] == invoice.voided.amount_minor


def _payments_agree_with_invoices(ledger: Ledger) -> None:
    """Every payment holds no less than it has allocated, and what payments say they
    applied to each invoice is exactly what each invoice says it received."""
    applied_to: dict[uuid.UUID, int] = {}
    for payment in _payments(ledger):
        assert 0 <= payment.allocated.amount_minor <= payment.held.amount_minor
        assert payment.held.amount_minor <= payment.amount.amount_minor
        assert payment.unallocated.amount_minor >= 0
        for key, amount in payment.applied.items():
            assert amount.amount_minor > 0
            applied_to[uuid.UUID(key)] = applied_to.get(uuid.UUID(key), 0) + amount.amount_minor
    for invoice_id, amount in applied_to.items():
        assert ledger.get_invoice(invoice_id).allocated.amount_minor == amount


def _as_known_at_reports_equal_the_events_up_to_the_mapped_position(
    ledger: Ledger, pool, rng: random.Random
) -> None:
    """A moment maps to the last position committed by then, the times rising with the
    positions; and every as-known-at report equals the same report computed from the
    events up to that position alone."""
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT position, committed_at FROM event_commits ORDER BY position"
        ).fetchall()
    assert rows and rows[-1][0] == ledger.head_position()  # every commit has its time
    assert [at for _, at in rows] == sorted(at for _, at in rows)
    _, at = rows[rng.randrange(len(rows))]
    moments = [at, at - dt.timedelta(microseconds=1), rows[-1][1], rows[0][1]]
    for moment in moments:
        with pool.connection() as conn:
            known = commits.known_position(conn, moment)
        assert known == max((p for p, t in rows if t <= moment), default=0)
        as_known_at_reports_equal_the_prefix(ledger, pool, known)


def _deposits_count_only_once_applied(ledger: Ledger, pool) -> None:
    """What the balances call unallocated is ordinary payments' cash alone (a deposit's
    is ``deposits_held``), and a deposit's allocation takes effect no earlier than the
    day it was applied."""
    on_account: Counter[uuid.UUID] = Counter()
    for payment in _payments(ledger):
        if payment.purpose == "payment":
            on_account[payment.account_id] += payment.unallocated.amount_minor
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT account_id, paid_minor - allocated_minor FROM balance_accounts"
        ).fetchall()
        applied = conn.execute(
            "SELECT m.effective_on, m.recorded_at FROM receivable_movements m"
            " JOIN receivable_payments p ON p.payment_id = m.payment_id"
            " WHERE p.purpose = 'deposit' AND m.kind = 'allocated'"
        ).fetchall()
    assert {a: int(u) for a, u in rows} == {a: on_account[a] for a, _ in rows}
    for effective_on, recorded_at in applied:
        assert effective_on >= recorded_at.astimezone(dt.UTC).date()


def _arrangements_decided_keep_distinct_cash(
    ledger: Ledger, pool, rng: random.Random, first: int
) -> None:
    """Promises and plans over this example's accounts (the store outlives the example),
    decided by the scheduler once all their dates have passed: no cash keeps two."""
    accounts = _opened_since(pool, first)
    arrangements = _arrange(ledger, rng, accounts)
    for projection in (BALANCES, RECEIVABLES):
        catch_up(ledger, pool, projection, set(range(PARTITIONS)), PARTITIONS)
    decided = stamp()
    for account in accounts:
        scheduler.decide_account(ledger, pool, account, dt.date(2027, 1, 1), decided)
    _no_cash_keeps_two_arrangements(ledger, arrangements)


def _opened_since(pool, position: int) -> list[uuid.UUID]:
    """The accounts with events from ``position`` on: those the example opened."""
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT account_id FROM balance_accounts WHERE position >= %s ORDER BY position",
            (position,),
        ).fetchall()
    return [row[0] for row in rows]


def _arrange(ledger: Ledger, rng: random.Random, accounts: list[uuid.UUID]) -> list[uuid.UUID]:
    """A few promises (on some invoices, or the whole account) and plans per account,
    their windows over the day the book's cash arrived, so they compete for it; refused
    ones (a plan above what is owed) skipped."""
    made = []
    for account_id in accounts:
        account = ledger.get_account(account_id)
        invoices = list(account.invoice_ids())
        for _ in range(rng.randrange(5)):
            named = tuple(rng.sample(invoices, k=min(len(invoices), rng.randrange(3))))
            start = dt.date(2026, 4, 1) - dt.timedelta(days=rng.randrange(30))  # the book's cash
            due = [start + dt.timedelta(days=30 * (k + 1)) for k in range(rng.randrange(1, 4))]
            amounts = [Money(rng.randrange(1, 20_000), account.currency) for _ in due]
            arrangement_id = uuid.uuid4()
            try:
                if not named or rng.random() < 0.5:
                    ledger.make_promise(
                        MakePromise(
                            account_id, arrangement_id, amounts[0], start, due[0], stamp(), named
                        )
                    )
                else:
                    instalments = tuple(zip(due, amounts, strict=True))
                    plan = AgreePaymentPlan(
                        account_id, arrangement_id, named, instalments, start, stamp(), 1
                    )
                    ledger.agree_payment_plan(plan)
            except LedgerError:
                continue
            made.append(arrangement_id)
    return made


def _no_cash_keeps_two_arrangements(ledger: Ledger, arrangements: list[uuid.UUID]) -> None:
    """Every arrangement is decided; what kept each is cash of ordinary payments in its
    scope, exactly what it asked; and no payment's cash, nor its cash on an invoice, is
    counted twice across them."""
    by_payment: Counter[uuid.UUID] = Counter()
    by_invoice: Counter[tuple[uuid.UUID, uuid.UUID]] = Counter()
    for arrangement_id in arrangements:
        arrangement = ledger.get_arrangement(arrangement_id)
        assert arrangement.status not in ("open", "active")
        for row in arrangement.kept_by:
            amount, invoice_id = row["amount"].amount_minor, row["invoice_id"]
            assert amount > 0
            assert ledger.get_payment(row["payment_id"]).purpose == "payment"
            assert (invoice_id is None) == (not arrangement.invoice_ids)
            assert invoice_id is None or invoice_id in arrangement.invoice_ids
            by_payment[row["payment_id"]] += amount
            if invoice_id is not None:
                by_invoice[row["payment_id"], invoice_id] += amount
        assert sum(r["amount"].amount_minor for r in arrangement.kept_by) == _asked(arrangement)
    for payment_id, counted in by_payment.items():
        assert counted <= ledger.get_payment(payment_id).held.amount_minor
    for (payment_id, invoice_id), counted in by_invoice.items():
        assert counted <= ledger.get_payment(payment_id).applied_to(invoice_id).amount_minor


def _asked(arrangement: Promise | PaymentPlan) -> int:
    """What the cash that kept it must add up to: a kept promise's amount, the running
    total of a plan's instalments up to its last kept one (0 when nothing was kept)."""
    if isinstance(arrangement, Promise):
        return arrangement.amount.amount_minor if arrangement.status == "kept" else 0
    kept = [n for n, outcome in enumerate(arrangement.outcomes) if outcome == "kept"]
    return arrangement.due_by(kept[-1]).amount_minor if kept else 0
