"""Matching bank statement lines without a database: the indexes a line is looked up in
find exactly the accounts a comparison with every account would, and a statement that
names many alike clients goes to the right one."""

from __future__ import annotations

import datetime as dt
import uuid
from difflib import SequenceMatcher

from hypothesis import given, settings
from hypothesis import strategies as st

from channels.bank_csv import StatementLine
from channels.bank_index import TRUNCATED_PAYER_MIN, PayerIndex
from channels.bank_match import AccountFacts, InvoiceFacts, Matcher
from ledger.money import Money

NAMES = st.text(alphabet="AB C0", max_size=22)


def compared_with_every_name(payer: str, name: str, similarity: float) -> int:
    """How a payer names an account, by the rule itself: 2 the name (or its beginning,
    cut short), 1 alike, 0 not."""
    if not payer or not name:
        return 0
    if name == payer or (len(payer) >= TRUNCATED_PAYER_MIN and name.startswith(payer)):
        return 2
    return 1 if SequenceMatcher(None, name, payer).ratio() >= similarity else 0


@settings(max_examples=400, deadline=None)
@given(
    names=st.lists(NAMES, min_size=1, max_size=25),
    payers=st.lists(NAMES, min_size=1, max_size=8),
    similarity=st.sampled_from([0.3, 0.5, 0.75, 0.85, 0.9, 1.0]),
)
def test_the_payer_index_finds_every_name_a_payer_is_or_is_like(
    names: list[str], payers: list[str], similarity: float
) -> None:
    index = PayerIndex(names, similarity)
    for payer in [*payers, *(name[: len(name) // 2 + 8] for name in names[:3])]:
        scores = [compared_with_every_name(payer, name, similarity) for name in names]
        assert index.named(payer) == [n for n, score in enumerate(scores) if score == 2]
        assert index.alike(payer) == [n for n, score in enumerate(scores) if score == 1]
        assert [index.score(payer, n) for n in range(len(names))] == scores


def _clients(count: int) -> list[AccountFacts]:
    """Numbered clients, each name like every other: ``Bench Client 0007 Ltd``."""
    clients = []
    for n in range(count):
        client = AccountFacts(uuid.uuid4(), f"Bench Client {n:04d} Ltd", "GBP", None)
        due = dt.date(2026, 10, 31)
        client.invoices.append(InvoiceFacts(uuid.uuid4(), f"INV-{n:04d}", 500_00, due))
        clients.append(client)
    return clients


def _line(reference: str, payer: str, pence: int) -> StatementLine:
    on, amount = dt.date(2026, 11, 2), Money(pence, "GBP")
    return StatementLine(2, on, amount, reference, payer, uuid.uuid4())


def test_among_alike_clients_a_line_goes_to_the_one_its_payer_names() -> None:
    clients = _clients(50)
    matcher = Matcher(clients, tolerance=0, similarity=85)

    named = matcher.decide(_line("THANK YOU", "BENCH CLIENT 0042 LTD", 500_00))
    alike = matcher.decide(_line("THANK YOU", "BENCH CLIENT 1004", 77_00))
    unknown = matcher.decide(_line("REF 9", "SOMEONE ELSE", 500_00))

    assert (named.outcome, named.reason, named.account_id) == (
        "allocated",
        "amount",
        clients[42].account_id,
    )
    # Like every client and naming none: a person chooses, among the first five.
    assert all(
        compared_with_every_name("BENCH CLIENT 1004", c.name[:17].upper(), 0.85) == 1
        for c in clients
    )
    assert (alike.outcome, alike.reason, alike.account_id) == (
        "exception",
        "account-ambiguous",
        None,
    )
    assert [c["account_id"] for c in alike.candidates] == [str(c.account_id) for c in clients[:5]]
    # Nobody we know: the clients whose invoice the amount pays are the hints.
    assert unknown.reason == "no-match" and len(unknown.candidates) == 5
