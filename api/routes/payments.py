"""Payments: record one, or many at once; allocate one to invoices."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.command_schemas import AllocationCreate, PaymentCreate, PaymentOutcome
from api.deps import CommandDep, PrincipalDep, ServicesDep
from api.idempotency import Reply
from api.problems import problem_body
from api.routes.shaping import payment_public
from api.schemas import AllocationPublic, AllocationRow, MoneyModel, PaymentPublic
from api.schemas_batch import (
    PaymentBatchCreate,
    PaymentBatchEntry,
    PaymentBatchItem,
    PaymentBatchResult,
)
from ledger import bulk_payments
from ledger.bulk_payments import BatchPayment, payment_id_for
from ledger.commands import AllocatePayment, RecordPayment, RecordPaymentOutcome
from ledger.stamp import Stamp

router = APIRouter(prefix="/v1/payments", tags=["payments"])


@router.post("", status_code=201, response_model=PaymentPublic)
def record_payment(body: PaymentCreate, svc: ServicesDep, ctx: CommandDep) -> JSONResponse:
    """Record a payment received (or attempted) from a client."""

    return ctx.save(
        body,
        lambda: svc.ledger.record_payment(
            _command(body, ctx.stamp(), payment_id=ctx.id_for("payment"))
        ),
        payment_public,
        status=201,
    )


def _command(body: PaymentCreate, stamp: Stamp, payment_id: UUID | None = None) -> RecordPayment:
    return RecordPayment(
        account_id=body.account_id,
        amount=body.amount.to_money(),
        method=body.method,
        received_on=body.received_on,
        reference=body.reference,
        status=body.status,
        failure_code=body.failure_code,
        failure_message=body.failure_message,
        stamp=stamp,
        payment_id=payment_id,
        purpose=body.purpose,
    )


@router.post("/batch", response_model=PaymentBatchResult)
def record_payments(body: PaymentBatchCreate, svc: ServicesDep, ctx: CommandDep) -> JSONResponse:
    """Record many payments at once (a billing system's receipts, an opening book's
    payments), each allocated with it when it says what it pays: each is checked as
    `POST /v1/payments` and `POST /v1/payments/{id}/allocations` check one, and refused
    on its own with nothing of it recorded; the rest are recorded, up to 250 in one
    transaction. A payment's id follows from its account and `external_ref`: one already
    in the ledger with the same figures is `already`, so a batch sent again, or resumed,
    records nothing twice."""
    stamp = ctx.stamp()
    cmds = [_batch_payment(entry, stamp) for entry in body.payments]

    def command() -> Reply:
        outcomes = svc.ledger.bulk_payments.record_payments(cmds)
        instance = ctx.request.url.path
        result = PaymentBatchResult(
            **bulk_payments.counted(o.status for o in outcomes),
            position=bulk_payments.position_reached(outcomes) or svc.ledger.head_position(),
            items=[batch_item(cmds[o.index], o, instance) for o in outcomes],
        )
        return Reply(200, result.model_dump(mode="json"))

    return ctx.run(body, command)


def _batch_payment(entry: PaymentBatchEntry, stamp: Stamp) -> BatchPayment:
    return BatchPayment(
        payment=_command(entry, stamp),
        external_ref=entry.external_ref,
        allocations=tuple((r.invoice_id, r.amount.to_money()) for r in entry.allocations or ()),
        strategy=entry.strategy,
    )


def batch_item(
    cmd: BatchPayment, outcome: bulk_payments.PaymentOutcome, instance: str
) -> PaymentBatchItem:
    account_id = cmd.payment.account_id
    return PaymentBatchItem(
        index=outcome.index,
        status=outcome.status,  # type: ignore[arg-type]  # one of the three, by construction
        account_id=account_id,
        external_ref=cmd.external_ref,
        payment_id=outcome.payment_id or payment_id_for(account_id, cmd.external_ref),
        problem=None if outcome.error is None else problem_body(outcome.error, instance),
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
