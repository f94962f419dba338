"""What every desk page depends on: the signed-in user (or a trip to the sign-in page),
the in-process API client, refusals shown as pages, and the answer to a form."""

from __future__ import annotations

import asyncio
import inspect
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.responses import HTMLResponse, RedirectResponse, Response

from api.desk.forms import Forbidden, Outcome
from api.desk.inner import Answer, Inner
from api.desk.render import page
from api.desk.sessions import COOKIE, DeskSessions, DeskUser


class SignInRequired(Exception):
    """No live session: the browser is sent to sign in, and then back here."""


def sessions(request: Request) -> DeskSessions:
    desk: DeskSessions = request.app.state.services.desk
    return desk


def signed_in(request: Request) -> DeskUser:
    user = sessions(request).find(request.cookies.get(COOKIE))
    if user is None:
        raise SignInRequired()
    return user


UserDep = Annotated[DeskUser, Depends(signed_in)]


def inner(request: Request, user: UserDep) -> Inner:
    return Inner(request, user.who)


InnerDep = Annotated[Inner, Depends(inner)]


def after(outcome: Outcome, to: str, note: str) -> RedirectResponse:
    """Post, redirect, get: the page it returns to reads the command's own effect (its
    position) and says what was done."""
    sep = "&" if "?" in to else "?"
    target = f"{to}{sep}min_position={outcome.position}&done={quote(note)}"
    return RedirectResponse(target, status_code=303)


def refusal_status(outcome: Outcome) -> int:
    status = int((outcome.problem or {}).get("status") or 422)
    return status if 400 <= status < 500 else 422


def forbidden_page(request: Request, user: DeskUser, outcome: Outcome) -> HTMLResponse | None:
    """A refusal for the role (a form the page never offered them): its own page."""
    if refusal_status(outcome) != 403:
        return None
    return page(request, user, "problem.html", 403, problem=outcome.problem)


def unavailable(request: Request, user: DeskUser, answer: Answer) -> HTMLResponse:
    """A read the API could not answer: a parameter it refused (422), an unknown id
    (404), a read model still catching up (503), or its own failure (502)."""
    status = answer.status if answer.status in (404, 422, 503) else 502
    headers = {"Retry-After": "1"} if status == 503 else {}
    response = page(request, user, "problem.html", status, problem=answer.problem)
    response.headers.update(headers)
    return response


def unknown_action(request: Request, user: DeskUser, action: str) -> HTMLResponse:
    problem = {"title": "Unknown action", "detail": f"this page has no action {action!r}"}
    return page(request, user, "problem.html", 400, problem=problem)


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, exc: SignInRequired) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/signin?next={quote(target)}", status_code=303)

    api_validation = app.exception_handlers.get(RequestValidationError)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        """A desk URL with a malformed id or parameter is a page, not problem JSON."""
        if request.url.path.startswith("/v1/") or api_validation is None:
            assert api_validation is not None
            return await _call(api_validation, request, exc)
        detail = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        problem = {"title": "That address is not valid", "detail": detail, "status": 422}
        return page(request, None, "problem.html", 422, problem=problem)

    @app.exception_handler(Forbidden)
    async def _forbidden(request: Request, exc: Forbidden) -> Response:
        problem: dict[str, Any] = {"title": "Refused", "detail": str(exc), "status": 403}
        return page(request, None, "problem.html", 403, problem=problem)


async def _call(handler: Any, request: Request, exc: Exception) -> Response:
    answer = handler(request, exc)
    result: Response = await answer if inspect.isawaitable(answer) else answer
    return result


NAMES_MAX = 50


async def account_names(api: Inner, ids: set[str]) -> dict[str, str]:
    """The names of the accounts ``ids`` names (the first ``NAMES_MAX`` of them), for
    pages that list rows by account; an account the API does not find has none."""

    async def name(account_id: str) -> tuple[str, str | None]:
        found = await api.get(f"/v1/accounts/{account_id}")
        return account_id, (found.json() or {}).get("name") if found.ok else None

    named = await asyncio.gather(*(name(a) for a in sorted(ids)[:NAMES_MAX]))
    return {a: n for a, n in named if n}
