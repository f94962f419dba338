"""Bank: upload a statement CSV, see what each line became, and work the exceptions
queue: place a line on an account (and its invoices), or set it aside with a note.

The upload is read here and its text sent to ``POST /v1/bank-statements`` as the API
expects; every other read and action is the API's own, for the signed-in user."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from starlette.datastructures import UploadFile
from starlette.responses import RedirectResponse, Response

from api.desk.audit import account_named
from api.desk.common import (
    InnerDep,
    UserDep,
    account_names,
    after,
    forbidden_page,
    refusal_status,
    unavailable,
    unknown_action,
)
from api.desk.forms import Command, Form, FormError, Outcome, perform, read_form, read_upload
from api.desk.inner import Inner
from api.desk.render import page
from api.desk.sessions import DeskUser
from ledger import limits

router = APIRouter(include_in_schema=False)
QUEUE_LIMIT = 100
# A file of at most this many bytes holds at most the characters the API takes.
FILE_BYTES_MAX = limits.STATEMENT_CHARS_MAX
DATE_FORMATS = (("iso", "ISO 2026-11-02"), ("dmy", "DMY 02/11/2026"), ("mdy", "MDY 11/02/2026"))
METHODS = ("bacs", "ach", "direct_debit", "cheque", "cash", "other")
OUTCOME_LABELS = {
    "allocated": "matched and allocated",
    "already-in-ledger": "recorded by hand already",
    "already-imported": "imported before",
    "outgoing": "money out",
    "exception": "waiting for you",
    "resolved": "placed by a person",
    "dismissed": "set aside",
}


@router.get("/bank")
async def bank(request: Request, user: UserDep, api: InnerDep) -> Response:
    return await _bank_page(request, user, api)


async def _bank_page(
    request: Request, user: DeskUser, api: Inner, outcome: Outcome | None = None
) -> Response:
    queue = await api.get("/v1/bank-statements/lines", outcome="exception", limit=QUEUE_LIMIT)
    if not queue.ok:
        return unavailable(request, user, queue)
    lines = queue.json()["lines"]
    return page(
        request,
        user,
        "bank.html",
        refusal_status(outcome) if outcome and outcome.problem else 200,
        lines=lines,
        full=len(lines) >= QUEUE_LIMIT,
        proposals={ln["line_id"]: propose(ln) for ln in lines},
        outcome=outcome,
        date_formats=DATE_FORMATS,
        methods=METHODS,
        labels=OUTCOME_LABELS,
    )


def propose(line: dict[str, Any]) -> dict[str, int]:
    """How the line's amount most likely splits over its candidates' invoices, by
    account (so each account's form is filled): the invoice equal to the amount, else
    the oldest due first; minor units by invoice id."""
    split: dict[str, int] = {}
    amount = int(line["amount"]["amount"])
    for candidate in line.get("candidates") or []:
        invoices = candidate.get("invoices") or []
        exact = [i for i in invoices if int(i["outstanding"]["amount"]) == amount]
        left = amount
        for inv in exact[:1] or sorted(invoices, key=lambda i: str(i["due_on"])):
            take = min(left, int(inv["outstanding"]["amount"]))
            if take > 0:
                split[inv["invoice_id"]] = take
                left -= take
    return split


@router.post("/bank")
async def upload(request: Request, user: UserDep, api: InnerDep) -> Response:
    form = await read_form(request, user)
    file = form.data.get("statement")
    content = await _file_text(file) if isinstance(file, UploadFile) else None
    name = file.filename if isinstance(file, UploadFile) else None
    outcome = await perform(api, form, "upload", lambda: _statement(form, content, name))
    if not outcome.ok:
        return forbidden_page(request, user, outcome) or await _bank_page(
            request, user, api, outcome
        )
    body = outcome.answer.json() if outcome.answer else {}
    note = (
        "This file was imported before: nothing changed"
        if body.get("duplicate")
        else f"Statement imported: {len(body.get('lines') or [])} lines read"
    )
    return after(outcome, f"/bank/statements/{body['statement_id']}", note)


async def _file_text(file: UploadFile) -> str | FormError:
    """The uploaded statement as text, or why it cannot be."""
    raw = await read_upload(file, "statement", FILE_BYTES_MAX)
    if isinstance(raw, FormError):
        return raw
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return FormError("statement", "the file is not text (UTF-8): export it as CSV")


def _statement(form: Form, content: str | FormError | None, filename: str | None) -> Command:
    if isinstance(content, FormError):
        raise content
    if not content or not content.strip():
        raise FormError("statement", "choose the CSV file the bank exported")
    body = {
        "content": content,
        "currency": form.required("currency").upper(),
        "date_format": form.text("date_format", required=False) or "iso",
        "decimal_separator": form.text("decimal_separator", required=False) or ".",
        "method": form.text("method", required=False) or "bacs",
        "bank_account": form.text("bank_account", required=False) or "default",
        "filename": (filename or "")[:300] or None,
    }
    return "POST", "/v1/bank-statements", body


@router.get("/bank/statements/{statement_id}")
async def statement(request: Request, statement_id: str, user: UserDep, api: InnerDep) -> Response:
    """What each line of one statement became."""
    try:
        UUID(statement_id)
    except ValueError:
        problem = {
            "title": "No such statement",
            "detail": f"{statement_id!r} is not a statement id",
        }
        return page(request, user, "problem.html", 404, problem=problem)
    found = await api.get("/v1/bank-statements/lines", statement_id=statement_id, limit=1000)
    if not found.ok:
        return unavailable(request, user, found)
    lines = found.json()["lines"]
    counts: dict[str, int] = {}
    for line in lines:
        counts[line["outcome"]] = counts.get(line["outcome"], 0) + 1
    return page(
        request,
        user,
        "bank_statement.html",
        statement_id=statement_id,
        lines=lines,
        counts=counts,
        labels=OUTCOME_LABELS,
        names=await account_names(api, {ln["account_id"] for ln in lines if ln["account_id"]}),
    )


@router.post("/bank/lines/{line_id}")
async def line_action(request: Request, line_id: UUID, user: UserDep, api: InnerDep) -> Response:
    form = await read_form(request, user)
    action = form.text("action", required=False) or ""
    if action == "resolve":
        account, matches = await _account(api, form)
        outcome = await perform(
            api, form, f"resolve-{line_id}", lambda: _resolution(form, line_id, account, matches)
        )
        note = "Line placed on the account: the payment is recorded"
    elif action == "dismiss":
        outcome = await perform(api, form, f"dismiss-{line_id}", lambda: _dismissal(form, line_id))
        note = "Line set aside"
    else:
        return unknown_action(request, user, action)
    if outcome.ok:
        return after(outcome, "/bank", note)
    return forbidden_page(request, user, outcome) or await _bank_page(request, user, api, outcome)


async def _account(api: Inner, form: Form) -> tuple[str | None, list[dict[str, Any]]]:
    """The account the person chose: a candidate's id, or one typed by name, reference
    or id (with the accounts that match when it is not one)."""
    typed = form.text("account_id", required=False)
    return await account_named(api, typed) if typed else (None, [])


def _resolution(
    form: Form, line_id: UUID, account: str | None, matches: list[dict[str, Any]]
) -> Command:
    """The account chosen and what the line pays."""
    typed = form.text("account_id", required=False)
    if typed and account is None:
        named = ", ".join(m["name"] for m in matches[:5])
        raise FormError("account", f"{len(matches)} accounts match: {named}" if matches else
                        f"no account's name, reference or id is {typed!r}")  # fmt: skip
    currency = form.required("currency")
    body: dict[str, Any] = {"account_id": account}
    how = form.text("how", required=False) or "explicit"
    if how == "oldest_first":
        body["strategy"] = "oldest_first"
    elif how == "explicit":
        rows = []
        for invoice_id in form.many("invoice"):
            amount = form.money(f"amount_{invoice_id}", currency, required=False)
            if amount and amount["amount"]:
                rows.append({"invoice_id": invoice_id, "amount": amount})
        if not rows:
            raise FormError("amount", "enter what it pays on at least one invoice")
        body["allocations"] = rows
    return "POST", f"/v1/bank-statements/lines/{line_id}/resolution", body


def _dismissal(form: Form, line_id: UUID) -> Command:
    body = {"note": form.required("note")}
    return "POST", f"/v1/bank-statements/lines/{line_id}/dismissal", body


@router.get("/bank/lines/{line_id}")
def line_link(line_id: UUID) -> RedirectResponse:
    """A bookmark to a line: its place in the queue."""
    return RedirectResponse(f"/bank#line-{line_id}", status_code=303)
