"""Payments: record one, allocate it to invoices."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.command_schemas import AllocationCreate, PaymentCreate, PaymentOutcome
from api.deps import CommandDep, PrincipalDep, ServicesDep
from api.idempotency import Reply
from api.routes.shaping import payment_public
from api.schemas import AllocationPublic, AllocationRow, MoneyModel, PaymentPublic
from ledger.commands import AllocatePayment, RecordPayment, RecordPaymentOutcome

router = APIRouter(prefix="/v1/payments", tags=["payments"])


@router.post("", status_code=201, response_model=PaymentPublic)
def record_payment(body: PaymentCreate, svc: ServicesDep, ctx: CommandDep) -> JSONResponse:
    """Record a payment received (or attempted) from a client."""

    return ctx.save(
        body,
        lambda: svc.ledger.record_payment(
            RecordPayment(
                account_id=body.account_id,
                amount=body.amount.to_money(),
                method=body.method,
                received_on=body.received_on,
                reference=body.reference,
                status=body.status,
                failure_code=body.failure_code,
                failure_message=body.failure_message,
                stamp=ctx.stamp(),
                payment_id=ctx.id_for("payment"),
                purpose=body.purpose,
            )
        ),
        payment_public,
        status=201,
    )


@router.post("/{payment_id}/outcome", status_code=200, response_model=PaymentPublic)
def record_outcome(
    payment_id: UUID, body: PaymentOutcome, svc: ServicesDep, ctx: CommandDep
) -> JSONResponse:
    """A pending payment succeeded (its cash can then be allocated) or failed."""

    return ctx.save(
        body,
        lambda: svc.ledger.record_payment_outcome(
            RecordPaymentOutcome(
                payment_id=payment_id,
                status=body.status,
                failure_code=body.failure_code,
                failure_message=body.failure_message,
                stamp=ctx.stamp(),
            )
        ),
        payment_public,
    )


@router.post("/{payment_id}/allocations", status_code=201, response_model=AllocationPublic)
def allocate_payment(
    payment_id: UUID, body: AllocationCreate, svc: ServicesDep, ctx: CommandDep
) -> JSONResponse:
    """Apply a payment to invoices: the given split, or oldest-first by due date."""

    def command() -> Reply:
        rows = tuple((row.invoice_id, row.amount.to_money()) for row in body.allocations or ())
        result = svc.ledger.allocate_payment(
            AllocatePayment(
                payment_id=payment_id,
                request_id=str(ctx.id_for("allocation")),
                stamp=ctx.stamp(),
                allocations=rows,
                strategy=body.strategy or "explicit",
            )
        )
        reply = AllocationPublic(
            payment_id=payment_id,
            allocations=[
                AllocationRow(invoice_id=i, amount=MoneyModel.of(a)) for i, a in result.allocations
            ],
            unallocated=MoneyModel.of(result.payment.unallocated),
            position=result.position,
        )
        return Reply(201, reply.model_dump(mode="json"))

    return ctx.run(body, command)


@router.get("/{payment_id}", response_model=PaymentPublic)
def get_payment(payment_id: UUID, svc: ServicesDep, _: PrincipalDep) -> PaymentPublic:
    """The payment, what is allocated and what is not, from the store (always current)."""
    return payment_public(svc.ledger.get_payment(payment_id))
