"""What every event carries besides its own facts: who caused it, when it took effect in
business time, and the correlation and causation ids that tie it to a request."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from eventsourcing.persistence import Transcoding

from ledger.copying import share_frozen
from ledger.money import Money


@share_frozen
@dataclass(frozen=True)
class Stamp:
    """Provenance of one command, copied onto each event the command appends.

    ``effective_at`` is business time (a payment's value date, an invoice's issue date);
    the time an event was recorded is the event's own ``timestamp``.
    """

    actor: str
    correlation_id: str
    causation_id: str
    effective_at: datetime

    def effective_on(self, day: date) -> Stamp:
        """The same stamp, taking effect at the start of ``day`` (UTC)."""
        at = datetime.combine(day, time(0, 0), tzinfo=UTC)
        return Stamp(self.actor, self.correlation_id, self.causation_id, at)


class MoneyAsDict(Transcoding):
    type = Money
    name = "money"

    def encode(self, obj: Money) -> dict[str, Any]:
        return {"amount": obj.amount_minor, "currency": obj.currency}

    def decode(self, data: dict[str, Any]) -> Money:
        return Money(data["amount"], data["currency"])


class DateAsISO(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


class StampAsDict(Transcoding):
    type = Stamp
    name = "stamp"

    def encode(self, obj: Stamp) -> dict[str, Any]:
        return {
            "actor": obj.actor,
            "correlation_id": obj.correlation_id,
            "causation_id": obj.causation_id,
            "effective_at": obj.effective_at.isoformat(),
        }

    def decode(self, data: dict[str, Any]) -> Stamp:
        return Stamp(
            data["actor"],
            data["correlation_id"],
            data["causation_id"],
            datetime.fromisoformat(data["effective_at"]),
        )


TRANSCODINGS: tuple[Transcoding, ...] = (MoneyAsDict(), DateAsISO(), StampAsDict())
