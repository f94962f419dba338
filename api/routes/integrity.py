"""Integrity for the auditor: verify the store, take and list checkpoints, prove that an
event is in a checkpointed log, the public key that checks the signatures, and the
export of a period."""

from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from starlette.concurrency import run_in_threadpool

from api.deps import AuditorDep, PrincipalDep, ServicesDep
from api.fields import Day, Position
from api.problems import ApiProblem
from api.services import Services
from infra.integrity import checkpoints, merkle
from infra.integrity.signing import public_pem
from ledger.limits import POSITION_MAX
from projections.exports import ExportBehind, ExportError, export_period

router = APIRouter(tags=["integrity"])


@router.get("/v1/integrity/verification")
async def verification(svc: ServicesDep, who: AuditorDep) -> JSONResponse:
    """Recompute every stream's hash chain and every checkpoint (with its signature when
    a public key is configured). 200 whatever is found: ``ok`` says, and
    ``first_broken`` names the first broken link."""

    def run() -> dict[str, Any]:
        with svc.pool.connection() as conn:
            return svc.integrity.verify(conn).to_json()

    return JSONResponse(await run_in_threadpool(run))


@router.get("/v1/checkpoints")
def list_checkpoints(svc: ServicesDep, who: AuditorDep) -> dict[str, Any]:
    with svc.pool.connection() as conn:
        found = checkpoints.all_checkpoints(conn)
    return {"checkpoints": [cp.to_json() for cp in found]}


@router.post("/v1/checkpoints", status_code=201)
def take_checkpoint(
    svc: ServicesDep,
    who: AuditorDep,
    up_to: Annotated[
        int | None, Query(ge=1, le=POSITION_MAX, description="default: the store's head")
    ] = None,
) -> dict[str, Any]:
    """A checkpoint now (or at ``up_to``): the one already there for that position, or
    a new one. Idempotent by position, so it needs no Idempotency-Key."""
    with svc.pool.connection() as conn:
        cp = svc.integrity.checkpoint(conn, up_to)
    if cp is None:
        raise ApiProblem(
            409, "empty-log", "Nothing to checkpoint", "the store holds no events up to there"
        )
    return cp.to_json()


@router.get("/v1/checkpoints/{position}/proof")
def inclusion_proof(
    svc: ServicesDep,
    who: AuditorDep,
    position: Position,
    event: Annotated[int, Query(ge=1, le=POSITION_MAX, description="the event's store position")],
) -> dict[str, Any]:
    """The RFC 6962 audit path that ties the event at ``event`` to the checkpoint at
    ``position``."""
    return _proof(svc, position, event)


def _proof(svc: Services, position: int, event: int) -> dict[str, Any]:
    with svc.pool.connection() as conn:
        cp = checkpoints.latest(conn, position)
        if cp is None or cp.position != position:
            raise ApiProblem(
                404, "unknown-checkpoint", "No such checkpoint", f"no checkpoint at {position}"
            )
        found = list(checkpoints.leaves(conn, svc.integrity.events_table, 0, cp.position))
    positions = [p for p, _ in found]
    if event not in positions:
        raise ApiProblem(
            404,
            "unknown-event",
            "No such event under the checkpoint",
            f"no event at position {event} up to position {cp.position}",
        )
    index = positions.index(event)
    leaves = [leaf for _, leaf in found]
    return {
        "checkpoint": cp.to_json(),
        "event_position": event,
        "leaf_index": index,
        "leaf_hash": leaves[index].hex(),
        "audit_path": [h.hex() for h in merkle.inclusion_proof(leaves, index)],
    }


@router.get("/v1/integrity/public-key", response_class=PlainTextResponse)
def public_key(svc: ServicesDep, who: PrincipalDep) -> PlainTextResponse:
    """The Ed25519 public key (PEM) that verifies the checkpoints' signatures."""
    if svc.integrity.public_key is None:
        raise ApiProblem(
            404, "no-signing-key", "Checkpoints are not signed", "no signing key is configured"
        )
    return PlainTextResponse(public_pem(svc.integrity.public_key))


@router.get("/v1/exports", response_class=Response)
async def export(
    svc: ServicesDep,
    who: AuditorDep,
    start: Annotated[Day, Query(alias="from", description="first day (UTC) of the period")],
    end: Annotated[Day, Query(alias="to", description="last day (UTC) of the period")],
) -> Response:
    """The auditor's pack for the period as one zip: the same files, byte for byte, as
    ``arledger export`` writes; the same period asked twice gives the same bytes."""

    def build() -> bytes:
        with tempfile.TemporaryDirectory() as tmp, svc.pool.connection() as conn:
            out = Path(tmp) / "pack"
            try:
                export_period(
                    conn,
                    svc.integrity,
                    start,
                    end,
                    out,
                    relay=svc.settings.topic,
                    wait_seconds=svc.settings.query_wait_ms / 1000,
                )
            except ExportBehind as e:  # transient, like any read before its read model
                raise ApiProblem(
                    503,
                    "projection-lagging",
                    "The read model has not caught up yet",
                    str(e),
                    headers={"Retry-After": "1"},
                ) from e
            except ExportError as e:
                raise ApiProblem(422, "bad-export", "The export cannot be made", str(e)) from e
            return deterministic_zip(out, f"arledger-{start}-{end}")

    body = await run_in_threadpool(build)
    name = f"arledger-audit-{start}-{end}.zip"
    return Response(
        body,
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def deterministic_zip(directory: Path, prefix: str) -> bytes:
    """The files of ``directory`` in a zip with fixed names, order and times."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(directory.iterdir()):
            info = zipfile.ZipInfo(f"{prefix}/{path.name}", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, path.read_bytes())
    return buffer.getvalue()
