"""Invoices: raise one, read one."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import CommandDep, MinPositionDep, PrincipalDep, ServicesDep
from api.idempotency import Reply
from api.routes.shaping import invoice_public, invoice_row_public
from api.schemas import InvoiceCreate, InvoicePublic
from ledger.commands import RaiseInvoice
from ledger.errors import UnknownInvoice
from projections import queries

router = APIRouter(prefix="/v1/invoices", tags=["invoices"])


@router.post("", status_code=201, response_model=InvoicePublic)
def raise_invoice(body: InvoiceCreate, svc: ServicesDep, ctx: CommandDep) -> JSONResponse:
    """Raise an invoice on an account; its number is unique on that account."""

    def command() -> Reply:
        saved = svc.ledger.raise_invoice(
            RaiseInvoice(
                account_id=body.account_id,
                number=body.number,
                amount=body.amount.to_money(),
                issued_on=body.issued_on,
                due_on=body.due_on,
                description=body.description,
                stamp=ctx.stamp(),
            )
        )
        return Reply(201, invoice_public(saved.aggregate, saved.position).model_dump(mode="json"))

    return ctx.run(body, command)


@router.get("/{invoice_id}", response_model=InvoicePublic)
def get_invoice(
    invoice_id: UUID, svc: ServicesDep, _: PrincipalDep, __: MinPositionDep
) -> InvoicePublic:
    """The invoice with what is outstanding on it, from the balances read model."""
    with svc.pool.connection() as conn:
        row = queries.invoice(conn, invoice_id)
    if row is None:
        raise UnknownInvoice(
            f"no invoice {invoice_id} in the read model "
            "(pass min_position to wait for a new invoice)"
        )
    return invoice_row_public(row)
