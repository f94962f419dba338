"""Benchmark: Stripe webhooks taken by the API, as Stripe delivers them: signed, some
delivered twice (20% by default), in shuffled order, several at once; and how fast the
Stripe applier applies them.

Run: ``.venv/bin/python benchmarks/webhooks.py [--events 5000] [--duplicates 0.2]
[--threads 8] [--backlog N]``. It starts ``arledger up`` (embedded PostgreSQL and broker
in a temporary home, unless DATABASE_URL / KAFKA_BOOTSTRAP_SERVERS are set), raises an
invoice for each of 50 accounts, then posts the events and prints the acceptance rate and
the latency (the webhook records the event and answers), then how long until the applier
had applied every event, the time from each delivery's answer to its event being applied
(p50, p99, max), and what became of them.

While the applier keeps up, it applies as fast as the webhook accepts; what it can do
beyond that is measured apart: ``--backlog`` events (as many as ``--events`` unless told,
0 for none) are delivered while the applier stands by (this process holds the applier's
lock, after ending the session of the one running, as a restart would), and the applied
events/s is the time from the applier taking the lock again to the last event applied."""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.pipeline import client, post  # noqa: E402
from benchmarks.references import MachineCpu  # noqa: E402
from channels.stripe_applier import LOCK_KEY  # noqa: E402
from channels.stripe_signature import sign  # noqa: E402
from runtime.embedded import free_port  # noqa: E402
from tests import stripe_payloads as sp  # noqa: E402

SECRET = "whsec_benchmark"
WATCH_EVERY_S = 0.02


def start_up(home: Path, port: int) -> tuple[subprocess.Popen[bytes], str]:
    """``arledger up`` in its own process, ready; and the database URL it printed (its
    output and its log are kept in ``home``)."""
    env = {**os.environ, "ARLEDGER_HOME": str(home), "ARLEDGER_LOG_LEVEL": "WARNING"}
    env.pop("ARLEDGER_API_KEYS", None)
    out = home / "up.out"
    command = [sys.executable, "-m", "runtime.cli", "up", "--port", str(port)]
    with out.open("wb") as stdout, (home / "up.log").open("wb") as stderr:
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=stdout, stderr=stderr)
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            raise SystemExit(f"arledger up did not start: see {home / 'up.log'}")
        time.sleep(0.2)
    for line in out.read_text().splitlines():
        if line.startswith("Database "):
            return proc, line.split(None, 1)[1].strip()
    raise SystemExit(f"arledger up printed no database: {out.read_text()}")


def book(http: httpx.Client, accounts: int) -> list[tuple[str, str]]:
    made = []
    for n in range(accounts):
        acct = str(
            post(
                http,
                "/v1/accounts",
                {"name": f"Bench {n}", "currency": "GBP", "payment_terms_days": 30},
            )["id"]
        )
        inv = post(
            http,
            "/v1/invoices",
            {
                "account_id": acct,
                "number": f"B-{n}",
                "amount": {"amount": 10_000_000, "currency": "GBP"},
                "issued_on": "2026-10-01",
                "due_on": "2026-10-31",
            },
        )
        made.append((acct, str(inv["id"])))
    return made


def events(made: list[tuple[str, str]], unique: int, rng: random.Random) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    paid: list[dict[str, Any]] = []
    for _ in range(unique):
        acct, inv = rng.choice(made)
        roll = rng.random()
        if roll < 0.6 or not paid:
            pi = sp.payment_intent(
                rng.randint(100, 5_000), "succeeded", {"account_id": acct, "invoice_id": inv}
            )
            paid.append(pi)
            out.append(sp.event("payment_intent.succeeded", pi))
        elif roll < 0.8:
            pi = sp.payment_intent(
                rng.randint(100, 5_000), "requires_payment_method", {"account_id": acct}
            )
            pi["last_payment_error"] = sp.decline(pi["latest_charge"])
            out.append(sp.event("payment_intent.payment_failed", pi))
        elif roll < 0.9:
            pi = rng.choice(paid)
            out.append(sp.event("charge.refunded", sp.charge(pi, [(f"re_{pi['id']}", 50)])))
        else:
            out.append(sp.event("customer.updated", {"id": "cus_x", "object": "customer"}))
    return out


class Deliverer:
    """One keep-alive HTTP connection per thread, as light as a client gets, so that the
    figure is the API's and not the client's."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.local = threading.local()
        self.latencies: list[float] = []
        self.answered: dict[str, float] = {}  # event id: when its first delivery was answered

    def deliver(self, item: tuple[str, bytes]) -> bool:
        """Post one event, signed now; whether it was a duplicate."""
        event_id, body = item
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = self.local.conn = http.client.HTTPConnection("127.0.0.1", self.port)
        headers = {
            "Content-Type": "application/json",
            "Stripe-Signature": sign(body, SECRET, int(time.time())),
        }
        started = time.perf_counter()
        conn.request("POST", "/v1/webhooks/stripe", body, headers)
        reply = conn.getresponse()
        text = reply.read()
        answered = time.perf_counter()
        self.latencies.append(answered - started)
        self.answered.setdefault(event_id, answered)
        assert reply.status == 200, text
        return bool(json.loads(text)["duplicate"])


class Watcher:
    """Notes when each answered event stops waiting in the inbox (every
    ``WATCH_EVERY_S``, on a connection of its own): the time from delivery to applied."""

    def __init__(self, database_url: str, answered: dict[str, float]) -> None:
        self.database_url, self.answered = database_url, answered
        self.applied: dict[str, float] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> Watcher:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join()

    def _watch(self) -> None:
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            while not self.stop.wait(WATCH_EVERY_S):
                waiting = {row[0] for row in conn.execute(WAITING_IDS).fetchall()}
                now = time.perf_counter()
                for event_id, _ in list(self.answered.items()):
                    if event_id not in waiting and event_id not in self.applied:
                        self.applied[event_id] = now

    def seconds(self) -> list[float]:
        """From each event's first answer to its being seen applied, sorted."""
        return sorted(self.applied[e] - self.answered[e] for e in self.applied)


WAITING_IDS = "SELECT event_id FROM stripe_events WHERE outcome = 'received'"


def cpu_seconds(pid: int) -> float:
    """User and system CPU time a process has used (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu(pid: int) -> dict[str, float]:
    """CPU seconds used so far by each child process of ``pid``, by its ``arledger``
    command (``relay``, ``consume``, ``stripe-apply``...), summed over children alike."""
    used: dict[str, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue  # gone meanwhile
        if int(stat[1]) != pid or b"runtime.cli" not in argv:
            continue
        command = argv[argv.index(b"runtime.cli") + 1].decode()
        used[command] = used.get(command, 0.0) + cpu_seconds(int(entry.name))
    return used


def wait_applied(conn: psycopg.Connection[Any], timeout_s: float = 600) -> float:
    """When nothing waits in the inbox any more (``time.perf_counter``)."""
    deadline = time.monotonic() + timeout_s
    while conn.execute(WAITING_IDS + " LIMIT 1").fetchone():
        assert time.monotonic() < deadline, "the applier did not finish"
        time.sleep(WATCH_EVERY_S)
    return time.perf_counter()


def outcomes(http: httpx.Client) -> dict[str, int]:
    counts: Counter[str] = Counter()
    after = None
    while True:
        params: dict[str, str | int] = {
            "limit": 1000,
            **({"received_after": after} if after else {}),
        }
        page = http.get("/v1/stripe/events", params=params).json()["events"]
        counts.update(e["outcome"] for e in page)
        if len(page) < 1000:
            return dict(sorted(counts.items()))
        after = page[-1]["received_at"]


def deliveries(
    made: list[tuple[str, str]], total: int, duplicates: float, rng: random.Random
) -> tuple[int, list[tuple[str, bytes]]]:
    """How many events are unique, and ``total`` deliveries of them, shuffled."""
    unique = int(total * (1 - duplicates))
    out = events(made, unique, rng)
    out += [rng.choice(out) for _ in range(total - unique)]
    rng.shuffle(out)
    return unique, [(evt["id"], json.dumps(evt).encode()) for evt in out]


def percentiles(seconds: list[float]) -> str:
    if not seconds:
        return "none seen"
    at = [seconds[max(0, int(len(seconds) * q) - 1)] * 1000 for q in (0.5, 0.99)]
    return f"p50 {at[0]:.0f} ms   p99 {at[1]:.0f} ms   max {seconds[-1] * 1000:.0f} ms"


def live(
    args: argparse.Namespace, proc: subprocess.Popen[bytes], made: list[tuple[str, str]], url: str
) -> None:
    """Deliver while the applier runs: the webhook's figures, and the applier's as it
    keeps up (or not) with what arrives."""
    port, http = args.port, args.http
    unique, bodies = deliveries(made, args.events, args.duplicates, random.Random(5))
    deliverer = Deliverer(port)
    api_cpu = cpu_seconds(proc.pid)  # the API runs in the process ``up`` started
    workers_cpu = children_cpu(proc.pid)
    with psycopg.connect(url, autocommit=True) as conn, Watcher(url, deliverer.answered) as seen:
        machine, own_cpu = MachineCpu.now(), time.process_time()
        started = time.perf_counter()
        with ThreadPoolExecutor(args.threads) as pool:
            duplicates = sum(pool.map(deliverer.deliver, bodies))
        took = time.perf_counter() - started
        machine_busy = MachineCpu.now().describe_since(machine)
        own_cpu = time.process_time() - own_cpu
        api_cpu = cpu_seconds(proc.pid) - api_cpu
        applied_in = wait_applied(conn) - started
        workers_cpu = {
            command: used - workers_cpu.get(command, 0.0)
            for command, used in children_cpu(proc.pid).items()
        }
        time.sleep(WATCH_EVERY_S * 3)  # the watcher's last look
    latencies = sorted(deliverer.latencies)
    print(
        f"webhooks: {len(bodies)} signed events ({args.events - unique} redelivered,"
        f" shuffled), {args.threads} at a time"
    )
    print(f"accepted: {len(bodies) / took:,.0f} events/s ({took:.1f} s)")
    print(
        f"latency:  p50 {statistics.median(latencies) * 1000:.1f} ms"
        f"   p99 {latencies[int(len(latencies) * 0.99) - 1] * 1000:.1f} ms"
    )
    print(f"API CPU:  {api_cpu / len(bodies) * 1000:.2f} ms a delivery")
    shown = "   ".join(
        f"{command} {used / unique * 1000:.2f}" for command, used in sorted(workers_cpu.items())
    )
    print(f"workers' CPU, ms an event: {shown}")
    print(
        f"machine:  {machine_busy} while delivering, every process counted; this one"
        f" (signing, HTTP, the applied-time watcher) {own_cpu / len(bodies) * 1000:.2f} ms"
        " CPU a delivery"
    )
    print(
        f"applied:  all {unique} by {applied_in:.1f} s after the first delivery"
        f" ({unique / applied_in:,.0f} events/s); {duplicates} answered as duplicates"
    )
    print(f"delivery to applied: {percentiles(seen.seconds())}")
    print(f"outcomes: {outcomes(http)}")


def backlog(args: argparse.Namespace, made: list[tuple[str, str]], url: str) -> None:
    """Deliver ``args.backlog`` events while the applier stands by, then let it apply
    them all: what the applier can do, apart from what arrives."""
    port = args.port
    unique, bodies = deliveries(made, args.backlog, args.duplicates, random.Random(6))
    with psycopg.connect(url, autocommit=True) as holder:
        take_the_applier_lock(holder)
        with ThreadPoolExecutor(args.threads) as pool:
            list(pool.map(Deliverer(port).deliver, bodies))
        holder.execute("SELECT pg_advisory_unlock(hashtext(%s))", (LOCK_KEY,))
        started = applier_holds_the_lock(holder)
        took = wait_applied(holder) - started
    print(
        f"backlog:  {unique} events waiting, applied in {took:.1f} s by the applier alone"
        f" ({unique / took:,.0f} events/s)"
    )


def take_the_applier_lock(conn: psycopg.Connection[Any]) -> None:
    """End the running applier's session (it is restarted, and stands by) and hold its
    lock here."""
    deadline = time.monotonic() + 60
    taking = "SELECT pg_try_advisory_lock(hashtext(%s))"
    while not (conn.execute(taking, (LOCK_KEY,)).fetchone() or (False,))[0]:
        assert time.monotonic() < deadline, "the applier's lock was not free"
        for pid in lock_holders(conn):
            conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
        time.sleep(0.01)


def applier_holds_the_lock(conn: psycopg.Connection[Any]) -> float:
    """When the standing-by applier took its lock (``time.perf_counter``)."""
    deadline = time.monotonic() + 60
    while not lock_holders(conn):
        assert time.monotonic() < deadline, "no applier took the lock"
        time.sleep(0.005)
    return time.perf_counter()


def lock_holders(conn: psycopg.Connection[Any]) -> list[int]:
    """The sessions other than this one holding the applier's advisory lock."""
    (key,) = conn.execute("SELECT hashtext(%s)::bigint", (LOCK_KEY,)).fetchone() or (0,)
    rows = conn.execute(
        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1"
        " AND classid::bigint = %s AND objid::bigint = %s AND pid <> pg_backend_pid()",
        ((key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF),
    ).fetchall()
    return [row[0] for row in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--duplicates", type=float, default=0.2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--backlog", type=int, default=None, help="default: --events")
    args = parser.parse_args()
    args.backlog = args.events if args.backlog is None else args.backlog
    home = Path(tempfile.mkdtemp(prefix="arledger-bench-webhooks-"))
    args.port = free_port()
    os.environ["STRIPE_WEBHOOK_SECRET"] = SECRET
    proc, url = start_up(home, args.port)
    try:
        args.http = client(args.port, home)
        made = book(args.http, 50)
        live(args, proc, made, url)
        if args.backlog:
            backlog(args, made, url)
        print(f"load:     {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
