"""The throughput suite's command mix (see ``benchmarks/suite.py`` for what each row
measures): the same commands in-process through the ``Ledger`` facade and over HTTP from
many clients, each client on accounts of its own."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import httpx

from benchmarks import references as ref
from ledger.application import Ledger
from ledger.commands import AllocatePayment, OpenAccount, RaiseInvoice, RecordPayment
from ledger.money import Money
from ledger.stamp import Stamp

KEY = "suite-coordinator-key"
ROUND = 4
WARMUP_ROUNDS = 2
# Each account ends with the same history in every run: an oldest-first allocation reads
# every invoice the account ever had, so its cost grows with that history.
ROUNDS_PER_ACCOUNT = 25
MIX = (
    "each round on one of the client's own accounts: invoice, invoice, BACS payment of their "
    f"sum, allocation oldest-first; {ROUNDS_PER_ACCOUNT} rounds per account, round-robin"
)


@dataclass(frozen=True)
class Step:
    kind: str  # "invoice", "payment" or "allocation"
    account: int  # which of the client's accounts
    number: str
    amount_minor: int


def accounts_for(commands: int) -> int:
    """How many accounts a client of ``commands`` commands (and the warm-up) works on."""
    return -(-(WARMUP_ROUNDS + commands // ROUND) // ROUNDS_PER_ACCOUNT)


def step(client: int, n: int, accounts: int) -> Step:
    """The ``n``th command of ``client`` (warm-up included), over ``accounts`` accounts."""
    turn, k = divmod(n, ROUND)
    account = turn % accounts
    first, second = 100_00 + turn % 97, 250_00 + turn % 89
    if k < 2:
        return Step("invoice", account, f"S{client}-{turn}-{k}", (first, second)[k])
    return Step("payment" if k == 2 else "allocation", account, "", first + second)


def _days() -> tuple[dt.date, dt.date]:
    today = dt.date.today()
    return today - dt.timedelta(days=30), today


def _stamp() -> Stamp:
    return Stamp("suite", str(uuid.uuid4()), str(uuid.uuid4()), dt.datetime.now(dt.UTC))


def in_process_commands(ledger: Ledger, count: int) -> ref.Timed:
    issued, today = _days()

    def prepare(client: int, stack: ExitStack) -> ref.Operation:
        accounts = [
            ledger.open_account(
                OpenAccount(f"Suite {client}-{a}", "GBP", 30, _stamp())
            ).aggregate.id
            for a in range(accounts_for(count))
        ]
        payments: dict[int, uuid.UUID] = {}
        numbers = itertools.count()

        def command(_: int) -> None:
            s = step(client, next(numbers), len(accounts))
            account, amount = accounts[s.account], Money(s.amount_minor, "GBP")
            if s.kind == "invoice":
                ledger.raise_invoice(
                    RaiseInvoice(account, s.number, amount, issued, today, _stamp())
                )
            elif s.kind == "payment":
                cmd = RecordPayment(account, amount, "bacs", today, _stamp())
                payments[s.account] = ledger.record_payment(cmd).aggregate.id
            else:
                payment = payments.pop(s.account)
                request = str(uuid.uuid4())
                ledger.allocate_payment(
                    AllocatePayment(payment, request, _stamp(), strategy="oldest_first")
                )

        for _ in range(WARMUP_ROUNDS * ROUND):
            command(-1)
        return command

    return ref.run_clients("commands in-process, 1 client", 1, count, prepare)


@dataclass
class HttpRun:
    timed: ref.Timed
    statuses: Counter[str] = field(default_factory=Counter)

    def outcomes(self) -> str:
        s = self.statuses
        return (
            f"{s['201']:,} accepted, {s['409']:,} refused by a rule (409), {s['503']:,} "
            f"refused as conflicts (503), {s['skipped']:,} allocations not sent"
        )


def http_commands(base_url: str, clients: int, per_client: int) -> HttpRun:
    issued, today = _days()
    statuses: list[Counter[str]] = [Counter() for _ in range(clients)]

    def prepare(client: int, stack: ExitStack) -> ref.Operation:
        http = stack.enter_context(
            httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {KEY}"}, timeout=60)
        )

        def post(path: str, body: dict[str, Any]) -> httpx.Response:
            reply = http.post(path, json=body, headers={"Idempotency-Key": str(uuid.uuid4())})
            statuses[client][str(reply.status_code)] += 1
            if reply.status_code not in (201, 409, 503):
                raise RuntimeError(f"{path}: {reply.status_code} {reply.text}")
            return reply

        account_body = {"currency": "GBP", "payment_terms_days": 30}
        accounts = [
            str(post("/v1/accounts", {**account_body, "name": f"Suite {client}-{a}"}).json()["id"])
            for a in range(accounts_for(per_client))
        ]
        payments: dict[int, str] = {}
        numbers = itertools.count()

        def command(_: int) -> None:
            s = step(client, next(numbers), len(accounts))
            amount = {"amount": s.amount_minor, "currency": "GBP"}
            body: dict[str, Any] = {"account_id": accounts[s.account], "amount": amount}
            if s.kind == "invoice":
                body |= {"number": s.number, "issued_on": str(issued), "due_on": str(today)}
                post("/v1/invoices", body)
            elif s.kind == "payment":
                reply = post("/v1/payments", body | {"method": "bacs", "received_on": str(today)})
                if reply.status_code == 201:
                    payments[s.account] = str(reply.json()["id"])
            elif payment := payments.pop(s.account, None):
                post(f"/v1/payments/{payment}/allocations", {"strategy": "oldest_first"})
            else:
                statuses[client]["skipped"] += 1

        for _ in range(WARMUP_ROUNDS * ROUND):
            command(-1)
        statuses[client].clear()
        return command

    timed = ref.run_clients(f"commands over HTTP, {clients} clients", clients, per_client, prepare)
    return HttpRun(timed, sum(statuses, Counter()))
