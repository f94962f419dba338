"""The chase: disputes on invoices, and dunning notices that say what they rested on."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.command_schemas import (
    DisputeCreate,
    DisputeResolution,
    DocumentSend,
    LateChargeCreate,
    LateFeePolicyCreate,
    NoticeCreate,
)
from api.deps import CommandDep, ServicesDep
from api.idempotency import Reply
from api.routes.shaping import account_public, invoice_public, payment_public, today
from api.schemas import (
    AccountPublic,
    DisputePublic,
    InvoicePublic,
    MoneyModel,
    NoticeInvoice,
    NoticePublic,
    PaymentPublic,
)
from ledger.commands import (
    ChargeLateFee,
    DisputeInvoice,
    IssueNotice,
    ResolveDispute,
    SendDocument,
    SetLateFeePolicy,
)

router = APIRouter(tags=["collections"])


@router.post("/v1/invoices/{invoice_id}/sends", status_code=201, response_model=InvoicePublic)
def send_invoice(
    invoice_id: UUID, body: DocumentSend, svc: ServicesDep, ctx: CommandDep
) -> JSONResponse:
    """Send the invoice to the client by email, post or the portal; again is a resend."""
    return ctx.save(
        body,
        lambda: svc.ledger.send_invoice(
            SendDocument(invoice_id, body.channel, ctx.stamp(), body.recipient)
        ),
        invoice_public,
        status=201,
    )


@router.post("/v1/payments/{payment_id}/receipts", status_code=201, response_model=PaymentPublic)
def send_receipt(
    payment_id: UUID, body: DocumentSend, svc: ServicesDep, ctx: CommandDep
) -> JSONResponse:
    """Send the client a receipt for a succeeded payment."""
    return ctx.save(
        body,
        lambda: svc.ledger.send_receipt(
            SendDocument(payment_id, body.channel, ctx.stamp(), body.recipient)
        ),
        payment_public,
        status=201,
    )


@router.post("/v1/invoices/{invoice_id}/disputes", status_code=201, response_model=DisputePublic)
def dispute_invoice(
    invoice_id: UUID, body: DisputeCreate, svc: ServicesDep, ctx: CommandDep
) -> JSONResponse:
    """The client disputes part or all of an invoice: still owed, no longer chased."""
    dispute_id = str(ctx.id_for("dispute"))

    def command() -> Reply:
        saved = svc.ledger.dispute_invoice(
            DisputeInvoice(
                invoice_id=invoice_id,
                dispute_id=dispute_id,
                amount=body.amount.to_money(),
                reason=body.reason,
                stamp=ctx.stamp(),
            )
        )
        reply = DisputePublic(
            id=dispute_id, invoice=invoice_public(saved.aggregate), position=saved.position
        )
        return Reply(201, reply.model_dump(mode="json"))

    return ctx.run(body, command)


@router.post(
    "/v1/invoices/{invoice_id}/disputes/{dispute_id}/resolve", response_model=InvoicePublic
)
def resolve_dispute(
    invoice_id: UUID,
    dispute_id: str,
    body: DisputeResolution,
    svc: ServicesDep,
    ctx: CommandDep,
) -> JSONResponse:
    """Upheld: a credit note for what was disputed. Rejected: collection resumes."""
    return ctx.save(
        body,
        lambda: svc.ledger.resolve_dispute(
            ResolveDispute(
                invoice_id=invoice_id,
                dispute_id=dispute_id,
                upheld=body.outcome == "upheld",
                reason=body.reason,
                resolved_on=body.resolved_on,
                stamp=ctx.stamp(),
                credit=body.credit.to_money() if body.credit else None,
            )
        ),
        invoice_public,
    )


@router.post("/v1/accounts/{account_id}/notices", status_code=201, response_model=NoticePublic)
def issue_notice(
    account_id: UUID, body: NoticeCreate, svc: ServicesDep, ctx: CommandDep
) -> JSONResponse:
    """A reminder, final demand or default notice: only on overdue, undisputed invoices,
    stages in order, never while the account is on hold, terminated or insolvent. The
    reply (and the event) lists what the notice rested on."""
    notice_id = str(ctx.id_for("notice"))

    def command() -> Reply:
        saved = svc.ledger.issue_notice(
            IssueNotice(
                account_id=account_id,
                notice_id=notice_id,
                stage=body.stage,
                channel=body.channel,
                notice_on=body.notice_on or today(),
                stamp=ctx.stamp(),
                invoice_ids=tuple(body.invoice_ids or ()),
            )
        )
        notice = saved.aggregate
        reply = NoticePublic(
            id=notice.notice_id,
            account_id=notice.account_id,
            stage=notice.stage,
            channel=notice.channel,
            notice_on=notice.notice_on,
            invoices=[
                NoticeInvoice(
                    **{
                        **row,
                        **{k: MoneyModel.of(row[k]) for k in ("outstanding", "disputed", "chased")},
                    }
                )
                for row in notice.invoices
            ],
            total_chased=MoneyModel.of(notice.total_chased),
            position=saved.position,
        )
        return Reply(201, reply.model_dump(mode="json"))

    return ctx.run(body, command)


@router.post("/v1/accounts/{account_id}/late-fee-policy", response_model=AccountPublic)
def set_late_fee_policy(
    account_id: UUID, body: LateFeePolicyCreate, svc: ServicesDep, ctx: CommandDep
) -> JSONResponse:
    """Configure late-payment charges for the account: a fee and/or annual interest."""
    return ctx.save(
        body,
        lambda: svc.ledger.set_late_fee_policy(
            SetLateFeePolicy(
                account_id=account_id,
                interest_rate_bps=body.interest_rate_bps,
                grace_days=body.grace_days,
                stamp=ctx.stamp(),
                fixed_fee=body.fixed_fee.to_money() if body.fixed_fee else None,
            )
        ),
        account_public,
    )


@router.post(
    "/v1/invoices/{invoice_id}/late-charges", status_code=201, response_model=InvoicePublic
)
def charge_late_fee(
    invoice_id: UUID, body: LateChargeCreate, svc: ServicesDep, ctx: CommandDep
) -> JSONResponse:
    """Raise a separate late-payment charge (a new invoice) under the account's policy;
    the same period is never charged twice."""
    return ctx.save(
        body,
        lambda: svc.ledger.charge_late_fee(
            ChargeLateFee(invoice_id=invoice_id, charge_on=body.charge_on, stamp=ctx.stamp())
        ),
        invoice_public,
        status=201,
    )
