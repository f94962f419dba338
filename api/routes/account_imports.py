"""A file of accounts (CSV or XLSX: an opening book's accounts) opened in one call: what
``arledger import accounts`` does, over HTTP (``channels/account_file.py`` reads it,
``ledger/bulk_accounts.py`` opens it)."""

from __future__ import annotations

import hashlib

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import CommandDep, ServicesDep
from api.idempotency import Reply
from api.problems import problem_body
from api.schemas_batch import AccountImport, AccountImportResult, AccountImportRow
from channels import account_file
from channels.account_refs import account_refs
from channels.table_file import TableFileError
from ledger.bulk_accounts import AccountOutcome, counted, position_reached
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
        content = body.file_bytes()
        try:
            rows = account_file.read_content(body.filename, content, ctx.stamp(), body.sheet)
        except TableFileError as e:
            raise InvalidRequest(str(e)) from None
        readable = [row for row in rows if row.command is not None]
        commands = [row.command for row in readable if row.command is not None]
        taken = account_refs(svc.pool, svc.ledger).known
        outcomes = svc.ledger.bulk_accounts.open_accounts(commands, taken=taken)
        by_line = dict(zip((row.line for row in readable), outcomes, strict=True))
        items = [_item(row, by_line.get(row.line), ctx.request.url.path) for row in rows]
        result = AccountImportResult(
            filename=body.filename,
            sha256=hashlib.sha256(content).hexdigest(),
            rows=len(rows),
            **counted(item.status for item in items),
            position=position_reached(outcomes) or svc.ledger.head_position(),
            items=items,
        )
        return Reply(200, result.model_dump(mode="json"))

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
