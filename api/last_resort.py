"""The last resort: an unexpected failure anywhere in a request is logged with its
traceback and answered as a 500 ``internal-error`` problem (a plain page for the desk,
never a stack trace), and the exception stops here.

Starlette's own error layer sends its 500 and then raises the exception again for the
server, which then drops the connection: a client on a kept-alive connection saw
"connection reset" instead of the problem. This middleware sits inside that layer and
outside every other, so nothing reaches it.

Two failures are not the server's. A read that PostgreSQL failed to break a deadlock or a
lock race with a writer of the same tables (a replay switching its rebuilt tables in, a
migration): a GET or HEAD changes nothing, so it is run again, a moment later, before
anything of its reply has been sent. And a connection the database cut (a restart, a
failover, a proxy dropping sessions): the pools' idle connections are checked at once
(the cut ones replaced), a read is run again, and a command is answered 503
``database-unavailable`` with ``Retry-After``. A command whose connection was cut either
committed or appended nothing: the retry with the same Idempotency-Key is answered with
what it did, or runs it."""

from __future__ import annotations

import asyncio
import logging

import psycopg
from eventsourcing import persistence
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from api.door import App, Message, Receive, Scope, Send
from api.problems import database_unavailable, internal_error

log = logging.getLogger("arledger.api")
# A read that lost a lock race with a writer: nothing was changed, asking again answers.
LOST_RACES = (
    psycopg.errors.DeadlockDetected,
    psycopg.errors.LockNotAvailable,
    psycopg.errors.SerializationFailure,
)
# A connection the database (or the network) cut under a request.
CONNECTION_LOST = (
    psycopg.OperationalError,
    psycopg.InterfaceError,
    persistence.OperationalError,
    persistence.InterfaceError,
)
READ_ATTEMPTS = 3
READS = frozenset({"GET", "HEAD"})
DESK_FAILURE = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Something went wrong'
    '</title><link rel="stylesheet" href="/static/desk.css"></head><body><main><h1>Something'
    " went wrong</h1><p>The server failed on this page. It has been logged. Nothing you"
    ' submitted was recorded twice: sending the same form again is safe.</p><p><a href="/">'
    "Back to your desk</a></p></main></body></html>"
)


class LastResort:
    """ASGI middleware: see the module's docstring."""

    def __init__(self, app: App) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        attempts = READ_ATTEMPTS if scope.get("method") in READS else 1
        for attempt in range(1, attempts + 1):
            try:
                await self.app(scope, receive if attempt == 1 else _no_body(receive), sending)
                return
            except LOST_RACES as exc:
                if attempt < attempts and not started:
                    log.info(
                        "a read lost a lock race; reading again",
                        extra={"path": scope.get("path"), "attempt": attempt, "error": repr(exc)},
                    )
                    await asyncio.sleep(0.05 * attempt)
                    continue
                log.error("unhandled error", exc_info=exc, extra={"path": scope.get("path")})
            except CONNECTION_LOST as exc:
                await _check_pools(scope)
                if attempt < attempts and not started:
                    log.info(
                        "a read lost its database connection; reading again",
                        extra={"path": scope.get("path"), "attempt": attempt, "error": repr(exc)},
                    )
                    continue
                log.warning(
                    "the database connection was lost",
                    extra={"path": scope.get("path"), "error": repr(exc)},
                )
                if not started:
                    await database_unavailable(scope.get("path", ""))(scope, receive, send)
                return
            except Exception as exc:
                log.error("unhandled error", exc_info=exc, extra={"path": scope.get("path")})
            if not started:  # once a reply has begun, ending it is all that is left
                await failure(Request(scope))(scope, receive, send)
            return


async def _check_pools(scope: Scope) -> None:
    """Check the idle connections of the API's pools, replacing those the database cut,
    so that the next request (and a read's next attempt) gets a live one."""
    app = scope.get("app")
    services = getattr(getattr(app, "state", None), "services", None)
    if services is None:
        return
    try:
        await asyncio.to_thread(services.check_connections)
    except (*CONNECTION_LOST, psycopg.Error) as exc:  # still away: the pools reconnect later
        log.warning("could not check the pools' connections", extra={"error": repr(exc)})


def _no_body(receive: Receive) -> Receive:
    """A read's request again: its (empty) body was taken by the first attempt."""
    given = False

    async def again() -> Message:
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": b"", "more_body": False}
        return await receive()

    return again


def failure(request: Request) -> Response:
    """The 500 for ``request``: a page for a browser on the desk, else a problem."""
    wants_page = "text/html" in request.headers.get("accept", "")
    if wants_page and not request.url.path.startswith("/v1/"):
        return HTMLResponse(DESK_FAILURE, status_code=500)
    return internal_error(request.url.path)
