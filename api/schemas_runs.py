"""Reply bodies of reconciliation runs read back as recorded."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field


class ReconciliationRun(BaseModel):
    """A run as its ``reconciliation.completed`` event recorded it."""

    run_id: UUID
    channel: str = Field(description="stripe, or bank (a statement import)")
    start: date = Field(serialization_alias="from")
    end: date = Field(serialization_alias="to")
    listed: dict[str, Any] = Field(description="what the channel listed for the period")
    counts: dict[str, Any] = Field(description="rows by kind, matched ones included")
    findings: list[dict[str, Any]] = Field(
        description="the findings recorded: for Stripe, every row but the matched ones, "
        "each as the run's reply had it"
    )
    payouts: list[dict[str, Any]] | None = Field(
        default=None, description="not recorded with the run: always null here"
    )
    position: int
    recorded_at: datetime
    actor: str


class ReconciliationRunSummary(BaseModel):
    run_id: UUID
    channel: str
    start: date = Field(serialization_alias="from")
    end: date = Field(serialization_alias="to")
    counts: dict[str, Any]
    findings_recorded: int
    position: int
    recorded_at: datetime
    actor: str


class ReconciliationRuns(BaseModel):
    runs: list[ReconciliationRunSummary] = Field(description="newest first")
    next_before: int | None = Field(
        description="the next page: ask again with before=this; null on the last page"
    )
