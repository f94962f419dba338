"""Every command an account's page offers, as the API call it becomes.

Each action names the API route it calls (so the page offers it only to roles the API
lets call it) and builds that route's body from the form. Ids in the route's path come
from the page (the account) or from the form (the invoice, payment or arrangement the
user chose)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from api.desk.forms import Form, FormError

Body = dict[str, Any]


@dataclass(frozen=True)
class Of:
    """The account an action is on."""

    account_id: str
    currency: str


@dataclass(frozen=True)
class Action:
    label: str
    method: str
    path: str  # the API route's template: its roles decide who is offered the action
    build: Callable[[Form, Of], Body]  # from the form and the account it is on
    done: str


def _today() -> str:
    return datetime.now(UTC).date().isoformat()


def _contact(f: Form, a: Of) -> Body:
    return {
        "channel": f.required("channel"),
        "direction": f.text("direction", False) or "outbound",
        "outcome": f.required("outcome"),
        "notes": f.text("notes", False),
        "contact_name": f.text("contact_name", False),
    }


def _promise(f: Form, a: Of) -> Body:
    return {
        "amount": f.money("amount", a.currency),
        "promised_on": f.required("promised_on"),
        "invoice_ids": f.many("invoice_ids"),
        "notes": f.text("notes", False),
    }


def _plan(f: Form, a: Of) -> Body:
    """Instalments typed one a line: ``2027-01-15 500.00``."""
    instalments = []
    for n, line in enumerate((f.required("instalments")).splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2:
            raise FormError("instalments", f"line {n}: write a date and an amount")
        amount = Form.money_of(parts[1], a.currency, f"instalments line {n}")
        instalments.append({"due_on": parts[0], "amount": amount})
    return {
        "invoice_ids": f.many("invoice_ids"),
        "instalments": instalments,
        "missed_allowed": f.integer("missed_allowed", 0),
    }


def _amount_reason(f: Form, a: Of) -> Body:
    return {"amount": f.money("amount", a.currency), "reason": f.required("reason")}


def _credit_note(f: Form, a: Of) -> Body:
    return {**_amount_reason(f, a), "issued_on": f.text("issued_on", False) or _today()}


def _reason(f: Form, a: Of) -> Body:
    return {"reason": f.required("reason")}


def _send(f: Form, a: Of) -> Body:
    return {"channel": f.required("channel"), "recipient": f.text("recipient", False)}


def _payment(f: Form, a: Of) -> Body:
    return {
        "account_id": a.account_id,
        "amount": f.money("amount", a.currency),
        "method": f.required("method"),
        "received_on": f.text("received_on", False) or _today(),
        "reference": f.text("reference", False),
        "status": f.text("status", False) or "succeeded",
    }


def _standing(f: Form, a: Of) -> Body:
    return {"action": f.required("standing"), "reason": f.required("reason")}


def _escalate(f: Form, a: Of) -> Body:
    return {"manager": f.required("manager"), "reason": f.required("reason")}


def _referral(f: Form, a: Of) -> Body:
    return {
        "kind": f.required("kind"),
        "agency": f.required("agency"),
        "collection_value": f.money("collection_value", a.currency),
        "reason": f.required("reason"),
    }


def _insolvency(f: Form, a: Of) -> Body:
    return {"kind": f.required("kind"), "reference": f.text("reference", False)}


def _notice(f: Form, a: Of) -> Body:
    chosen = f.many("invoice_ids")
    body: Body = {"stage": f.required("stage"), "channel": f.required("channel")}
    return {**body, "invoice_ids": chosen} if chosen else {**body, "all_eligible": True}


def _details(f: Form, a: Of) -> Body:
    body: Body = {"reason": f.text("reason", False)}
    for name in ("name", "email", "external_ref", "coordinator"):
        value = f.text(name, False)
        if value is not None:
            body[name] = value
    terms = f.text("payment_terms_days", False)
    if terms is not None:
        body["payment_terms_days"] = f.integer("payment_terms_days", 0)
    limit = f.money("credit_limit", a.currency, required=False)
    if limit is not None:
        body["credit_limit"] = limit
    return body


def _payment_method(f: Form, a: Of) -> Body:
    return {"method": f.required("method"), "reference": f.text("reference", False)}


def _cancel(f: Form, a: Of) -> Body:
    return {"reason": f.required("reason")}


ACTIONS: dict[str, Action] = {
    "contact": Action(
        "Log a contact", "POST", "/v1/accounts/{account_id}/contacts", _contact, "Contact logged"
    ),
    "promise": Action(
        "Record a promise to pay",
        "POST",
        "/v1/accounts/{account_id}/promises",
        _promise,
        "Promise recorded",
    ),
    "plan": Action(
        "Agree a payment plan",
        "POST",
        "/v1/accounts/{account_id}/payment-plans",
        _plan,
        "Payment plan agreed",
    ),
    "notice": Action(
        "Issue a dunning notice",
        "POST",
        "/v1/accounts/{account_id}/notices",
        _notice,
        "Notice issued",
    ),
    "payment": Action("Record a payment", "POST", "/v1/payments", _payment, "Payment recorded"),
    "send": Action(
        "Send or resend an invoice",
        "POST",
        "/v1/invoices/{invoice_id}/sends",
        _send,
        "Invoice sent",
    ),
    "payment_link": Action(
        "Send a payment link",
        "POST",
        "/v1/invoices/{invoice_id}/payment-links",
        lambda f, a: {},
        "Payment link sent",
    ),
    "dispute": Action(
        "Record a dispute",
        "POST",
        "/v1/invoices/{invoice_id}/disputes",
        _amount_reason,
        "Dispute recorded",
    ),
    "credit_note": Action(
        "Issue a credit note",
        "POST",
        "/v1/invoices/{invoice_id}/credit-notes",
        _credit_note,
        "Credit note issued",
    ),
    "void": Action(
        "Void an invoice", "POST", "/v1/invoices/{invoice_id}/void", _reason, "Invoice voided"
    ),
    "write_off": Action(
        "Write off",
        "POST",
        "/v1/invoices/{invoice_id}/write-offs",
        _amount_reason,
        "Write-off recorded",
    ),
    "standing": Action(
        "Hold, suspend, reinstate or terminate",
        "POST",
        "/v1/accounts/{account_id}/standing",
        _standing,
        "Standing changed",
    ),
    "escalate": Action(
        "Escalate to a manager",
        "POST",
        "/v1/accounts/{account_id}/escalations",
        _escalate,
        "Escalated",
    ),
    "referral": Action(
        "Refer for collection", "POST", "/v1/accounts/{account_id}/referrals", _referral, "Referred"
    ),
    "insolvency": Action(
        "Open an insolvency case",
        "POST",
        "/v1/accounts/{account_id}/insolvency-cases",
        _insolvency,
        "Insolvency case opened",
    ),
    "doubtful": Action(
        "Flag doubtful debt",
        "POST",
        "/v1/accounts/{account_id}/doubtful-debt",
        _amount_reason,
        "Doubtful debt flagged",
    ),
    "payment_method": Action(
        "Set up a payment method",
        "POST",
        "/v1/accounts/{account_id}/payment-methods",
        _payment_method,
        "Payment method set up",
    ),
    "details": Action(
        "Edit details", "PATCH", "/v1/accounts/{account_id}", _details, "Details updated"
    ),
    "cancel_promise": Action(
        "Cancel a promise", "POST", "/v1/promises/{promise_id}/cancel", _cancel, "Promise cancelled"
    ),
    "cancel_plan": Action(
        "Cancel a payment plan",
        "POST",
        "/v1/payment-plans/{plan_id}/cancel",
        _cancel,
        "Payment plan cancelled",
    ),
}

PATH_IDS = ("invoice_id", "promise_id", "plan_id")


def api_path(action: Action, form: Form, account_id: str) -> str:
    """The action's API path with its ids: the account's, and those the form chose."""
    path = action.path.replace("{account_id}", account_id)
    for name in PATH_IDS:
        if "{" + name + "}" in path:
            path = path.replace("{" + name + "}", form.uuid(name))
    return path
