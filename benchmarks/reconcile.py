"""Benchmark: reconciling a day of Stripe payments with the ledger.

Run: ``.venv/bin/python benchmarks/reconcile.py [--objects 10000]``. It starts
localstripe and ``arledger up`` (embedded servers in a temporary home), makes
``--objects`` succeeded PaymentIntents in localstripe for one account, and times two
runs of ``POST /v1/reconciliations/stripe`` over today: the first finds every payment
missing from the ledger and records it, the second finds them all matched. Before them
it times localstripe alone listing what the reconciliation lists (its own figure: the
floor under ours). localstripe runs in memory: persisting, it rewrites its whole store
after every change, and making 10,000 PaymentIntents would take hours."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.pipeline import client, start_up  # noqa: E402
from channels.reconcile import listed  # noqa: E402
from channels.stripe_channel import client_for  # noqa: E402
from infra.settings import Settings  # noqa: E402
from runtime.embedded import free_port  # noqa: E402
from tests.stripe_servers import localstripe  # noqa: E402

KEY = "sk_test_benchmark"


def make_intents(url: str, account: str, count: int) -> None:
    with httpx.Client(base_url=url, auth=(KEY, ""), timeout=30) as stripe:
        pm = stripe.post(
            "/v1/payment_methods",
            data={
                "type": "card",
                "card[number]": "4242424242424242",
                "card[exp_month]": "12",
                "card[exp_year]": "2030",
                "card[cvc]": "123",
            },
        ).json()["id"]

        def one(n: int) -> None:
            reply = stripe.post(
                "/v1/payment_intents",
                data={
                    "amount": str(1_000 + n),
                    "currency": "gbp",
                    "payment_method": pm,
                    "confirm": "true",
                    "metadata[account_id]": account,
                },
            )
            reply.raise_for_status()

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(one, range(count)))


def localstripe_listing(url: str) -> None:
    """What the reconciliation asks of Stripe, timed alone: every PaymentIntent, refund and
    payout of today, a page of 100 at a time, through the same SDK calls."""
    stripe = client_for(Settings(stripe_api_key=KEY, stripe_api_base=url))
    assert stripe is not None
    today = datetime.now(UTC).date()
    window = {
        "gte": int(datetime(today.year, today.month, today.day, tzinfo=UTC).timestamp()),
        "lt": int(datetime(today.year, today.month, today.day, tzinfo=UTC).timestamp()) + 86_400,
    }
    started = time.perf_counter()
    counts = [
        sum(1 for _ in listed(resource, window))
        for resource in (stripe.v1.payment_intents, stripe.v1.refunds, stripe.v1.payouts)
    ]
    took = time.perf_counter() - started
    print(f"localstripe alone lists {counts} (intents, refunds, payouts) in {took:.1f} s")


def reconcile_twice(http: httpx.Client) -> None:
    today = datetime.now(UTC).date().isoformat()
    for label in ("first run (all missing, recorded)", "second run (all matched)"):
        started = time.perf_counter()
        while True:  # 503 read-model-behind: the read model is still catching up
            reply = http.post(
                "/v1/reconciliations/stripe",
                json={"from": today, "to": today},
                headers={"Idempotency-Key": f"bench-{label}-{time.time()}"},
            )
            if reply.status_code != 503:
                break
            time.sleep(0.5)
        reply.raise_for_status()
        run = reply.json()
        took = time.perf_counter() - started
        print(f"reconcile, {label}: {took:.1f} s for {run['listed']} -> {run['counts']}")
        print(f"load: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)


def open_account(http: httpx.Client) -> str:
    """The benchmark's account: the same id in every fresh ledger (its id derives from
    the request's key), so the PaymentIntents made once name it in each."""
    body = {"name": "Bench", "currency": "GBP", "payment_terms_days": 30}
    reply = http.post("/v1/accounts", json=body, headers={"Idempotency-Key": "bench-account"})
    reply.raise_for_status()
    return str(reply.json()["id"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument(
        "--repeat", type=int, default=1, help="measure N times, each on a fresh ledger"
    )
    args = parser.parse_args()
    with localstripe(in_memory=True) as url:
        os.environ.update({"STRIPE_API_KEY": KEY, "STRIPE_API_BASE": url})
        for attempt in range(args.repeat):
            home = Path(tempfile.mkdtemp(prefix="arledger-bench-reconcile-"))
            port = free_port()
            proc = start_up(home, port)
            try:
                http = client(port, home)
                http.timeout = httpx.Timeout(3600)
                account = open_account(http)
                if attempt == 0:
                    started = time.perf_counter()
                    make_intents(url, account, args.objects)
                    print(
                        f"{args.objects} PaymentIntents made in localstripe in "
                        f"{time.perf_counter() - started:.1f} s"
                    )
                    localstripe_listing(url)
                reconcile_twice(http)
            finally:
                proc.terminate()
                proc.wait(timeout=30)


if __name__ == "__main__":
    main()
