"""The store's notification log, read as the library reads it but lighter.

The relay, a catch-up and a rebuild read the whole log through the library's
``select_notifications``: ``SELECT *`` (the chain's hash too), every value sent as text
(a state's bytes as hex), each row made a dict and then a ``Notification``. Here only a
notification's own columns are asked for, in binary, and each row is made straight into
its ``Notification``: the same notifications, in the same order, for about half the CPU
per row (as fast as a bare ``SELECT *`` of the table). ``tests/test_log_read.py`` holds
it to the library's read."""

from __future__ import annotations

import dataclasses

from eventsourcing.persistence import InterfaceError, Notification, OperationalError
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.utils import retry
from psycopg.rows import args_row
from psycopg.sql import SQL, Composed, Identifier

# A notification's fields, in the order its class declares them: each row is passed to
# the class as they come.
_COLUMN_OF_FIELD = {"id": "notification_id"}
COLUMNS = tuple(_COLUMN_OF_FIELD.get(f.name, f.name) for f in dataclasses.fields(Notification))


@retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)  # as the library's
def select_notifications(
    recorder: PostgresApplicationRecorder,
    start: int | None,
    limit: int,
    stop: int | None = None,
    *,
    inclusive_of_start: bool = True,
) -> list[Notification]:
    """``recorder.select_notifications`` without topics: the notifications from ``start``
    (after it unless ``inclusive_of_start``) up to ``stop``, at most ``limit``, oldest
    first."""
    statement, params = _statement(recorder, start, stop, inclusive_of_start)
    with (
        recorder.datastore.get_connection() as conn,
        conn.cursor(binary=True, row_factory=args_row(Notification)) as curs,
    ):
        curs.execute(statement, [*params, limit], prepare=True)
        return curs.fetchall()


def _statement(
    recorder: PostgresApplicationRecorder,
    start: int | None,
    stop: int | None,
    inclusive_of_start: bool,
) -> tuple[Composed, list[int]]:
    where, params = [], []
    if start is not None:
        where.append(SQL("notification_id >= %s" if inclusive_of_start else "notification_id > %s"))
        params.append(start)
    if stop is not None:
        where.append(SQL("notification_id <= %s"))
        params.append(stop)
    statement = SQL("SELECT {} FROM {}.{}").format(
        SQL(", ").join(map(Identifier, COLUMNS)),
        Identifier(recorder.datastore.schema),
        Identifier(recorder.events_table_name),
    )
    if where:
        statement += SQL(" WHERE ") + SQL(" AND ").join(where)
    return statement + SQL(" ORDER BY notification_id LIMIT %s"), params
