"""What the reports' routes share: their query parameters, the period problem, and
amounts as money."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from fastapi import Query

from api.fields import Moment
from api.schemas import MoneyModel
from ledger.money import Money

Currency = Annotated[str, Query(description="ISO 4217 code: one currency per report")]
KnownAt = Annotated[
    Moment | None,
    Query(
        description="the report as the ledger stood at this moment (UTC): the events "
        "committed by then, in commit order"
    ),
]


def money_model(amount: int, currency: str) -> MoneyModel:
    return MoneyModel.of(Money(amount, currency))


def ratio(value: Decimal | None) -> float | None:
    """A ratio as JSON has it (``None`` when there was nothing to divide by)."""
    return None if value is None else float(value)
