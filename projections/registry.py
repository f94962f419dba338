"""The projections this service runs, by name."""

from __future__ import annotations

from projections import audit, balances, notification_requests, receivables
from projections.balance_bulk import BalancesBulk
from projections.writer import Projection

BALANCES = Projection(
    name=balances.NAME,
    schema=balances.SCHEMA,
    apply=balances.apply,
    apply_new=balances.apply_new,
    bulk=BalancesBulk,
)
RECEIVABLES = Projection(name=receivables.NAME, schema=receivables.SCHEMA, apply=receivables.apply)
AUDIT = Projection(name=audit.NAME, schema=audit.SCHEMA, apply=audit.apply)

NOTIFICATIONS = Projection(
    name=notification_requests.NAME,
    schema=notification_requests.SCHEMA,
    apply=notification_requests.apply,
)

PROJECTIONS: dict[str, Projection] = {
    p.name: p for p in (BALANCES, RECEIVABLES, AUDIT, NOTIFICATIONS)
}
