"""Reusable dependencies: the services, the caller, the command context, read-your-writes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate
from fastapi import Depends, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from api.auth import AUDITOR_ROLES, WRITER_ROLES, Principal
from api.idempotency import Reply, command_id, request_hash
from api.problems import ApiProblem
from api.services import Services
from infra.recorder import Mark
from ledger.limits import POSITION_MAX
from ledger.stamp import Stamp
from ledger.store import Saved
from projections import tracking
from projections.audit import NAME as AUDIT
from projections.balances import NAME as BALANCES
from projections.receivables import NAME as RECEIVABLES


async def services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc


ServicesDep = Annotated[Services, Depends(services)]


# The desk calls the API in-process for its signed-in user: the principal travels in the
# ASGI scope, where no HTTP client can put it (see ``api.desk.inner``).
DESK_PRINCIPAL = "arledger.desk.principal"


async def principal(
    request: Request, svc: ServicesDep, authorization: Annotated[str | None, Header()] = None
) -> Principal:
    """The caller, from ``Authorization: Bearer <api key>`` (or the desk's session)."""
    return await _caller(request, svc, authorization)


async def _caller(request: Request, svc: Services, authorization: str | None) -> Principal:
    signed_in = request.scope.get(DESK_PRINCIPAL)
    if isinstance(signed_in, Principal):
        return signed_in
    challenge = {"WWW-Authenticate": 'Bearer realm="arledger"'}
    if not authorization:
        raise ApiProblem(
            401,
            "missing-api-key",
            "No API key was sent",
            "send 'Authorization: Bearer <api key>'",
            headers=challenge,
        )
    scheme, _, key = authorization.partition(" ")
    who = None
    if scheme.lower() == "bearer" and key.strip():
        who = svc.keys.find(key.strip()) or await run_in_threadpool(svc.access.find, key.strip())
    if who is None:
        raise ApiProblem(
            401,
            "invalid-api-key",
            "The API key is not valid",
            "the bearer token is not a known API key (or it was revoked)",
            headers=challenge,
        )
    return who


PrincipalDep = Annotated[Principal, Depends(principal)]


def allow(*roles: str) -> Callable[..., Any]:
    """A dependency that lets only ``roles`` through: any other role is a 403, and the
    refusal is recorded in the access log. The roles appear in the OpenAPI document."""
    allowed = frozenset(roles)

    async def guard(request: Request, who: PrincipalDep, svc: ServicesDep) -> Principal:
        return await _admitted(request, who, svc, allowed)

    guard.roles = tuple(sorted(allowed))  # type: ignore[attr-defined]
    return guard


async def _admitted(
    request: Request, who: Principal, svc: Services, allowed: frozenset[str]
) -> Principal:
    """``who``, if its role is one of ``allowed``; else a 403, recorded."""
    if who.role in allowed:
        return who
    reason = (
        f"role {who.role!r} may not {request.method} {request.url.path}; "
        f"allowed: {', '.join(sorted(allowed))}"
    )
    path = request.url.path
    await run_in_threadpool(svc.access.record_refusal, who, request.method, path, reason)
    raise ApiProblem(403, "forbidden", "The API key's role may not do this", reason, role=who.role)


WriterDep = Annotated[Principal, Depends(allow(*WRITER_ROLES))]
AuditorDep = Annotated[Principal, Depends(allow(*AUDITOR_ROLES))]
AdminDep = Annotated[Principal, Depends(allow("admin"))]


class CommandContext:
    """Everything a POST needs besides its body: caller, idempotency key, correlation."""

    def __init__(
        self, request: Request, who: Principal, key: str | None, correlation_id: str | None
    ) -> None:
        self.request = request
        self.who = who
        self.key = key
        self.correlation_id = correlation_id or str(uuid4())

    def stamp(self) -> Stamp:
        cause = str(command_id(self.who.actor, self.key or "", "command"))
        return Stamp(self.who.actor, self.correlation_id, cause, datetime.now(UTC))

    def id_for(self, purpose: str) -> UUID:
        return command_id(self.who.actor, self.key or "", purpose)

    def fingerprint(self, body: object) -> str:
        return request_hash(self.request.method, self.request.url.path, body)

    def run(
        self,
        body: BaseModel,
        command: Callable[[], Reply],
        recover: Callable[[Mark], Reply] | None = None,
    ) -> JSONResponse:
        """Run ``command`` once for this Idempotency-Key and answer with its reply, or
        with the reply it gave the first time (``recover`` rebuilds it from the command's
        mark when the command committed but its reply was lost)."""
        svc: Services = self.request.app.state.services
        fingerprint = self.fingerprint(body.model_dump(mode="json"))
        reply = svc.idempotency.run(
            self.who.actor, self.key, fingerprint, self.request.url.path, command, recover
        )
        return reply.response()

    def save(
        self,
        body: BaseModel,
        command: Callable[[], Saved],
        shape: Callable[[Any, int], BaseModel],
        status: int = 200,
    ) -> JSONResponse:
        """Run a command that saves one aggregate, once for this Idempotency-Key, and
        answer with ``shape`` of the aggregate and the position it reached."""

        def reply() -> Reply:
            saved = command()
            body = shape(saved.aggregate, saved.position).model_dump(mode="json")
            # A save that appended left its mark and reply in the store: rebuildable.
            return Reply(status, body, rebuildable=not saved.replayed)

        def recover(mark: Mark) -> Reply:
            """The reply, again: the aggregate as the command saved it."""
            svc: Services = self.request.app.state.services
            assert mark.reply_id is not None  # recover is asked only for a mark with one
            then: Aggregate = svc.ledger.repository.get(mark.reply_id, version=mark.reply_version)
            position = mark.position or svc.ledger.head_position()
            return Reply(status, shape(then, position).model_dump(mode="json"))

        return self.run(body, reply, recover)


# The headers a command reads, read from the request rather than declared as parameters
# (FastAPI analyses and validates a declared header anew on every request: the three
# cost a seventh of the API's own work per command). ``api.app`` documents them on
# every command's route as FastAPI did: name, title, and the correlation id's limit.
CORRELATION_ID_LENGTH_MAX = 200
COMMAND_HEADERS = {
    "idempotency-key": ("Idempotency-Key", None),
    "x-correlation-id": ("X-Correlation-Id", CORRELATION_ID_LENGTH_MAX),
    "authorization": ("Authorization", None),
}


def command_header_parameters(declared: set[str]) -> list[dict[str, Any]]:
    """The OpenAPI parameters of the headers a command reads, but those in ``declared``."""
    parameters = []
    for name, (title, length_max) in COMMAND_HEADERS.items():
        text: dict[str, Any] = {"type": "string"}
        if length_max is not None:
            text["maxLength"] = length_max
        schema = {"anyOf": [text, {"type": "null"}], "title": title}
        if name not in declared:
            parameters.append({"name": name, "in": "header", "required": False, "schema": schema})
    return parameters


async def command_context(request: Request) -> CommandContext:
    """The caller (a writer's key, as ``WriterDep`` checks one), its Idempotency-Key and
    correlation id. One dependency, with no parameters of its own to solve: this runs
    on every command."""
    # Dependencies that do no I/O are async: a sync one costs a hop to the thread pool.
    svc: Services = request.app.state.services
    headers = request.headers
    who = await _caller(request, svc, headers.get("authorization"))
    who = await _admitted(request, who, svc, WRITER_ROLES)
    correlation_id = _checked_correlation_id(headers.get("x-correlation-id"))
    return CommandContext(request, who, headers.get("idempotency-key"), correlation_id)


def _checked_correlation_id(value: str | None) -> str | None:
    """The X-Correlation-Id, refused as FastAPI refused it when it was declared."""
    if value is not None and len(value) > CORRELATION_ID_LENGTH_MAX:
        limit = CORRELATION_ID_LENGTH_MAX
        raise RequestValidationError(
            [
                {
                    "type": "string_too_long",
                    "loc": ("header", "x-correlation-id"),
                    "msg": f"String should have at most {limit} characters",
                    "input": value,
                    "ctx": {"max_length": limit},
                }
            ]
        )
    return value


command_context.roles = tuple(sorted(WRITER_ROLES))  # type: ignore[attr-defined]
CommandDep = Annotated[CommandContext, Depends(command_context)]


def _min_position_for(projection: str) -> Callable[..., int]:
    """Read-your-writes on ``projection``: hold the query until that read model has
    applied every event up to ``min_position``, or answer 503 with Retry-After."""

    def min_position(
        svc: ServicesDep,
        min_position: Annotated[
            int,
            Query(
                ge=0,
                le=POSITION_MAX,
                description=(
                    "wait until the read model has applied every event up to this store "
                    "position (a command's `position`), then answer"
                ),
            ),
        ] = 0,
    ) -> int:
        if min_position and not tracking.wait_for(
            svc.pool,
            projection,
            svc.settings.topic,
            min_position,
            svc.settings.query_wait_ms / 1000,
            watch=svc.watch,
        ):
            raise ApiProblem(
                503,
                "projection-lagging",
                "The read model has not caught up yet",
                f"the {projection} read model has not yet reached position {min_position}; "
                "retry shortly",
                headers={"Retry-After": "1"},
                min_position=min_position,
                projection=projection,
            )
        return min_position

    return min_position


MinPositionDep = Annotated[int, Depends(_min_position_for(BALANCES))]
ReceivablesPositionDep = Annotated[int, Depends(_min_position_for(RECEIVABLES))]
AuditPositionDep = Annotated[int, Depends(_min_position_for(AUDIT))]
