"""Applying events to a projection exactly once: per partition, under the partition's
locked position, in one transaction with the rows. The Kafka consumer and a catch-up
from the store both come through here."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any, Protocol

import psycopg
from psycopg import Connection
from psycopg_pool import ConnectionPool

from infra.array_text import text_array
from infra.database import create_schema
from projections import held, tracking

log = logging.getLogger("arledger.projection")


Apply = Callable[[Connection[Any], Sequence[dict[str, Any]]], None]


class Bulk(Protocol):
    """A projection's new tables built across many batches, no one else writing them (a
    rebuild's side schema): :meth:`apply` takes each batch in the caller's transaction, as
    :data:`Apply` does, but may keep rows in memory and write them later; :meth:`finish`
    writes what is kept. A batch that fails part-way may leave what is kept changed:
    :meth:`abandon` then, and build the tables again without it."""

    def apply(self, conn: Connection[Any], events: Sequence[dict[str, Any]]) -> None: ...

    def finish(self) -> None: ...

    def abandon(self) -> None: ...


@dataclass(frozen=True)
class Projection:
    """A read model: its tables and the function that applies a run of new CloudEvents
    (in store order, none applied before) inside the caller's transaction; and, if it has
    them, the same function for tables that are new and that no one else writes (a
    rebuild's), which may write its new rows in bulk, and a :class:`Bulk` of such tables
    made on a pool of their own."""

    name: str
    schema: str
    apply: Apply
    apply_new: Apply | None = None
    bulk: Callable[[ConnectionPool], Bulk] | None = None

    def ensure_schema(self, pool: ConnectionPool) -> None:
        create_schema(pool, tracking.SCHEMA, held.SCHEMA, self.schema)

    @property
    def tables(self) -> list[str]:
        """The tables its schema creates, in order."""
        return re.findall(r"CREATE TABLE IF NOT EXISTS (\w+)", self.schema)

    def applier(self, new_tables: bool) -> Apply:
        """``apply``, or ``apply_new`` for ``new_tables`` where there is one."""
        return self.apply_new if new_tables and self.apply_new is not None else self.apply


class GapDetected(Exception):
    """The broker skipped events of a partition (it lost history): catch up from the
    store before applying more."""

    def __init__(self, partition: int, applied: int, expected_prev: int) -> None:
        super().__init__(f"partition {partition}: applied {applied}, next follows {expected_prev}")
        self.partition = partition


Batches = Mapping[int, Sequence[dict[str, Any]]]


def apply_batch(
    pool: ConnectionPool,
    projection: Projection,
    partition: int,
    events: Sequence[dict[str, Any]],
    *,
    new_tables: bool = False,
) -> int:
    """Apply ``events`` (all of one partition, in order) that are newer than the
    partition's position; return how many were taken (applied or held). Raises
    :class:`GapDetected`, applying nothing, when an event says an earlier one of its
    partition never arrived.

    The batch is applied in one transaction. If that fails for any reason but a lost
    connection, it is applied again one event at a time, and an event that fails alone
    holds its account (``projections.held``): the partition moves on, other accounts
    are not stopped by it."""
    with pool.connection() as conn:
        try:
            return _apply(conn, projection, {partition: events}, new_tables)
        except (GapDetected, psycopg.OperationalError):
            raise
        except Exception as e:  # noqa: BLE001 - found below, event by event, and recorded
            log.warning(
                "a batch failed to apply; applying it event by event",
                extra={"projection": projection.name, "partition": partition, "error": repr(e)},
            )
        with conn.transaction():
            return _apply_one_by_one(conn, projection, partition, events)


def apply_together(
    pool: ConnectionPool,
    projection: Projection,
    batches: Batches,
    *,
    new_tables: bool = False,
    bulk: Bulk | None = None,
) -> int | None:
    """Apply the events of several partitions (``batches``, each in order) in one
    transaction: their positions locked together, their events in store order, as one
    partition's would be. Returns how many were taken, or None, having applied nothing,
    when that fails (a gap, an event the batch cannot take): the caller then applies each
    partition with :func:`apply_batch`, which says which and why. ``bulk`` applies the
    events instead of the projection's functions (a rebuild's tables)."""
    with pool.connection() as conn:
        try:
            return _apply(conn, projection, batches, new_tables, bulk)
        except psycopg.OperationalError:
            raise
        except Exception as e:  # noqa: BLE001 - applied again partition by partition
            log.info(
                "partitions applied together failed; applying them one by one",
                extra={"projection": projection.name, "error": repr(e)},
            )
            return None


def _apply(
    conn: Connection[Any],
    projection: Projection,
    batches: Batches,
    new_tables: bool,
    bulk: Bulk | None = None,
) -> int:
    """The batches applied in a transaction of their own. Its BEGIN goes to the server
    with the statements that lock the positions, and its COMMIT with the one that saves
    them: a batch costs two round trips fewer than a transaction of psycopg's making,
    which waits for its BEGIN before sending anything else. (So the connection is in
    autocommit meanwhile: the transaction is the one begun here.)"""
    autocommit = conn.autocommit
    conn.autocommit = True
    try:
        return _apply_in_transaction(conn, projection, batches, new_tables, bulk)
    except BaseException:
        # A statement sent with the COMMIT failed: the transaction is left open, aborted.
        # (A lost connection is left as it is: the pool drops it, and its error stands.)
        if not conn.broken and conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            conn.rollback()
        raise
    finally:
        if not conn.broken:
            conn.autocommit = autocommit


def _apply_in_transaction(
    conn: Connection[Any],
    projection: Projection,
    batches: Batches,
    new_tables: bool,
    bulk: Bulk | None,
) -> int:
    accounts = {str(ce["accountid"]) for events in batches.values() for ce in events}
    with ExitStack() as transaction:
        with conn.pipeline():
            # Not ``conn.transaction()``: in a pipeline it keeps the connection in
            # pipeline mode to its end, and the rows may go by COPY.
            transaction.enter_context(psycopg.Transaction(conn))
            locking = tracking.locking_positions(conn, projection.name, batches)
            # Read after the locks are taken, so that no hold that another member made
            # before giving a partition up is missed. All the batches' accounts are
            # asked of, a redelivered event's too.
            asking = held.asking_among(conn, projection.name, accounts)
        positions, made = tracking.locked_positions(conn, projection.name, batches, locking)
        blocked = held.held_among(asking)
        if made:  # a partition's row was made, and locked, after the holds were read
            blocked = held.accounts_among(conn, projection.name, accounts)
        fresh: list[dict[str, Any]] = []
        moved: dict[int, int] = {}
        for partition, events in batches.items():
            if partition_fresh := _fresh(partition, positions[partition], events):
                fresh.extend(partition_fresh)
                moved[partition] = partition_fresh[-1]["position"]
        if not fresh:
            return 0
        if len(moved) > 1:
            fresh.sort(key=_position)  # store order across partitions
        applied = fresh
        if blocked:
            for ce in fresh:
                if str(ce["accountid"]) in blocked:
                    _hold_behind(conn, projection, ce)
            applied = [ce for ce in fresh if str(ce["accountid"]) not in blocked]
        (bulk.apply if bulk is not None else projection.applier(new_tables))(conn, applied)
        with conn.pipeline():
            tracking.save_positions(conn, projection.name, moved)
            transaction.close()  # the COMMIT
        return len(fresh)


def _fresh(partition: int, position: int, events: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The events of one partition after its ``position``; :class:`GapDetected` when one
    says an earlier event of the partition never arrived."""
    fresh = []
    for ce in events:
        if ce["position"] <= position:
            continue  # a redelivery: already applied
        if ce.get("partitionprev", position) > position:
            raise GapDetected(partition, position, ce["partitionprev"])
        fresh.append(ce)
        position = ce["position"]
    return fresh


def _position(ce: dict[str, Any]) -> int:
    return int(ce["position"])


def _apply_one_by_one(
    conn: Connection[Any], projection: Projection, partition: int, events: Sequence[dict[str, Any]]
) -> int:
    position = tracking.lock_position(conn, projection.name, partition)
    fresh = _fresh(partition, position, events)
    if not fresh:
        return 0
    blocked = held.accounts_among(conn, projection.name, {str(ce["accountid"]) for ce in fresh})
    for ce in fresh:
        _apply_alone(conn, projection, ce, blocked)
    tracking.save_position(conn, projection.name, partition, fresh[-1]["position"])
    return len(fresh)


def _apply_alone(
    conn: Connection[Any], projection: Projection, ce: dict[str, Any], blocked: set[str]
) -> None:
    """Apply one event in its own savepoint; hold its account if it fails."""
    account = str(ce["accountid"])
    if account in blocked:
        _hold_behind(conn, projection, ce)
        return
    try:
        with conn.transaction():
            projection.apply(conn, [ce])
    except psycopg.OperationalError:
        raise
    except Exception as e:  # noqa: BLE001 - recorded, shown in /healthz, retried at start
        log.error(
            "an event cannot be applied; its account is held",
            extra={
                "projection": projection.name,
                "position": ce["position"],
                "account": account,
                "type": ce["type"],
                "error": repr(e),
            },
        )
        held.hold(conn, projection.name, ce, f"{type(e).__name__}: {e}")
        blocked.add(account)


def _hold_behind(conn: Connection[Any], projection: Projection, ce: dict[str, Any]) -> None:
    held.hold(conn, projection.name, ce, "held behind an earlier event of the account")


OPENED = "arledger.account.opened"


def fresh_per_account(
    conn: Connection[Any], table: str, events: Sequence[dict[str, Any]]
) -> Iterator[dict[str, Any]]:
    """The events of ``events`` that ``table`` (keyed by ``account_id``, with the
    ``position`` of the last event applied to each account) has not applied, in order;
    the caller applies each one and the account's position moves on as it is yielded.
    The caller takes every event it is given (a loop to the end): the accounts' positions
    are written once it has, in one statement (in its transaction: a batch that fails
    moves no account on). The accounts are read now, before the caller starts a
    pipeline. A projection that writes its account rows itself takes
    :func:`unseen_per_account` instead."""
    return _then_positions(conn, table, unseen_per_account(conn, table, events))


def _then_positions(
    conn: Connection[Any], table: str, fresh: list[dict[str, Any]]
) -> Iterator[dict[str, Any]]:
    yield from fresh
    moved = {ce["accountid"]: ce["position"] for ce in fresh}
    if moved:
        conn.execute(
            f"UPDATE {table} AS t SET position = m.position"
            " FROM unnest(%s::uuid[], %s::bigint[]) AS m(account_id, position)"
            " WHERE t.account_id = m.account_id",
            (list(moved), list(moved.values())),
        )


def unseen_per_account(
    conn: Connection[Any], table: str, events: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The events of ``events`` that ``table`` has not applied, in order; the caller
    writes each account's ``position`` (its last event's) with its rows.

    An account's events arrive in store order, so an event at or before the account's
    position is a repeat. This holds whatever the partition bookkeeping says, so a
    repartitioned topic or a replay from the store never counts an event twice. The
    accounts are locked (in a fixed order) and read once per batch. Events of an account
    the table never saw opened are skipped: there is nothing to add them to."""
    return unseen_after(events, account_positions(conn, table, {ce["accountid"] for ce in events}))


def account_positions(conn: Connection[Any], table: str, accounts: Iterable[str]) -> dict[str, int]:
    """The ``position`` of each of ``accounts`` that ``table`` has, the rows locked (in a
    fixed order) until the transaction ends."""
    assert table.isidentifier(), table  # names come from our modules, never a message
    return {
        str(account): int(position)
        for account, position in conn.execute(
            f"SELECT account_id, position FROM {table}"
            " WHERE account_id = ANY(%s::uuid[]) ORDER BY account_id FOR UPDATE",
            (text_array(sorted(accounts)),),
        ).fetchall()
    }


def unseen_after(events: Sequence[dict[str, Any]], known: dict[str, int]) -> list[dict[str, Any]]:
    """The events of ``events`` after their account's position in ``known`` (which it
    moves on), or that open an account ``known`` does not have, in order."""
    fresh = []
    for ce in events:
        last = known.get(ce["accountid"])
        if last is None and ce["type"] != OPENED:
            continue
        if last is not None and ce["position"] <= last:
            continue
        fresh.append(ce)
        known[ce["accountid"]] = ce["position"]
    return fresh
