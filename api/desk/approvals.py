"""Approvals: the write-offs waiting for a manager, with the request, its reason and the
account; approve or reject (never one's own: the ledger refuses it, whatever the key)."""

from __future__ import annotations

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
from api.desk.inner import Inner
from api.desk.render import page
from api.desk.sessions import DeskUser

router = APIRouter(include_in_schema=False)
PENDING_SHOWN = 200
DECISIONS = {"approve": "Write-off approved", "reject": "Write-off rejected"}


@router.get("/approvals")
async def approvals(request: Request, user: UserDep, api: InnerDep) -> Response:
    return await approvals_page(request, user, api)


async def approvals_page(
    request: Request, user: DeskUser, api: Inner, outcome: Outcome | None = None
) -> Response:
    wait = request.query_params.get("min_position")
    found = await api.get("/v1/write-offs", limit=PENDING_SHOWN, min_position=wait)
    if not found.ok:
        return unavailable(request, user, found)
    status = refusal_status(outcome) if outcome and outcome.problem else 200
    rows = found.json()["write_offs"]
    return page(request, user, "approvals.html", status, rows=rows, outcome=outcome)


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
