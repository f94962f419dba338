"""Group commit (``ledger/group_commit.py``): many commands arriving together are saved
in one transaction, and each is still applied exactly once or refused with its own
error, on the real event store."""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest

from infra.database import eventstore_env
from ledger.application import Ledger
from ledger.commands import AllocatePayment, OpenAccount, RaiseInvoice, RecordPayment
from ledger.errors import DuplicateInvoiceNumber, OverAllocation
from ledger.money import Money
from ledger.stamp import Stamp
from tests.pipeline import pipeline

NOW = dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.UTC)
THREADS = 32


def gbp(pence: int) -> Money:
    return Money(pence, "GBP")


def stamp() -> Stamp:
    return Stamp("alice", "corr", "cause", NOW)


@pytest.fixture
def ledger(database_url: str):
    app = Ledger(eventstore_env(database_url, pool_size=THREADS), snapshot_interval=3)
    yield app
    app.close()


def together(calls: list[Any], run: Any) -> list[Any]:
    """Run ``run(call)`` for every call from ``THREADS`` threads released at once; each
    outcome, in the calls' order."""
    start, started = threading.Barrier(min(THREADS, len(calls))), threading.local()

    def released(call: Any) -> Any:
        if not getattr(started, "yes", False):  # each thread's first call waits for all
            started.yes = True
            start.wait(timeout=30)
        return run(call)

    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(released, calls))


def _book(ledger: Ledger) -> tuple[list[Any], dict[Any, list[Any]], list[tuple[Any, int, Any]]]:
    """Four accounts, three 100.00 invoices on each, and twelve 30.00 payments on each."""
    accounts = [
        ledger.open_account(OpenAccount(f"Race {a}", "GBP", 30, stamp())).aggregate.id
        for a in range(4)
    ]
    invoices = {
        account: [
            ledger.raise_invoice(
                RaiseInvoice(
                    account,
                    f"R-{n}",
                    gbp(100_00),
                    dt.date(2026, 1, 1),
                    dt.date(2026, 2, 1),
                    stamp(),
                )
            ).aggregate.id
            for n in range(3)
        ]
        for account in accounts
    }
    payments = [
        (
            account,
            n,
            ledger.record_payment(
                RecordPayment(account, gbp(30_00), "bacs", dt.date(2026, 3, 1), stamp())
            ).aggregate.id,
        )
        for account in accounts
        for n in range(12)
    ]
    return accounts, invoices, payments


def test_raced_commands_are_each_applied_once_or_refused_with_their_own_error(ledger):
    accounts, invoices, payments = _book(ledger)
    # Each allocation twice (a client's retry racing its first try); four 30.00 payments
    # on each 100.00 invoice, so one of every four is over-allocation.
    allocations = [
        AllocatePayment(payment, f"req-{payment}", stamp(), ((invoices[a][n % 3], gbp(30_00)),))
        for a, n, payment in payments
    ] * 2
    # And the same invoice number raised on one account from eight threads.
    duplicates = [
        RaiseInvoice(
            accounts[0], "R-DUP", gbp(5_00), dt.date(2026, 1, 1), dt.date(2026, 2, 1), stamp()
        )
    ] * 8
    head = ledger.head_position()

    def run(command: Any) -> Any:
        try:
            if isinstance(command, RaiseInvoice):
                return ("raised", ledger.raise_invoice(command).position)
            result = ledger.allocate_payment(command)
            return ("replayed" if result.replayed else "applied", result.position)
        except (OverAllocation, DuplicateInvoiceNumber) as refusal:
            return (type(refusal).__name__, None)

    outcomes = together([*allocations, *duplicates], run)

    assert ledger.uow.groups_saved > 0, "no two commands were saved together"
    by_request: dict[str, Counter[str]] = {}
    for command, (outcome, _) in zip(allocations, outcomes, strict=False):
        by_request.setdefault(command.request_id, Counter())[outcome] += 1
    for outcome in by_request.values():
        # Applied once and answered as applied before, or refused both times.
        assert outcome in (Counter(applied=1, replayed=1), Counter(OverAllocation=2)), outcome
    applied = Counter(o for o, _ in outcomes[: len(allocations)])
    assert applied["applied"] == 4 * 3 * 3  # three 30.00 payments fit in each 100.00
    assert Counter(o for o, _ in outcomes[len(allocations) :]) == Counter(
        raised=1, DuplicateInvoiceNumber=7
    )
    for account in accounts:
        for invoice in invoices[account]:
            assert ledger.get_invoice(invoice).outstanding == gbp(10_00)
    _store_holds_exactly_what_was_applied(ledger, head, outcomes, applied["applied"])


def _store_holds_exactly_what_was_applied(
    ledger: Ledger, head: int, outcomes: list[Any], allocated: int
) -> None:
    # Every applied command has a position of its own, and the store holds exactly what
    # they appended: one allocation event on the invoice and one on the payment each, and
    # the R-DUP invoice with its account's register of numbers. (Counted, not read off
    # the head: a save refused as a conflict and retried leaves a gap in the positions.)
    positions = [p for o, p in outcomes if o in ("applied", "raised")]
    assert len(set(positions)) == len(positions)
    appended = ledger.read_log(head, 10 * len(outcomes))
    assert len(appended) == 2 * allocated + 2
    assert {n.id for n in appended} >= set(positions)


def test_keys_of_commands_saved_together_answer_their_own_reply_when_retried(settings):
    with pipeline(settings, workers=False) as p:
        api = p.api
        accounts = [api.open_account(f"Keyed {n}")["id"] for n in range(8)]
        bodies = [
            (
                f"group-key-{n}",
                {
                    "account_id": accounts[n % 8],
                    "number": f"K-{n}",
                    "amount": {"amount": 10_00 + n, "currency": "GBP"},
                    "issued_on": "2026-01-01",
                    "due_on": "2026-02-01",
                },
            )
            for n in range(48)
        ]

        def post(keyed: tuple[str, dict[str, Any]]) -> Any:
            reply = api.post("/v1/invoices", keyed[1], key=keyed[0])
            return reply.status_code, reply.json()

        first = together(bodies, post)
        assert [status for status, _ in first] == [201] * len(bodies)
        assert p.services.ledger.uow.groups_saved > 0, "no two commands were saved together"
        head = p.services.ledger.head_position()

        again = together(bodies, post)
        assert [status for status, _ in again] == [201] * len(bodies)
        for (_, before), (_, after), (_, body) in zip(first, again, bodies, strict=True):
            assert after["id"] == before["id"]
            assert after["number"] == body["number"]
            assert after["amount"] == body["amount"]
            assert after["position"] == before["position"]
        assert p.services.ledger.head_position() == head  # retries appended nothing
        with psycopg.connect(settings.database_url) as conn:
            marked = conn.execute(
                "SELECT count(*) FROM command_marks WHERE key LIKE 'group-key-%%'"
            ).fetchone()
            # Each reply's position is its own command's last event: its invoice's.
            table = p.services.ledger.events_table
            at = dict(
                conn.execute(
                    f"SELECT notification_id, originator_id::text FROM {table}"
                    " WHERE notification_id = ANY(%s)",
                    ([body["position"] for _, body in first],),
                ).fetchall()
            )
        assert marked == (len(bodies),)
        assert [at[body["position"]] for _, body in first] == [body["id"] for _, body in first]
