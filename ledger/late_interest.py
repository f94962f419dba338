"""Late-payment interest day by day: simple interest on what an invoice owed, undisputed,
at the end of each day of the period charged, never on today's balance for the whole
period.

An invoice's history says what it owed each day: it owes its amount from ``issued_on``;
each allocation, reversal, credit note, void and write-off changes that from its
effective date (never before the invoice was issued), as the reports date them; a
dispute takes its amount out of what is chased from the dispute's effective date until
it is resolved. The period ``[start, end)`` is charged day by day on the amount at the
end of each day, so a payment that arrives on the day ``end`` counts for the next
charge, and one on the day ``start`` stops the interest at once."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date
from typing import Any

from ledger.money import Money

BASIS_POINTS = 10_000
DAYS_IN_YEAR = 365

# What each invoice event does to what it owes (+1/-1) and to what is disputed.
OWED = {
    "Raised": +1,
    "PaymentAllocated": -1,
    "PaymentUnallocated": +1,
    "CreditNoteIssued": -1,
    "Voided": -1,
    "WrittenOff": -1,
}


@dataclass(frozen=True)
class Span:
    """Days ``start`` to the day before ``end`` on which ``undisputed`` was owed."""

    start: date
    end: date
    undisputed: int  # minor units

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    def to_record(self, currency: str) -> dict[str, Any]:
        return {
            "from": self.start,
            "to": self.end,
            "days": self.days,
            "undisputed": Money(self.undisputed, currency),
        }


def simple_interest(base_minor: int, rate_bps: int, days: int) -> int:
    """``base`` x ``rate_bps``/10,000 x ``days``/365, rounded half up, in minor units."""
    numerator = base_minor * rate_bps * days
    denominator = BASIS_POINTS * DAYS_IN_YEAR
    return (2 * numerator + denominator) // (2 * denominator)


def interest_on(spans: Iterable[Span], rate_bps: int) -> int:
    """Each day's interest added up exactly and rounded once, half up, on the total."""
    return simple_interest(sum(s.undisputed * s.days for s in spans), rate_bps, 1)


def average(spans: list[Span]) -> int:
    """The undisputed amount owed on an average day of the spans, rounded half up."""
    days = sum(s.days for s in spans)
    total = sum(s.undisputed * s.days for s in spans)
    return (2 * total + days) // (2 * days) if days else 0


def changes(events: Iterable[Any], issued_on: date) -> dict[date, tuple[int, int]]:
    """Per day, what the invoice's events did to what it owes and to what is disputed."""
    by_day: dict[date, tuple[int, int]] = {}
    for event in events:
        name = type(event).__name__
        if name in OWED:
            owed, disputed = OWED[name] * event.amount.amount_minor, 0
        elif name == "Disputed":
            owed, disputed = 0, event.amount.amount_minor
        elif name == "DisputeResolved":
            owed, disputed = 0, -event.disputed.amount_minor
        else:
            continue
        on = max(event.stamp.effective_at.astimezone(UTC).date(), issued_on)
        before = by_day.get(on, (0, 0))
        by_day[on] = (before[0] + owed, before[1] + disputed)
    return by_day


def undisputed_spans(by_day: dict[date, tuple[int, int]], start: date, end: date) -> list[Span]:
    """What was owed and not disputed at the end of each day from ``start`` to the day
    before ``end``, as spans of days with the same amount."""
    owed = disputed = 0
    spans: list[Span] = []
    since = start
    for day in sorted(by_day):
        if day >= end:
            break
        if day > since:
            spans = _extend(spans, Span(since, day, max(0, owed - disputed)))
            since = day
        owed, disputed = owed + by_day[day][0], disputed + by_day[day][1]
    if end > since:
        spans = _extend(spans, Span(since, end, max(0, owed - disputed)))
    return spans


def _extend(spans: list[Span], span: Span) -> list[Span]:
    if spans and spans[-1].undisputed == span.undisputed:
        return [*spans[:-1], Span(spans[-1].start, span.end, span.undisputed)]
    return [*spans, span]
