"""A reconciliation run: the ledger compared with a payment channel (Stripe) over a
period, with every difference found and what was done about it. Recorded once, as it
was run; a later run over the same period is another event."""

from __future__ import annotations

from datetime import date
from typing import Any, ClassVar

from eventsourcing.domain import Aggregate, event

from ledger.stamp import Stamp


class Reconciliation(Aggregate):
    class Completed(Aggregate.Created):
        """A run over ``period_start`` to ``period_end``: what was compared, and found."""

        cloudevent_type: ClassVar[str] = "arledger.reconciliation.completed"
        channel: str
        period_start: date
        period_end: date
        counts: dict[str, Any]
        findings: list[dict[str, Any]]
        stamp: Stamp

    @event(Completed)
    def __init__(
        self,
        channel: str,
        period_start: date,
        period_end: date,
        counts: dict[str, Any],
        findings: list[dict[str, Any]],
        stamp: Stamp,
    ) -> None:
        self.channel = channel
        self.period_start = period_start
        self.period_end = period_end
        self.counts = counts
        self.findings = findings
