"""Invoices: raise one, or many at once; read one."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.command_schemas import CreditNoteCreate, InvoiceCreate, InvoiceVoid
from api.deps import CommandDep, MinPositionDep, PrincipalDep, ServicesDep
from api.idempotency import Reply
from api.problems import problem_body
from api.routes.shaping import invoice_public, invoice_row_public, refuse_if_held
from api.schemas import InvoicePublic
from api.schemas_batch import InvoiceBatchCreate, InvoiceBatchItem, InvoiceBatchResult
from ledger.bulk import Outcome, counted, position_reached
from ledger.commands import IssueCreditNote, RaiseInvoice, VoidInvoice
from ledger.errors import UnknownInvoice
from ledger.invoice import invoice_id_for
from ledger.stamp import Stamp
from projections import queries
from projections.balances import NAME as BALANCES

router = APIRouter(prefix="/v1/invoices", tags=["invoices"])


@router.post("", status_code=201, response_model=InvoicePublic)
def raise_invoice(body: InvoiceCreate, svc: ServicesDep, ctx: CommandDep) -> JSONResponse:
    """Raise an invoice on an account; its number is unique on that account."""

    return ctx.save(
        body,
        lambda: svc.ledger.raise_invoice(_command(body, ctx.stamp())),
        invoice_public,
        status=201,
    )


def _command(body: InvoiceCreate, stamp: Stamp) -> RaiseInvoice:
    return RaiseInvoice(
        account_id=body.account_id,
        number=body.number,
        amount=body.amount.to_money(),
        issued_on=body.issued_on,
        due_on=body.due_on,
        description=body.description,
        stamp=stamp,
    )


@router.post("/batch", response_model=InvoiceBatchResult)
def raise_invoices(body: InvoiceBatchCreate, svc: ServicesDep, ctx: CommandDep) -> JSONResponse:
    """Raise many invoices at once (a month-end billing run, an opening book): each is
    checked as `POST /v1/invoices` checks one and refused on its own, the rest are raised,
    up to 250 in one transaction. An invoice already in the ledger with the same amount
    and dates is `already`, so a batch sent again, or resumed, raises nothing twice."""
    stamp = ctx.stamp()
    cmds = [_command(item, stamp) for item in body.invoices]

    def command() -> Reply:
        outcomes = svc.ledger.bulk.raise_invoices(cmds)
        instance = ctx.request.url.path
        items = [batch_item(cmds[o.index], o, instance) for o in outcomes]
        result = InvoiceBatchResult(
            **counted(o.status for o in outcomes),
            position=position_reached(outcomes) or svc.ledger.head_position(),
            items=items,
        )
        return Reply(200, result.model_dump(mode="json"))

    return ctx.run(body, command)


def batch_item(cmd: RaiseInvoice, outcome: Outcome, instance: str) -> InvoiceBatchItem:
    return InvoiceBatchItem(
        index=outcome.index,
        status=outcome.status,  # type: ignore[arg-type]  # one of the three, by construction
        account_id=cmd.account_id,
        number=cmd.number,
        invoice_id=outcome.invoice_id or invoice_id_for(cmd.account_id, cmd.number),
        problem=None if outcome.error is None else problem_body(outcome.error, instance),
    )


@router.get("/{invoice_id}", response_model=InvoicePublic)
def get_invoice(
    invoice_id: UUID, svc: ServicesDep, _: PrincipalDep, __: MinPositionDep
) -> InvoicePublic:
    """The invoice with what is outstanding on it, from the balances read model."""
    with svc.pool.connection() as conn:
        row = queries.invoice(conn, invoice_id)
        if row is not None:
            refuse_if_held(conn, BALANCES, row["account_id"])
    if row is None:
        raise UnknownInvoice(
            f"no invoice {invoice_id} in the read model "
            "(pass min_position to wait for a new invoice)"
        )
    return invoice_row_public(row)


@router.post("/{invoice_id}/credit-notes", status_code=201, response_model=InvoicePublic)
def issue_credit_note(
    invoice_id: UUID, body: CreditNoteCreate, svc: ServicesDep, ctx: CommandDep
) -> JSONResponse:
    """Credit part or all of what is outstanding, with a reason; replies with the invoice."""

    return ctx.save(
        body,
        lambda: svc.ledger.issue_credit_note(
            IssueCreditNote(
                invoice_id=invoice_id,
                amount=body.amount.to_money(),
                reason=body.reason,
                issued_on=body.issued_on,
                stamp=ctx.stamp(),
                credit_note_id=ctx.id_for("credit-note"),
            )
        ),
        invoice_public,
        status=201,
    )


@router.post("/{invoice_id}/void", response_model=InvoicePublic)
def void_invoice(
    invoice_id: UUID, body: InvoiceVoid, svc: ServicesDep, ctx: CommandDep
) -> JSONResponse:
    """Cancel an invoice raised in error (one with nothing allocated)."""

    return ctx.save(
        body,
        lambda: svc.ledger.void_invoice(
            VoidInvoice(invoice_id=invoice_id, reason=body.reason, stamp=ctx.stamp())
        ),
        invoice_public,
    )
