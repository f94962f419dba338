"""Write-offs of bad debt: requested on an invoice, applied at once within the caller's
authority, otherwise approved or rejected by a second person."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from api.command_schemas import WriteOffCreate, WriteOffDecision
from api.deps import AuditPositionDep, CommandDep, PrincipalDep, ServicesDep
from api.idempotency import Reply
from api.schemas import MoneyModel, WriteOffPublic
from ledger.commands import DecideWriteOff, RequestWriteOff
from ledger.money import Money
from ledger.write_off import WriteOff
from projections import write_off_queue

router = APIRouter(tags=["write-offs"])
PENDING_MAX = 1000


def write_off_public(write_off: WriteOff, position: int | None = None) -> WriteOffPublic:
    return WriteOffPublic(
        id=write_off.id,
        account_id=write_off.account_id,
        invoice_id=write_off.invoice_id,
        amount=MoneyModel.of(write_off.amount),
        reason=write_off.reason,
        requested_by=write_off.requested_by,
        status=write_off.status,  # type: ignore[arg-type]
        decided_by=write_off.decided_by,
        decision_reason=write_off.decision_reason,
        position=position,
    )


@router.post(
    "/v1/invoices/{invoice_id}/write-offs",
    status_code=201,
    response_model=WriteOffPublic,
    responses={202: {"description": "above the caller's limit: awaiting approval"}},
)
def request_write_off(
    invoice_id: UUID, body: WriteOffCreate, svc: ServicesDep, ctx: CommandDep
) -> JSONResponse:
    """Write off bad debt: 201 when applied at once (within the caller's limit), 202 when
    it waits for approval by someone else."""

    def command() -> Reply:
        saved = svc.ledger.request_write_off(
            RequestWriteOff(
                invoice_id=invoice_id,
                amount=body.amount.to_money(),
                reason=body.reason,
                role=ctx.who.role,
                stamp=ctx.stamp(),
                write_off_id=ctx.id_for("write-off"),
            )
        )
        status = 201 if saved.aggregate.status == "applied" else 202
        return Reply(
            status, write_off_public(saved.aggregate, saved.position).model_dump(mode="json")
        )

    return ctx.run(body, command)


@router.post("/v1/write-offs/{write_off_id}/approve", response_model=WriteOffPublic)
def approve_write_off(
    write_off_id: UUID, body: WriteOffDecision, svc: ServicesDep, ctx: CommandDep
) -> JSONResponse:
    """Approve a waiting write-off: not its requester, and within the approver's limit."""
    return _decide(write_off_id, body, svc, ctx, approve=True)


@router.post("/v1/write-offs/{write_off_id}/reject", response_model=WriteOffPublic)
def reject_write_off(
    write_off_id: UUID, body: WriteOffDecision, svc: ServicesDep, ctx: CommandDep
) -> JSONResponse:
    """Reject a waiting write-off, with a reason; the debt stays to be collected."""
    return _decide(write_off_id, body, svc, ctx, approve=False)


def _decide(
    write_off_id: UUID,
    body: WriteOffDecision,
    svc: ServicesDep,
    ctx: CommandDep,
    *,
    approve: bool,
) -> JSONResponse:
    return ctx.save(
        body,
        lambda: svc.ledger.decide_write_off(
            DecideWriteOff(
                write_off_id=write_off_id,
                approve=approve,
                role=ctx.who.role,
                stamp=ctx.stamp(),
                reason=body.reason,
            )
        ),
        write_off_public,
    )


@router.get("/v1/write-offs/{write_off_id}", response_model=WriteOffPublic)
def get_write_off(write_off_id: UUID, svc: ServicesDep, _: PrincipalDep) -> WriteOffPublic:
    """The write-off and its decision, from the store (always current)."""
    return write_off_public(svc.ledger.get_write_off(write_off_id))


class PendingWriteOff(BaseModel):
    id: UUID
    account_id: UUID
    account_name: str | None
    invoice_id: UUID
    invoice_number: str | None
    invoice_due_on: date | None
    invoice_outstanding: MoneyModel | None
    invoice_written_off: MoneyModel | None
    amount: MoneyModel
    reason: str
    requested_by: str
    requested_at: datetime


class PendingWriteOffs(BaseModel):
    write_offs: list[PendingWriteOff]
    position: int


@router.get("/v1/write-offs", response_model=PendingWriteOffs)
def pending_write_offs(
    svc: ServicesDep,
    _: PrincipalDep,
    position: AuditPositionDep,
    limit: Annotated[int, Query(ge=1, le=PENDING_MAX)] = 200,
) -> PendingWriteOffs:
    """The write-offs waiting for a decision, oldest first, each with its account and
    what its invoice owes (from the read models: pass `min_position` after a decision)."""
    with svc.pool.connection() as conn:
        rows = write_off_queue.pending(conn, limit)
    return PendingWriteOffs(write_offs=[_pending(r) for r in rows], position=position)


def _pending(r: dict[str, Any]) -> PendingWriteOff:
    data = r["data"]
    cur = (r["currency"] or data["amount"]["currency"]).strip()

    def owed(minor: int | None) -> MoneyModel | None:
        return None if minor is None else MoneyModel.of(Money(int(minor), cur))

    return PendingWriteOff(
        id=r["write_off_id"],
        account_id=r["account_id"],
        account_name=r["account_name"],
        invoice_id=data["invoice_id"],
        invoice_number=r["invoice_number"],
        invoice_due_on=r["due_on"],
        invoice_outstanding=owed(r["outstanding_minor"]),
        invoice_written_off=owed(r["written_off_minor"]),
        amount=MoneyModel.of(Money.parse(data["amount"])),
        reason=data["reason"],
        requested_by=data["requested_by"],
        requested_at=r["recorded_at"],
    )
