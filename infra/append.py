"""A save in one statement: everything the store's recorder does in a command's
transaction, done by one database function, so a save costs one round trip and one
commit whatever it carries.

The library's save sends about nine statements (the table lock and its timeout, the
NOTIFY, the insert, reading the positions back) and ours added the command's mark, the
read check, the commit time and the kept reply (``infra/recorder.py``): each one parsed,
sent and answered, a third of a command's time in Python. ``arledger_append`` takes the
events and what goes with them as arrays, and, under the store's table lock, in this
order: checks what the commands read is still current (``infra/read_check.py``),
charges a write-off to its actor's day (``infra/write_off_days.py``), marks each
command's key, signals the relay, inserts the events (the hash chain's trigger runs on
each), says when the last position commits (``infra/commits.py``) and keeps each
command's reply at its own last position. It returns the events' positions, in order.
The connection is in autocommit: the statement is its own transaction, and any refusal
(a taken version, a stale read, a passed limit) leaves nothing behind."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from psycopg import sql

from infra.array_text import joined, quoted, uuid_element
from ledger.daily_authority import DailyCharge

FUNCTION = (
    "arledger_append(uuid[], int[], text[], bytea[], uuid[], int[], text[], text[], int[],"
    " uuid[], int[], uuid, text, date, text, bigint, bigint)"
)
SCHEMA = """
CREATE OR REPLACE FUNCTION arledger_append(
    p_ids uuid[], p_versions int[], p_topics text[], p_states bytea[],
    p_read_ids uuid[], p_read_versions int[],
    p_actors text[], p_keys text[], p_ends int[], p_reply_ids uuid[], p_reply_versions int[],
    p_charge_id uuid, p_charge_actor text, p_charge_day date, p_charge_currency text,
    p_charge_amount bigint, p_charge_limit bigint
) RETURNS bigint[] LANGUAGE plpgsql AS $$
DECLARE
    positions bigint[];
BEGIN
    PERFORM set_config('lock_timeout', {lock_timeout}, true);
    LOCK TABLE {events} IN EXCLUSIVE MODE;
    IF cardinality(p_read_ids) > 0 THEN
        PERFORM arledger_reads_current(count(*), min(r.id::text)::uuid)
           FROM unnest(p_read_ids, p_read_versions) AS r(id, version)
          WHERE r.version IS DISTINCT FROM
                (SELECT max(originator_version) FROM {events} WHERE originator_id = r.id);
    END IF;
    IF p_charge_id IS NOT NULL THEN
        PERFORM arledger_charge_write_off(p_charge_id, p_charge_actor, p_charge_day,
                                          p_charge_currency, p_charge_amount, p_charge_limit);
    END IF;
    IF cardinality(p_actors) > 0 THEN
        INSERT INTO command_marks (actor, key)
             SELECT * FROM unnest(p_actors, p_keys) ON CONFLICT DO NOTHING;
    END IF;
    NOTIFY {channel};
    WITH inserted AS (
        INSERT INTO {events} (originator_id, originator_version, topic, state)
             SELECT * FROM unnest(p_ids, p_versions, p_topics, p_states)
          RETURNING notification_id
    )
    SELECT array_agg(notification_id ORDER BY notification_id) INTO positions FROM inserted;
    INSERT INTO event_commits (position, committed_at)
         VALUES (positions[cardinality(positions)], clock_timestamp());
    IF cardinality(p_actors) > 0 THEN
        INSERT INTO command_replies (actor, key, position, reply_id, reply_version)
             SELECT r.actor, r.key, positions[r.ends_at], r.reply_id, r.reply_version
               FROM unnest(p_actors, p_keys, p_ends, p_reply_ids, p_reply_versions)
                 AS r(actor, key, ends_at, reply_id, reply_version);
    END IF;
    RETURN positions;
END $$;
"""
CALL_SQL = (
    "SELECT arledger_append(%s::uuid[], %s::int[], %s::text[], %s::bytea[], %s::uuid[],"
    " %s::int[], %s::text[], %s::text[], %s::int[], %s::uuid[], %s::int[], %s::uuid, %s::text,"
    " %s::date, %s::text, %s::bigint, %s::bigint) AS positions"
)


def schema(events: sql.Composable, channel: str, lock_timeout_s: int) -> sql.Composed:
    """The function, for the store's events table and its NOTIFY channel."""
    return sql.SQL(SCHEMA).format(
        events=events,
        channel=sql.Identifier(channel),
        lock_timeout=sql.Literal(f"{lock_timeout_s}s"),
    )


@dataclass(frozen=True)
class Command:
    """One command of a save: its key, how many of the save's events are its own and up
    to, counted from the save's first (``ends_at``), and the aggregate it replies with."""

    actor: str
    key: str
    ends_at: int
    reply: tuple[UUID, int] | None


def arguments(
    events: Sequence[StoredEvent],
    expected: Mapping[UUID, int],
    commands: Sequence[Command],
    charge: DailyCharge | None,
) -> tuple[Any, ...]:
    """``CALL_SQL``'s arguments, each array as PostgreSQL's text literal of it (see
    ``infra/array_text.py``)."""
    charged: tuple[Any, ...] = (None,) * 6
    if charge is not None:
        amount = charge.amount
        charged = (charge.write_off_id, charge.actor, charge.day, amount.currency)
        charged += (amount.amount_minor, charge.limit.amount_minor)
    return (
        joined([uuid_element(e.originator_id) for e in events]),
        joined([str(e.originator_version) for e in events]),
        joined([quoted(e.topic) for e in events]),
        joined([_bytea(e.state) for e in events]),
        joined([a.hex for a in expected]),
        joined([str(v) for v in expected.values()]),
        joined([quoted(c.actor) for c in commands]),
        joined([quoted(c.key) for c in commands]),
        joined([str(c.ends_at) for c in commands]),
        joined([c.reply[0].hex if c.reply else _NULL for c in commands]),
        joined([str(c.reply[1]) if c.reply else _NULL for c in commands]),
        *charged,
    )


# The arrays go as text literals, cast by ``CALL_SQL``: psycopg's own list adaptation
# looks at every element to choose the array's type, which cost more of a command's CPU
# than anything else in the save (265 against 120 us a save, measured on a save of three
# events and 25 reads). Uuids and integers need no quoting; text and bytea elements are
# always quoted, with backslash and double quote escaped, so that no value (empty,
# "NULL", with commas, braces or spaces) is read as anything but itself. A uuid goes as
# its 32 hex digits, which PostgreSQL reads as it reads the hyphenated form: ``str`` of
# a ``UUID`` slices and joins its hex in Python, three times the cost, for every event
# and every aggregate a save's commands read (an oldest-first allocation reads dozens).
_NULL = "NULL"


def _bytea(data: bytes) -> str:
    return '"\\\\x' + data.hex() + '"'  # bytea's hex input, its backslash escaped
