"""Benchmark of the whole pipeline on the embedded default: command throughput over HTTP,
and the time from a command's reply to its effect being visible through the API.

Run: ``.venv/bin/python benchmarks/pipeline.py [--commands 2000] [--latency 300]
[--rate 200 --seconds 60]``. With ``--rate`` it also holds that many commands a second
for ``--seconds`` (open loop: each command leaves at its own time, however long the ones
before it take), and every fourth client reads its own command back at once, as a
client reading its writes does: the time from each reply to that read's answer is the
reply-to-visible figure under load.

It starts ``arledger up`` in its own process (embedded PostgreSQL and broker in a
temporary home, unless DATABASE_URL / KAFKA_BOOTSTRAP_SERVERS are set), drives it from
this process over HTTP, prints the figures and stops everything."""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.references import MachineCpu  # noqa: E402
from runtime.embedded import free_port  # noqa: E402


def start_up(home: Path, port: int, api_workers: int = 1) -> subprocess.Popen[bytes]:
    env = {**os.environ, "ARLEDGER_HOME": str(home), "ARLEDGER_LOG_LEVEL": "WARNING"}
    env.pop("ARLEDGER_API_KEYS", None)
    command = [sys.executable, "-m", "runtime.cli", "up", "--port", str(port)]
    proc = subprocess.Popen(
        [*command, "--api-workers", str(api_workers)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            # Ready, not just healthy: every read model's consumer holds its partitions.
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            raise SystemExit("arledger up did not start")
        time.sleep(0.2)


class Running(NamedTuple):
    """``arledger up`` running: its home, a client with its key, 50 open accounts, and
    its process id."""

    home: Path
    http: httpx.Client
    accounts: list[str]
    pid: int


@contextmanager
def running_up(api_workers: int, prefix: str) -> Iterator[Running]:
    """``arledger up`` in a temporary home, stopped on leaving."""
    home = Path(tempfile.mkdtemp(prefix=prefix))
    port = free_port()
    proc = start_up(home, port, api_workers)
    try:
        http = client(port, home)
        yield Running(home, http, open_accounts(http, 50), proc.pid)
    finally:
        proc.terminate()
        proc.wait(30)


def client(port: int, home: Path) -> httpx.Client:
    key = (home / "dev-api-key").read_text().split(":")[0]
    return httpx.Client(
        base_url=f"http://127.0.0.1:{port}", timeout=30, headers={"Authorization": f"Bearer {key}"}
    )


def post(http: httpx.Client, path: str, body: dict[str, object]) -> dict[str, object]:
    reply = http.post(path, json=body, headers={"Idempotency-Key": str(uuid.uuid4())})
    if reply.is_error:  # say which problem, not just the status
        raise RuntimeError(f"POST {path}: {reply.status_code} {reply.text[:500]}")
    result: dict[str, object] = reply.json()
    return result


def open_accounts(http: httpx.Client, n: int) -> list[str]:
    return [
        str(
            post(
                http,
                "/v1/accounts",
                {"name": f"Bench {i}", "currency": "GBP", "payment_terms_days": 30},
            )["id"]
        )
        for i in range(n)
    ]


def invoice_body(account: str, n: int) -> dict[str, object]:
    return {
        "account_id": account,
        "number": f"B-{n}",
        "issued_on": "2026-01-01",
        "due_on": "2026-01-31",
        "amount": {"amount": 100 + n, "currency": "GBP"},
    }


def reply_to_visible(http: httpx.Client, account: str, count: int) -> list[float]:
    """For each command: seconds from its reply until a query with its position answers."""
    seconds = []
    for n in range(count):
        made = post(http, "/v1/invoices", invoice_body(account, n))
        replied = time.perf_counter()
        seen = http.get(f"/v1/invoices/{made['id']}", params={"min_position": made["position"]})
        seen.raise_for_status()
        seconds.append(time.perf_counter() - replied)
    return seconds


def throughput(
    http: httpx.Client, accounts: list[str], count: int, threads: int, first: int
) -> tuple[float, int]:
    def one(n: int) -> int:
        made = post(http, "/v1/invoices", invoice_body(accounts[n % len(accounts)], first + n))
        return int(str(made["position"]))

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        last = max(pool.map(one, range(count)))
    return time.perf_counter() - started, last


def sustained(http: httpx.Client, accounts: list[str], rate: int, seconds: int, first: int) -> None:
    """``rate`` commands a second for ``seconds``, each sent at its own time; every
    fourth is read back at once with its position (reply-to-visible under load)."""
    count = rate * seconds
    replies: list[float] = []
    visible: list[float] = []
    late: list[float] = []
    start = time.perf_counter() + 0.5

    def one(n: int) -> None:
        due = start + n / rate
        wait = due - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        sent = time.perf_counter()
        late.append(max(0.0, sent - due))
        made = post(http, "/v1/invoices", invoice_body(accounts[n % len(accounts)], first + n))
        replied = time.perf_counter()
        replies.append(replied - sent)
        if n % 4 == 0:
            seen = http.get(f"/v1/invoices/{made['id']}", params={"min_position": made["position"]})
            seen.raise_for_status()
            visible.append(time.perf_counter() - replied)

    # Enough threads that a slow reply never holds back the next command's departure.
    machine = MachineCpu.now()
    with ThreadPoolExecutor(max(16, rate // 4)) as pool:
        list(pool.map(one, range(count)))
    elapsed = time.perf_counter() - start
    machine_busy = MachineCpu.now().describe_since(machine)
    ms = 1e3
    print(
        f"sustained {rate} commands/s for {seconds} s: {count / elapsed:.0f} commands/s "
        f"achieved; reply p50 {statistics.median(replies) * ms:.1f} ms, p99 "
        f"{percentile(replies, 0.99) * ms:.1f} ms; sent late by more than 100 ms: "
        f"{sum(1 for x in late if x > 0.1)}; reply-to-visible over {len(visible)} reads: "
        f"median {statistics.median(visible) * ms:.1f} ms, p99 "
        f"{percentile(visible, 0.99) * ms:.1f} ms, max {max(visible) * ms:.1f} ms; machine: "
        f"{machine_busy}, every process counted (this one's clients too)"
    )


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--commands", type=int, default=2000)
    parser.add_argument("--latency", type=int, default=300)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--rate", type=int, default=0, help="commands/s to hold (0: none)")
    parser.add_argument("--seconds", type=int, default=60, help="how long to hold --rate")
    parser.add_argument("--api-workers", type=int, default=1, help="arledger up --api-workers")
    args = parser.parse_args()
    with running_up(args.api_workers, "arledger-bench-") as (_, http, accounts, _):
        lat = reply_to_visible(http, accounts[0], args.latency)
        print(
            f"reply-to-visible over {len(lat)} commands: median "
            f"{statistics.median(lat) * 1e3:.1f} ms, p99 {percentile(lat, 0.99) * 1e3:.1f} ms, "
            f"max {max(lat) * 1e3:.1f} ms"
        )
        for threads in (1, args.threads):
            first = 1_000_000 * threads
            elapsed, last = throughput(http, accounts, args.commands, threads, first)
            caught = time.perf_counter()
            http.get(f"/v1/invoices/{uuid.uuid4()}", params={"min_position": last})
            drained = time.perf_counter() - caught
            print(
                f"{args.commands} invoice commands, {threads} client thread(s): "
                f"{args.commands / elapsed:.0f} commands/s ({elapsed:.1f} s); projection "
                f"caught up {drained * 1e3:.0f} ms after the last reply"
            )
        if args.rate:
            sustained(http, accounts, args.rate, args.seconds, 100_000_000)


if __name__ == "__main__":
    main()
