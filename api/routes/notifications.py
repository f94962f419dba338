"""What the default sender wrote: the notification outbox."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query

from api.deps import PrincipalDep, ServicesDep
from channels.senders import outbox

router = APIRouter(tags=["notifications"])


@router.get("/v1/notifications/outbox")
def notification_outbox(
    svc: ServicesDep,
    _: PrincipalDep,
    account_id: UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> dict[str, Any]:
    """Messages the ``outbox`` sender wrote (failed payments, to the account's
    coordinator and client), oldest first. Each notification and each delivery is also
    an event in the account's history (``notification.queued``, ``.delivered``,
    ``.delivery_failed``)."""
    return {"messages": outbox(svc.pool, account_id, limit)}
