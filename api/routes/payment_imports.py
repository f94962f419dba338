"""A file of payments (CSV or XLSX: an opening book's payments, a billing system's
receipts) recorded in one call: what ``arledger import payments`` does, over HTTP
(``channels/payment_file.py`` reads it, ``ledger/bulk_payments.py`` records it)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import CommandDep, ServicesDep
from api.idempotency import Reply
from api.problems import problem_body
from api.routes.file_import import imported
from api.schemas_batch import PaymentImport, PaymentImportResult, PaymentImportRow
from channels import payment_file
from channels.account_refs import account_refs
from ledger.bulk_payments import STATUSES, PaymentOutcome
from ledger.errors import InvalidRequest

router = APIRouter(prefix="/v1/payments", tags=["payments"])


@router.post("/imports", response_model=PaymentImportResult)
def import_payments(body: PaymentImport, svc: ServicesDep, ctx: CommandDep) -> JSONResponse:
    """Record every payment of a file (an opening book's payments, a billing system's
    receipts): each row is read and checked on its own, recorded (and allocated to its
    `invoice_number`, when it names one), found `already` in the ledger with the same
    figures (the same file again, or one cut short and sent again, records nothing
    twice), or refused with its line and a problem object, nothing of it recorded. A
    file that cannot be read at all (no header, a required column missing, not CSV
    UTF-8 or XLSX) is a 422 and nothing is recorded. `account_ref` names an account by
    its `external_ref`, as `POST /v1/invoices/imports` does."""

    def command() -> Reply:
        refs = account_refs(svc.pool, svc.ledger)
        return imported(
            body,
            lambda content: payment_file.read_content(
                body.filename, content, ctx.stamp(), refs.account_for, body.sheet
            ),
            svc.ledger.bulk_payments.record_payments,
            lambda row, outcome: _item(row, outcome, ctx.request.url.path),
            PaymentImportResult,
            STATUSES,
            svc.ledger.head_position,
        )

    return ctx.run(body, command)


def _item(row: payment_file.Row, outcome: PaymentOutcome | None, instance: str) -> PaymentImportRow:
    if outcome is None:  # the row could not be read: it never reached the ledger
        problem = problem_body(InvalidRequest(row.refused or "the row cannot be read"), instance)
        return PaymentImportRow(
            line=row.line,
            account=row.account,
            external_ref=row.external_ref,
            status="refused",
            problem=problem,
        )
    return PaymentImportRow(
        line=row.line,
        account=row.account,
        account_id=row.command.payment.account_id if row.command else None,
        external_ref=row.external_ref,
        status=outcome.status,  # type: ignore[arg-type]  # one of the three, by construction
        payment_id=outcome.payment_id,
        problem=None if outcome.error is None else problem_body(outcome.error, instance),
    )
