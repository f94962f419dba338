"""Taking money back off invoices: un-allocation, refunds, bank returns, chargebacks.
Each may be given an ``external_id`` (Stripe's refund or dispute id, the bank's return
reference): the same external id twice is one reversal."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.command_schemas import (
    ChargebackClose,
    ChargebackCreate,
    DepositForfeit,
    PaymentReturn,
    RefundCreate,
    UnallocationCreate,
)
from api.deps import CommandContext, CommandDep, ServicesDep
from api.routes.shaping import payment_public
from api.schemas import PaymentPublic
from ledger.commands import (
    CloseChargeback,
    ForfeitDeposit,
    OpenChargeback,
    RefundPayment,
    ReturnPayment,
    UnallocatePayment,
)

router = APIRouter(prefix="/v1/payments", tags=["payments"])


def _request_id(ctx: CommandContext, purpose: str, external_id: str | None) -> str:
    """The id that makes a repeat a no-op: the external one when given (a webhook
    redelivered under another key), else the Idempotency-Key's."""
    return f"ext:{external_id}" if external_id else str(ctx.id_for(purpose))


@router.post("/{payment_id}/unallocations", status_code=201, response_model=PaymentPublic)
def unallocate(
    payment_id: UUID, body: UnallocationCreate, svc: ServicesDep, ctx: CommandDep
) -> JSONResponse:
    """Take back allocations (some, or all): the invoices owe again, the cash is free to
    allocate again."""
    rows = tuple((row.invoice_id, row.amount.to_money()) for row in body.allocations or ())
    return ctx.save(
        body,
        lambda: svc.ledger.unallocate_payment(
            UnallocatePayment(
                payment_id=payment_id,
                request_id=str(ctx.id_for("unallocation")),
                reason=body.reason,
                stamp=ctx.stamp(),
                allocations=rows,
            )
        ),
        payment_public,
        status=201,
    )


@router.post("/{payment_id}/refunds", status_code=201, response_model=PaymentPublic)
def refund(payment_id: UUID, body: RefundCreate, svc: ServicesDep, ctx: CommandDep) -> JSONResponse:
    """Pay cash back to the client: unallocated cash, or with ``reverse_allocations`` the
    newest allocations too."""
    return ctx.save(
        body,
        lambda: svc.ledger.refund_payment(
            RefundPayment(
                payment_id=payment_id,
                request_id=_request_id(ctx, "refund", body.external_id),
                amount=body.amount.to_money(),
                reason=body.reason,
                refunded_on=body.refunded_on,
                stamp=ctx.stamp(),
                reverse_allocations=body.reverse_allocations,
            )
        ),
        payment_public,
        status=201,
    )


@router.post("/{payment_id}/return", response_model=PaymentPublic)
def return_payment(
    payment_id: UUID, body: PaymentReturn, svc: ServicesDep, ctx: CommandDep
) -> JSONResponse:
    """The bank took a succeeded payment back: every allocation is reversed and the
    invoices it paid are reopened."""
    return ctx.save(
        body,
        lambda: svc.ledger.return_payment(
            ReturnPayment(
                payment_id=payment_id,
                request_id=_request_id(ctx, "return", body.external_id),
                return_code=body.return_code,
                returned_on=body.returned_on,
                stamp=ctx.stamp(),
                reason=body.reason,
            )
        ),
        payment_public,
    )


@router.post("/{payment_id}/chargebacks", status_code=201, response_model=PaymentPublic)
def open_chargeback(
    payment_id: UUID, body: ChargebackCreate, svc: ServicesDep, ctx: CommandDep
) -> JSONResponse:
    """The card scheme took money back pending a dispute; allocations are reversed, newest
    first, for what unallocated cash does not cover. The reply lists open chargebacks."""
    return ctx.save(
        body,
        lambda: svc.ledger.open_chargeback(
            OpenChargeback(
                payment_id=payment_id,
                chargeback_id=_request_id(ctx, "chargeback", body.external_id),
                amount=body.amount.to_money(),
                reason=body.reason,
                opened_on=body.opened_on,
                stamp=ctx.stamp(),
            )
        ),
        payment_public,
        status=201,
    )


@router.post("/{payment_id}/chargebacks/{chargeback_id}/close", response_model=PaymentPublic)
def close_chargeback(
    payment_id: UUID,
    chargeback_id: str,
    body: ChargebackClose,
    svc: ServicesDep,
    ctx: CommandDep,
) -> JSONResponse:
    """Won: the money returns to the payment, unallocated. Lost: it stays with the client."""
    return ctx.save(
        body,
        lambda: svc.ledger.close_chargeback(
            CloseChargeback(
                payment_id=payment_id,
                chargeback_id=chargeback_id,
                won=body.outcome == "won",
                reason=body.reason,
                stamp=ctx.stamp(),
            )
        ),
        payment_public,
    )


@router.post("/{payment_id}/forfeit", response_model=PaymentPublic)
def forfeit_deposit(
    payment_id: UUID, body: DepositForfeit, svc: ServicesDep, ctx: CommandDep
) -> JSONResponse:
    """Keep part or all of a deposit's unallocated cash (it stops being the client's)."""
    return ctx.save(
        body,
        lambda: svc.ledger.forfeit_deposit(
            ForfeitDeposit(
                payment_id=payment_id,
                request_id=str(ctx.id_for("forfeit")),
                amount=body.amount.to_money(),
                reason=body.reason,
                stamp=ctx.stamp(),
            )
        ),
        payment_public,
    )
