"""The desk calls the same ``/v1`` API its users could call, in-process.

A page reads through the API's queries and an action goes through the API's command:
the same door, roles, idempotency, rules and problem types, with no second write path.
The signed-in user travels in the ASGI scope (``DESK_PRINCIPAL``), where no HTTP client
can put it, so the API stamps their actor on every event and refuses what their role
may not do, whatever the page offered."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request

from api.auth import Principal
from api.deps import DESK_PRINCIPAL

Message = dict[str, Any]


@dataclass
class Answer:
    """The API's answer: its status, its JSON (or raw bytes) and its headers."""

    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    @property
    def problem(self) -> dict[str, Any]:
        """The problem details of a refusal (a plain one when the body is not one)."""
        try:
            body = self.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and "detail" in body:
            return body
        return {
            "title": "The request failed",
            "detail": f"HTTP {self.status}",
            "status": self.status,
        }


class Inner:
    """Calls to the API on behalf of the desk's signed-in user."""

    def __init__(self, request: Request, who: Principal) -> None:
        self.request, self.who = request, who

    async def get(self, path: str, **query: Any) -> Answer:
        return await self.call("GET", path, query=query)

    async def post(self, path: str, body: dict[str, Any], key: str, method: str = "POST") -> Answer:
        return await self.call(method, path, body=body, key=key)

    async def call(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
        key: str | None = None,
    ) -> Answer:
        payload = json.dumps(body).encode() if body is not None else b""
        headers = [(b"content-type", b"application/json"), (b"accept", b"application/json")]
        if key:
            headers.append((b"idempotency-key", key.encode()))
        pairs = {k: v for k, v in (query or {}).items() if v is not None and v != ""}
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": self.request.url.scheme,
            "path": path,
            "raw_path": path.encode(),
            "root_path": "",
            "query_string": urlencode(pairs, doseq=True).encode(),
            "headers": [*headers, (b"content-length", str(len(payload)).encode())],
            "client": self.request.scope.get("client"),
            "server": self.request.scope.get("server"),
            "state": {},
            DESK_PRINCIPAL: self.who,
        }
        return await _dispatch(self.request.app, scope, payload)


async def _dispatch(app: Any, scope: dict[str, Any], payload: bytes) -> Answer:
    sent = False
    done = asyncio.Event()
    answer = Answer(500, b"")
    chunks: list[bytes] = []

    async def receive() -> Message:
        nonlocal sent
        if sent:
            # A streaming reply listens for the client going away: it stays until the
            # reply is complete, as a connected client would.
            await done.wait()
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": payload, "more_body": False}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            answer.status = message["status"]
            answer.headers = {k.decode().lower(): v.decode() for k, v in message["headers"]}
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                done.set()

    try:
        await app(scope, receive, send)
        done.set()
    except Exception:
        # Starlette answers an unexpected error with its 500 and then raises it again for
        # the server to log; the answer was sent, so the page shows it as a failed read.
        if not chunks:
            raise
    answer.body = b"".join(chunks)
    return answer
