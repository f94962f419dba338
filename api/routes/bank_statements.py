"""Bank statements in (BACS / ACH receipts), and the queue of lines waiting for a person."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse
from pydantic import Field, model_validator

from api import tabular_lists
from api.deps import CommandDep, PrincipalDep, ServicesDep
from api.fields import Moment
from api.idempotency import Reply
from api.schemas import AllocationRow, Command
from api.tabular import RESPONSES, FormatDep, reply
from channels.bank_import import Statement
from ledger import limits

router = APIRouter(tags=["bank"])

Outcome = Literal[
    "allocated", "already-in-ledger", "outgoing", "exception", "resolved", "dismissed"
]


class StatementImport(Command):
    content: str = Field(
        min_length=1,
        max_length=limits.STATEMENT_CHARS_MAX,
        description="the CSV as the bank exports it: a header naming date, amount, "
        "reference and payer (an optional currency column), then a line per receipt",
    )
    currency: str = Field(description="the statement's currency, unless a line names its own")
    method: Literal["bacs", "ach", "direct_debit", "cheque", "cash", "other"] = "bacs"
    bank_account: str = Field(
        default="default", min_length=1, max_length=100, description="which of our bank accounts"
    )
    date_format: Literal["iso", "dmy", "mdy"] = Field(
        default="iso", description="iso 2026-11-02, dmy 02/11/2026, mdy 11/02/2026"
    )
    decimal_separator: Literal[".", ","] = Field(
        default=".",
        description="how the statement writes decimals: . 1,234.56 or , 1.234,56; an amount "
        "whose other mark does not group thousands (12,50 with .) is refused, never guessed",
    )
    filename: str | None = Field(default=None, max_length=300)
    amount_tolerance: int | None = Field(
        strict=True,
        default=None,
        ge=0,
        description="minor units a receipt may differ from what it pays; "
        "default ARLEDGER_BANK_AMOUNT_TOLERANCE",
    )


class LineResolution(Command):
    """The account (required unless the line's payment is on one already) and, if
    known, what it pays: explicit ``allocations`` or ``strategy``; neither leaves the
    payment unallocated on the account."""

    account_id: UUID | None = None
    allocations: list[AllocationRow] | None = Field(default=None, min_length=1, max_length=100)
    strategy: Literal["oldest_first"] | None = None

    @model_validator(mode="after")
    def _at_most_one(self) -> LineResolution:
        if self.allocations is not None and self.strategy is not None:
            raise ValueError("give 'allocations' or 'strategy', not both")
        return self


class LineDismissal(Command):
    note: str = Field(min_length=3, max_length=500, description="why it is not a receipt")


@router.post("/v1/bank-statements", status_code=201)
def import_statement(body: StatementImport, svc: ServicesDep, ctx: CommandDep) -> JSONResponse:
    """Import a bank statement: each receipt is matched to an account and invoices by
    reference, payer and amount. Confident matches are recorded and allocated; the rest
    wait in the exceptions queue with their candidates. Lines seen before (the same
    file again, or an overlapping statement) change nothing; the same file again
    answers ``duplicate: true`` with the first import."""

    def command() -> Reply:
        statement = Statement(
            body.content,
            body.currency,
            body.method,
            body.bank_account,
            body.date_format,
            body.filename,
            body.amount_tolerance,
            body.decimal_separator,
        )
        report = svc.bank.import_statement(statement, ctx.stamp())
        return Reply(200 if report["duplicate"] else 201, report)

    return ctx.run(body, command)


@router.get("/v1/bank-statements/lines", response_model=dict[str, Any], responses=RESPONSES)
def statement_lines(
    svc: ServicesDep,
    _: PrincipalDep,
    fmt: FormatDep,
    outcome: Annotated[Outcome | None, Query(description="exception: the queue")] = None,
    statement_id: UUID | None = None,
    imported_after: Annotated[Moment | None, Query(description="a page cursor")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> dict[str, Any] | Response:
    """Statement lines and what became of each; ``outcome=exception`` is the queue of
    lines waiting for a person, each with its candidate matches and what to do. Oldest
    first, ``limit`` at a time: a full page says where the next begins
    (``next_imported_after``, to send as ``imported_after``); the last says null."""
    found = svc.bank_queue.lines(outcome, statement_id, imported_after, limit)
    following = found[-1]["imported_at"] if len(found) == limit else None
    lines = {"lines": found, "next_imported_after": following}
    return reply(fmt, lines, tabular_lists.bank_lines)


@router.post("/v1/bank-statements/lines/{line_id}/resolution")
def resolve_line(
    line_id: UUID, body: LineResolution, svc: ServicesDep, ctx: CommandDep
) -> JSONResponse:
    """Place a waiting line: record it on the account and allocate it as given."""

    def command() -> Reply:
        allocations = tuple((a.invoice_id, a.amount.to_money()) for a in body.allocations or ())
        strategy = body.strategy or "explicit"
        line = svc.bank_queue.resolve(line_id, body.account_id, allocations, strategy, ctx.stamp())
        return Reply(200, line)

    return ctx.run(body, command)


@router.post("/v1/bank-statements/lines/{line_id}/dismissal")
def dismiss_line(
    line_id: UUID, body: LineDismissal, svc: ServicesDep, ctx: CommandDep
) -> JSONResponse:
    """Set aside a line that is no client's receipt; only one recorded on no account."""
    return ctx.run(
        body, lambda: Reply(200, svc.bank_queue.dismiss(line_id, body.note, ctx.stamp()))
    )
