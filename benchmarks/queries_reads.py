"""The reads the query benchmark (``benchmarks/queries.py``) times: each query a
coordinator, a controller or a manager opens, asked over HTTP from one keep-alive client,
one request at a time, after a warm-up, the queries mixed in a shuffled order. The
per-account queries are asked of a different account each time, drawn from the read
models (untimed) before the clock starts."""

from __future__ import annotations

import datetime as dt
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import httpx
import psycopg

from benchmarks.suite_commands import KEY
from runtime.progress import ProgressBar

WARMUP_REQUESTS = 5
LONG_ACCOUNTS = 10  # the accounts with the longest histories, for the audit-trail page
AUDIT_PAGE = 200  # the audit trail's default page
DESK_AGED_ROWS = 200  # the desk's aged-debt screen lists this many accounts
DESK_LIST_ROWS = 200  # the desk's accounts screen
DESK_QUEUE_ROWS = 100  # the desk's worklist and payments screens
TREND_MONTHS = 12  # the desk's debtor-days trend


@dataclass(frozen=True)
class Sample:
    """What the per-account queries are asked about: every account, the GBP ones, and
    the positions of each long account's audit entries (to page from)."""

    accounts: list[UUID]
    gbp_accounts: list[UUID]
    long_accounts: dict[UUID, list[int]]


def sample(url: str) -> Sample:
    with psycopg.connect(url) as conn:
        accounts = [r[0] for r in conn.execute("SELECT account_id FROM balance_accounts")]
        gbp = [
            r[0]
            for r in conn.execute("SELECT account_id FROM balance_accounts WHERE currency = 'GBP'")
        ]
        longest = [
            r[0]
            for r in conn.execute(
                "SELECT account_id FROM audit_entries GROUP BY account_id"
                " ORDER BY count(*) DESC LIMIT %s",
                (LONG_ACCOUNTS,),
            )
        ]
        positions: dict[UUID, list[int]] = {a: [] for a in longest}
        for account, position in conn.execute(
            "SELECT account_id, position FROM audit_entries WHERE account_id = ANY(%s)"
            " ORDER BY position",
            (longest,),
        ):
            positions[account].append(int(position))
    return Sample(accounts, gbp, positions)


# A query: its path and parameters, drawn afresh for each request.
Ask = Callable[[random.Random], tuple[str, dict[str, Any]]]


@dataclass(frozen=True)
class Query:
    label: str
    target_ms: float | None  # issue 16's target for its p99, where it sets one
    kind: str  # "account", "list" or "portfolio": how many requests it is asked
    ask: Ask


def queries(s: Sample, today: dt.date) -> list[Query]:
    """Every query timed, in the table's order."""
    gbp = {"currency": "GBP"}
    month = {"period_start": today.replace(day=1).isoformat(), "period_end": today.isoformat()}

    def audit_page(rng: random.Random) -> tuple[str, dict[str, Any]]:
        account = rng.choice(list(s.long_accounts))
        positions = s.long_accounts[account]
        after = rng.choice([0, *positions[: max(1, len(positions) - AUDIT_PAGE)]])
        return f"/v1/accounts/{account}/audit-trail", {"after": after, "limit": AUDIT_PAGE}

    return [
        Query("balance, one account", 20, "account",
              lambda rng: (f"/v1/accounts/{rng.choice(s.accounts)}/balance", {})),
        Query("aged debt, one account", 20, "account",
              lambda rng: ("/v1/reports/aged-debt",
                           gbp | {"account_id": str(rng.choice(s.gbp_accounts))})),
        Query(f"aged debt, portfolio (first {DESK_AGED_ROWS})", 1000, "portfolio",
              lambda rng: ("/v1/reports/aged-debt", gbp | {"limit": DESK_AGED_ROWS})),
        Query("aged debt, portfolio (every account)", 1000, "portfolio",
              lambda rng: ("/v1/reports/aged-debt", gbp)),
        Query("debtor days, portfolio (month to date)", 1000, "portfolio",
              lambda rng: ("/v1/reports/debtor-days", gbp | month)),
        Query(f"debtor days trend, portfolio ({TREND_MONTHS} months)", 1000, "portfolio",
              lambda rng: ("/v1/reports/debtor-days/trend",
                           gbp | {"period_end": today.isoformat(), "months": TREND_MONTHS})),
        Query(f"worklist, first {DESK_QUEUE_ROWS}", 500, "portfolio",
              lambda rng: ("/v1/worklist", {"limit": DESK_QUEUE_ROWS})),
        Query(f"audit trail page ({AUDIT_PAGE}), long account", 50, "account", audit_page),
        Query(f"account list, first {DESK_LIST_ROWS}", None, "list",
              lambda rng: ("/v1/accounts", {"limit": DESK_LIST_ROWS})),
        Query(f"payments feed, first {DESK_QUEUE_ROWS}", None, "list",
              lambda rng: ("/v1/payments", {"limit": DESK_QUEUE_ROWS})),
    ]  # fmt: skip


@dataclass
class Timing:
    """One query's latencies (seconds) and the size of its last reply (bytes)."""

    query: Query
    latencies: list[float] = field(default_factory=list)
    reply_bytes: int = 0

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]

    @property
    def min_ms(self) -> float:
        return min(self.latencies) * 1e3

    @property
    def p50_ms(self) -> float:
        return statistics.median(self.latencies) * 1e3

    @property
    def p99_ms(self) -> float:
        return self.percentile(0.99) * 1e3

    @property
    def max_ms(self) -> float:
        return max(self.latencies) * 1e3

    @property
    def within(self) -> bool | None:
        target = self.query.target_ms
        return None if target is None else self.p99_ms <= target


def requests_for(kind: str, requests: int) -> int:
    """Per-account queries ``requests`` times; lists a third, portfolio reports a fifth
    (each at least 20)."""
    share = {"account": 1, "list": 3, "portfolio": 5}[kind]
    return max(20, requests // share)


def measure(base_url: str, s: Sample, requests: int, seed: int) -> list[Timing]:
    """Each query warmed up, then every request of every query in one shuffled order (a
    desk's users mix them: one query's plans and caches are not left warm for the next
    of the same kind), one request after another."""
    rng = random.Random(seed)
    timings = [Timing(q) for q in queries(s, dt.datetime.now(dt.UTC).date())]
    order = [t for t in timings for _ in range(requests_for(t.query.kind, requests))]
    rng.shuffle(order)
    headers = {"Authorization": f"Bearer {KEY}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=120) as http:
        for t in timings:
            for _ in range(WARMUP_REQUESTS):
                _ask(http, t, rng)
        bar = ProgressBar(f"{len(timings)} queries, mixed", sys.stderr)
        for n, t in enumerate(order):
            t.latencies.append(_ask(http, t, rng))
            bar.update(n + 1, len(order))
        bar.finish()
    return timings


def _ask(http: httpx.Client, t: Timing, rng: random.Random) -> float:
    """One request of ``t``'s query; returns its seconds, from sending to the last byte."""
    path, params = t.query.ask(rng)
    started = time.perf_counter()
    reply = http.get(path, params=params)
    took = time.perf_counter() - started
    if reply.status_code != 200:
        raise RuntimeError(f"{path} {params}: {reply.status_code} {reply.text[:500]}")
    t.reply_bytes = len(reply.content)
    return took
