"""Benchmark: importing a bank statement through the API, then the same file again, then
an overlapping one.

Run: ``.venv/bin/python benchmarks/bank_import.py [--lines 5000] [--accounts 500]``. It
starts ``arledger up`` (embedded servers in a temporary home, unless DATABASE_URL /
KAFKA_BOOTSTRAP_SERVERS are set), raises two invoices per account, writes a CSV in which
70% of the lines name an invoice, 15% name only the payer and 15% nobody we know, and
prints the lines matched per second for each import and what became of them, and the CPU
seconds each kind of process spent meanwhile (the API, which runs in the process ``up``
started, the workers beside it, the broker and PostgreSQL), and how long the balances
read model took to catch up afterwards.

An import needs the balances read model to have caught up with the store (else it
answers 503 at once), so before each import the benchmark waits for that (``/healthz``):
what is timed is the import alone."""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.pipeline import client, post, start_up  # noqa: E402
from runtime.embedded import free_port  # noqa: E402


def book(http: httpx.Client, accounts: int) -> list[tuple[str, list[str]]]:
    made = []
    for n in range(accounts):
        name = f"Bench Client {n:04d} Ltd"
        body = {"name": name, "currency": "GBP", "payment_terms_days": 30}
        acct = str(post(http, "/v1/accounts", body)["id"])
        numbers = []
        for k in range(2):
            number = f"INV-{n:04d}{k}"
            post(
                http,
                "/v1/invoices",
                {
                    "account_id": acct,
                    "number": number,
                    "amount": {"amount": 10_000_000, "currency": "GBP"},
                    "issued_on": "2026-10-01",
                    "due_on": "2026-10-31",
                },
            )
            numbers.append(number)
        made.append((name, numbers))
    return made


def statement(made: list[tuple[str, list[str]]], lines: int, rng: random.Random) -> list[str]:
    out = []
    for i in range(lines):
        name, numbers = rng.choice(made)
        day = f"2026-11-{1 + i % 28:02d}"
        amount = f"{rng.randint(100, 50_000) / 100:.2f}"
        roll = rng.random()
        if roll < 0.70:
            out.append(f"{day},{amount},{rng.choice(numbers)} PAYMENT,{name.upper()}")
        elif roll < 0.85:
            out.append(f"{day},{amount},THANK YOU,{name.upper()}")
        else:
            out.append(f"{day},{amount},REF {i},UNKNOWN PAYER {i}")
    return out


def wait_for_balances(http: httpx.Client, timeout_s: float = 600) -> float:
    """Seconds waited until the balances read model has applied every stored event."""
    started = time.perf_counter()
    while True:
        health = http.get("/healthz").json()
        if health["projections"]["balances"]["lag"] == 0:
            return time.perf_counter() - started
        if time.perf_counter() - started > timeout_s:
            raise RuntimeError(f"balances still behind after {timeout_s} s: {health}")
        time.sleep(0.1)


def _process_table() -> dict[int, tuple[int, str, float]]:
    """Every process now: its parent, command line and CPU seconds so far (Linux)."""
    table: dict[int, tuple[int, str, float]] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        table[int(stat.parent.name)] = (
            int(fields[1]),
            cmdline,
            (int(fields[11]) + int(fields[12])) / tick,
        )
    return table


def _kind(cmdline: str) -> str:
    """Which part of the pipeline a process of the run is."""
    found = re.search(r"runtime\.cli ([\w-]+)", cmdline)
    if found:
        return "API (up)" if found.group(1) == "up" else found.group(1)
    if "--multiprocessing-fork" in cmdline:
        return "API workers"  # started by uvicorn for --api-workers 2 and more
    return "postgres" if "postgres" in cmdline else cmdline.split(" ", 1)[0].rsplit("/", 1)[-1]


def cpu_by_kind(up_pid: int, home: Path) -> dict[str, float]:
    """CPU seconds so far of the run's processes, by kind: ``up`` and its descendants,
    and the embedded PostgreSQL whose data is in ``home`` (its server forks its own)."""
    table = _process_table()
    roots = {up_pid} | {
        pid for pid, (_, cmd, _) in table.items() if str(home) in cmd and "postgres -D" in cmd
    }
    tree, frontier = set(roots), set(roots)
    while frontier:
        frontier = {pid for pid, (parent, _, _) in table.items() if parent in frontier} - tree
        tree |= frontier
    spent: dict[str, float] = {}
    for pid in tree:
        kind = _kind(table[pid][1])
        spent[kind] = spent.get(kind, 0.0) + table[pid][2]
    return spent


def timed_import(http: httpx.Client, lines: list[str], label: str, run: tuple[int, Path]) -> None:
    """Import the lines as a client does: a 503 (the read model fell behind again, the
    database was busy) is tried again after its Retry-After (the file itself is the
    import's idempotency key); the time counts from the first try. ``run``: the ``up``
    process and its home, whose processes' CPU is counted meanwhile."""
    content = "date,amount,reference,payer\n" + "\n".join(lines) + "\n"
    waited = wait_for_balances(http)
    refusals: list[str] = []
    cpu_before = cpu_by_kind(*run)
    started = time.perf_counter()
    while True:
        reply = http.post(
            "/v1/bank-statements",
            json={"content": content, "currency": "GBP"},
            headers={"Idempotency-Key": str(uuid.uuid4())},
            timeout=3600,
        )
        if reply.status_code != 503 or len(refusals) == 10:
            break
        refusals.append(reply.json().get("title", "503"))
        time.sleep(float(reply.headers.get("Retry-After", "1")))
    took = time.perf_counter() - started
    cpu_after = cpu_by_kind(*run)
    behind = wait_for_balances(http)
    reply.raise_for_status()
    body = reply.json()
    counts = {k: v for k, v in body["counts"].items() if v}
    print(
        f"{label}: {len(lines):,} lines in {took:.1f} s, {len(lines) / took:,.0f} lines/s;"
        f" duplicate={body['duplicate']}; {counts} (after {waited:.1f} s for the read model"
        + (f"; tried again after {refusals}" if refusals else "")
        + ")"
    )
    spent = {k: cpu_after[k] - cpu_before.get(k, 0.0) for k in cpu_after}
    shown = ", ".join(
        f"{k} {s:.1f}" for k, s in sorted(spent.items(), key=lambda kv: -kv[1]) if s >= 0.05
    )
    print(
        f"  CPU s meanwhile (of {(os.cpu_count() or 1) * took:.1f} on every core): {shown};"
        f" balances caught up {behind:.1f} s after"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=5000)
    parser.add_argument("--accounts", type=int, default=500)
    parser.add_argument(
        "--keep-home", action="store_true", help="keep the run's home (its database, some 250 MB)"
    )
    args = parser.parse_args()
    rng = random.Random(7)
    home = Path(tempfile.mkdtemp(prefix="arledger-bench-bank-"))
    port = free_port()
    proc = start_up(home, port)
    try:
        http = client(port, home)
        made = book(http, args.accounts)
        lines = statement(made, args.lines, rng)
        run = (proc.pid, home)
        timed_import(http, lines, "first import", run)
        timed_import(http, lines, "same file again", run)
        more = statement(made, args.lines // 10, random.Random(8))
        timed_import(http, lines + more, "overlapping file", run)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if not args.keep_home:
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
