"""Signing in to the desk with an API key, and signing out."""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from api.desk.common import UserDep, sessions
from api.desk.forms import Forbidden, read_form
from api.desk.render import HOME_BY_ROLE, page
from api.desk.sessions import COOKIE

router = APIRouter(include_in_schema=False)
# Signing in has no session yet: its CSRF token is a double-submitted cookie.
SIGNIN_COOKIE = "arledger_desk_signin"


def _safe_next(target: str | None) -> str | None:
    """Only a path of this site: never an open redirect."""
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return None


@router.get("/signin")
def signin_form(request: Request, next: str | None = None) -> HTMLResponse:
    nonce = secrets.token_urlsafe(24)
    response = page(request, None, "signin.html", nonce=nonce, next=_safe_next(next) or "")
    response.set_cookie(SIGNIN_COOKIE, nonce, max_age=600, httponly=True, samesite="strict")
    return response


@router.post("/signin")
def sign_in(
    request: Request,
    api_key: Annotated[str, Form(max_length=400)] = "",
    csrf: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    expected = request.cookies.get(SIGNIN_COOKIE) or ""
    if not expected or not hmac.compare_digest(csrf.encode(), expected.encode()):
        raise Forbidden("the sign-in form's CSRF token is missing or does not match")
    desk = sessions(request)
    cookie = desk.sign_in(api_key.strip()) if api_key.strip() else None
    if cookie is None:
        nonce = secrets.token_urlsafe(24)
        response: Response = page(
            request,
            None,
            "signin.html",
            401,
            nonce=nonce,
            next=_safe_next(next) or "",
            error="That API key is not valid, or it was revoked.",
        )
        response.set_cookie(SIGNIN_COOKIE, nonce, max_age=600, httponly=True, samesite="strict")
        return response
    who = desk.find(cookie)
    home = HOME_BY_ROLE.get(who.who.role, "/payments") if who else "/payments"
    response = RedirectResponse(_safe_next(next) or home, status_code=303)
    response.set_cookie(
        COOKIE,
        cookie,
        max_age=desk.max_age_seconds(),
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
    response.delete_cookie(SIGNIN_COOKIE)
    return response


@router.post("/signout")
async def sign_out(request: Request, user: UserDep) -> Response:
    await read_form(request, user)
    sessions(request).sign_out(user)
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(COOKIE)
    return response


@router.get("/")
def home(request: Request, user: UserDep) -> Response:
    return RedirectResponse(HOME_BY_ROLE.get(user.who.role, "/payments"), status_code=303)
