"""A fuzz run over the whole OpenAPI document with an admin key: every operation, bodies and
query parameters made of hostile values (control characters, huge and fractional numbers,
dates at the ends of time, wrong types, deep nesting). No answer is a 5xx other than a
transient 503, and no refused request appends an event. Bounded in requests and time;
``ARLEDGER_FUZZ_REQUESTS`` sets how many, ``ARLEDGER_FUZZ_SEED`` which."""

from __future__ import annotations

import json
import os
import random
import time
import uuid
from collections import Counter
from typing import Any

from tests.pipeline import pipeline
from tests.support import ADMIN_KEY, Api, gbp

DEEP: Any = ["deep"]
for _ in range(40):
    DEEP = [DEEP]
REQUESTS = int(os.environ.get("ARLEDGER_FUZZ_REQUESTS", "1500"))
SECONDS_MAX = 240.0
HOSTILE: list[Any] = [
    "",
    "a\u0000b",
    "\ud800",
    "x" * 5000,
    "\u202eevil",
    2**63,
    -(2**63) - 1,
    10**15 + 1,
    -1,
    0,
    1.5,
    30.0,
    "30",
    True,
    None,
    [],
    {},
    DEEP,
    "9999-12-31",
    "0001-01-01",
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-12:00",
    "2026-02-30",
    "2026-01-01T00:00:00",
    gbp(10**15 + 1),
    {"amount": 1.5, "currency": "GBP"},
    {"amount": 100, "currency": "XXX"},
    gbp(100),
    gbp(-100),
    str(uuid.uuid4()),
]


def _fill(path: str, ids: list[str], rng: random.Random) -> str:
    """Path parameters: a real id most of the time, garbage sometimes."""
    out = []
    for part in path.split("/"):
        if part.startswith("{"):
            part = rng.choice([*ids, *ids, "not-an-id", "%00", str(2**63), str(uuid.uuid4())])
        out.append(part)
    return "/".join(out)


def _value(schema: dict[str, Any], ids: list[str], rng: random.Random) -> Any:
    """A hostile value, or now and then one of the right type, so that checks past the
    first are reached too."""
    if rng.random() < 0.6:
        return rng.choice(HOSTILE)
    kind = schema.get("type") or (schema.get("anyOf") or [{}])[0].get("type")
    if schema.get("format") == "uuid":
        return rng.choice(ids)
    if schema.get("format") == "date":
        return rng.choice(["2026-01-15", "2026-03-01", "1900-01-01", "2200-12-31"])
    if schema.get("enum"):
        return rng.choice(schema["enum"])
    return {"integer": rng.choice([0, 1, 30, 365]), "string": "fuzz", "boolean": False}.get(
        str(kind), gbp(rng.choice([1, 100_00]))
    )


def _body(operation: dict[str, Any], spec: dict[str, Any], ids, rng) -> dict[str, Any]:
    content = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
    ref = content.get("schema", {}).get("$ref", "")
    schema = spec["components"]["schemas"].get(ref.rsplit("/", 1)[-1], {}) if ref else {}
    props = schema.get("properties", {})
    body = {name: _value(p, ids, rng) for name, p in props.items() if rng.random() < 0.8}
    if rng.random() < 0.1:
        body[rng.choice(["extra", "k\u0000", "amount"])] = rng.choice(HOSTILE)
    return body


def _params(operation: dict[str, Any], ids, rng) -> dict[str, Any]:
    params = {}
    for p in operation.get("parameters", []):
        if p.get("in") == "query" and rng.random() < 0.7:
            value = _value(p.get("schema", {}), ids, rng)
            text = value if isinstance(value, str | int) else str(value)
            # A lone surrogate cannot be put in a URL: send what a client could.
            params[p["name"]] = (
                text.encode("utf-8", "replace").decode() if isinstance(text, str) else text
            )
    return params


def test_fuzzing_every_operation_gives_no_5xx_and_refusals_append_nothing(settings):
    quick = settings.model_copy(update={"query_wait_ms": 50})
    with pipeline(quick, workers=False) as p:
        admin = Api(p.url, ADMIN_KEY)
        account = admin.open_account("Fuzz Ltd")["id"]
        invoice = admin.raise_invoice(account, "FZ-1", 500_00, "2026-01-01", "2026-02-01")["id"]
        payment = admin.record_payment(account, 100_00)["id"]
        ids = [account, invoice, payment]
        spec = admin.get("/openapi.json").json()
        operations = [
            (method.upper(), path, op)
            for path, item in spec["paths"].items()
            for method, op in item.items()
            if not path.startswith("/v1/webhooks")
        ]
        rng = random.Random(int(os.environ.get("ARLEDGER_FUZZ_SEED", "20261202")))
        began, sent, server_errors, wrongly_appended = time.monotonic(), 0, [], []
        statuses: Counter[int] = Counter()
        while sent < REQUESTS and time.monotonic() - began < SECONDS_MAX:
            method, path, op = rng.choice(operations)
            url = _fill(path, ids, rng)
            head = p.services.ledger.head_position()
            if method == "GET":
                response = admin.http.get(url, params=_params(op, ids, rng))
            else:
                response = admin.http.request(
                    method,
                    url,
                    content=json.dumps(_body(op, spec, ids, rng)).encode(),  # \u escapes
                    headers={
                        "Idempotency-Key": f"fuzz-{sent}",
                        "Content-Type": "application/json",
                    },
                )
            sent += 1
            statuses[response.status_code] += 1
            if response.status_code >= 500 and response.status_code != 503:
                server_errors.append((method, url, response.status_code, response.text[:300]))
            if response.status_code >= 400 and p.services.ledger.head_position() != head:
                wrongly_appended.append((method, url, response.status_code))
        print(f"fuzz: {sent} requests, {len(server_errors)} 5xx, {len(wrongly_appended)} appended")
        print("fuzz statuses:", dict(sorted(statuses.items())))
        assert sent >= min(REQUESTS, 200)
        assert server_errors == []
        assert wrongly_appended == []
