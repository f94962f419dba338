"""What a signed Stripe event must look like before it is recorded or applied.

A valid signature says Stripe (or whoever holds our secret) sent the bytes, not that the
bytes are sane. Every amount is an integer number of minor units (never ``10.5`` or
``"100"``), ``created`` is a Unix time in the business years, ids are bounded strings,
and no string holds a control character. A payload that fails is refused with a 400 and
kept, bytes as received, in ``stripe_rejected_payloads`` for a person to look at."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from channels.stripe_signature import WebhookRejected
from ledger import limits
from ledger.text import forbidden_character

ID_LENGTH_MAX = 255
TEXT_LENGTH_MAX = 5_000
_EPOCH_MIN = int(datetime(limits.BUSINESS_YEAR_MIN, 1, 1, tzinfo=UTC).timestamp())
_EPOCH_MAX = int(datetime(limits.BUSINESS_YEAR_MAX, 12, 31, tzinfo=UTC).timestamp())


class MalformedEvent(WebhookRejected):
    code = "webhook-malformed-event"
    title = "The signed Stripe event is malformed"


def check_event(event: dict[str, Any]) -> None:
    """Raise :class:`MalformedEvent` saying what is wrong with a parsed Stripe event."""
    for name in ("id", "type"):
        value = event.get(name)
        if not isinstance(value, str) or not 0 < len(value) <= ID_LENGTH_MAX:
            raise MalformedEvent(f"{name} must be a string of 1 to {ID_LENGTH_MAX} characters")
    created = event.get("created")
    if type(created) is not int or not _EPOCH_MIN <= created <= _EPOCH_MAX:
        raise MalformedEvent(f"created must be a Unix time in seconds; got {created!r}")
    _walk(event)


def _walk(document: Any) -> None:
    stack: list[tuple[Any, str, int]] = [(document, "event", 1)]
    while stack:
        value, where, depth = stack.pop()
        if depth > limits.JSON_DEPTH_MAX:
            raise MalformedEvent(f"{where} nests deeper than {limits.JSON_DEPTH_MAX}")
        if isinstance(value, str):
            _check_text(value, where)
        elif isinstance(value, dict):
            for key, item in value.items():
                _check_text(key, f"{where}.{key}")
                if key.startswith("amount") or key == "created":
                    _check_number(key, item, f"{where}.{key}")
                stack.append((item, f"{where}.{key}", depth + 1))
        elif isinstance(value, list):
            stack.extend((item, f"{where}.{i}", depth + 1) for i, item in enumerate(value))


def _check_text(value: str, where: str) -> None:
    if len(value) > TEXT_LENGTH_MAX:
        raise MalformedEvent(f"{where} is longer than {TEXT_LENGTH_MAX} characters")
    bad = forbidden_character(value)
    if bad is not None:
        raise MalformedEvent(f"{where} holds a control character ({bad})")


def _check_number(key: str, value: Any, where: str) -> None:
    """Stripe's amounts are integers of minor units, and its times integer seconds."""
    if value is None or isinstance(value, dict | list):
        return  # absent, or a nested object (amount_details) walked on its own
    ceiling = _EPOCH_MAX if key == "created" else limits.AMOUNT_MINOR_MAX
    if type(value) is not int or not 0 <= value <= ceiling:
        raise MalformedEvent(f"{where} must be an integer from 0 to {ceiling}; got {value!r}")
