"""A file of accounts (CSV or XLSX: an opening book's accounts) opened in one call: what
``arledger import accounts`` does, over HTTP (``channels/account_file.py`` reads it,
``ledger/bulk_accounts.py`` opens it)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import CommandDep, ServicesDep
from api.idempotency import Reply
from api.problems import problem_body
from api.routes.file_import import imported
from api.schemas_batch import AccountImport, AccountImportResult, AccountImportRow
from channels import account_file
from channels.account_refs import account_refs
from ledger.bulk_accounts import STATUSES, AccountOutcome
from ledger.errors import InvalidRequest

router = APIRouter(prefix="/v1/accounts", tags=["accounts"])


@router.post("/imports", response_model=AccountImportResult)
def import_accounts(body: AccountImport, svc: ServicesDep, ctx: CommandDep) -> JSONResponse:
    """Open every account of a file (an opening book's, when a company moves to
    arledger): each row is read and checked on its own, opened, found `already` in the
    ledger with the same details (the same file again, or one cut short and sent again,
    opens nothing twice), or refused with its line and a problem object: a row without
    an `external_ref`, one whose reference an earlier row gave, one whose account is in
    the ledger with other details (`duplicate-external-ref`, naming the `fields`), or
    one whose reference another account goes by already. A file that cannot be read at
    all is a 422 and nothing is opened. The file's invoices may then name these accounts
    by `account_ref` at once (`POST /v1/invoices/imports`)."""

    def command() -> Reply:
        return imported(
            body,
            lambda content: account_file.read_content(
                body.filename, content, ctx.stamp(), body.sheet
            ),
            lambda commands: svc.ledger.bulk_accounts.open_accounts(
                commands, taken=account_refs(svc.pool, svc.ledger).known
            ),
            lambda row, outcome: _item(row, outcome, ctx.request.url.path),
            AccountImportResult,
            STATUSES,
            svc.ledger.head_position,
        )

    return ctx.run(body, command)


def _item(row: account_file.Row, outcome: AccountOutcome | None, instance: str) -> AccountImportRow:
    if outcome is None:  # the row could not be read: it never reached the ledger
        problem = problem_body(InvalidRequest(row.refused or "the row cannot be read"), instance)
        return AccountImportRow(
            line=row.line,
            external_ref=row.external_ref,
            name=row.name,
            status="refused",
            problem=problem,
        )
    return AccountImportRow(
        line=row.line,
        external_ref=row.external_ref,
        name=row.name,
        status=outcome.status,  # type: ignore[arg-type]  # one of the three, by construction
        account_id=outcome.account_id,
        problem=None if outcome.error is None else problem_body(outcome.error, instance),
    )
