"""What applying a Stripe event came to, and the ids and stamps every handler shares.

Ledger ids derive from Stripe's ids (``payment_id_for``), so applying an event twice, or
the webhook and a coordinator's phone payment both recording the same success, appends
nothing the second time. A ``Recording`` is the payment a PaymentIntent's outcome
records; an ``Outcome`` is what became of one event."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, cast
from uuid import UUID, uuid5

from ledger.commands import RecordPayment
from ledger.errors import LedgerError
from ledger.stamp import Stamp

STRIPE_NAMESPACE = UUID("0d7c4a52-52a4-4f4e-8f0a-6a8b3f3e1c11")
ACTOR = "stripe"
# Stripe's payment method types that are bank debits: their money can fail late.
BANK_DEBITS = {"bacs_debit": "bacs", "sepa_debit": "direct_debit", "us_bank_account": "ach"}


def payment_id_for(key: str) -> UUID:
    """The ledger payment for a Stripe outcome: ``<pi>/succeeded`` or a failure's key."""
    return uuid5(STRIPE_NAMESPACE, key)


@dataclass
class Outcome:
    """What applying one event did: ``applied``, ``ignored`` (nothing to do: already
    done, or superseded), ``deferred`` (waits for its payment), ``unhandled`` (a type we
    do not map) or ``unmatched`` (no account could be found for it)."""

    outcome: str
    detail: str
    payment_intent: str | None = None
    positions: list[int] = field(default_factory=list)
    # The ledger payment the event was recorded as, and its status in the ledger.
    payment_id: UUID | None = None
    payment_status: str | None = None


def stamp_of(event: dict[str, Any], at: int | None = None) -> Stamp:
    """The stamp of what ``event`` does: by Stripe, effective when Stripe made the event
    (or at ``at``), correlated by the event's id."""
    when = datetime.fromtimestamp(int(at if at is not None else event["created"]), UTC)
    return Stamp(ACTOR, str(event["id"]), f"stripe:{event['id']}", when)


def day_of(epoch: int) -> date:
    return datetime.fromtimestamp(int(epoch), UTC).date()


def metadata_of(obj: dict[str, Any]) -> dict[str, str]:
    meta = obj.get("metadata") or {}
    return {str(k): str(v) for k, v in meta.items()}


def uuid_of(value: str | None) -> UUID | None:
    """``value`` as a UUID; None when it is absent or not one."""
    try:
        return UUID(value) if value else None
    except ValueError:
        return None


def method_of(obj: dict[str, Any]) -> str:
    """The ledger's payment method of a PaymentIntent: a bank debit's, else card."""
    types = obj.get("payment_method_types") or ["card"]
    return BANK_DEBITS.get(types[0], "card")


@dataclass(frozen=True)
class Recording:
    """The payment a PaymentIntent's outcome records (its success, or a failed attempt),
    and the invoice its metadata names, which a success is allocated to up to what that
    invoice still owes. Applied alone (``StripeEvents``) or many to a save
    (``channels/stripe_receipts.py``), it records the same payment under the same id."""

    payment: RecordPayment
    pi_id: str
    invoice_id: UUID | None = None

    @property
    def payment_id(self) -> UUID:
        return cast(UUID, self.payment.payment_id)

    @property
    def allocation_request(self) -> str:
        """The allocation's idempotency key: the payment allocates it once."""
        return f"stripe:{self.payment_id}/allocate"

    def outcome(self, recorded_before: bool, position: int | None = None) -> Outcome:
        """``applied``, or ``ignored`` when the ledger had the payment already; at
        ``position``, when it is known."""
        what = (
            f"payment {self.payment_id} succeeded"
            if self.payment.status == "succeeded"
            else f"failed attempt {self.payment_id}"
        )
        positions = [] if position is None else [position]
        done = Outcome("applied", what, self.pi_id, positions, self.payment_id)
        if recorded_before:
            done.outcome = "ignored"
            done.detail = what.removesuffix(" succeeded") + " was recorded before"
        return done


def refused(error: LedgerError) -> Outcome:
    """An event the ledger's rules refused (a refund larger than the payment, say): kept,
    with the reason, for a person to look at; Stripe is told it arrived."""
    return Outcome("refused", f"{error.code}: {error.detail}")
