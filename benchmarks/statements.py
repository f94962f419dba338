"""Benchmark: what the database does for each command on the embedded default, by
statement. Where a command's CPU goes under ``arledger up`` is largely in statements that
no single process's profile shows whole: the API's, the relay's, each read model's.

Run: ``.venv/bin/python benchmarks/statements.py [--rate 100] [--seconds 20]
[--window 5] [--api-workers 2]``. It starts ``arledger up`` in a temporary home (as
``benchmarks/pipeline.py`` does), raises ``--rate`` invoices a second for ``--seconds``,
and prints, over the whole run, the transactions committed a second, the rows each
table took and each process's CPU a command (the API's, each worker's, PostgreSQL's, the
broker's and the clients'); then the statements the server ran in a ``--window`` of
seconds in its middle (``log_statement = all`` for that window only, read from the
server's log), most frequent first, each a second and a command."""

from __future__ import annotations

import argparse
import re
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bank_import import cpu_by_kind  # noqa: E402
from benchmarks.pipeline import invoice_body, post, running_up  # noqa: E402

SHOWN = 25
TABLES = ("ledger_events", "idempotency_keys", "relay_positions", "relay_partitions",
          "projection_positions", "account_events", "audit_entries")  # fmt: skip
_LOGGED = re.compile(r"LOG:  (?:statement|execute [^:]*): (.*?)(?=\n\S|\Z)", re.S)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=int, default=100, help="invoices a second")
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--window", type=int, default=5, help="seconds of statements logged")
    parser.add_argument("--api-workers", type=int, default=2)
    args = parser.parse_args()
    with running_up(args.api_workers, "arledger-bench-statements-") as (home, http, accounts, pid):
        socket = next(home.rglob(".s.PGSQL.*"))
        url = f"postgresql://postgres@/arledger?host={socket.parent}&port={socket.suffix[1:]}"
        with psycopg.connect(url, autocommit=True) as conn:
            log_file = Path(conn.execute("SHOW data_directory").fetchone()[0]) / "log"  # type: ignore[index]
            cpu_before, mine = cpu_by_kind(pid, home), time.process_time()
            before, started = _counts(conn), time.perf_counter()
            logged_from = log_file.stat().st_size
            middle = (args.seconds - args.window) / 2
            threading.Timer(middle, _log_statements, (url, True)).start()
            threading.Timer(middle + args.window, _log_statements, (url, False)).start()
            _raise_invoices(http, accounts, args.rate, args.seconds)
            took = time.perf_counter() - started
            time.sleep(1)  # the consumers' last batches
            after = _counts(conn)
            cpu_after, mine = cpu_by_kind(pid, home), time.process_time() - mine
        commands = args.rate * args.seconds
        print(f"{commands} invoices at {commands / took:.0f}/s; over the run, a second:")
        print(f"  transactions committed {(after['commits'] - before['commits']) / took:,.0f}")
        for table in TABLES:
            if table in after:
                ins, upd = (after[table][i] - before.get(table, (0, 0))[i] for i in (0, 1))
                print(f"  {table}: {ins / took:,.0f} rows inserted, {upd / took:,.0f} updated")
        _print_cpu(cpu_before, cpu_after, mine, commands)
        _print_statements(log_file, logged_from, args.window, args.rate)


def _print_cpu(
    before: dict[str, float], after: dict[str, float], mine: float, commands: int
) -> None:
    """CPU a command, by process kind, over the run and the second after it (the embedded
    broker is the ``tansu`` one): under ``up``, every part's work on a command competes
    for the same cores."""
    spent = {kind: after[kind] - before.get(kind, 0.0) for kind in after}
    spent["this benchmark (the clients)"] = mine
    print(f"CPU a command, by process, {sum(spent.values()) / commands * 1e3:.2f} ms in all:")
    for kind, seconds in sorted(spent.items(), key=lambda kv: -kv[1]):
        if seconds / commands >= 1e-5:
            print(f"  {seconds / commands * 1e3:6.2f} ms  {kind}")


def _raise_invoices(http: Any, accounts: list[str], rate: int, seconds: int) -> None:
    start = time.perf_counter() + 0.2

    def one(n: int) -> None:
        wait = start + n / rate - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        post(http, "/v1/invoices", invoice_body(accounts[n % len(accounts)], 10_000 + n))

    with ThreadPoolExecutor(max(16, rate // 4)) as pool:
        list(pool.map(one, range(rate * seconds)))


def _counts(conn: psycopg.Connection[Any]) -> dict[str, Any]:
    conn.execute("SELECT pg_stat_force_next_flush()")
    time.sleep(0.6)  # the statistics of other sessions, flushed at most every 0.5 s
    counts: dict[str, Any] = {
        name: (ins, upd)
        for name, ins, upd in conn.execute(
            "SELECT relname, n_tup_ins, n_tup_upd FROM pg_stat_user_tables WHERE relname = ANY(%s)",
            (list(TABLES),),
        )
    }
    row = conn.execute(
        "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
    ).fetchone()
    counts["commits"] = row[0] if row else 0
    return counts


def _log_statements(url: str, on: bool) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"ALTER SYSTEM SET log_statement = '{'all' if on else 'none'}'")
        conn.execute("SELECT pg_reload_conf()")


def _print_statements(log_file: Path, offset: int, window: int, rate: int) -> None:
    with log_file.open(errors="replace") as log:
        log.seek(offset)
        statements = _LOGGED.findall(log.read())
    kinds = Counter(" ".join(s.split())[:100] for s in statements)
    print(
        f"statements in a {window} s window: {len(statements) / window:,.0f} a second, "
        f"{len(statements) / window / rate:.1f} a command; the most frequent, a command:"
    )
    for text, count in kinds.most_common(SHOWN):
        print(f"  {count / window / rate:5.2f}  {text}")


if __name__ == "__main__":
    main()
