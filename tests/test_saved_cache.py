"""A process reads what it saved itself without asking the store (``ledger/saved_cache.py``),
so two processes on one store see each other's changes only when a save or an answer is
checked. Here two ``Ledger`` instances on one PostgreSQL store stand for two API
processes: each command must be decided on what is stored, whichever process saved it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from infra.database import eventstore_env
from ledger.application import Ledger
from ledger.commands import ChangeStanding, OpenAccount, RaiseInvoice
from ledger.errors import DuplicateInvoiceNumber
from ledger.money import Money
from ledger.stamp import Stamp
from ledger.standing import StandingNotAllowed

NOW = dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.UTC)


def stamp() -> Stamp:
    return Stamp("alice", "corr", "cause", NOW)


@pytest.fixture
def two(database_url: str) -> Iterator[tuple[Ledger, Ledger]]:
    first, second = (Ledger(eventstore_env(database_url, pool_size=4)) for _ in range(2))
    yield first, second
    first.close()
    second.close()


def standing(ledger: Ledger, account, action: str):  # type: ignore[no-untyped-def]
    return ledger.change_standing(ChangeStanding(account, action, f"{action} it", stamp()))


def test_a_refusal_is_decided_on_what_another_process_saved_since(two):
    first, second = two
    account = first.open_account(OpenAccount("Acme", "GBP", 30, stamp())).aggregate.id
    standing(first, account, "hold")  # the first process now holds it "on hold"
    standing(second, account, "reinstate")  # active again, by the other process

    held = standing(first, account, "hold")  # allowed: it is active in the store

    assert held.aggregate.status == "on_hold"
    with pytest.raises(StandingNotAllowed, match="on hold"):
        standing(second, account, "hold")


def test_a_change_decided_on_an_old_copy_is_decided_again_on_the_stored_one(two):
    first, second = two
    account = first.open_account(OpenAccount("Acme", "GBP", 30, stamp())).aggregate.id
    standing(first, account, "hold")
    standing(second, account, "reinstate")
    standing(second, account, "suspend")

    # On its own copy (on hold) the first would reinstate from hold; the store says
    # suspended, from which reinstating is allowed too: saved once, at the next version.
    reinstated = standing(first, account, "reinstate")

    assert reinstated.aggregate.status == "active"
    assert reinstated.aggregate.version == first.repository.get(account).version == 5
    actions = [e.action for e in first.repository.event_store.get(account) if hasattr(e, "action")]
    assert actions == ["hold", "reinstate", "suspend", "reinstate"]


def test_an_invoice_number_another_process_raised_is_refused(two):
    first, second = two
    account = first.open_account(OpenAccount("Acme", "GBP", 30, stamp())).aggregate.id

    def raise_invoice(ledger: Ledger, number: str) -> object:
        amount, issued = Money(100_00, "GBP"), dt.date(2026, 1, 1)
        cmd = RaiseInvoice(account, number, amount, issued, dt.date(2026, 2, 1), stamp())
        return ledger.raise_invoice(cmd)

    raise_invoice(first, "A-1")
    raise_invoice(second, "A-2")

    with pytest.raises(DuplicateInvoiceNumber):
        raise_invoice(first, "A-2")
    raise_invoice(first, "A-3")
    assert len(second.repository.get(account).invoice_ids()) == 3
