"""Accounts: finding one, and the customer record with everything that can be done on
it (see ``account_actions``)."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from starlette.responses import Response

from api.desk.account_actions import ACTIONS, Of, api_path
from api.desk.common import (
    InnerDep,
    UserDep,
    after,
    forbidden_page,
    refusal_status,
    unavailable,
    unknown_action,
)
from api.desk.forms import Outcome, perform, read_form
from api.desk.inner import Answer, Inner
from api.desk.render import page
from api.desk.sessions import DeskUser

router = APIRouter(include_in_schema=False)
TIMELINE_MAX = 1000
TIMELINE_SHOWN = 150
CONTACT = "arledger.account.contact_logged"


@router.get("/accounts")
async def accounts(request: Request, user: UserDep, api: InnerDep) -> Response:
    q = (request.query_params.get("q") or "").strip()[:200]
    found = await api.get("/v1/accounts", q=q or None, limit=200)
    if not found.ok:
        return unavailable(request, user, found)
    return page(request, user, "accounts.html", rows=found.json()["accounts"], q=q)


@router.get("/accounts/{account_id}")
async def account(request: Request, account_id: UUID, user: UserDep, api: InnerDep) -> Response:
    return await account_page(request, user, api, account_id)


async def account_page(
    request: Request,
    user: DeskUser,
    api: Inner,
    account_id: UUID,
    outcome: Outcome | None = None,
) -> Response:
    wait = request.query_params.get("min_position")
    base = f"/v1/accounts/{account_id}"
    answers = await asyncio.gather(
        api.get(base),
        api.get(f"{base}/balance", min_position=wait),
        api.get(f"{base}/invoices", min_position=wait),
        api.get("/v1/payments", account_id=str(account_id), limit=100, min_position=wait),
        api.get(f"{base}/arrangements", min_position=wait),
        api.get(f"{base}/audit-trail", limit=TIMELINE_MAX, min_position=wait),
        api.get(f"{base}/notices/preview"),
    )
    failed = next((a for a in answers if not a.ok), None)
    if failed is not None:
        return unavailable(request, user, failed)
    acct, balance, invoices, payments, arrangements, trail, notices = (a.json() for a in answers)
    status = refusal_status(outcome) if outcome and outcome.problem else 200
    return page(
        request,
        user,
        "account.html",
        status,
        acct=acct,
        balance=balance,
        invoices=invoices["invoices"],
        payments=payments["payments"],
        promises=arrangements["promises"],
        plans=arrangements["payment_plans"],
        **_timeline(trail["entries"]),
        disputed=sum(int((i.get("disputed") or {}).get("amount", 0)) for i in invoices["invoices"]),
        today=date.today(),
        statement_from=date.today().replace(day=1).isoformat(),
        actions=ACTIONS,
        notices=notices["stages"],
        next_stage=_next_stage(notices["stages"]),
        outcome=outcome,
    )


def _next_stage(stages: list[dict[str, Any]]) -> str | None:
    """The first stage that would chase an invoice not yet sent a notice of it."""
    for stage in stages:
        if any(not row["reissue"] for row in stage["rows"]):
            return str(stage["stage"])
    return None


def _timeline(entries: list[dict[str, Any]]) -> dict[str, Any]:
    newest = list(reversed(entries))
    return {
        "timeline": newest[:TIMELINE_SHOWN],
        "timeline_more": len(newest) > TIMELINE_SHOWN,
        "contacts": [e for e in newest if e["type"] == CONTACT],
    }


@router.post("/accounts/{account_id}")
async def account_action(
    request: Request, account_id: UUID, user: UserDep, api: InnerDep
) -> Response:
    form = await read_form(request, user)
    name = form.text("action", required=False) or ""
    action = ACTIONS.get(name)
    if action is None:
        return unknown_action(request, user, name)
    found: Answer = await api.get(f"/v1/accounts/{account_id}")
    if not found.ok:
        return unavailable(request, user, found)
    of = Of(str(account_id), found.json()["currency"])
    outcome = await perform(
        api,
        form,
        name,
        lambda: (action.method, api_path(action, form, str(account_id)), action.build(form, of)),
    )
    if outcome.ok:
        back = form.text("back", required=False) or ""
        to = back if back.startswith("/") and not back.startswith("//") else None
        return after(outcome, to or f"/accounts/{account_id}", action.done)
    return forbidden_page(request, user, outcome) or await account_page(
        request, user, api, account_id, outcome
    )
