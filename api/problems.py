"""RFC 9457 problem details: every error the API returns, in one place, with a stable
``type`` per error.

Domain errors (``ledger/errors.py``, and the subclasses other packages define of its
kinds) map to a status through one table, read up the class hierarchy; the problems only
the HTTP layer raises are here too: ``ApiProblem`` with its catalogue of codes, and the
domain-shaped refusals of the API's own parameters."""

from __future__ import annotations

from typing import Any

import stripe
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ledger import errors

PROBLEM_MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "/v1/problems/"

# The HTTP status of each kind of domain error: an error not listed takes its nearest
# listed ancestor's. Errors defined outside ledger/errors.py (in channels/, projections/
# and here) subclass one of these kinds, so this table never names them.
STATUS_BY_ERROR: dict[type[errors.LedgerError], int] = {
    errors.LedgerError: 400,
    errors.InvalidRequest: 422,
    errors.NotFound: 404,
    errors.RuleViolation: 409,
    errors.CurrencyMismatch: 422,
    errors.WrongAccount: 422,
    errors.NotAuthorised: 403,
    errors.Unavailable: 503,
}


class ApiProblem(Exception):
    """An error raised by the HTTP layer itself (authentication, idempotency, waiting)."""

    def __init__(
        self,
        status: int,
        code: str,
        title: str,
        detail: str,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.status, self.code, self.title, self.detail = status, code, title, detail
        self.headers = headers or {}
        self.extensions = extensions


class BadPeriod(errors.InvalidRequest):
    """A report or statement asked for a period that is not one (it ends before it
    starts, runs too long, or names no period we know)."""

    code = "bad-period"
    title = "The period asked for is not valid"


class UnknownPosition(errors.NotFound):
    """The audit read model holds no event at the position asked for."""

    code = "unknown-position"
    title = "No event at this position"


# Every problem type the API can return, served at /v1/problems for client authors.
CATALOGUE: dict[str, str] = {
    "missing-api-key": "No API key was sent",
    "invalid-api-key": "The API key is not valid",
    "forbidden": "The API key's role may not do this",
    "idempotency-key-required": "Idempotency-Key header missing",
    "idempotency-key-reused": "Idempotency-Key reused with another request",
    "request-in-progress": "A request with this Idempotency-Key is still running",
    "projection-lagging": "The read model has not caught up yet",
    "not-found": "Not found",
    "validation-error": "The request is not valid",
    "internal-error": "Internal error",
    "unknown-checkpoint": "No such checkpoint",
    "unknown-event": "No such event under the checkpoint",
    "no-signing-key": "Checkpoints are not signed",
    "empty-log": "Nothing to checkpoint",
    "unknown-api-key": "No such API key",
    "bad-export": "The export cannot be made",
    "stripe-error": "Stripe failed the request",
    "body-too-large": "The request body is too large",
    "read-model-held": "The account's read model is held back by an event it could not apply",
    "not-acceptable": "None of the media types asked for is served",
    "method-not-allowed": "The path does not take this method",
    "unparsable-body": "The request body could not be parsed",
    "http-error": "The HTTP request failed",
    "database-unavailable": "The database connection was lost",
}

# The errors the web framework raises itself (routing, reading a form): a problem type
# for each status it uses, and ``http-error`` for any other.
FRAMEWORK_CODES = {400: "unparsable-body", 404: "not-found", 405: "method-not-allowed"}


# Domain errors the API never answers with, so /v1/problems leaves them out: parents that
# are never raised themselves (every refusal raises a subclass with a code of its own),
# and refusals only the background workers meet (the scheduler noting an invoice overdue,
# the notifier recording a delivery), which they handle.
NOT_ANSWERED = frozenset(
    {
        "ledger-error",
        "rule-violation",
        "not-authorised",
        "unavailable",
        "webhook-rejected",
        "invoice-not-newly-overdue",
        "notification-already-delivered",
        "unknown-notification",
    }
)


def status_of(error: errors.LedgerError) -> int:
    for kind in type(error).__mro__:
        if kind in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[kind]
    return 400


def problem(
    status: int,
    code: str,
    title: str,
    detail: str,
    instance: str,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    body = {
        "type": TYPE_BASE + code,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
        **extensions,
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def problem_body(error: errors.LedgerError, instance: str) -> dict[str, Any]:
    return {
        "type": TYPE_BASE + error.code,
        "title": error.title,
        "status": status_of(error),
        "detail": error.detail,
        "instance": instance,
        **error.extensions,
    }


def ledger_problem(error: errors.LedgerError, instance: str) -> JSONResponse:
    """The domain error as problem+json; a 503 (nothing appended, retry: writers racing,
    a read model behind) says when, as a command's kept 503 reply does (``Reply``)."""
    status = status_of(error)
    headers = {"Retry-After": "1"} if status == 503 else None
    return JSONResponse(
        problem_body(error, instance),
        status_code=status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=headers,
    )


def _validation_problem(request: Request, exc: RequestValidationError) -> JSONResponse:
    for err in exc.errors():
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, errors.LedgerError):
            return ledger_problem(cause, request.url.path)
    issues = [
        {"field": ".".join(str(p) for p in err["loc"]), "message": err["msg"]}
        for err in exc.errors()
    ]
    detail = "; ".join(f"{i['field']}: {i['message']}" for i in issues)
    return problem(
        422,
        "validation-error",
        CATALOGUE["validation-error"],
        detail,
        request.url.path,
        errors=issues,
    )


def stripe_problem(exc: stripe.StripeError, instance: str) -> JSONResponse:
    """Stripe failed a call we made: a 502 that names Stripe's own status, code and
    message. Nothing was recorded, so the same Idempotency-Key may be retried."""
    message = exc.user_message or str(exc) or type(exc).__name__
    status = exc.http_status
    said = f"{status or 'without a status'}" + (f" ({exc.code})" if exc.code else "")
    return problem(
        502,
        "stripe-error",
        CATALOGUE["stripe-error"],
        f"Stripe answered {said}: {message}",
        instance,
        {"Retry-After": "5"} if status is None or status >= 500 else None,
        stripe_status=status,
        stripe_code=exc.code,
        stripe_message=message,
    )


def framework_problem(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    """An error the framework raised: a listed problem type, its status, and its
    headers kept (a 405 says which methods the path takes, in ``Allow``)."""
    code = FRAMEWORK_CODES.get(exc.status_code, "http-error")
    detail = str(exc.detail)
    headers = dict(exc.headers or {})
    allowed = headers.get("Allow")
    if code == "method-not-allowed" and allowed:
        detail = f"{request.method} is not taken here; the path takes {allowed}"
    return problem(
        exc.status_code, code, CATALOGUE[code], detail, request.url.path, headers or None
    )


def install(app: FastAPI) -> None:
    """Map every error to problem+json."""

    @app.exception_handler(errors.LedgerError)
    def _ledger(request: Request, exc: errors.LedgerError) -> JSONResponse:
        return ledger_problem(exc, request.url.path)

    @app.exception_handler(ApiProblem)
    def _api(request: Request, exc: ApiProblem) -> JSONResponse:
        return problem(
            exc.status,
            exc.code,
            exc.title,
            exc.detail,
            request.url.path,
            exc.headers,
            **exc.extensions,
        )

    @app.exception_handler(RequestValidationError)
    def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _validation_problem(request, exc)

    @app.exception_handler(stripe.StripeError)
    def _stripe(request: Request, exc: stripe.StripeError) -> JSONResponse:
        return stripe_problem(exc, request.url.path)

    @app.exception_handler(StarletteHTTPException)
    def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return framework_problem(request, exc)


def install_fallback(app: FastAPI) -> None:
    """An unexpected failure is logged with its traceback and answered as a problem (a
    page for the desk), on a connection that stays usable (``api.last_resort``)."""
    from api.last_resort import LastResort

    app.add_middleware(LastResort)


def internal_error(instance: str) -> JSONResponse:
    return problem(
        500,
        "internal-error",
        CATALOGUE["internal-error"],
        "the server failed; the command may be retried with the same Idempotency-Key",
        instance,
    )


def database_unavailable(instance: str) -> JSONResponse:
    return problem(
        503,
        "database-unavailable",
        CATALOGUE["database-unavailable"],
        "the connection to the database was lost; a command either committed or appended "
        "nothing: send it again with the same Idempotency-Key",
        instance,
        {"Retry-After": "1"},
    )
