"""Reconciling the ledger with Stripe over a period."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from pydantic import Field, model_validator

from api import tabular_layouts
from api.deps import CommandDep, ServicesDep
from api.fields import Day
from api.idempotency import Reply
from api.schemas import Command
from api.tabular import CREATED_RESPONSES, FormatDep, convert
from channels.reconcile_report import report_json

router = APIRouter(tags=["stripe"])


class ReconciliationCreate(Command):
    start: Day = Field(alias="from", description="first day, UTC")
    end: Day = Field(alias="to", description="last day, UTC, inclusive")

    @model_validator(mode="after")
    def _ordered(self) -> ReconciliationCreate:
        if self.end < self.start:
            raise ValueError("'to' is before 'from'")
        return self


@router.post("/v1/reconciliations/stripe", status_code=201, responses=CREATED_RESPONSES)
def reconcile_stripe(
    body: ReconciliationCreate, svc: ServicesDep, ctx: CommandDep, fmt: FormatDep
) -> Response:
    """Compare Stripe's payments, refunds and payouts in the period with the ledger: each
    row matched, missing on one side (what Stripe has and the ledger lacks is recorded
    now, and allocated when its metadata names the invoice), or mismatched in amount or
    status, with what to do about it. The run is a ``reconciliation.completed`` event."""

    def command() -> Reply:
        run_id = ctx.id_for("reconciliation")
        report, position = svc.stripe.reconciler().run(body.start, body.end, run_id, ctx.stamp())
        body_json: dict[str, Any] = report_json(report, str(run_id), position)
        return Reply(201, body_json)

    return convert(fmt, ctx.run(body, command), tabular_layouts.reconciliation)
