"""The receivables read model writes in sets: a batch of events, however long, reads and
writes its rows in a fixed handful of statements. Cut into batches of any length, each
delivered again in part (a consumer's redelivery), a book gives the rows its events say
(each movement and each movement of cash once, each invoice owing what its movements add
up to, its accounts' names and its invoices' settlements as the events left them), the
running sums those movements add up to, and the same rows as the events applied one at a
time."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

import psycopg
import pytest

from infra.database import eventstore_env
from ledger.application import Ledger
from ledger.commands import RecordPaymentOutcome, UpdateAccount
from projections import receivables
from projections.totals import whole
from tests.book import stamp, write_book
from tests.known_at import events_up_to

Events = list[dict[str, Any]]
KEYS = {
    "receivable_accounts": "account_id",
    "receivable_invoices": "invoice_id",
    "receivable_movements": "position",
    "receivable_payments": "payment_id",
    "receivable_cash": "position",
    "receivable_days": "currency, effective_on, kind",
    "receivable_not_yet_due": "currency, due_on, effective_on",
}
# Cash into or out of a payment, by the event's type (a payment recorded, or a chargeback
# closed, moves cash only when it succeeded, or was won).
CASH_TYPES = {*receivables.CASH, "arledger.payment.succeeded"}
SETTLING = {"arledger.invoice.settled", "arledger.invoice.reopened"}


@pytest.fixture
def book(database_url: str) -> Iterator[tuple[str, Events]]:
    """A book's events: invoices moved every way, pending payments that then succeed,
    accounts renamed, and more invoices after."""
    ledger = Ledger(eventstore_env(database_url), snapshot_interval=4)
    for seed in (16, 1605):
        write_book(ledger, random.Random(seed), 400, accounts=6)
    for ce in events_up_to(ledger, ledger.head_position()):
        if ce["type"] == "arledger.payment.recorded" and ce["data"]["status"] == "pending":
            ledger.record_payment_outcome(
                RecordPaymentOutcome(UUID(ce["subject"]), "succeeded", stamp())
            )
        if ce["type"] == "arledger.account.opened":
            account = UUID(ce["accountid"])
            ledger.update_account(UpdateAccount(account, stamp(), name=f"{ce['data']['name']} Ltd"))
            ledger.update_account(UpdateAccount(account, stamp(), email="ar@example.com"))
    write_book(ledger, random.Random(7), 200, accounts=3)
    yield database_url, events_up_to(ledger, ledger.head_position())
    ledger.close()


def _built(url: str, events: Events, batches: Iterator[tuple[int, int]]) -> dict[str, list[Any]]:
    """The read model's rows, the events applied in ``batches`` (from, to) in a schema of
    its own, each batch in a transaction as a consumer applies it."""
    with psycopg.connect(url) as conn:
        conn.execute("CREATE SCHEMA built; SET search_path TO built")
        conn.execute(receivables.SCHEMA)
        for start, end in batches:
            with conn.transaction():
                receivables.apply(conn, events[start:end])
        rows = {
            table: conn.execute(f"SELECT * FROM {table} ORDER BY {key}").fetchall()
            for table, key in KEYS.items()
        }
        conn.rollback()
    return rows


def _uneven(count: int, seed: int) -> Iterator[tuple[int, int]]:
    """Batches of uneven lengths, some starting again before where the last one ended."""
    rng = random.Random(seed)
    start = 0
    while start < count:
        end = start + rng.choice((1, 2, 9, 60, 400, 3_000))
        yield max(0, start - rng.choice((0, 0, 1, 5, 120))), end
        start = end


def _columns(rows: list[Any], *names: int) -> list[tuple[Any, ...]]:
    return [tuple(whole(row[n]) for n in names) for row in rows]


def test_batches_of_any_length_delivered_again_give_the_rows_the_events_say(
    book: tuple[str, Events],
) -> None:
    url, events = book
    alone = _built(url, events, ((n, n + 1) for n in range(len(events))))
    for seed in (1, 2):
        assert _built(url, events, _uneven(len(events), seed)) == alone

    # Each movement once, moving its invoice by what its event says.
    moves = [ce for ce in events if ce["type"] in receivables.MOVEMENTS]
    assert _columns(alone["receivable_movements"], 0, 2, 5, 6) == [
        (ce["position"], UUID(ce["subject"]), *_moved(ce)) for ce in moves
    ]
    owed: dict[UUID, int] = {}
    for ce in moves:
        owed[UUID(ce["subject"])] = owed.get(UUID(ce["subject"]), 0) + _moved(ce)[1]
    assert dict(_columns(alone["receivable_invoices"], 0, 9)) == owed
    # Each movement of cash once.
    cash = [ce["position"] for ce in events if _moves_cash(ce)]
    assert [row[0] for row in alone["receivable_cash"]] == cash
    # Names and settlements as the last events left them.
    names = {UUID(ce["accountid"]): _named(ce) for ce in events if _named(ce)}
    assert dict(_columns(alone["receivable_accounts"], 0, 1)) == names
    settled = {UUID(ce["subject"]): _settled_on(ce) for ce in events if ce["type"] in SETTLING}
    assert {k: v for k, v in settled.items() if v} == {
        k: v for k, v in _columns(alone["receivable_invoices"], 0, 8) if v
    }
    _sums_are_the_movements_added_up(alone)


def _moved(ce: dict[str, Any]) -> tuple[str, int]:
    kind, sign = receivables.MOVEMENTS[ce["type"]]
    return kind, sign * ce["data"]["amount"]["amount"]


def _moves_cash(ce: dict[str, Any]) -> bool:
    if ce["type"] == "arledger.payment.recorded":
        return bool(ce["data"]["status"] == "succeeded")
    if ce["type"] == "arledger.payment.chargeback_closed":
        return bool(ce["data"]["outcome"] == "won")
    return ce["type"] in CASH_TYPES


def _named(ce: dict[str, Any]) -> str | None:
    if ce["type"] == "arledger.account.opened":
        return str(ce["data"]["name"])
    if ce["type"] == "arledger.account.details_updated":
        name = ce["data"]["changes"].get("name")
        return None if name is None else str(name)
    return None


def _settled_on(ce: dict[str, Any]) -> date | None:
    if ce["type"] == "arledger.invoice.reopened":
        return None
    return datetime.fromisoformat(ce["effectivetime"]).astimezone(UTC).date()


def _sums_are_the_movements_added_up(rows: dict[str, list[Any]]) -> None:
    invoices = {row[0]: row for row in rows["receivable_invoices"]}
    days: dict[tuple[Any, ...], list[int]] = {}
    not_yet_due: dict[tuple[Any, ...], int] = {}
    for _, _, invoice_id, _, currency, kind, amount, on, _ in rows["receivable_movements"]:
        issued_on, due_on = invoices[invoice_id][5], invoices[invoice_id][6]
        day = days.setdefault((currency, on, kind), [0, 0])
        day[0] += amount
        day[1] += amount * (on - issued_on).days
        if on <= due_on:
            key = (currency, due_on, on)
            not_yet_due[key] = not_yet_due.get(key, 0) + amount
    assert {r[:3]: [whole(r[3]), whole(r[4])] for r in rows["receivable_days"]} == days
    assert {r[:3]: whole(r[3]) for r in rows["receivable_not_yet_due"]} == not_yet_due


def test_a_batch_costs_the_same_few_statements_however_long(
    book: tuple[str, Events], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, events = book
    sent = 0
    execute: Any = psycopg.Cursor.execute

    def counted(cursor: psycopg.Cursor[Any], *args: Any, **kwargs: Any) -> Any:
        nonlocal sent
        sent += 1
        return execute(cursor, *args, **kwargs)

    with psycopg.connect(url) as conn:
        conn.execute("CREATE SCHEMA built; SET search_path TO built")
        conn.execute(receivables.SCHEMA)
        monkeypatch.setattr(psycopg.Cursor, "execute", counted)
        counts = []
        for batch in (events[:-20], events[-20:]):  # thousands of events, then twenty
            before = sent
            with conn.transaction():
                receivables.apply(conn, batch)
            counts.append(sent - before)
        monkeypatch.undo()
        moved = conn.execute("SELECT count(*) FROM receivable_movements").fetchone()
        conn.rollback()
    assert moved and moved[0] > 500
    # The accounts locked; their rows, the invoices' and the payments' read; an insert
    # per table, and an update of the accounts and of the invoices: 13 at most.
    assert max(counts) <= 13, counts
