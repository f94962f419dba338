"""Import: a file of accounts (an opening book's, when a company moves to arledger) opened
through ``POST /v1/accounts/imports``, of invoices (a billing system's month-end export,
an opening book's open invoices) raised through ``POST /v1/invoices/imports``, or of
payments (an opening book's, a billing system's receipts) recorded through ``POST
/v1/payments/imports``, CSV or XLSX, and what became of each of its rows.

The coordinator says what the file holds, or leaves it to its header. The upload is read
here and sent as the API expects (a CSV as text, an XLSX in base64). The result is shown
at once and kept nowhere: the file is the record, and importing it again does nothing
twice (its rows show as already in the ledger)."""

from __future__ import annotations

import base64
from pathlib import PurePath
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.responses import Response

from api.desk.common import InnerDep, UserDep, account_names, forbidden_page, refusal_status
from api.desk.forms import Command, Form, FormError, Outcome, perform, read_form, read_upload
from api.desk.inner import Inner
from api.desk.render import page
from api.desk.sessions import DeskUser
from api.door import body_limit
from channels.table_file import TableFileError, header

router = APIRouter(include_in_schema=False)
# The file's bound here; the page states the smaller of it and the door's on /imports.
# An XLSX goes on to the API in base64 (a third larger), within its 25 MiB.
FILE_BYTES_MAX = 18_000_000
FILENAME_MAX = 300
SHOWN_MAX = 1_000  # rows raised or already there listed on the page (every refused one is)
STATUS_LABELS = {
    "opened": "opened",
    "raised": "raised",
    "recorded": "recorded",
    "already": "already in the ledger",
    "refused": "refused",
}
UNREADABLE = "/invalid-request"
# What a file may hold: the API path it goes to, and what its rows become there.
HOLDS = {
    "accounts": ("/v1/accounts/imports", "opened"),
    "invoices": ("/v1/invoices/imports", "raised"),
    "payments": ("/v1/payments/imports", "recorded"),
}


@router.get("/imports")
async def imports(request: Request, user: UserDep) -> Response:
    return _form_page(request, user)


def _form_page(request: Request, user: DeskUser, outcome: Outcome | None = None) -> Response:
    return page(
        request,
        user,
        "imports.html",
        refusal_status(outcome) if outcome and outcome.problem else 200,
        outcome=outcome,
        file_bytes_max=min(FILE_BYTES_MAX, body_limit("/imports")),
    )


def _not_imported(outcome: Outcome, holds: str) -> Outcome:
    """The API's refusal of the whole file says so (the form's own keeps its title)."""
    if outcome.problem and outcome.answer is not None:
        outcome.problem = {
            **outcome.problem,
            "title": f"The file was not imported: nothing was {HOLDS[holds][1]}",
        }
    return outcome


@router.post("/imports")
async def upload(request: Request, user: UserDep, api: InnerDep) -> Response:
    """The file sent to the API; its rows' outcomes shown on the page it answers with."""
    form = await read_form(request, user)
    file = form.data.get("file")
    content = (
        await read_upload(file, "file", FILE_BYTES_MAX) if isinstance(file, UploadFile) else None
    )
    name = file.filename if isinstance(file, UploadFile) else None
    holds = await run_in_threadpool(_holds, form, content, _file_name(name))
    outcome = await perform(api, form, "import", lambda: _import(form, content, name, holds))
    if not outcome.ok:
        refused = forbidden_page(request, user, outcome)
        kind = holds if isinstance(holds, str) else "invoices"
        return refused or _form_page(request, user, _not_imported(outcome, kind))
    result = outcome.answer.json() if outcome.answer else {}
    assert isinstance(holds, str)  # a file whose kind is unknown is never sent
    return await _result_page(request, user, api, result, holds)


def _holds(form: Form, content: bytes | FormError | None, name: str) -> str | FormError:
    """What the file holds: as the form says, or else as its header tells (a column
    ``number``: invoices; ``received_on``: payments; ``external_ref`` without either:
    accounts)."""
    try:
        chosen = form.text("holds", required=False)
        if chosen in HOLDS:
            return chosen
        if not isinstance(content, bytes) or not content:
            return "invoices"  # the upload's own refusal comes first
        columns = header(name, content, form.text("sheet", required=False))
    except FormError as e:
        return e
    except TableFileError:
        return "invoices"  # the API refuses the file whole, and says why
    if "number" in columns:
        return "invoices"
    if "received_on" in columns:  # a payment names itself by an external_ref too
        return "payments"
    if "external_ref" in columns:
        return "accounts"
    return FormError(
        "holds",
        "its header names no invoices (a column number), payments (a column received_on)"
        " or accounts (a column external_ref): say which the file holds",
    )


def _import(
    form: Form, content: bytes | FormError | None, filename: str | None, holds: str | FormError
) -> Command:
    """The import's body: a CSV as its text, an XLSX in base64, and the sheet named."""
    if isinstance(content, FormError):
        raise content
    name = _file_name(filename)
    if not content:
        raise FormError("file", f"{name} is empty" if name else "choose the file to import")
    xlsx = name.lower().endswith(".xlsx")
    if not xlsx and not name.lower().endswith(".csv"):
        raise FormError("file", f"{name or 'the file'} is not a .csv or .xlsx file")
    if isinstance(holds, FormError):
        raise holds
    body: dict[str, Any] = {"filename": name[-FILENAME_MAX:]}
    if xlsx:
        body["content_base64"] = base64.b64encode(content).decode("ascii")
    else:
        try:
            body["content"] = content.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise FormError(
                "file", "the file is not text (UTF-8): export it as CSV UTF-8"
            ) from None
    sheet = form.text("sheet", required=False)
    if sheet:
        body["sheet"] = sheet
    return "POST", HOLDS[holds][0], body


def _file_name(filename: str | None) -> str:
    return PurePath((filename or "").replace("\\", "/")).name


async def _result_page(
    request: Request, user: DeskUser, api: Inner, result: dict[str, Any], holds: str
) -> Response:
    """The counts, the refused rows with their reasons, then the others in file order."""
    items: list[dict[str, Any]] = result.get("items") or []
    refused = [i for i in items if i["status"] == "refused"]
    others = [i for i in items if i["status"] != "refused"]
    shown = others[:SHOWN_MAX]
    ids = {_named(i): _account_id(i) for i in refused + shown}
    # An account a refusal names (the one already going by a row's reference) too.
    named = {str((i.get("problem") or {}).get("account_id") or "") for i in refused}
    names = await account_names(api, {a for a in ids.values() if a} | named - {""})
    return page(
        request,
        user,
        "imports_result.html",
        result=result,
        holds=holds,
        saved=HOLDS[holds][1],
        refused=[_with_reason(i, names) for i in refused],
        others=shown,
        hidden=len(others) - len(shown),
        ids=ids,
        names=names,
        labels=STATUS_LABELS,
    )


def _named(item: dict[str, Any]) -> str:
    """How a row names its account: an invoice's or a payment's account (id or
    reference), an account's reference."""
    return str(item.get("account") or item.get("external_ref") or "")


def _account_id(item: dict[str, Any]) -> str | None:
    return item.get("account_id") or _uuid(_named(item))


def _with_reason(item: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    """A refused row with its reason as a person reads it: accounts by name, and the
    kind of refusal when it is a rule of the ledger."""
    problem = item.get("problem") or {}
    kind = str(problem.get("type") or "")
    reason = str(problem.get("detail") or "refused")
    for account_id, name in names.items():
        reason = reason.replace(f"account {account_id}", name)
    rule = None if kind.endswith(UNREADABLE) else problem.get("title")
    return {**item, "reason": reason, "rule": rule}


def _uuid(text: str) -> str | None:
    try:
        return str(UUID(text))
    except ValueError:
        return None
