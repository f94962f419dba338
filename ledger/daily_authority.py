"""A daily write-off limit per person: what one actor authorises writing off in one day
(UTC), over every invoice, per currency.

It is derived from the write-offs themselves, without a new event: each applied
write-off's amount is charged to ``(actor, day, currency)`` by the event store's recorder
in the transaction that appends the ``WrittenOff`` event, and refused there, with the
whole transaction, if it would pass the limit. The recorder inserts under the store's
table lock, so two write-offs of one actor saved at once cannot both slip under it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date
from typing import Protocol, runtime_checkable
from uuid import UUID

from eventsourcing.persistence import PersistenceError

from ledger.errors import DailyWriteOffLimitReached
from ledger.money import Money

# The SQLSTATE the recorder raises when a charge would pass the day's limit.
LIMIT_SQLSTATE = "AR001"


@dataclass(frozen=True)
class DailyCharge:
    """One applied write-off, charged to the actor who authorised it."""

    write_off_id: UUID
    actor: str
    day: date
    amount: Money
    limit: Money


# The charge of the write-off being saved in this context, read by the recorder.
current_charge: ContextVar[DailyCharge | None] = ContextVar(
    "arledger_write_off_charge", default=None
)


@runtime_checkable
class AuthorityBook(Protocol):
    """Reads what an actor has authorised writing off on a day (the store's recorder)."""

    def authorised_on(self, actor: str, day: date, currency: str) -> int: ...


@contextmanager
def charging(charge: DailyCharge | None) -> Iterator[None]:
    """Save with ``charge`` counted against its actor's day; a save the recorder refused
    for the limit is a ``DailyWriteOffLimitReached`` (and appended nothing)."""
    token = current_charge.set(charge)
    try:
        yield
    except PersistenceError as e:
        if charge is None or getattr(e.__cause__, "sqlstate", None) != LIMIT_SQLSTATE:
            raise
        raise DailyWriteOffLimitReached(
            f"{charge.actor} may write off {charge.limit} a day in {charge.amount.currency}; "
            f"with this write-off of {charge.amount} today's would pass it",
            daily_limit=charge.limit.to_json(),
        ) from e
    finally:
        current_charge.reset(token)
