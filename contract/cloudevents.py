"""CloudEvents 1.0, structured JSON mode: how an event leaves the store."""

from __future__ import annotations

from typing import Any

from eventsourcing.persistence import Notification

from contract import catalog, stored
from ledger.application import Ledger

SOURCE = "urn:arledger:ledger"
CONTENT_TYPE = "application/cloudevents+json"


def to_cloudevent(ledger: Ledger, notification: Notification) -> dict[str, Any]:
    """The CloudEvent for one stored event, carrying its global ``position`` in the store
    and the provenance every event has (actor, business time, correlation, causation).
    Read from the stored JSON where that can be done surely (``contract/stored.py``),
    else from the domain event the mapper makes: the same dict either way."""
    ce = stored.cloudevent(ledger.mapper, notification, SOURCE)
    return ce if ce is not None else decoded(ledger, notification)


def decoded(ledger: Ledger, notification: Notification) -> dict[str, Any]:
    """:func:`to_cloudevent` the long way: through the domain event."""
    event = ledger.decode(notification)
    stamp = catalog.stamp_of(event)
    return {
        "specversion": "1.0",
        "id": catalog.event_id(event),
        "source": SOURCE,
        "type": catalog.event_type(event),
        "subject": catalog.uuid_text(event.originator_id),
        "time": catalog.recorded_at(event).isoformat(),
        "datacontenttype": "application/json",
        "dataschema": f"/v1/schemas/{catalog.event_type(event)}",
        "position": notification.id,
        "accountid": catalog.uuid_text(catalog.account_of(event)),
        "aggregateversion": event.originator_version,
        "schemaversion": catalog.schema_version(event),
        "actor": stamp.actor,
        "effectivetime": stamp.effective_at.isoformat(),
        "correlationid": stamp.correlation_id,
        "causationid": stamp.causation_id,
        "data": catalog.payload(event),
    }
