"""Benchmark: Stripe webhooks taken by the API, as Stripe delivers them: signed, some
delivered twice (20% by default), in shuffled order, several at once.

Run: ``.venv/bin/python benchmarks/webhooks.py [--events 5000] [--duplicates 0.2]
[--threads 8]``. It starts ``arledger up`` (embedded PostgreSQL and broker in a temporary
home, unless DATABASE_URL / KAFKA_BOOTSTRAP_SERVERS are set), raises an invoice for each
of 50 accounts, then posts the events and prints the acceptance rate and the latency."""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.pipeline import client, post, start_up  # noqa: E402
from runtime.embedded import free_port  # noqa: E402
from tests import stripe_payloads as sp  # noqa: E402

SECRET = "whsec_benchmark"


def book(http, accounts: int) -> list[tuple[str, str]]:
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


def events(made: list[tuple[str, str]], unique: int, rng: random.Random) -> list[dict]:
    out, paid = [], []
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
        latencies: list[float] = []

        def deliver(evt: dict) -> str:
            started = time.perf_counter()
            reply = sp.post(http, evt, SECRET)
            latencies.append(time.perf_counter() - started)
            assert reply.status_code == 200, reply.text
            body = reply.json()
            return "duplicate" if body["duplicate"] else str(body["outcome"])

        started = time.perf_counter()
        with ThreadPoolExecutor(args.threads) as pool:
            outcomes = list(pool.map(deliver, deliveries))
        took = time.perf_counter() - started
        latencies.sort()
        counts = {k: outcomes.count(k) for k in sorted(set(outcomes))}
        print(
            f"webhooks: {len(deliveries)} signed events ({args.events - unique} redelivered,"
            f" shuffled), {args.threads} at a time"
        )
        print(f"accepted: {len(deliveries) / took:,.0f} events/s ({took:.1f} s)")
        print(
            f"latency:  p50 {statistics.median(latencies) * 1000:.1f} ms"
            f"   p99 {latencies[int(len(latencies) * 0.99) - 1] * 1000:.1f} ms"
        )
        print(f"outcomes: {counts}")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
