"""The portfolio reports read the receivables projection's running sums (each invoice's
``owed_minor``, the movements by day and by due date) instead of adding up every
movement. On a book with payments allocated and taken back, credit notes, disputes,
write-offs and voids, in several currencies, they must give what adding up the movements
gives: the portfolio's aged debt and debtor days are its accounts' added up, at any date,
now and as known at the last position; and a database made before the sums gets them
added up once, on its first start."""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from consumers.catchup import catch_up
from infra.database import eventstore_env, open_pool
from ledger.application import Ledger
from projections import ageing, debtor_days, receivables
from projections.ageing import BUCKETS
from projections.registry import RECEIVABLES
from tests.book import CURRENCIES, write_book
from tests.known_at import events_up_to

PARTITIONS = 6
# Before the book, inside it (its invoices are issued January to March 2026, its cash
# dated in April, its write-offs and voids today), today and after.
DATES = (
    dt.date(2025, 12, 31),
    dt.date(2026, 1, 20),
    dt.date(2026, 3, 31),
    dt.date(2026, 4, 2),
    dt.date(2026, 4, 30),
    dt.datetime.now(dt.UTC).date(),
    dt.date(2027, 6, 30),
)
# Movements as the reports read them before the running sums: each invoice's added up.
OWED_BY_INVOICE = """
SELECT i.account_id, i.due_on, SUM(m.amount_minor)
  FROM receivable_movements m JOIN receivable_invoices i ON i.invoice_id = m.invoice_id
 WHERE m.currency = %s AND m.effective_on <= %s
 GROUP BY i.invoice_id HAVING SUM(m.amount_minor) <> 0
"""


@pytest.fixture
def book(database_url: str) -> Iterator[tuple[Ledger, Any]]:
    ledger = Ledger(eventstore_env(database_url), snapshot_interval=4)
    pool = open_pool(database_url, max_size=2)
    RECEIVABLES.ensure_schema(pool)
    for seed in (16, 1605):  # two books of accounts, each in a currency of its own
        write_book(ledger, random.Random(seed), 400, accounts=8)
    catch_up(ledger, pool, RECEIVABLES, set(range(PARTITIONS)), PARTITIONS)
    yield ledger, pool
    pool.close()
    ledger.close()


def _sums(conn: Any) -> tuple[dict[str, list[Any]], dict[str, list[Any]]]:
    """The running sums as stored, and as adding up the movements gives them."""
    stored = {
        "owed": conn.execute(
            "SELECT invoice_id, owed_minor FROM receivable_invoices WHERE owed_minor <> 0"
        ).fetchall(),
        "days": conn.execute("SELECT * FROM receivable_days WHERE amount_minor <> 0").fetchall(),
        "not_yet_due": conn.execute(
            "SELECT * FROM receivable_not_yet_due WHERE amount_minor <> 0"
        ).fetchall(),
    }
    added = {
        "owed": conn.execute(
            "SELECT invoice_id, SUM(amount_minor) FROM receivable_movements"
            " GROUP BY 1 HAVING SUM(amount_minor) <> 0"
        ).fetchall(),
        "days": conn.execute(
            "SELECT m.currency, m.effective_on, m.kind, SUM(m.amount_minor),"
            " SUM(m.amount_minor * (m.effective_on - i.issued_on))"
            " FROM receivable_movements m JOIN receivable_invoices i USING (invoice_id)"
            " GROUP BY 1, 2, 3 HAVING SUM(m.amount_minor) <> 0"
        ).fetchall(),
        "not_yet_due": conn.execute(
            "SELECT m.currency, i.due_on, m.effective_on, SUM(m.amount_minor)"
            " FROM receivable_movements m JOIN receivable_invoices i USING (invoice_id)"
            " WHERE m.effective_on <= i.due_on"
            " GROUP BY 1, 2, 3 HAVING SUM(m.amount_minor) <> 0"
        ).fetchall(),
    }
    return {k: sorted(v) for k, v in stored.items()}, {k: sorted(v) for k, v in added.items()}


def _aged_from_movements(conn: Any, currency: str, as_of: dt.date) -> dict[Any, dict[str, int]]:
    out: dict[Any, dict[str, int]] = {}
    for account, due_on, owed in conn.execute(OWED_BY_INVOICE, (currency, as_of)).fetchall():
        buckets = out.setdefault(account, dict.fromkeys(BUCKETS, 0))
        buckets[ageing.bucket_for((as_of - due_on).days)] += int(owed)
    return out


def test_the_running_sums_are_the_movements_added_up_and_kept_once(
    book: tuple[Ledger, Any],
) -> None:
    ledger, pool = book
    with pool.connection() as conn:
        kinds = Counter(k for (k,) in conn.execute("SELECT kind FROM receivable_movements"))
        stored, added = _sums(conn)
    # The book moves invoices every way there is, so the sums meet every kind.
    assert set(kinds) == {m[0] for m in receivables.MOVEMENTS.values()}, kinds
    assert stored == added and all(added.values())

    # Delivered again (a redelivery, or a consumer started behind), nothing is added twice.
    events = events_up_to(ledger, ledger.head_position())
    with pool.connection() as conn, conn.transaction():
        receivables.apply(conn, events)
    with pool.connection() as conn:
        assert _sums(conn)[0] == stored


def test_a_database_made_before_the_sums_gets_them_on_its_first_start(
    book: tuple[Ledger, Any],
) -> None:
    _, pool = book
    with pool.connection() as conn:
        stored, _ = _sums(conn)
        conn.execute("DROP INDEX receivable_invoices_owing")
        conn.execute("ALTER TABLE receivable_invoices DROP COLUMN owed_minor")
        conn.execute("DROP TABLE receivable_days, receivable_not_yet_due")
        conn.commit()
    RECEIVABLES.ensure_schema(pool)
    RECEIVABLES.ensure_schema(pool)  # and at every start after, it adds nothing
    with pool.connection() as conn:
        assert _sums(conn) == (stored, stored)


def test_the_portfolio_is_its_accounts_added_up_at_any_date(book: tuple[Ledger, Any]) -> None:
    ledger, pool = book
    head = ledger.head_position()
    with pool.connection() as conn:
        currencies = [c for (c,) in conn.execute("SELECT DISTINCT currency FROM receivable_days")]
        assert len(currencies) >= 2 and set(currencies) <= set(CURRENCIES)
        owing = 0
        for cur in currencies:
            for as_of in DATES:
                expected = _aged_from_movements(conn, cur, as_of)
                for known in (None, head):
                    total, accounts = ageing.aged_debt(conn, cur, as_of, known)
                    assert {a.account_id: a.aged.buckets for a in accounts} == expected
                    for bucket in BUCKETS:
                        assert total.buckets[bucket] == sum(b[bucket] for b in expected.values())
                    assert ageing.aged_total(conn, cur, as_of, known) == total.total
                    assert ageing.by_account(ageing.aged_invoices(conn, cur, as_of, known)) == (
                        total,
                        accounts,
                    )
                for account in expected:
                    _, alone = ageing.aged_debt(conn, cur, as_of, None, account)
                    assert [a.aged.buckets for a in alone] == [expected[account]]
                owing += sum(sum(b.values()) for b in expected.values())
                _debtor_days_agree(conn, cur, as_of, head)
        assert owing > 0


def _debtor_days_agree(conn: Any, cur: str, end: dt.date, head: int) -> None:
    """Debtor days for the month to ``end`` and the quarter before it, and the trend to
    it: from the sums by day, as the movements added up account by account give them."""
    for start in (end.replace(day=1), end - dt.timedelta(days=90)):
        by_account = debtor_days.figures(conn, cur, start, end)
        added = debtor_days.Figures()
        for account, f in by_account.items():
            added.add(f)
            assert debtor_days.total_figures(conn, cur, start, end, None, account) == f
        assert debtor_days.total_figures(conn, cur, start, end) == added
        assert debtor_days.total_figures(conn, cur, start, end, head) == added
    months = debtor_days.months_to(end, 6)
    assert debtor_days.trend(conn, cur, months) == debtor_days.trend(conn, cur, months, head)
