"""Documents over HTTP: an account's statement for a period (JSON, or rendered as PDF or
HTML) and the letter of each dunning notice, re-rendered byte for byte from the events.
Every rendering says its SHA-256 (``X-Content-SHA256``); a letter also says the hash the
notifier recorded when it was first rendered (``X-Recorded-SHA256``), so an auditor can
prove that what is shown is what was sent."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import date
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import Field

from api import tabular, tabular_statement
from api.deps import AuditPositionDep, CommandDep, PrincipalDep, ServicesDep
from api.fields import Day, Moment
from api.idempotency import Reply
from api.problems import ApiProblem, BadPeriod
from api.routes.shaping import today
from api.schemas import Command
from api.services import Services
from documents import html, pdf, sources, statement_pdf
from documents.company import Company
from documents.letters import Letter, letter_for
from documents.statement import Statement
from ledger.errors import InvalidRequest, UnknownAccount, UnknownNotice
from ledger.notification import UnknownNotification
from ledger.statement_sends import SendStatement
from projections import tracking
from projections.audit import NAME as AUDIT
from projections.notification_requests import notice_uuid, notification_id_for

router = APIRouter(tags=["documents"])
PERIOD_DAYS_MAX = 3660

StatementRenderer = Callable[[Statement, Company], Response]


def _bytes(content: bytes, media_type: str, filename: str, **headers: str) -> Response:
    return Response(
        content,
        media_type=media_type,
        headers={
            "Content-Disposition": f'inline; filename="{filename}"',
            "X-Content-SHA256": hashlib.sha256(content).hexdigest(),
            **headers,
        },
    )


_statement_name = statement_pdf.filename


# A format the statement is served in, by name.
STATEMENT_FORMATS: dict[str, StatementRenderer] = {
    "json": lambda s, c: JSONResponse(s.to_json()),
    "pdf": lambda s, c: _bytes(
        pdf.render_statement(s, c), "application/pdf", _statement_name(s, "pdf")
    ),
    "html": lambda s, c: HTMLResponse(html.render_statement(s, c)),
    "csv": lambda s, c: tabular.respond("csv", tabular_statement.statement(s.to_json())),
    "xlsx": lambda s, c: tabular.respond("xlsx", tabular_statement.statement(s.to_json())),
}


@router.get("/v1/accounts/{account_id}/statement", response_model=None)
def get_statement(
    account_id: UUID,
    svc: ServicesDep,
    _: PrincipalDep,
    position: AuditPositionDep,
    period_from: Annotated[Day, Query(alias="from", description="first day (inclusive)")],
    period_to: Annotated[Day | None, Query(alias="to", description="last day; today")] = None,
    format: Annotated[str, Query(description="json (default), pdf, html, csv or xlsx")] = "json",
    as_known_at: Annotated[
        Moment | None, Query(description="only events committed by this moment (UTC)")
    ] = None,
    at_position: Annotated[
        int | None, Query(ge=0, description="only events up to this store position")
    ] = None,
) -> Response:
    """The account's statement for the period: the opening balance, every invoice,
    payment, allocation, credit note, write-off and refund with a running balance, the
    closing balance, the ageing of what is open at the end, and how to pay. A pure
    function of the events: pass `as_known_at` (or `at_position`, the `position` a
    statement shows) to reproduce one exactly."""
    end = period_to or today()
    _check_period(period_from, end)
    renderer = STATEMENT_FORMATS.get(format)
    if renderer is None:
        raise InvalidRequest(f"format must be one of {', '.join(STATEMENT_FORMATS)}")
    statement = _statement(svc, account_id, (period_from, end), as_known_at, at_position)
    return renderer(statement, Company.from_settings(svc.settings))


def _check_period(start: date, end: date) -> None:
    if end < start:
        raise BadPeriod(f"from {start} is after to {end}")
    if (end - start).days > PERIOD_DAYS_MAX:
        raise BadPeriod(f"a statement covers at most {PERIOD_DAYS_MAX} days")


def _statement(
    svc: Services,
    account_id: UUID,
    period: tuple[date, date],
    as_known_at: Any,
    at_position: int | None,
) -> Statement:
    svc.ledger.get_account(account_id)  # 404 for an account the store does not know
    with svc.pool.connection() as conn:
        statement = sources.statement(conn, account_id, period, as_known_at, at_position)
    if statement is None:
        raise UnknownAccount(
            f"account {account_id} is not in the audit read model at that time yet "
            "(pass min_position to wait for a new account)"
        )
    return statement


class StatementSend(Command):
    """Send the account's statement for a period, as a PDF."""

    period_from: Day = Field(alias="from", description="first day (inclusive)")
    period_to: Day | None = Field(default=None, alias="to", description="last day; today")
    channel: Literal["email"]
    recipient: str | None = Field(default=None, max_length=200, description="default: on file")


@router.post("/v1/accounts/{account_id}/statements", status_code=201)
def send_statement(
    account_id: UUID, body: StatementSend, svc: ServicesDep, ctx: CommandDep
) -> JSONResponse:
    """Email the statement for the period: rendered from the events up to the store
    position the command saw (`at_position`: the same bytes as `GET .../statement?
    format=pdf&at_position=`), its SHA-256 recorded on `account.statement_sent`; the
    notifier mails those bytes. No email on file and no `recipient`: `no-recipient`."""

    def command() -> Reply:
        period = (body.period_from, body.period_to or today())
        _check_period(*period)
        if period[1] > today():
            raise BadPeriod(f"to {period[1]} is after today")
        svc.ledger.get_account(account_id)  # 404 for an account the store does not know
        upto = _audit_head(svc)
        with svc.pool.connection() as conn:
            company = Company.from_settings(svc.settings)
            rendered = statement_pdf.render(conn, account_id, period, upto, company)
        if rendered is None:
            raise UnknownAccount(f"account {account_id} is not in the audit read model yet")
        saved = svc.ledger.send_statement(
            SendStatement(
                account_id, period, body.channel, upto, rendered.filename, rendered.sha256,
                ctx.stamp(), body.recipient,
            )
        )  # fmt: skip
        reply = {
            "account_id": str(account_id),
            "from": period[0].isoformat(),
            "to": period[1].isoformat(),
            "channel": body.channel,
            "recipient": body.recipient or saved.aggregate.email,
            "at_position": upto,
            "filename": rendered.filename,
            "sha256": rendered.sha256,
            "position": saved.position,
        }
        return Reply(201, reply)

    return ctx.run(body, command)


def _audit_head(svc: Services) -> int:
    """The store's head, once the audit read model (what a statement is read from) has
    applied every event up to it; else 503 ``projection-lagging``, nothing recorded."""
    head = svc.ledger.head_position()
    wait_s = svc.settings.query_wait_ms / 1000
    if not tracking.wait_for(svc.pool, AUDIT, svc.settings.topic, head, wait_s, watch=svc.watch):
        raise ApiProblem(
            503,
            "projection-lagging",
            "The read model has not caught up yet",
            f"the {AUDIT} read model has not yet reached position {head}; retry shortly",
            headers={"Retry-After": "1"},
            min_position=head,
            projection=AUDIT,
        )
    return head


@router.get("/v1/accounts/{account_id}/notices/{notice_id}/letter", response_model=None)
def get_letter(
    account_id: UUID,
    notice_id: str,
    svc: ServicesDep,
    _: PrincipalDep,
    format: Annotated[str, Query(description="pdf (default), html or json")] = "pdf",
) -> Response:
    """The notice's letter, rendered again from its event: the same bytes as when the
    notifier first rendered (and mailed) it, whose SHA-256 is in `X-Recorded-SHA256`."""
    letter = letter_for(svc.ledger, account_id, notice_id)
    return _letter_response(svc, letter, format)


@router.get("/v1/notices/{notice_id}/letter", response_model=None)
def get_notice_letter(
    notice_id: str,
    svc: ServicesDep,
    _: PrincipalDep,
    format: Annotated[str, Query(description="pdf (default), html or json")] = "pdf",
) -> Response:
    """The same, found by the notice's id alone (once the notifier has seen it)."""
    with svc.pool.connection() as conn:
        row = conn.execute(
            "SELECT account_id FROM notification_requests WHERE occasion = 'notice' AND about = %s",
            (notice_uuid(notice_id),),
        ).fetchone()
    if row is None:
        raise UnknownNotice(f"no notice {notice_id} (yet: the notifier has not seen it)")
    return _letter_response(svc, letter_for(svc.ledger, row[0], notice_id), format)


def _letter_response(svc: Services, letter: Letter, format: str) -> Response:
    company = Company.from_settings(svc.settings)
    if format == "json":
        return JSONResponse({**letter.to_json(), "recorded_sha256": _recorded(svc, letter)})
    if format == "html":
        return HTMLResponse(html.render_letter(letter, company))
    if format != "pdf":
        raise InvalidRequest("format must be one of pdf, html, json")
    recorded = _recorded(svc, letter)
    extra = {"X-Recorded-SHA256": recorded} if recorded else {}
    return _bytes(pdf.render_letter(letter, company), "application/pdf", letter.filename, **extra)


def _recorded(svc: Services, letter: Letter) -> str | None:
    """The SHA-256 the notifier recorded for the letter, if it has rendered it."""
    try:
        notification = svc.ledger.get_notification(notification_id_for("notice", letter.notice_id))
    except UnknownNotification:
        return None
    document = notification.documents.get(letter.notice_id)
    return str(document["sha256"]) if document else None
