"""Approvals: the write-offs waiting for a manager, with the request, its reason and the
account; approve or reject (never one's own: the ledger refuses it, whatever the key)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

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
TRAIL_PAGE = 1000
TRAIL_PAGES_MAX = 20
DECISIONS = {"approve": "Write-off approved", "reject": "Write-off rejected"}


async def pending_ids(api: Inner, wait: str | None) -> list[str] | Answer:
    """Write-offs requested and not yet decided, oldest first, from the audit trail."""
    requested: dict[str, None] = {}
    after_position = 0
    for _ in range(TRAIL_PAGES_MAX):
        answer = await api.get(
            "/v1/audit-trail",
            type="arledger.write_off.*",
            after=after_position,
            limit=TRAIL_PAGE,
            min_position=wait,
        )
        if not answer.ok:
            return answer
        body = answer.json()
        for entry in body["entries"]:
            if entry["type"].endswith(".requested"):
                requested[entry["subject"]] = None
            else:
                requested.pop(entry["subject"], None)
        if body["next_after"] is None:
            break
        after_position = body["next_after"]
    return list(requested)


@router.get("/approvals")
async def approvals(request: Request, user: UserDep, api: InnerDep) -> Response:
    return await approvals_page(request, user, api)


async def approvals_page(
    request: Request, user: DeskUser, api: Inner, outcome: Outcome | None = None
) -> Response:
    ids = await pending_ids(api, request.query_params.get("min_position"))
    if isinstance(ids, Answer):
        return unavailable(request, user, ids)
    write_offs = [
        a.json()
        for a in await asyncio.gather(*(api.get(f"/v1/write-offs/{i}") for i in ids))
        if a.ok
    ]
    rows = await asyncio.gather(
        *(_row(api, w) for w in write_offs if w["status"] == "pending_approval")
    )
    status = refusal_status(outcome) if outcome and outcome.problem else 200
    return page(request, user, "approvals.html", status, rows=rows, outcome=outcome)


async def _row(api: Inner, write_off: dict[str, Any]) -> dict[str, Any]:
    account, invoice = await asyncio.gather(
        api.get(f"/v1/accounts/{write_off['account_id']}"),
        api.get(f"/v1/invoices/{write_off['invoice_id']}"),
    )
    return {
        "write_off": write_off,
        "account": account.json() if account.ok else None,
        "invoice": invoice.json() if invoice.ok else None,
    }


@router.post("/approvals")
async def decide(request: Request, user: UserDep, api: InnerDep) -> Response:
    form = await read_form(request, user)
    decision = form.text("decision", required=False) or ""
    if decision not in DECISIONS:
        return unknown_action(request, user, decision)

    def command() -> tuple[str, str, dict[str, Any]]:
        write_off = form.uuid("write_off_id")
        return (
            "POST",
            f"/v1/write-offs/{write_off}/{decision}",
            {"reason": form.text("reason", False)},
        )

    outcome = await perform(api, form, f"decide-{form.text('write_off_id', False)}", command)
    if outcome.ok:
        return after(outcome, "/approvals", DECISIONS[decision])
    return forbidden_page(request, user, outcome) or await approvals_page(
        request, user, api, outcome
    )
