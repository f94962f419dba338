"""API keys, for the admin: issue (the secret is shown once), list (never the secret),
revoke; and the access log of refused calls."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api.deps import AdminDep, CommandDep, ServicesDep
from api.idempotency import check_key
from api.problems import ApiProblem

router = APIRouter(tags=["access"])

Role = Literal["coordinator", "manager", "auditor", "service", "admin"]


class NewApiKey(BaseModel):
    role: Role
    actor: str = Field(min_length=1, max_length=200, description="stamped on every event")
    label: str | None = Field(default=None, max_length=200)


@router.post("/v1/api-keys", status_code=201)
def issue_key(body: NewApiKey, svc: ServicesDep, who: AdminDep, ctx: CommandDep) -> JSONResponse:
    """Issue a key. The reply holds ``secret`` this once; a retry with the same
    Idempotency-Key answers with the same key and no secret."""
    check_key(ctx.key)
    issued, secret = svc.access.issue(
        ctx.id_for("api-key"), body.role, body.actor, body.label, who.actor
    )
    reply = {**issued.to_json(), "secret": secret}
    return JSONResponse(reply, status_code=201 if secret else 200)


@router.get("/v1/api-keys")
def list_keys(
    svc: ServicesDep, who: AdminDep, include_revoked: Annotated[bool, Query()] = False
) -> dict[str, Any]:
    return {"api_keys": [k.to_json() for k in svc.access.listing(include_revoked)]}


@router.post("/v1/api-keys/{key_id}/revoke")
def revoke_key(key_id: UUID, svc: ServicesDep, who: AdminDep) -> dict[str, Any]:
    """Revoke a key; it stops working at once here and within seconds everywhere.
    Revoking a revoked key changes nothing."""
    revoked = svc.access.revoke(key_id, who.actor)
    if revoked is None:
        raise ApiProblem(404, "unknown-api-key", "No such API key", f"no API key {key_id}")
    return revoked.to_json()


@router.get("/v1/access-log")
def access_log(
    svc: ServicesDep, who: AdminDep, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> dict[str, Any]:
    """Refused calls, newest first."""
    rows = svc.access.access_log(limit)
    return {"entries": [{**r, "at": r["at"].isoformat()} for r in rows]}
