"""A desk form: its CSRF check, its fields, and the command it becomes.

Each form carries the session's CSRF token and an idempotency token made when the form
was rendered: a double click, a refresh or a resubmit sends the same key, and the API
records the command once. A refused command comes back with the problem's detail and
what the user typed, so the page can show both next to the form."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request

from api.desk.inner import Answer, Inner
from api.desk.sessions import DeskUser
from ledger.money import minor_units

FIELD_LENGTH_MAX = 2_000


class Forbidden(Exception):
    """A POST without the session's CSRF token: refused before anything is read."""


class FormError(Exception):
    """A field the desk cannot turn into a command (an amount with too many decimals)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field, self.message = field, message


@dataclass
class Form:
    """The fields of a submitted form (the last value of each, and lists for repeats)."""

    data: FormData

    def text(self, name: str, required: bool = True) -> str | None:
        value = str(self.data.get(name) or "").strip()
        if len(value) > FIELD_LENGTH_MAX:
            raise FormError(name, f"is longer than {FIELD_LENGTH_MAX} characters")
        if required and not value:
            raise FormError(name, "is required")
        return value or None

    def required(self, name: str) -> str:
        value = self.text(name)
        assert value is not None
        return value

    def many(self, name: str) -> list[str]:
        return [str(v) for v in self.data.getlist(name) if str(v).strip()]

    def money(self, name: str, currency: str, required: bool = True) -> dict[str, Any] | None:
        """An amount typed in major units (``1,234.56``) as a Money object, never
        rounded: more decimals than the currency has is refused."""
        value = self.text(name, required)
        return None if value is None else self.money_of(value, currency, name)

    @staticmethod
    def money_of(value: str, currency: str, name: str) -> dict[str, Any]:
        try:
            minor = minor_units(value, currency)
        except ValueError as e:
            raise FormError(name, str(e)) from None
        return {"amount": minor, "currency": currency}

    def integer(self, name: str, default: int) -> int:
        value = self.text(name, required=False)
        if value is None:
            return default
        if not value.isdigit() or len(value) > 9:
            raise FormError(name, f"{value!r} is not a whole number")
        return int(value)

    def uuid(self, name: str) -> str:
        """An id chosen on the form (an invoice, a promise): refused unless it is one."""
        value = self.required(name)
        try:
            return str(UUID(value))
        except ValueError:
            raise FormError(name, "choose one from the list") from None

    def values(self) -> dict[str, str]:
        return {k: str(v) for k, v in self.data.items() if k not in ("csrf", "idem")}


@dataclass
class Outcome:
    """What became of a form: the position its command reached, or the refusal."""

    form: str
    answer: Answer | None = None
    problem: dict[str, Any] | None = None
    values: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.problem is None

    @property
    def position(self) -> int:
        body = self.answer.json() if self.answer else None
        return int(body.get("position") or 0) if isinstance(body, dict) else 0


async def read_form(request: Request, user: DeskUser) -> Form:
    """The posted form, once its CSRF token is the session's own."""
    data = await request.form()
    sent = str(data.get("csrf") or "")
    if not hmac.compare_digest(sent.encode(), user.csrf.encode()):
        raise Forbidden("the form's CSRF token is missing or not this session's")
    return Form(data)


Command = tuple[str, str, dict[str, Any]]


async def perform(inner: Inner, form: Form, name: str, build: Callable[[], Command]) -> Outcome:
    """Build the command from the form and send it to the API under the form's
    idempotency token."""
    try:
        method, path, body = build()
    except FormError as e:
        problem = {"title": "The form is not valid", "detail": f"{e.field}: {e.message}"}
        return Outcome(name, problem=problem, values=form.values())
    key = form.text("idem", required=False) or ""
    answer = await inner.post(path, body, key=key, method=method)
    if answer.ok:
        return Outcome(name, answer=answer)
    return Outcome(name, answer=answer, problem=answer.problem, values=form.values())


async def read_upload(file: UploadFile, field: str, limit: int) -> bytes | FormError:
    """An uploaded file's bytes, or why it is too large to take (read no further)."""
    raw = await file.read(limit + 1)
    if len(raw) > limit:
        return FormError(field, f"the file is larger than {limit:,} bytes")
    return raw
