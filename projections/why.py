"""Why an event happened: what it rested on and who did it, from the audit read model.

For a notice, a change of standing, a write-off or an allocation (or any event), the
answer is three lists:

- ``same_command``: the other events the same command appended (one causation id);
- ``rested_on``: for each stream the event names (its own subject, and the invoices,
  payments and write-offs in its data), that stream's events before it, oldest first;
  a notice or a change of standing also rests on the account's collection history
  before it (notices, overdue invoices, broken promises and plans, failed, returned and
  charged-back payments, earlier changes of standing and escalations);
- the people: who did the event, who approved or authorised it, and everyone behind
  the events it rested on."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from psycopg import Connection
from psycopg.rows import dict_row

from projections.audit import OUTSTANDING
from projections.totals import whole_rows

# What a collections decision about the whole account rests on.
ACCOUNT_DECISIONS = ("arledger.account.notice_issued", "arledger.account.standing_changed")
COLLECTION_HISTORY = (
    "arledger.account.notice_issued",
    "arledger.account.standing_changed",
    "arledger.account.escalated",
    "arledger.invoice.became_overdue",
    "arledger.promise.broken",
    "arledger.payment_plan.broken",
    "arledger.payment.failed",
    "arledger.payment.returned",
    "arledger.payment.chargeback_opened",
)
# Fields of an event's data that name another stream, and lists of rows that do.
REFERENCES = ("invoice_id", "payment_id", "write_off_id", "charged_for")
REFERENCE_LISTS = ("invoices", "allocations")
# Fields of an event's data that name a person besides its actor.
AUTHORITIES = ("authorised_by", "approved_by", "requested_by", "rejected_by", "manager")
STREAM_EVENTS_MAX = 200


@dataclass
class Why:
    event: dict[str, Any]
    same_command: list[dict[str, Any]]
    rested_on: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    collection_history: list[dict[str, Any]] = field(default_factory=list)

    def people(self) -> list[dict[str, Any]]:
        """Each person and what they did, the event's own people first."""
        seen: dict[str, list[str]] = {}

        def add(name: Any, what: str) -> None:
            if isinstance(name, str) and name:
                seen.setdefault(name, [])
                if what not in seen[name]:
                    seen[name].append(what)

        add(self.event["actor"], self.event["type"])
        for key in AUTHORITIES:
            add(self.event["data"].get(key), f"{key} {self.event['type']}")
        for row in self.same_command + self.collection_history:
            add(row["actor"], row["type"])
        for rows in self.rested_on.values():
            for row in rows:
                add(row["actor"], row["type"])
                for key in AUTHORITIES:
                    add(row["data"].get(key), f"{key} {row['type']}")
        return [{"actor": name, "did": did} for name, did in seen.items()]


def referenced_streams(event: dict[str, Any]) -> list[str]:
    """The event's subject and every stream its data names, in order, once each."""
    data = event["data"]
    ids = [str(event["subject"])]
    ids += [str(data[key]) for key in REFERENCES if data.get(key)]
    for key in REFERENCE_LISTS:
        rows = data.get(key)
        if isinstance(rows, list):
            ids += [str(row["invoice_id"]) for row in rows if isinstance(row, dict)]
    return list(dict.fromkeys(ids))


def why(conn: Connection[Any], position: int) -> Why | None:
    """What the event at ``position`` rested on, or ``None`` for no such event."""
    with conn.cursor(row_factory=dict_row) as cur:
        event = cur.execute(
            "SELECT * FROM audit_entries WHERE position = %s", (position,)
        ).fetchone()
        if event is None:
            return None
        same = cur.execute(
            "SELECT * FROM audit_entries WHERE account_id = %s AND causation_id = %s"
            " AND position <> %s ORDER BY position",
            (event["account_id"], event["causation_id"], position),
        )
        found = Why(event=_whole(event), same_command=whole_rows(same, OUTSTANDING))
        for stream in referenced_streams(event):
            found.rested_on[stream] = whole_rows(
                cur.execute(
                    "SELECT * FROM (SELECT * FROM audit_entries WHERE account_id = %s"
                    " AND subject = %s AND position < %s ORDER BY position DESC LIMIT %s) r"
                    " ORDER BY position",
                    (event["account_id"], stream, position, STREAM_EVENTS_MAX),
                ),
                OUTSTANDING,
            )
        if event["type"] in ACCOUNT_DECISIONS:
            found.collection_history = whole_rows(
                cur.execute(
                    "SELECT * FROM (SELECT * FROM audit_entries WHERE account_id = %s"
                    " AND type = ANY(%s) AND position < %s ORDER BY position DESC LIMIT %s) r"
                    " ORDER BY position",
                    (event["account_id"], list(COLLECTION_HISTORY), position, STREAM_EVENTS_MAX),
                ),
                OUTSTANDING,
            )
    return found


def _whole(entry: dict[str, Any]) -> dict[str, Any]:
    return whole_rows([entry], OUTSTANDING)[0]
