"""The reports as known at a position, checked against the events up to that position:
the live receivables read model asked ``as known at`` the position equals a read model
built from those events alone (in a schema of its own, rolled back afterwards), and each
account's ageing equals the replay fold of its events up to the position."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any
from uuid import UUID

from contract.cloudevents import to_cloudevent
from ledger.application import Ledger
from projections import ageing, cash_posting, debtor_days, receivables, trial_balance
from projections.replay.fold import fold
from tests.book import CURRENCIES

AS_OF = date(2026, 4, 30)
PERIOD = (date(2026, 1, 1), AS_OF)
MONTH = (date(2026, 4, 1), AS_OF)


def events_up_to(ledger: Ledger, position: int) -> list[dict[str, Any]]:
    """The store's events up to ``position``, as the CloudEvents the read models take."""
    events: list[dict[str, Any]] = []
    after = 0
    while batch := ledger.read_log(after, 1000):
        events.extend(to_cloudevent(ledger, n) for n in batch if n.id <= position)
        if batch[-1].id >= position:
            break
        after = batch[-1].id
    return events


def reports(conn: Any, known: int | None) -> dict[str, Any]:
    """Every report that takes ``as_known_at``, for each currency, at ``known``."""
    out: dict[str, Any] = {}
    for cur in CURRENCIES:
        total, accounts = ageing.aged_debt(conn, cur, AS_OF, known)
        out[cur] = {
            "aged": (total.buckets, {a.account_id: a.aged.buckets for a in accounts}),
            "debtor_days": debtor_days.figures(conn, cur, *PERIOD, known),
            "cash_posting": cash_posting.cash_posting(conn, cur, *MONTH, known),
            "trial_balance": trial_balance.trial_balance(conn, cur, AS_OF, known),
        }
    return out


def _prefix_reports(pool: Any, events: list[dict[str, Any]]) -> dict[str, Any]:
    with pool.connection() as conn, conn.transaction(force_rollback=True):
        conn.execute("CREATE SCHEMA known_prefix")
        conn.execute("SET LOCAL search_path TO known_prefix")
        conn.execute(receivables.SCHEMA)
        receivables.apply(conn, events)
        return reports(conn, None)


def as_known_at_reports_equal_the_prefix(ledger: Ledger, pool: Any, known: int) -> None:
    events = events_up_to(ledger, known)
    with pool.connection() as conn:
        live = reports(conn, known)
    assert live == _prefix_reports(pool, events), known
    by_account: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for ce in events:
        by_account[ce["accountid"]].append(ce)
    for account, own in by_account.items():
        state = fold(UUID(account), own, AS_OF)
        aged = live[state.currency]["aged"][1].get(UUID(account), ageing.Aged().buckets)
        assert aged == state.aged.buckets, (known, account)
