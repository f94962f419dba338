"""Promises to pay and payment plans: recorded here, decided by the scheduler as their
dates pass."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.command_schemas import ArrangementCancel, PaymentPlanCreate, PromiseCreate
from api.deps import CommandDep, PrincipalDep, ServicesDep
from api.routes.shaping import today
from api.schemas import InstalmentOut, MoneyModel, PaymentPlanPublic, PromisePublic
from ledger.commands import AgreePaymentPlan, CancelArrangement, MakePromise
from ledger.payment_plan import PaymentPlan
from ledger.promise import Promise

router = APIRouter(tags=["arrangements"])


def promise_public(promise: Promise, position: int | None = None) -> PromisePublic:
    return PromisePublic(
        id=promise.id,
        account_id=promise.account_id,
        amount=MoneyModel.of(promise.amount),
        made_on=promise.made_on,
        promised_on=promise.promised_on,
        invoice_ids=promise.invoice_ids,
        status=promise.status,  # type: ignore[arg-type]
        paid=MoneyModel.of(promise.paid) if promise.paid else None,
        position=position,
    )


def plan_public(plan: PaymentPlan, position: int | None = None) -> PaymentPlanPublic:
    outcomes = plan.outcomes + [None] * (len(plan.instalments) - len(plan.outcomes))
    return PaymentPlanPublic(
        id=plan.id,
        account_id=plan.account_id,
        invoice_ids=plan.invoice_ids,
        starts_on=plan.starts_on,
        missed_allowed=plan.missed_allowed,
        instalments=[
            InstalmentOut(due_on=i["due_on"], amount=MoneyModel.of(i["amount"]), outcome=o)  # type: ignore[arg-type]
            for i, o in zip(plan.instalments, outcomes, strict=True)
        ],
        status=plan.status,  # type: ignore[arg-type]
        position=position,
    )


@router.post("/v1/accounts/{account_id}/promises", status_code=201, response_model=PromisePublic)
def make_promise(
    account_id: UUID, body: PromiseCreate, svc: ServicesDep, ctx: CommandDep
) -> JSONResponse:
    """Record a promise to pay; the scheduler marks it kept or broken."""
    return ctx.save(
        body,
        lambda: svc.ledger.make_promise(
            MakePromise(
                account_id=account_id,
                promise_id=ctx.id_for("promise"),
                amount=body.amount.to_money(),
                made_on=body.made_on or today(),
                promised_on=body.promised_on,
                stamp=ctx.stamp(),
                invoice_ids=tuple(body.invoice_ids),
                notes=body.notes,
            )
        ),
        promise_public,
        status=201,
    )


@router.post(
    "/v1/accounts/{account_id}/payment-plans", status_code=201, response_model=PaymentPlanPublic
)
def agree_payment_plan(
    account_id: UUID, body: PaymentPlanCreate, svc: ServicesDep, ctx: CommandDep
) -> JSONResponse:
    """Agree instalments over invoices (never more than they owe, dates increasing)."""
    return ctx.save(
        body,
        lambda: svc.ledger.agree_payment_plan(
            AgreePaymentPlan(
                account_id=account_id,
                plan_id=ctx.id_for("payment-plan"),
                invoice_ids=tuple(body.invoice_ids),
                instalments=tuple((i.due_on, i.amount.to_money()) for i in body.instalments),
                starts_on=body.starts_on or today(),
                stamp=ctx.stamp(),
                missed_allowed=body.missed_allowed,
            )
        ),
        plan_public,
        status=201,
    )


@router.get("/v1/promises/{promise_id}", response_model=PromisePublic)
def get_promise(promise_id: UUID, svc: ServicesDep, _: PrincipalDep) -> PromisePublic:
    """The promise and, once decided, whether it was kept (from the store)."""
    return promise_public(svc.ledger.get_promise(promise_id))


@router.get("/v1/payment-plans/{plan_id}", response_model=PaymentPlanPublic)
def get_payment_plan(plan_id: UUID, svc: ServicesDep, _: PrincipalDep) -> PaymentPlanPublic:
    """The plan with each instalment's outcome so far (from the store)."""
    return plan_public(svc.ledger.get_plan(plan_id))


@router.post("/v1/promises/{promise_id}/cancel", response_model=PromisePublic)
def cancel_promise(
    promise_id: UUID, body: ArrangementCancel, svc: ServicesDep, ctx: CommandDep
) -> JSONResponse:
    """Cancel an open promise, with a reason."""
    return ctx.save(
        body,
        lambda: svc.ledger.cancel_arrangement(
            CancelArrangement(arrangement_id=promise_id, reason=body.reason, stamp=ctx.stamp())
        ),
        lambda promise, position: promise_public(promise, position),
    )


@router.post("/v1/payment-plans/{plan_id}/cancel", response_model=PaymentPlanPublic)
def cancel_payment_plan(
    plan_id: UUID, body: ArrangementCancel, svc: ServicesDep, ctx: CommandDep
) -> JSONResponse:
    """Cancel an active payment plan, with a reason."""
    return ctx.save(
        body,
        lambda: svc.ledger.cancel_arrangement(
            CancelArrangement(arrangement_id=plan_id, reason=body.reason, stamp=ctx.stamp())
        ),
        lambda plan, position: plan_public(plan, position),
    )
