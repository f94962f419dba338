"""A file of invoices (CSV or XLSX) raised in one call: what ``arledger import invoices``
does, over HTTP (``channels/invoice_file.py`` reads it, ``ledger/bulk.py`` raises it)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import CommandDep, ServicesDep
from api.idempotency import Reply
from api.problems import problem_body
from api.routes.file_import import imported
from api.schemas_batch import InvoiceImport, InvoiceImportResult, InvoiceImportRow
from channels import invoice_file
from channels.account_refs import account_refs
from ledger.bulk import STATUSES, Outcome
from ledger.errors import InvalidRequest

router = APIRouter(prefix="/v1/invoices", tags=["invoices"])


@router.post("/imports", response_model=InvoiceImportResult)
def import_invoices(body: InvoiceImport, svc: ServicesDep, ctx: CommandDep) -> JSONResponse:
    """Raise every invoice of a file (a billing system's export, an opening book): each
    row is read and checked on its own, raised, found `already` in the ledger (the same
    file again, or one cut short and sent again, raises nothing twice), or refused with
    its line and a problem object. A file that cannot be read at all (no header, a
    required column missing, not CSV UTF-8 or XLSX) is a 422 and nothing is raised.
    `account_ref` names an account by its `external_ref`: from the balances read model,
    or an account an opening book has just opened (`POST /v1/accounts/imports`)."""

    def command() -> Reply:
        refs = account_refs(svc.pool, svc.ledger)
        return imported(
            body,
            lambda content: invoice_file.read_content(
                body.filename, content, ctx.stamp(), refs.account_for, body.sheet
            ),
            svc.ledger.bulk.raise_invoices,
            lambda row, outcome: _item(row, outcome, ctx.request.url.path),
            InvoiceImportResult,
            STATUSES,
            svc.ledger.head_position,
        )

    return ctx.run(body, command)


def _item(row: invoice_file.Row, outcome: Outcome | None, instance: str) -> InvoiceImportRow:
    if outcome is None:  # the row could not be read: it never reached the ledger
        problem = problem_body(InvalidRequest(row.refused or "the row cannot be read"), instance)
        return InvoiceImportRow(
            line=row.line, account=row.account, number=row.number, status="refused", problem=problem
        )
    return InvoiceImportRow(
        line=row.line,
        account=row.account,
        account_id=row.command.account_id if row.command else None,
        number=row.number,
        status=outcome.status,  # type: ignore[arg-type]  # one of the three, by construction
        invoice_id=outcome.invoice_id,
        problem=None if outcome.error is None else problem_body(outcome.error, instance),
    )
