"""What the next dunning notice would rest on, before it is sent."""

from __future__ import annotations

from datetime import date
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query
from pydantic import BaseModel

from api.deps import PrincipalDep, ServicesDep
from api.fields import Day
from api.routes.shaping import today
from api.schemas import MoneyModel
from ledger.notice_preview import preview

router = APIRouter(tags=["collections"])


class PreviewRow(BaseModel):
    invoice_id: UUID
    number: str
    due_on: date
    days_overdue: int
    outstanding: MoneyModel
    disputed: MoneyModel
    chased: MoneyModel
    reissue: bool


class StagePreviewPublic(BaseModel):
    stage: str
    rows: list[PreviewRow]
    total_chased: MoneyModel
    refused: str | None


class NoticePreview(BaseModel):
    account_id: UUID
    on: date
    stages: list[StagePreviewPublic]


@router.get("/v1/accounts/{account_id}/notices/preview", response_model=NoticePreview)
def preview_notices(
    account_id: UUID,
    svc: ServicesDep,
    _: PrincipalDep,
    on: Annotated[Day | None, Query(description="the notice's date (default today, UTC)")] = None,
) -> NoticePreview:
    """For each stage (reminder, final demand, default notice): the invoices a notice
    issued on `on` would rest on, with the same evidence the notice records, or why none
    can be sent. From the store; appends nothing."""
    day = on or today()
    stages = [
        StagePreviewPublic(
            stage=s.stage,
            rows=[
                PreviewRow(
                    **{k: r[k] for k in ("invoice_id", "number", "due_on", "days_overdue")},
                    outstanding=MoneyModel.of(r["outstanding"]),
                    disputed=MoneyModel.of(r["disputed"]),
                    chased=MoneyModel.of(r["chased"]),
                    reissue=r["reissue"],
                )
                for r in s.rows
            ],
            total_chased=MoneyModel.of(s.total),
            refused=s.refused,
        )
        for s in preview(svc.ledger, account_id, day)
    ]
    return NoticePreview(account_id=account_id, on=day, stages=stages)
