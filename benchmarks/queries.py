"""Queries at scale (issue 16, point 5): p50 / p99 / max of the queries users open, over
HTTP against ``arledger api``, on a book of ``--events`` events, next to the issue's
targets; and how each grows as the same book grows.

Run: ``.venv/bin/python benchmarks/queries.py [--events 100000] [--events 1000000]``
(sizes in increasing order; each run grows the book written for the one before), or
``--growth`` for 100,000 then 1,000,000. ``--events 20000`` takes a couple of minutes on
two cores; 1,000,000 about an hour. It starts an embedded PostgreSQL and an embedded
broker in a temporary folder and stops them at the end, unless DATABASE_URL (a fresh
database is made on it and dropped) or KAFKA_BOOTSTRAP_SERVERS are set. Progress goes
to stderr, the tables to stdout.

For each size:

1. the book is written (``benchmarks/queries_book.py``: accounts billed monthly over 18
   months, invoices through the bulk path, payments and the rest one command each) by
   ``--writers`` processes, each on accounts of its own;
2. the read models the queries read (balances, receivables, audit) catch up from the
   store, each in a process of its own: what a consumer runs when it joins with its
   partitions behind the store (``consumers/catchup.py``), the fastest real path (no
   broker in between);
3. ``VACUUM (ANALYZE)`` of the database, as autovacuum would shortly after such a load,
   so that the plans are made with statistics, not guessed on tables never analysed;
4. ``arledger api --workers N`` is started and each query is timed
   (``benchmarks/queries_reads.py``) from one keep-alive client, one request at a time.

The table says whether each p99 is within the issue's target; the lists without one are
the other screens a coordinator opens first (the accounts and the payments feed).
Figures on a shared two-core machine are indicative; they belong here, never in a test."""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing as mp
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.queries_book import AccountPlan, plan_account, plan_range, write  # noqa: E402
from benchmarks.queries_reads import Timing, measure, requests_for, sample  # noqa: E402
from benchmarks.suite import _servers  # noqa: E402
from benchmarks.suite_api import api_process  # noqa: E402
from consumers.catchup import catch_up  # noqa: E402
from infra.settings import Settings  # noqa: E402
from ledger.application import Ledger  # noqa: E402
from projections import tracking  # noqa: E402
from projections.registry import AUDIT, BALANCES, PROJECTIONS, RECEIVABLES  # noqa: E402
from runtime.composition import Root  # noqa: E402
from runtime.progress import ProgressBar  # noqa: E402

GROWTH = (100_000, 1_000_000)
READ_MODELS = (BALANCES.name, RECEIVABLES.name, AUDIT.name)  # what the queries read
POLL_SECONDS = 0.5
SPAWN = mp.get_context("spawn")  # children import afresh: no pools or threads inherited


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, action="append", help="book size (repeatable)")
    parser.add_argument("--growth", action="store_true", help="100,000 then 1,000,000 events")
    parser.add_argument("--writers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--requests", type=int, default=300, help="per per-account query")
    # One worker, as ``arledger api`` runs by default: the client asks one request at a time.
    parser.add_argument("--api-workers", type=int, default=1)
    parser.add_argument("--seed", type=int, default=16)
    args = parser.parse_args()
    if args.growth and args.events:
        parser.error("--growth is 100,000 then 1,000,000 events: give it or --events")
    sizes = sorted(set(GROWTH if args.growth else args.events or [100_000]))
    # Killed, stop the servers this run started all the same (as on Ctrl-C).
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    with ExitStack() as stack:
        settings = _servers(stack)
        run(settings, sizes, args.writers, args.requests, args.api_workers, args.seed)


@dataclass
class Size:
    """One size of the book: how big, how long it took to write and to catch up, and
    each query's timing on it."""

    events: int
    accounts: int
    build_seconds: float
    catch_up_seconds: float
    vacuum_seconds: float
    timings: list[Timing]
    load: tuple[float, float]  # the machine's load average (1 min) as the timing began, ended


def run(
    settings: Settings, sizes: list[int], writers: int, requests: int, api_workers: int, seed: int
) -> None:
    print(f"arledger queries at scale: books of {', '.join(f'{s:,}' for s in sizes)} events, "
          f"{os.cpu_count()} CPUs, {writers} writer(s), {api_workers} API worker(s)")  # fmt: skip
    root = Root(settings)
    with root.store("replay") as store:
        tracking.ensure_schema(store.pool)
        for projection in PROJECTIONS.values():
            projection.ensure_schema(store.pool)
        done: list[Size] = []
        accounts = 0
        for target in sizes:
            head = store.ledger.head_position()
            if target <= head:
                print(f"the book already has {head:,} events; {target:,} skipped")
                continue
            today = dt.datetime.now(dt.UTC).date()
            plans = plan_range(seed, accounts, target - head, today)
            build = _build(settings, plans, seed, writers, today, _since(store.ledger, head))
            accounts += len(plans)
            now = store.ledger.head_position()
            caught = _catch_up(settings, head, now)
            vacuumed = _vacuum(root.database_url)
            with api_process(settings, api_workers) as api:
                began = os.getloadavg()[0]
                timings = measure(api.base_url, sample(root.database_url), requests, seed)
            load = (began, os.getloadavg()[0])
            done.append(Size(now, accounts, build, caught, vacuumed, timings, load))
            _table(done[-1], requests)
        if len(done) > 1:
            _growth(done)


# --- writing the book ------------------------------------------------------------------


def _since(ledger: Ledger, head: int) -> Callable[[], int]:
    """How many events the store has gained since it was at ``head``."""
    return lambda: ledger.head_position() - head


def _build(
    settings: Settings,
    plans: list[AccountPlan],
    seed: int,
    writers: int,
    today: dt.date,
    written: Callable[[], int],
) -> float:
    """Write ``plans`` from ``writers`` processes (accounts shared out so that each has
    about as many events to write), ``written`` saying how far they are; returns the
    seconds it took."""
    shares: list[list[int]] = [[] for _ in range(writers)]
    load = [0] * writers
    for plan in sorted(plans, key=lambda p: -p.events):
        w = load.index(min(load))
        shares[w].append(plan.index)
        load[w] += plan.events
    planned = sum(load)
    refused: Synchronized[int] = SPAWN.Value("q", 0)
    label = f"writing {len(plans):,} accounts, {planned:,} events"
    started = time.perf_counter()
    dump = settings.model_dump()
    work = [(_write_share, (dump, seed, share, today, refused)) for share in shares]
    _in_processes(label, work, written, planned)
    took = time.perf_counter() - started
    print(f"book: +{planned:,} events planned in {took:.1f} s ({planned / took:,.0f} events/s)"
          f"; {refused.value} command(s) refused", file=sys.stderr, flush=True)  # fmt: skip
    return took


def _write_share(
    dump: dict[str, Any],
    seed: int,
    indices: list[int],
    today: dt.date,
    refused: Synchronized[int],
) -> None:
    """One writer process: its accounts' plans, written through its own ledger."""
    ledger = Root(Settings(**dump)).ledger("api")
    try:
        written = write(ledger, [plan_account(seed, i, today) for i in sorted(indices)])
    finally:
        ledger.close()
    with refused.get_lock():
        refused.value += written.refused


# --- catching up -----------------------------------------------------------------------


def _catch_up(settings: Settings, start: int, head: int) -> float:
    """Each read model the queries need caught up from the store to ``head``, each in a
    process of its own; returns the seconds it took."""
    reached = {name: SPAWN.Value("q", start) for name in READ_MODELS}
    applied = {name: SPAWN.Value("q", 0) for name in READ_MODELS}
    dump = settings.model_dump()
    work = [(_catch_up_one, (dump, name, reached[name], applied[name])) for name in READ_MODELS]
    started = time.perf_counter()
    _in_processes(
        f"catching up {', '.join(READ_MODELS)}",
        work,
        lambda: sum(max(0, v.value - start) for v in reached.values()),
        len(READ_MODELS) * (head - start),
    )
    took = time.perf_counter() - started
    short = {name: v.value for name, v in applied.items() if v.value < head - start}
    if short:
        raise SystemExit(f"read models short of the {head - start:,} new events: {short}")
    print(f"read models caught up with {head - start:,} events in {took:.1f} s",
          file=sys.stderr, flush=True)  # fmt: skip
    return took


def _catch_up_one(
    dump: dict[str, Any], name: str, reached: Synchronized[int], applied: Synchronized[int]
) -> None:
    """One read model caught up from the store, as its consumer does on joining behind."""
    settings = Settings(**dump)
    partitions = settings.topic_partitions

    def progress(done: int, head: int) -> None:
        reached.value = done

    with Root(settings).store("consumer", f"arledger-{name}") as store:
        applied.value = catch_up(
            store.ledger, store.pool, PROJECTIONS[name], set(range(partitions)), partitions,
            progress=progress,
        )  # fmt: skip


def _in_processes(
    label: str,
    work: Sequence[tuple[Callable[..., None], tuple[Any, ...]]],
    done: Callable[[], int],
    total: int,
) -> None:
    """Run each ``(function, args)`` in a spawned process, a progress bar until all end;
    a process that fails stops the run."""
    processes = [SPAWN.Process(target=f, args=a, daemon=True) for f, a in work]
    for p in processes:
        p.start()
    bar = ProgressBar(label, sys.stderr)
    try:
        while any(p.is_alive() for p in processes):
            bar.update(done(), total)
            if any(p.exitcode not in (None, 0) for p in processes):
                break
            time.sleep(POLL_SECONDS)
        bar.update(done(), total)
        bar.finish()
        failed = [p.exitcode for p in processes if p.exitcode not in (None, 0)]
        if failed:
            raise SystemExit(f"{label}: a process failed (exit {failed[0]}); see above")
    finally:
        for p in processes:
            if p.is_alive():
                p.terminate()
            p.join()


def _vacuum(url: str) -> float:
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")
    took = time.perf_counter() - started
    print(f"VACUUM (ANALYZE) in {took:.1f} s", file=sys.stderr, flush=True)
    return took


# --- the tables ------------------------------------------------------------------------


def _table(size: Size, requests: int) -> None:
    print(
        f"\nbook: {size.events:,} events, {size.accounts:,} accounts; written in "
        f"{size.build_seconds:.0f} s, read models caught up in {size.catch_up_seconds:.0f} s, "
        f"VACUUM (ANALYZE) {size.vacuum_seconds:.0f} s; load average {size.load[0]:.1f} as "
        f"the queries began, {size.load[1]:.1f} as they ended ({os.cpu_count()} CPUs)"
    )
    print(f"{'query':<44}{'requests':>9}{'min ms':>8}{'p50 ms':>8}{'p99 ms':>8}{'max ms':>8}"
          f"{'target':>8}  {'within':<7}{'reply KiB':>10}")  # fmt: skip
    for t in size.timings:
        target = f"{t.query.target_ms:.0f}" if t.query.target_ms else "-"
        within = {True: "yes", False: "NO", None: "-"}[t.within]
        print(
            f"{t.query.label:<44}{requests_for(t.query.kind, requests):>9}{t.min_ms:>8.1f}"
            f"{t.p50_ms:>8.1f}{t.p99_ms:>8.1f}{t.max_ms:>8.1f}{target:>8}  {within:<7}"
            f"{t.reply_bytes / 1024:>10.1f}",
            flush=True,
        )


def _growth(sizes: list[Size]) -> None:
    """Each query's min, p50 and p99 at every size, and how many times its p50 and p99
    grew from the first size to the last."""
    first, last = sizes[0], sizes[-1]
    print(f"\nhow each query grows, {first.events:,} to {last.events:,} events "
          f"(x{last.events / first.events:.1f}), in ms")  # fmt: skip
    heads = "".join(
        f"{f'{what} @{s.events // 1000}k':>13}" for what in ("min", "p50", "p99") for s in sizes
    )
    print(f"{'query':<44}{heads}{'p50 x':>7}{'p99 x':>7}")
    for n, t in enumerate(first.timings):
        at = [s.timings[n] for s in sizes]
        figures = [x.min_ms for x in at] + [x.p50_ms for x in at] + [x.p99_ms for x in at]
        grew = [at[-1].p50_ms / t.p50_ms, at[-1].p99_ms / t.p99_ms]
        print(
            f"{t.query.label:<44}{''.join(f'{f:>13.1f}' for f in figures)}"
            f"{''.join(f'{g:>7.1f}' for g in grew)}",
            flush=True,
        )


if __name__ == "__main__":
    main()
