"""Benchmark: each desk screen's response time (p50 / p95, on loopback, so server time
plus a loopback hop) over a small book and a large one, next to the /v1 API call the
screen is built on, measured in the same run.

Run: ``.venv/bin/python benchmarks/desk.py [--books 40:40 10000:4]
[--repeat 40] [--passes 2]``. Uses DATABASE_URL if set, else an embedded PostgreSQL in a temporary
folder. The book is written in-process through the application service and the read
models are rebuilt from the store before any screen is timed; no broker is needed."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from api.services import Services  # noqa: E402
from benchmarks.rebuild import PARTITIONS, fresh_database  # noqa: E402
from consumers.catchup import catch_up  # noqa: E402
from infra.settings import Settings  # noqa: E402
from projections.registry import PROJECTIONS  # noqa: E402
from runtime.composition import Root  # noqa: E402
from runtime.embedded import EmbeddedPostgres  # noqa: E402
from runtime.progress import ProgressBar  # noqa: E402
from tests.book import write_book  # noqa: E402
from tests.desk import DeskHttp  # noqa: E402
from tests.support import serving  # noqa: E402

KEY = "bench-admin-key"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--books",
        nargs="+",
        default=["40:40", "10000:4"],
        help="accounts:commands-per-account of each book (default: the demo's size, then 10k)",
    )
    parser.add_argument("--repeat", type=int, default=40)
    parser.add_argument("--passes", type=int, default=2, help="timing passes over each book")
    args = parser.parse_args()
    embedded = None
    server = os.environ.get("DATABASE_URL")
    if not server:
        embedded = EmbeddedPostgres(database="postgres")
        server = embedded.start(Path(tempfile.mkdtemp(prefix="arledger-bench-pg-")))
    try:
        for book in args.books:
            accounts, per_account = (int(n) for n in book.split(":"))
            book_commands = accounts * per_account
            bench(fresh_database(server), accounts, book_commands, args.repeat, args.passes)
    finally:
        if embedded:
            embedded.stop()


def bench(url: str, accounts: int, commands: int, repeat: int, passes: int) -> None:
    home = Path(tempfile.mkdtemp(prefix="arledger-bench-home-"))
    settings = Settings(database_url=url, kafka_bootstrap_servers="127.0.0.1:1", home=home,
                        api_keys=f"{KEY}:admin:bench")  # fmt: skip
    services = Root(settings).services()
    load(services, accounts, commands)
    with serving(settings, services) as base:
        desk = DeskHttp(base, KEY)
        api = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {KEY}"}, timeout=60)
        for n in range(1, passes + 1):
            print(f"\n{accounts} accounts, {services.ledger.head_position()} events, pass {n}")
            measure(desk, api, repeat)
        desk.close()
        api.close()
    services.close()


def measure(desk: DeskHttp, api: httpx.Client, repeat: int) -> None:
    """Each screen's p50 and p95, and the p50 of the API call it is built on."""
    print(f"{'screen':34} {'p50 ms':>8} {'p95 ms':>8}   {'its API call':30} {'p50 ms':>8}  ratio")
    for screen, call in screens(api):
        shown = timings(lambda s=screen: desk.get(s), repeat)
        under = timings(lambda c=call: api.get(c), repeat)
        ratio = statistics.median(shown) / statistics.median(under)
        print(f"{screen[:34]:34} {p(shown, 50):8.1f} {p(shown, 95):8.1f}   "
              f"{call[:30]:30} {p(under, 50):8.1f}  {ratio:5.2f}", flush=True)  # fmt: skip


BOOK_CHUNK_ACCOUNTS = 500


def load(services: Services, accounts: int, commands: int) -> None:
    """The book, written in chunks of accounts so that its progress shows, then every
    read model caught up from the store."""
    started, rng = time.perf_counter(), random.Random(7)
    bar = ProgressBar("writing the book (accounts)", sys.stderr)
    for first in range(0, accounts, BOOK_CHUNK_ACCOUNTS):
        chunk = min(BOOK_CHUNK_ACCOUNTS, accounts - first)
        write_book(services.ledger, rng, commands * chunk // accounts, chunk)
        bar.update(first + chunk, accounts)
    bar.finish()
    took = time.perf_counter() - started
    print(f"\nbook: {accounts} accounts, {commands} commands in {took:.0f} s", flush=True)
    for projection in PROJECTIONS.values():
        bar = ProgressBar(f"catching up {projection.name}", sys.stderr)
        catch_up(services.ledger, services.pool, projection, set(range(PARTITIONS)),
                 PARTITIONS, progress=bar.update)  # fmt: skip
        bar.finish()


def screens(api: httpx.Client) -> list[tuple[str, str]]:
    """Each screen and the API call it is built on, for an account and a payment of the
    book that have something to show."""
    feed = api.get("/v1/payments", params={"limit": 1}).json()["payments"]
    account = api.get("/v1/worklist", params={"limit": 1}).json()["rows"][0]["account_id"]
    payment = feed[0]["payment_id"] if feed else None
    found = [
        ("/payments", "/v1/payments?limit=100"),
        ("/payments?status=failed", "/v1/payments?limit=100&status=failed"),
        ("/worklist", "/v1/worklist?limit=100"),
        ("/accounts?q=Client 1", "/v1/accounts?q=Client 1&limit=200"),
        (f"/accounts/{account}", f"/v1/accounts/{account}/audit-trail?limit=1000"),
        ("/approvals", "/v1/write-offs?limit=200"),
        ("/reports/aged-debt", "/v1/reports/aged-debt?currency=GBP"),
        ("/reports/debtor-days", "/v1/reports/debtor-days?currency=GBP" + _this_month()),
        (
            "/reports/debtor-days/trend",
            f"/v1/reports/debtor-days/trend?currency=GBP&months=12&period_end={dt.date.today()}",
        ),
        ("/reports/cash-posting", "/v1/reports/cash-posting?currency=GBP"),
        ("/reports/payment-behaviour", "/v1/reports/payment-behaviour?currency=GBP"),
        (
            "/reports/trial-balance",
            "/v1/reports/trial-balance?currency=GBP&order=balance&limit=200",
        ),
        ("/bank", "/v1/bank-statements/lines?outcome=exception"),
        ("/audit", "/v1/checkpoints"),
    ]
    if payment:
        found.append((f"/payments/{payment}", f"/v1/payments/{payment}"))
    return found


def _this_month() -> str:
    today = dt.date.today()
    return f"&period_start={today.replace(day=1)}&period_end={today}"


def timings(call: Callable[[], httpx.Response], repeat: int) -> list[float]:
    call()  # warm
    taken = []
    for _ in range(repeat):
        started = time.perf_counter()
        answer = call()
        taken.append((time.perf_counter() - started) * 1000)
        assert answer.status_code == 200, (answer.status_code, answer.text[:300])
    return taken


def p(values: list[float], q: int) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


if __name__ == "__main__":
    main()
