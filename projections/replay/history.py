"""An account's history read straight from the event store, not from a read model: the
account's own stream and every stream created for it (invoices, payments, write-offs,
promises, plans), each link of each stream's hash chain checked on the way, as the
CloudEvents the relay would publish."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.persistence import Notification

from contract.cloudevents import to_cloudevent
from infra.integrity import chain
from ledger.application import Ledger

# The streams of an account: its own, and each one whose first event names it. JSON
# state keeps a UUID as {"_type_": "uuid_hex", "_data_": hex}.
STREAMS_SQL = """
SELECT DISTINCT originator_id FROM {table}
 WHERE originator_id = %(account)s
    OR (originator_version = 1
        AND convert_from(state, 'UTF8')::jsonb #>> '{{account_id,_data_}}' = %(hex)s)
"""
EVENTS_SQL = """
SELECT notification_id, originator_id, originator_version, topic, state, chain_hash
  FROM {table} WHERE originator_id = ANY(%(streams)s) ORDER BY notification_id
"""


@dataclass
class History:
    """The account's events in store order (up to the position known at a moment, when
    given), and
    what checking their streams' hash chains found: the positions of events whose stored
    hash is not what their content and predecessor give (empty: all intact)."""

    events: list[dict[str, Any]]
    streams: int
    broken_links: list[int] = field(default_factory=list)

    @property
    def chains_intact(self) -> bool:
        return not self.broken_links

    @property
    def position(self) -> int:
        return int(self.events[-1]["position"]) if self.events else 0


def read_history(
    ledger: Ledger, conn: psycopg.Connection[Any], account_id: UUID, known: int | None
) -> History:
    """Every event of the account, decoded and checked; only those up to position
    ``known`` (the last committed by an ``as_known_at`` moment, ``infra/commits.py``)
    are kept. Each stream's chain is checked whole, also past ``known``: a later edit would
    not change the past, but an auditor asking about the past wants to know the store is
    sound."""
    table = ledger.events_table
    streams = [
        row[0]
        for row in conn.execute(
            STREAMS_SQL.format(table=table), {"account": account_id, "hex": account_id.hex}
        )
    ]
    previous: dict[UUID, bytes] = {}
    broken: list[int] = []
    events: list[dict[str, Any]] = []
    rows = conn.execute(EVENTS_SQL.format(table=table), {"streams": streams})
    for position, stream, version, topic, state, stored_hash in rows:
        state = bytes(state)
        expected = chain.event_hash(previous.get(stream), position, stream, version, topic, state)
        if stored_hash is None or bytes(stored_hash) != expected:
            broken.append(position)
        previous[stream] = expected
        ce = to_cloudevent(ledger, Notification(stream, version, topic, state, position))
        if known is None or position <= known:
            events.append(ce)
    return History(events=events, streams=len(streams), broken_links=broken)
