"""Audit (read-only): the checkpoints and a verification of the store, an account
replayed from its events as of a date and as known at a moment, the "why" of any event,
and to download, the export pack of a period and the ledger's audit trail (CSV, XLSX).
Nothing here changes the ledger."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from starlette.responses import Response

from api.desk.common import InnerDep, UserDep, unavailable
from api.desk.inner import Answer, Inner
from api.desk.render import page
from api.desk.sessions import DeskUser

router = APIRouter(include_in_schema=False)
CHECKPOINTS_SHOWN = 10
EVENTS_SHOWN = 200
MATCHES_SHOWN = 20
TRAIL_FILTERS = ("type", "actor")  # the ledger-wide audit trail's download, narrowed


def to_second(value: Any) -> str:
    """A moment of the API to the second, as an auditor compares them."""
    text = str(value or "")
    return f"{text[:10]} {text[11:19]} UTC" if len(text) >= 19 else text


def stream_labels(rested_on: dict[str, list[dict[str, Any]]]) -> dict[str, str]:
    """What each stream an event rested on is, in words: ``invoice A1``, ``payment``."""
    labels = {}
    for stream, rows in rested_on.items():
        first = rows[0] if rows else {}
        kind = str(first.get("type") or "").removeprefix("arledger.").split(".")[0] or "stream"
        data = first.get("data") or {}
        name = data.get("number") or data.get("reference") or stream[:8]
        labels[stream] = f"{kind} {name}"
    return labels


def _query(request: Request, *names: str) -> dict[str, str]:
    return {n: (request.query_params.get(n) or "").strip() for n in names}


def _refused(answer: Answer) -> bool:
    """A question the API could not answer as asked: shown next to its form."""
    return answer.status in (400, 404, 422)


@router.get("/audit")
async def audit(request: Request, user: UserDep, api: InnerDep) -> Response:
    """The audit screen; ``type`` and ``actor`` narrow the audit trail's download."""
    return await _audit_page(request, user, api, _query(request, "from", "to", *TRAIL_FILTERS))


async def _audit_page(
    request: Request,
    user: DeskUser,
    api: Inner,
    q: dict[str, str],
    export_problem: dict[str, Any] | None = None,
) -> Response:
    """The checkpoints (for the roles that may see them) and the auditor's questions."""
    found = await api.get("/v1/checkpoints")
    if not found.ok and found.status != 403:
        return unavailable(request, user, found)
    checkpoints = found.json()["checkpoints"][::-1][:CHECKPOINTS_SHOWN] if found.ok else None
    return page(
        request, user, "audit.html", 422 if export_problem else 200,
        checkpoints=checkpoints, q=q, export_problem=export_problem,
    )  # fmt: skip


@router.get("/audit/verification")
async def verification(request: Request, user: UserDep, api: InnerDep) -> Response:
    """The store verified now: every hash chain and checkpoint recomputed."""
    found = await api.get("/v1/integrity/verification")
    if found.status == 403:
        return page(request, user, "problem.html", 403, problem=found.problem)
    if not found.ok:
        return unavailable(request, user, found)
    return page(request, user, "audit_verification.html", report=found.json())


async def account_named(api: Inner, text: str) -> tuple[str | None, list[dict[str, Any]]]:
    """The account a person typed: its id, or the one account whose name or reference
    holds the text; else the accounts that match, for them to choose."""
    try:
        return str(UUID(text)), []
    except ValueError:
        pass
    found = await api.get("/v1/accounts", q=text, limit=MATCHES_SHOWN)
    matches = found.json()["accounts"] if found.ok else []
    exact = [m for m in matches if m["name"].lower() == text.lower()]
    if len(matches) == 1 or len(exact) == 1:
        return str((exact or matches)[0]["id"]), []
    return None, matches


@router.get("/audit/replay")
async def replay(request: Request, user: UserDep, api: InnerDep) -> Response:
    q = _query(request, "account", "as_of", "as_known_at")
    if not q["account"]:
        return page(request, user, "audit_replay.html", q=q, replayed=None, problem=None)
    account_id, matches = await account_named(api, q["account"])
    if account_id is None:
        problem = {
            "title": "Which account?",
            "detail": f"{len(matches)} accounts match {q['account']!r}"
            if matches
            else f"no account's name, reference or id is {q['account']!r}",
        }
        return page(
            request, user, "audit_replay.html", 422, q=q, replayed=None, problem=problem,
            matches=matches,
        )  # fmt: skip
    return await _replayed(request, user, api, q, account_id)


async def _replayed(
    request: Request, user: DeskUser, api: Inner, q: dict[str, str], account_id: str
) -> Response:
    found = await api.get(
        f"/v1/accounts/{account_id}/replay", as_of=q["as_of"], as_known_at=q["as_known_at"]
    )
    if not found.ok:
        if _refused(found):
            return page(
                request, user, "audit_replay.html", 422 if found.status != 404 else 404,
                q=q, replayed=None, problem=found.problem,
            )  # fmt: skip
        return unavailable(request, user, found)
    trail = await api.get(f"/v1/accounts/{account_id}/audit-trail", limit=EVENTS_SHOWN)
    # The events the replay rested on: by position (commit order), not by any clock.
    up_to = int(found.json()["position"])
    events = [e for e in trail.json()["entries"] if e["position"] <= up_to] if trail.ok else None
    return page(
        request, user, "audit_replay.html", q=q, replayed=found.json(), events=events,
        problem=None, events_max=EVENTS_SHOWN, at=to_second,
    )  # fmt: skip


@router.get("/audit/why")
async def why(request: Request, user: UserDep, api: InnerDep) -> Response:
    q = _query(request, "position")
    if not q["position"]:
        return page(request, user, "audit_why.html", q=q, why=None, problem=None)
    if not q["position"].isdigit():
        problem = {"title": "Not a position", "detail": "a position is a whole number, say 1042"}
        return page(request, user, "audit_why.html", 422, q=q, why=None, problem=problem)
    found = await api.get(f"/v1/events/{q['position']}/why")
    if not found.ok:
        if _refused(found):
            status = 404 if found.status == 404 else 422
            return page(
                request, user, "audit_why.html", status, q=q, why=None, problem=found.problem
            )
        return unavailable(request, user, found)
    body = found.json()
    return page(
        request, user, "audit_why.html", q=q, why=body, problem=None, at=to_second,
        labels=stream_labels(body["rested_on"]),
    )  # fmt: skip


@router.get("/audit/export")
async def export(request: Request, user: UserDep, api: InnerDep) -> Response:
    """The API's export pack, passed back byte for byte with its type and file name."""
    q = _query(request, "from", "to")
    found = await api.get("/v1/exports", **q)
    if not found.ok:
        if found.status == 403:
            return page(request, user, "problem.html", 403, problem=found.problem)
        if found.status in (400, 422):
            return await _audit_page(request, user, api, q, export_problem=found.problem)
        return unavailable(request, user, found)
    headers = {"Cache-Control": "no-store"}
    if "content-disposition" in found.headers:
        headers["Content-Disposition"] = found.headers["content-disposition"]
    media = found.headers.get("content-type", "application/zip")
    return Response(found.body, media_type=media, headers=headers)
