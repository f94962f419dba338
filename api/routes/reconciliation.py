"""Reconciling the ledger with Stripe over a period, and the runs as recorded."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Query, Response
from pydantic import Field, model_validator

from api import tabular_layouts, tabular_runs
from api.deps import CommandDep, PrincipalDep, ServicesDep
from api.fields import Day
from api.idempotency import Reply
from api.problems import ApiProblem
from api.schemas import Command
from api.schemas_runs import ReconciliationRun, ReconciliationRuns, ReconciliationRunSummary
from api.tabular import CREATED_RESPONSES, JSON, RESPONSES, FormatDep, convert, respond
from channels.reconcile import RecordedRun, recorded_run, recorded_runs
from channels.reconcile_report import report_json
from ledger.limits import POSITION_MAX

router = APIRouter(tags=["stripe"])
RUNS_PAGE_MAX = 500


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


RunsLimit = Annotated[int, Query(ge=1, le=RUNS_PAGE_MAX, description="runs on a page")]


def _run_body(run: RecordedRun) -> ReconciliationRun:
    counts, listed = run.split_counts()
    return ReconciliationRun(
        run_id=run.run_id,
        channel=run.channel,
        start=run.start,
        end=run.end,
        listed=listed,
        counts=counts,
        findings=run.findings,
        position=run.position,
        recorded_at=run.recorded_at,
        actor=run.actor,
    )


@router.get("/v1/reconciliations", response_model=ReconciliationRuns, responses=RESPONSES)
def list_runs(
    svc: ServicesDep,
    _: PrincipalDep,
    fmt: FormatDep,
    channel: Annotated[
        Literal["stripe", "bank"] | None, Query(description="only this channel's")
    ] = None,
    before: Annotated[
        int | None, Query(ge=1, le=POSITION_MAX, description="a page cursor: `next_before`")
    ] = None,
    limit: RunsLimit = 50,
) -> ReconciliationRuns | Response:
    """The reconciliation runs recorded (Stripe's, and bank statement imports), newest
    first, read from the event store; page on with ``before=next_before``."""
    with svc.pool.connection() as conn:
        found = recorded_runs(svc.ledger, conn, channel, before, limit)
    page = ReconciliationRuns(
        runs=[
            ReconciliationRunSummary(
                run_id=r.run_id,
                channel=r.channel,
                start=r.start,
                end=r.end,
                counts=r.split_counts()[0],
                findings_recorded=len(r.findings),
                position=r.position,
                recorded_at=r.recorded_at,
                actor=r.actor,
            )
            for r in found
        ],
        next_before=found[-1].position if len(found) == limit else None,
    )
    if fmt == JSON:
        return page
    return respond(fmt, tabular_runs.runs(page.model_dump(mode="json", by_alias=True), channel))


@router.get("/v1/reconciliations/{run_id}", response_model=ReconciliationRun, responses=RESPONSES)
def get_run(
    run_id: UUID, svc: ServicesDep, _: PrincipalDep, fmt: FormatDep
) -> ReconciliationRun | Response:
    """A run as it was recorded: its period, who ran it and when, the counts by kind
    and what the channel listed, and the findings kept, each as the run's reply had it
    (for Stripe, all but the matched rows; the payouts are not recorded). CSV and XLSX
    as the run's own reply, less the payouts."""
    with svc.pool.connection() as conn:
        run = recorded_run(svc.ledger, conn, run_id)
    if run is None:
        raise ApiProblem(404, "not-found", "Not found", f"no reconciliation run has id {run_id}")
    body = _run_body(run)
    if fmt == JSON:
        return body
    return respond(fmt, tabular_runs.recorded_run(body.model_dump(mode="json", by_alias=True)))
