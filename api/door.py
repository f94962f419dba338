"""The door: every request is bounded and checked before a route reads it.

- a body larger than its path's limit is a 413, refused from ``Content-Length`` before a
  byte of it is read, or as soon as a chunked body passes the limit;
- a JSON body with a duplicate key, nesting deeper than ``JSON_DEPTH_MAX``, ``NaN`` or
  ``Infinity``, or a control character in any key or string is a 422 naming where;
- a control character in the path or a query parameter is a 422.

The Stripe webhook's body is bounded here but checked by its own channel, which keeps a
malformed signed payload for inspection."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

from ledger import limits
from ledger.text import control_character_refusal

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

PROBLEM_MEDIA_TYPE = "application/problem+json"
STRIPE_WEBHOOK_PATH = "/v1/webhooks/stripe"
# Files come in on these paths: the API's (the file in JSON) and the desk's uploads.
BODY_LIMITS = {
    "/v1/bank-statements": limits.STATEMENT_BODY_BYTES_MAX,
    "/v1/invoices/imports": limits.STATEMENT_BODY_BYTES_MAX,
    "/v1/accounts/imports": limits.STATEMENT_BODY_BYTES_MAX,
    "/v1/payments/imports": limits.STATEMENT_BODY_BYTES_MAX,
    "/bank": limits.STATEMENT_BODY_BYTES_MAX,
    "/imports": limits.STATEMENT_BODY_BYTES_MAX,
}


class Refused(Exception):
    """The request cannot be let in: its status, problem code and what was wrong."""

    def __init__(self, status: int, code: str, title: str, detail: str, field: str) -> None:
        super().__init__(detail)
        self.status, self.code, self.title, self.detail, self.field = (
            status,
            code,
            title,
            detail,
            field,
        )


def body_limit(path: str) -> int:
    return BODY_LIMITS.get(path, limits.REQUEST_BODY_BYTES_MAX)


class Door:
    """ASGI middleware: bounds and checks each request (see the module's docstring)."""

    def __init__(self, app: App) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            check_target(scope)
            body = await read_body(scope, receive, body_limit(scope["path"]))
            if body and _json_path(scope["path"]):
                check_json(body)
        except Refused as refused:
            await _answer(refused, scope, send)
            return
        await self.app(scope, _replay(body, receive), send)


def _json_path(path: str) -> bool:
    """The API's JSON bodies are checked here; the desk's forms (outside ``/v1``) become
    JSON calls to the API, which are checked when they come through this door."""
    return path.startswith("/v1/") and path != STRIPE_WEBHOOK_PATH


def check_target(scope: Scope) -> None:
    """No control character in the path or in a query parameter's name or value."""
    _check_text(scope["path"], "path")
    query = scope.get("query_string", b"").decode("utf-8", "replace")
    for name, value in parse_qsl(query, keep_blank_values=True):
        _check_text(name, "query")
        _check_text(value, f"query.{name}")


async def read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    """The whole body, refused with a 413 as soon as it is known to pass ``limit``."""
    declared = dict(scope.get("headers") or []).get(b"content-length")
    if declared is not None and declared.strip().isdigit() and int(declared) > limit:
        raise _too_large(int(declared), limit)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _too_large(size, limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _too_large(size: int, limit: int) -> Refused:
    return Refused(
        413,
        "body-too-large",
        "The request body is too large",
        f"the body is at least {size} bytes; the limit for this path is {limit}",
        "body",
    )


def check_json(body: bytes) -> None:
    """Refuse a JSON body a route could be misled by; leave a body that is not JSON at
    all to the route's own parser (which answers 422 for it)."""
    try:
        document = json.loads(body, object_pairs_hook=_no_duplicates, parse_constant=_no_nan)
    except Refused:
        raise
    except RecursionError:
        raise _invalid("body", f"the JSON nests deeper than {limits.JSON_DEPTH_MAX}") from None
    except ValueError as e:
        raise _invalid("body", f"the body is not valid JSON: {e}") from None
    _walk(document)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise _invalid(f"body.{key}", f"the key {key!r} appears twice in one object")
        seen[key] = value
    return seen


def _no_nan(constant: str) -> None:
    raise _invalid("body", f"{constant} is not a JSON number")


def _walk(document: Any) -> None:
    """Every key and string of ``document``, with its depth and where it is."""
    stack: list[tuple[Any, str, int]] = [(document, "body", 1)]
    while stack:
        value, where, depth = stack.pop()
        if depth > limits.JSON_DEPTH_MAX:
            raise _invalid(where, f"the JSON nests deeper than {limits.JSON_DEPTH_MAX}")
        if isinstance(value, str):
            _check_text(value, where)
        elif isinstance(value, dict):
            for key, item in value.items():
                _check_text(key, f"{where}.{key}")
                stack.append((item, f"{where}.{key}", depth + 1))
        elif isinstance(value, list):
            stack.extend((item, f"{where}.{i}", depth + 1) for i, item in enumerate(value))


def _check_text(value: str, where: str) -> None:
    refusal = control_character_refusal(value)
    if refusal is not None:
        raise _invalid(where, refusal)


def _invalid(where: str, message: str) -> Refused:
    return Refused(422, "validation-error", "The request is not valid", message, where)


def _replay(body: bytes, original: Receive) -> Receive:
    """A ``receive`` that hands the route the body already read, then passes on what
    the connection says next (a disconnect)."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await original()

    return receive


async def _answer(refused: Refused, scope: Scope, send: Send) -> None:
    body = {
        "type": f"/v1/problems/{refused.code}",
        "title": refused.title,
        "status": refused.status,
        "detail": f"{refused.field}: {refused.detail}",
        "instance": scope["path"].encode("unicode_escape").decode("ascii"),
        "errors": [{"field": refused.field, "message": refused.detail}],
    }
    payload = json.dumps(body).encode()
    headers = [
        (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
        (b"content-length", str(len(payload)).encode()),
    ]
    if refused.status == 413:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": refused.status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
