"""Invoices: raise one, read one."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.command_schemas import CreditNoteCreate, InvoiceCreate, InvoiceVoid
from api.deps import CommandDep, MinPositionDep, PrincipalDep, ServicesDep
from api.routes.shaping import invoice_public, invoice_row_public, refuse_if_held
from api.schemas import InvoicePublic
from ledger.commands import IssueCreditNote, RaiseInvoice, VoidInvoice
from ledger.errors import UnknownInvoice
from projections import queries
from projections.balances import NAME as BALANCES

router = APIRouter(prefix="/v1/invoices", tags=["invoices"])


@router.post("", status_code=201, response_model=InvoicePublic)
def raise_invoice(body: InvoiceCreate, svc: ServicesDep, ctx: CommandDep) -> JSONResponse:
    """Raise an invoice on an account; its number is unique on that account."""

    return ctx.save(
        body,
        lambda: svc.ledger.raise_invoice(
            RaiseInvoice(
                account_id=body.account_id,
                number=body.number,
                amount=body.amount.to_money(),
                issued_on=body.issued_on,
                due_on=body.due_on,
                description=body.description,
                stamp=ctx.stamp(),
            )
        ),
        invoice_public,
        status=201,
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
