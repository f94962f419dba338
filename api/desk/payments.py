"""Payments: the coordinator's dashboard of successful and failed payments, and one
payment's page (allocate its cash, or follow up a failure)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from starlette.responses import Response

from api.desk.common import (
    InnerDep,
    UserDep,
    after,
    forbidden_page,
    refusal_status,
    unavailable,
    unknown_action,
)
from api.desk.forms import Command, Form, FormError, Outcome, perform, read_form
from api.desk.inner import Inner
from api.desk.render import page
from api.desk.sessions import DeskUser

router = APIRouter(include_in_schema=False)
FILTERS = ("status", "method", "received_from", "received_to", "account_id", "needs_action")
STATUSES = ("pending", "succeeded", "failed", "returned")
METHODS = ("card", "bacs", "ach", "direct_debit", "cheque", "cash", "other")
FEED_LIMIT = 100


@router.get("/payments")
async def payments(request: Request, user: UserDep, api: InnerDep) -> Response:
    query = {k: request.query_params.get(k) for k in FILTERS}
    query["needs_action"] = "true" if query["needs_action"] else None
    feed = await api.get(
        "/v1/payments",
        **query,
        limit=FEED_LIMIT,
        min_position=request.query_params.get("min_position"),
    )
    if not feed.ok:
        return unavailable(request, user, feed)
    rows = feed.json()["payments"]
    return page(
        request,
        user,
        "payments.html",
        rows=rows,
        filters=query,
        statuses=STATUSES,
        methods=METHODS,
        counts=_counts(rows),
        refresh=5,
    )


def _counts(rows: list[dict[str, Any]]) -> dict[str, int]:
    return {
        "retry": sum(1 for r in rows if r["action"] == "retry"),
        "allocate": sum(1 for r in rows if r["action"] == "allocate"),
        "failed": sum(1 for r in rows if r["status"] == "failed"),
    }


@router.get("/payments/{payment_id}")
async def payment(request: Request, payment_id: UUID, user: UserDep, api: InnerDep) -> Response:
    return await _payment_page(request, user, api, payment_id)


async def _payment_page(
    request: Request, user: DeskUser, api: Inner, payment_id: UUID, outcome: Outcome | None = None
) -> Response:
    found = await api.get(f"/v1/payments/{payment_id}")
    if not found.ok:
        return unavailable(request, user, found)
    pay = found.json()
    wait = request.query_params.get("min_position")
    account = await api.get(f"/v1/accounts/{pay['account_id']}")
    invoices = await api.get(
        f"/v1/accounts/{pay['account_id']}/invoices", open="true", min_position=wait
    )
    if not (account.ok and invoices.ok):
        return unavailable(request, user, invoices if account.ok else account)
    open_invoices = invoices.json()["invoices"]
    told = await who_was_told(api, pay) if pay["status"] == "failed" else []
    return page(
        request,
        user,
        "payment.html",
        refusal_status(outcome) if outcome and outcome.problem else 200,
        pay=pay,
        account=account.json(),
        invoices=open_invoices,
        proposal=propose(pay, open_invoices),
        told=told,
        today=date.today().isoformat(),
        outcome=outcome,
    )


def propose(pay: dict[str, Any], invoices: list[dict[str, Any]]) -> dict[str, int]:
    """How the payment's unallocated cash most likely splits: the invoices its
    reference names first, then the oldest due; minor units by invoice id."""
    left = int(pay["unallocated"]["amount"])
    words = set(re.findall(r"[a-z0-9]+", (pay.get("reference") or "").lower()))
    named = [i for i in invoices if _number_words(i["number"]) <= words]
    ordered = named + [i for i in invoices if i not in named]
    split: dict[str, int] = {}
    for inv in ordered:
        if left <= 0:
            break
        take = min(left, int(inv["outstanding"]["amount"]))
        if take > 0:
            split[inv["id"]] = take
            left -= take
    return split


def _number_words(number: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", number.lower())) or {"\x00"}


@router.post("/payments/{payment_id}")
async def payment_action(
    request: Request, payment_id: UUID, user: UserDep, api: InnerDep
) -> Response:
    form = await read_form(request, user)
    found = await api.get(f"/v1/payments/{payment_id}")
    if not found.ok:
        return unavailable(request, user, found)
    pay = found.json()
    action = form.text("action", required=False) or ""
    build = PAYMENT_ACTIONS.get(action)
    if build is None:
        return unknown_action(request, user, action)
    outcome = await perform(api, form, action, lambda: build[0](form, pay))
    note = build[1]
    if outcome.ok:
        return after(outcome, f"/payments/{payment_id}", note)
    return forbidden_page(request, user, outcome) or await _payment_page(
        request, user, api, payment_id, outcome
    )


def _allocation(form: Form, pay: dict[str, Any]) -> Command:
    currency = pay["amount"]["currency"]
    rows = []
    for invoice_id in form.many("invoice"):
        amount = form.money(f"amount_{invoice_id}", currency, required=False)
        if amount and amount["amount"]:
            rows.append({"invoice_id": invoice_id, "amount": amount})
    if form.text("strategy", required=False) == "oldest_first":
        return "POST", f"/v1/payments/{pay['id']}/allocations", {"strategy": "oldest_first"}
    if not rows:
        raise FormError("amount", "enter an amount against at least one invoice")
    body = {"allocations": rows}
    return "POST", f"/v1/payments/{pay['id']}/allocations", body


def _receipt(form: Form, pay: dict[str, Any]) -> Command:
    body = {"channel": form.required("channel"), "recipient": form.text("recipient", False)}
    return "POST", f"/v1/payments/{pay['id']}/receipts", body


def _unallocation(form: Form, pay: dict[str, Any]) -> Command:
    return "POST", f"/v1/payments/{pay['id']}/unallocations", {"reason": form.required("reason")}


def _refund(form: Form, pay: dict[str, Any]) -> Command:
    body = {
        "amount": form.money("amount", pay["amount"]["currency"]),
        "reason": form.required("reason"),
        "refunded_on": form.required("refunded_on"),
        "reverse_allocations": form.text("reverse_allocations", False) == "yes",
    }
    return "POST", f"/v1/payments/{pay['id']}/refunds", body


def _return(form: Form, pay: dict[str, Any]) -> Command:
    body = {
        "return_code": form.required("return_code"),
        "returned_on": form.required("returned_on"),
        "reason": form.text("reason", False),
    }
    return "POST", f"/v1/payments/{pay['id']}/return", body


PAYMENT_ACTIONS: dict[str, tuple[Callable[[Form, dict[str, Any]], Command], str]] = {
    "allocate": (_allocation, "Payment allocated"),
    "receipt": (_receipt, "Receipt sent"),
    "unallocate": (_unallocation, "Allocations taken back"),
    "refund": (_refund, "Refund recorded"),
    "return": (_return, "Return recorded"),
}


async def who_was_told(api: Inner, pay: dict[str, Any]) -> list[dict[str, Any]]:
    """The notifications about this payment (a failure tells the coordinator and the
    client), each recipient with whether it was delivered."""
    trail = await api.get(
        f"/v1/accounts/{pay['account_id']}/audit-trail", type="arledger.notification.*", limit=1000
    )
    if not trail.ok:
        return []
    entries = trail.json()["entries"]
    queued = {e["subject"]: e for e in entries if e["type"].endswith(".queued")}
    told = [
        {"role": r["role"], "to": r["to"], "state": "queued", "subject": key}
        for key, e in queued.items()
        if e["data"].get("about") == pay["id"]
        for r in e["data"].get("recipients", [])
    ]
    for e in entries:
        for t in told:
            if e["subject"] == t["subject"] and e["data"].get("role") == t["role"]:
                t["state"] = "delivered" if e["type"].endswith(".delivered") else "failed"
    return told
