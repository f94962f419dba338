"""The Stripe-API-compatible servers the tests talk to over HTTP.

- ``localstripe``: a real, stateful Stripe API server (customers, payment methods,
  PaymentIntents, charges, refunds, events), started as its own process; it delivers
  signed webhooks to endpoints registered at ``POST /_config/webhooks/{name}``.
- ``CheckoutSessionsDouble``: localstripe has no Checkout Sessions, so this small test
  server answers that one endpoint (create and expire) itself, with objects shaped as
  Stripe documents them, and passes every other request through to localstripe."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from runtime.embedded import free_port

# localstripe pickles its whole store to /tmp/localstripe.pickle after every write, so
# making n objects takes time in n squared (3,363 PaymentIntents took 22 minutes). A
# benchmark that needs thousands runs it without that file, which nothing here reads.
_IN_MEMORY = (
    "import sys; from localstripe import resources, server;"
    " resources.Store.dump_to_disk = lambda self: None;"
    " sys.argv[0] = 'localstripe'; server.start()"
)


@contextmanager
def localstripe(in_memory: bool = False) -> Iterator[str]:
    """A localstripe server on a free port; ``in_memory`` keeps it from writing its store
    to disk after each change (for benchmarks that make thousands of objects)."""
    port = free_port()
    program = ["-c", _IN_MEMORY] if in_memory else ["-m", "localstripe"]
    proc = subprocess.Popen(
        [sys.executable, *program, "--port", str(port), "--from-scratch"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"{url}/v1/customers", auth=("sk_test_x", ""), timeout=1)
            break
        except httpx.HTTPError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError("localstripe did not start") from None
            time.sleep(0.1)
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _form(body: bytes) -> dict[str, Any]:
    """Stripe's form encoding (``a[b][0][c]=x``) back into nested objects."""
    out: dict[str, Any] = {}
    for key, value in urllib.parse.parse_qsl(body.decode(), keep_blank_values=True):
        parts = key.replace("]", "").split("[")
        node = out
        for part, nxt in zip(parts, [*parts[1:], None], strict=True):
            if nxt is None:
                node[part] = value
            else:
                node = node.setdefault(part, {})
    return out


class CheckoutSessionsDouble:
    """``/v1/checkout/sessions`` answered here; everything else sent on to localstripe."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.sessions: dict[str, dict[str, Any]] = {}
        double = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _reply(self, status: int, body: bytes, kind: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if self.path.startswith("/v1/checkout/sessions"):
                    status, reply = double.checkout(self.command, self.path, _form(body))
                    self._reply(status, json.dumps(reply).encode())
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                forwarded = httpx.request(
                    self.command, double.upstream + self.path, content=body, headers=headers
                )
                self._reply(forwarded.status_code, forwarded.content)

            do_GET = do_POST = do_DELETE = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def checkout(self, method: str, path: str, form: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        parts = path.split("?")[0].strip("/").split("/")
        if method == "POST" and len(parts) == 3:
            item = form["line_items"]["0"]
            n = len(self.sessions) + 1
            session = {
                "id": f"cs_test_{n:04d}",
                "object": "checkout.session",
                "amount_total": int(item["price_data"]["unit_amount"]) * int(item["quantity"]),
                "currency": item["price_data"]["currency"],
                "customer": form.get("customer"),
                "expires_at": int(time.time()) + 24 * 3600,
                "metadata": form.get("metadata", {}),
                "payment_intent_data": form.get("payment_intent_data", {}),
                "mode": form["mode"],
                "payment_intent": None,
                "payment_status": "unpaid",
                "status": "open",
                "success_url": form.get("success_url"),
                "url": f"https://checkout.stripe.com/c/pay/cs_test_{n:04d}",
            }
            self.sessions[session["id"]] = session
            return 200, session
        if method == "POST" and len(parts) == 5 and parts[4] == "expire":
            session = self.sessions.get(parts[3])
            if session is None or session["status"] != "open":
                return 400, {"error": {"type": "invalid_request_error", "message": "not open"}}
            session["status"] = "expired"
            return 200, session
        return 404, {"error": {"type": "invalid_request_error", "message": "not in the double"}}

    def close(self) -> None:
        self.server.shutdown()


SECRET = "whsec_channel"
KEY = "sk_test_arledger"


def stripe_client(localstripe_url):
    return httpx.Client(base_url=localstripe_url, auth=(KEY, ""), timeout=10)


def saved_card(stripe, customer, number):
    pm = stripe.post(
        "/v1/payment_methods",
        data={
            "type": "card",
            "card[number]": number,
            "card[exp_month]": "12",
            "card[exp_year]": "2030",
            "card[cvc]": "123",
        },
    ).json()
    attached = stripe.post(f"/v1/payment_methods/{pm['id']}/attach", data={"customer": customer})
    assert attached.status_code == 200, attached.text
    return pm["id"]


def confirmed_intent(stripe, customer, pm, amount, **meta):
    """A PaymentIntent confirmed at once in localstripe, as Checkout or a saved card
    would make it; a declined one exists all the same."""
    reply = stripe.post(
        "/v1/payment_intents",
        data={
            "amount": str(amount),
            "currency": "gbp",
            "customer": customer,
            "payment_method": pm,
            "confirm": "true",
            **{f"metadata[{k}]": v for k, v in meta.items()},
        },
    )
    if reply.status_code == 402:
        charge = reply.json()["error"]["charge"]
        pi_id = stripe.get(f"/v1/charges/{charge}").json()["payment_intent"]
        return stripe.get(f"/v1/payment_intents/{pi_id}").json()
    return reply.json()
