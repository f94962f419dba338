"""Benchmark of the whole pipeline on the embedded default: command throughput over HTTP,
and the time from a command's reply to its effect being visible through the API.

Run: ``.venv/bin/python benchmarks/pipeline.py [--commands 2000] [--latency 300]``.
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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from runtime.embedded import free_port  # noqa: E402


def start_up(home: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "ARLEDGER_HOME": str(home), "ARLEDGER_LOG_LEVEL": "WARNING"}
    env.pop("ARLEDGER_API_KEYS", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "runtime.cli", "up", "--port", str(port)],
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


def client(port: int, home: Path) -> httpx.Client:
    key = (home / "dev-api-key").read_text().split(":")[0]
    return httpx.Client(
        base_url=f"http://127.0.0.1:{port}", timeout=30, headers={"Authorization": f"Bearer {key}"}
    )


def post(http: httpx.Client, path: str, body: dict[str, object]) -> dict[str, object]:
    reply = http.post(path, json=body, headers={"Idempotency-Key": str(uuid.uuid4())})
    reply.raise_for_status()
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


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--commands", type=int, default=2000)
    parser.add_argument("--latency", type=int, default=300)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="arledger-bench-"))
    port = free_port()
    proc = start_up(home, port)
    try:
        http = client(port, home)
        accounts = open_accounts(http, 50)
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
    finally:
        proc.terminate()
        proc.wait(30)


if __name__ == "__main__":
    main()
