"""Every report and list as CSV and XLSX too: ``?format=csv|xlsx`` on the same URL, or an
``Accept`` of ``text/csv`` or the XLSX media type; JSON stays the default.

A route builds its JSON reply as before and hands it to :func:`reply` with a *layout*: a
function from the reply's JSON (``model_dump(mode="json")``, exactly what a JSON client
reads) to a :class:`Document` of sheets. So a spreadsheet shows the figures the JSON has,
never figures worked out a second time. The writers are in ``api.tabular_write``."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeVar

from fastapi import Depends, Query, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.responses import FileResponse, StreamingResponse
from pydantic import BaseModel
from starlette.background import BackgroundTask

from api.problems import ApiProblem

JSON, CSV, XLSX = "json", "csv", "xlsx"
CSV_MEDIA = "text/csv"
XLSX_MEDIA = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MEDIA_TYPES = {CSV: f"{CSV_MEDIA}; charset=utf-8", XLSX: XLSX_MEDIA}
# What an Accept header's media ranges ask for; anything else is not served.
SERVED = {
    "application/json": JSON,
    "application/problem+json": JSON,
    "application/*": JSON,
    "*/*": JSON,
    CSV_MEDIA: CSV,
    "text/*": CSV,
    XLSX_MEDIA: XLSX,
}

Kind = Literal["text", "int", "number", "money", "date", "datetime", "bool", "json"]
Row = Mapping[str, Any]
T = TypeVar("T")


@dataclass(frozen=True)
class Column:
    """One column: its header, where its value is in a row (a key, a dotted path such as
    ``figures.credit_sales``, or a function of the row) and what kind of value it is.
    A ``money`` value is a JSON Money, ``{"amount": minor units, "currency": code}``."""

    header: str
    key: str | Callable[[Row], Any]
    kind: Kind = "text"
    width: float | None = None

    def value(self, row: Row) -> Any:
        if callable(self.key):
            return self.key(row)
        if "." not in self.key:
            return row.get(self.key)
        found: Any = row
        for part in self.key.split("."):
            if not isinstance(found, Mapping):
                return None
            found = found.get(part)
        return found


@dataclass
class Sheet:
    """A table: a sheet of the workbook; the CSV is one of them. ``rows`` may be a
    generator (read once, as it is written)."""

    name: str
    columns: list[Column]
    rows: Iterable[Row]


@dataclass
class Document:
    """What a report or list exports: a title, the parameters it was run with, and its
    sheets, summary first; the CSV is ``sheets[csv]`` (by default the last, the most
    detailed). ``produced_at`` is the one thing that differs between two exports."""

    title: str
    filename: str
    params: list[tuple[str, Any]]
    sheets: list[Sheet]
    csv: int = -1
    produced_at: datetime = field(default_factory=lambda: datetime.now(UTC))


Layout = Callable[[dict[str, Any]], Document]


class NotAcceptable(ApiProblem):
    def __init__(self, accept: str) -> None:
        super().__init__(
            406,
            "not-acceptable",
            "None of the media types asked for is served",
            f"Accept {accept!r} names none of application/json, {CSV_MEDIA} or "
            f"{XLSX_MEDIA} (nor */*); or ask with ?format=json|csv|xlsx",
        )


def from_accept(header: str | None) -> str:
    """The format an ``Accept`` header asks for: its highest-q media range we serve (in
    the order given on a tie); JSON when it is absent; 406 when it names none we serve."""
    if header is None or not header.strip():
        return JSON
    ranges: list[tuple[float, int, str]] = []
    for order, part in enumerate(header.split(",")):
        media, *params = (p.strip() for p in part.split(";"))
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if media and q > 0:
            ranges.append((-q, order, media.lower()))
    for _, _, media in sorted(ranges):
        if media in SERVED:
            return SERVED[media]
    raise NotAcceptable(header)


def wanted_format(
    request: Request,
    fmt: Annotated[
        Literal["json", "csv", "xlsx"] | None,
        Query(
            alias="format",
            description="json (default), csv or xlsx: the same report as a CSV file or an "
            "Excel workbook; or send Accept: text/csv or the XLSX media type",
        ),
    ] = None,
) -> str:
    """``?format=`` if given (an unknown one is a 422), else what ``Accept`` asks for."""
    return fmt if fmt is not None else from_accept(request.headers.get("accept"))


FormatDep = Annotated[str, Depends(wanted_format)]


def responses(status: int = 200) -> dict[int | str, dict[str, Any]]:
    """For a route's OpenAPI: its reply comes in these media types too."""
    files = {
        CSV_MEDIA: {"schema": {"type": "string"}},
        XLSX_MEDIA: {"schema": {"type": "string", "format": "binary"}},
    }
    return {status: {"content": files}, 406: {"description": "Accept names none we serve"}}


RESPONSES = responses(200)
CREATED_RESPONSES = responses(201)


def reply(fmt: str, body: T, layout: Layout) -> T | Response:
    """``body`` itself for JSON (FastAPI serialises it as before); else the file the
    layout makes of the body's JSON."""
    if fmt == JSON:
        return body
    data = body.model_dump(mode="json") if isinstance(body, BaseModel) else jsonable_encoder(body)
    return respond(fmt, layout(data))


def convert(fmt: str, response: Response, layout: Layout) -> Response:
    """A command's JSON reply (a fresh one, or one kept under its Idempotency-Key) as
    CSV or XLSX, with its status; a problem stays a problem."""
    if fmt == JSON or response.status_code >= 300:
        return response
    made = respond(fmt, layout(json.loads(bytes(response.body))))
    made.status_code = response.status_code
    for name in ("Idempotent-Replayed", "Location"):
        if name in response.headers:
            made.headers[name] = response.headers[name]
    return made


def respond(fmt: str, doc: Document) -> Response:
    """The document as a CSV (streamed as it is written) or an XLSX file."""
    from api import tabular_write  # the writers load only when a file is asked for

    stem = doc.filename
    if fmt == CSV:
        return StreamingResponse(
            tabular_write.csv_chunks(doc.sheets[doc.csv]),
            media_type=MEDIA_TYPES[CSV],
            headers={"Content-Disposition": f'attachment; filename="{stem}.csv"', "Vary": "Accept"},
        )
    path = tabular_write.xlsx_file(doc)
    return FileResponse(
        path,
        media_type=MEDIA_TYPES[XLSX],
        filename=f"{stem}.xlsx",
        headers={"Vary": "Accept"},
        background=BackgroundTask(os.remove, path),
    )
