"""The worklist: the collections specialist's prioritised queue, with quick actions on
each row (log a call, record a promise, put on hold) that go to the account's own
actions and come back here."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from api.desk.common import InnerDep, UserDep, unavailable
from api.desk.render import page

router = APIRouter(include_in_schema=False)
WORKLIST_LIMIT = 100


@router.get("/worklist")
async def worklist(request: Request, user: UserDep, api: InnerDep) -> Response:
    currency = (request.query_params.get("currency") or "").strip().upper() or None
    found = await api.get(
        "/v1/worklist",
        currency=currency,
        limit=WORKLIST_LIMIT,
        min_position=request.query_params.get("min_position"),
    )
    if not found.ok:
        return unavailable(request, user, found)
    body = found.json()
    return page(
        request, user, "worklist.html", rows=body["rows"], as_of=body["as_of"], currency=currency
    )
