"""What the file imports share (``POST /v1/accounts/imports``, ``/v1/invoices/imports``,
``/v1/payments/imports``):
the file read into rows (a file that cannot be read at all is an ``invalid-request``),
the readable rows' commands saved in bulk, each row's item in the file's order, the
counts and the position reached."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel

from api.idempotency import Reply
from api.schemas_batch import FileImport
from channels.table_file import FileRow, TableFileError, saved_rows
from ledger.bulk import Positioned, counted, position_reached
from ledger.errors import InvalidRequest


class Item(Protocol):
    @property
    def status(self) -> str: ...


OutcomeT = TypeVar("OutcomeT", bound=Positioned)
ItemT = TypeVar("ItemT", bound=Item)
RowT = TypeVar("RowT", bound=FileRow)


def imported(
    body: FileImport,
    read: Callable[[bytes], list[RowT]],
    save: Callable[[list[Any]], Sequence[OutcomeT]],
    item: Callable[[RowT, OutcomeT | None], ItemT],
    result: type[BaseModel],
    statuses: Sequence[str],
    head: Callable[[], int],
) -> Reply:
    """Read ``body``'s file, ``save`` its readable rows' commands, and reply with
    ``result``: the file's name and digest, the counts of ``statuses`` and every row's
    ``item`` (``None`` for its outcome: it could not be read, so never reached the
    ledger). ``head`` is the position to reply with when nothing was saved."""
    content = body.file_bytes()
    try:
        rows = read(content)
    except TableFileError as e:
        raise InvalidRequest(str(e)) from None
    saved = saved_rows(rows, save)
    outcomes = [outcome for _, outcome in saved if outcome is not None]
    items = [item(row, outcome) for row, outcome in saved]
    reply = result(
        filename=body.filename,
        sha256=hashlib.sha256(content).hexdigest(),
        rows=len(rows),
        **counted((i.status for i in items), statuses),
        position=position_reached(outcomes) or head(),
        items=items,
    )
    return Reply(200, reply.model_dump(mode="json"))
