"""Benchmark: Stripe webhooks taken by the API, as Stripe delivers them: signed, some
delivered twice (20% by default), in shuffled order, several at once.

Run: ``.venv/bin/python benchmarks/webhooks.py [--events 5000] [--duplicates 0.2]
[--threads 8]``. It starts ``arledger up`` (embedded PostgreSQL and broker in a temporary
home, unless DATABASE_URL / KAFKA_BOOTSTRAP_SERVERS are set), raises an invoice for each
of 50 accounts, then posts the events and prints the acceptance rate and the latency
(the webhook records the event and answers), then how long until the applier had applied
every event, and what became of them."""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.pipeline import client, post, start_up  # noqa: E402
from channels.stripe_signature import sign  # noqa: E402
from runtime.embedded import free_port  # noqa: E402
from tests import stripe_payloads as sp  # noqa: E402

SECRET = "whsec_benchmark"


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

    def deliver(self, body: bytes) -> bool:
        """Post one event, signed now; whether it was a duplicate."""
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
        self.latencies.append(time.perf_counter() - started)
        assert reply.status == 200, text
        return bool(json.loads(text)["duplicate"])


def cpu_seconds(pid: int) -> float:
    """User and system CPU time a process has used (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_applied(http: httpx.Client, timeout_s: float = 600) -> None:
    deadline = time.monotonic() + timeout_s
    while http.get("/v1/stripe/events", params={"outcome": "received", "limit": 1}).json()[
        "events"
    ]:
        assert time.monotonic() < deadline, "the applier did not finish"
        time.sleep(0.05)


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--duplicates", type=float, default=0.2)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    rng = random.Random(5)
    home = Path(tempfile.mkdtemp(prefix="arledger-bench-webhooks-"))
    port = free_port()
    os.environ["STRIPE_WEBHOOK_SECRET"] = SECRET
    proc = start_up(home, port)
    try:
        http = client(port, home)
        made = book(http, 50)
        unique = int(args.events * (1 - args.duplicates))
        deliveries = events(made, unique, rng)
        deliveries += [rng.choice(deliveries) for _ in range(args.events - unique)]
        rng.shuffle(deliveries)
        bodies = [json.dumps(evt).encode() for evt in deliveries]
        deliverer = Deliverer(port)
        api_cpu = cpu_seconds(proc.pid)  # the API runs in the process ``up`` started
        started = time.perf_counter()
        with ThreadPoolExecutor(args.threads) as pool:
            duplicates = sum(pool.map(deliverer.deliver, bodies))
        took = time.perf_counter() - started
        api_cpu = cpu_seconds(proc.pid) - api_cpu
        wait_applied(http)
        applied_in = time.perf_counter() - started
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
        print(
            f"applied:  all {unique} by {applied_in:.1f} s after the first delivery"
            f" ({unique / applied_in:,.0f} events/s); {duplicates} answered as duplicates"
        )
        print(f"outcomes: {outcomes(http)}")
        print(f"load:     {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
