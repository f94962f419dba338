"""Writing off bad debt, with an authorised limit per role: within the requester's limit
a write-off is applied at once; above it, it waits for a manager who is not the requester
(four eyes), who may approve or reject it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from ledger.errors import (
    DailyWriteOffLimitReached,
    FourEyesRequired,
    InsufficientAuthority,
    WriteOffNotPending,
)
from ledger.money import Money, exponent
from ledger.stamp import Stamp

# Limits are set in major units (pounds, euros, yen) so that one figure reads the same in
# every currency of the book; a role not listed may write off nothing.
DEFAULT_LIMITS_MAJOR = {"coordinator": 250, "manager": 25_000, "admin": 25_000}
# What one person may write off in a day (UTC) over every invoice, per currency.
DEFAULT_DAILY_LIMITS_MAJOR = {"coordinator": 1_000, "manager": 100_000, "admin": 100_000}


@dataclass(frozen=True)
class WriteOffPolicy:
    """How much each role may write off on its own authority: on one invoice, and in
    one day over every invoice."""

    limits_major: dict[str, int]
    daily_limits_major: dict[str, int] = field(
        default_factory=lambda: dict(DEFAULT_DAILY_LIMITS_MAJOR)
    )

    @classmethod
    def parse(cls, spec: str, daily_spec: str = "") -> WriteOffPolicy:
        """``role:amount`` pairs, comma separated, amounts in major units."""
        return cls(
            _parse_limits(spec) or dict(DEFAULT_LIMITS_MAJOR),
            _parse_limits(daily_spec) or dict(DEFAULT_DAILY_LIMITS_MAJOR),
        )

    def limit(self, role: str, currency: str) -> Money:
        """On one invoice."""
        return _major(self.limits_major.get(role, 0), currency)

    def daily_limit(self, role: str, currency: str) -> Money:
        """In one day, over every invoice."""
        return _major(self.daily_limits_major.get(role, 0), currency)


def _parse_limits(spec: str) -> dict[str, int]:
    limits = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        role, _, amount = item.partition(":")
        limits[role.strip()] = int(amount)
    return limits


def _major(major: int, currency: str) -> Money:
    return Money(major * 10 ** exponent(currency), currency)


@dataclass(frozen=True)
class Authority:
    """What one person may still write off on their own authority: on this invoice
    (their limit less what they have written off on it) and today (their daily limit
    less what they have written off today on any invoice)."""

    on_invoice: Money
    today: Money

    def covers(self, amount: Money) -> bool:
        return not (self.on_invoice < amount or self.today < amount)


class WriteOff(Aggregate):
    """One write-off decision: requested, then applied at once, approved, or rejected."""

    class Requested(Aggregate.Created):
        """A write-off of ``amount`` on an invoice was requested."""

        cloudevent_type: ClassVar[str] = "arledger.write_off.requested"
        account_id: UUID
        invoice_id: UUID
        amount: Money
        reason: str
        requested_by: str
        requester_role: str
        stamp: Stamp

    @event(Requested)
    def __init__(
        self,
        account_id: UUID,
        invoice_id: UUID,
        amount: Money,
        reason: str,
        requested_by: str,
        requester_role: str,
        stamp: Stamp,
    ) -> None:
        self.account_id = account_id
        self.invoice_id = invoice_id
        self.amount = amount
        self.reason = reason
        self.requested_by = requested_by
        self.requester_role = requester_role
        self.status = "pending_approval"
        self.decided_by: str | None = None
        self.decision_reason: str | None = None

    def apply_at_once(self, authority: Authority, stamp: Stamp) -> None:
        """Apply on the requester's own authority: what their limits leave on this
        invoice and today covers the amount."""
        self._require_pending()
        self._authorise(self.requested_by, authority, stamp)

    def approve(
        self, approver: str, authority: Authority, stamp: Stamp, reason: str | None = None
    ) -> None:
        """Approve, with the approver's ``reason``: never by the requester, whatever key
        or role they hold (four eyes by identity), and within what the approver's own
        limits leave on the invoice and today."""
        self._require_pending()
        if approver == self.requested_by:
            raise FourEyesRequired(
                f"{approver} requested this write-off of {self.amount}; someone else "
                "must approve it"
            )
        self._authorise(approver, authority, stamp, reason)

    def _authorise(
        self, who: str, authority: Authority, stamp: Stamp, reason: str | None = None
    ) -> None:
        if authority.on_invoice < self.amount:
            raise InsufficientAuthority(
                f"{who}'s write-off limit leaves {authority.on_invoice} on this invoice "
                f"(after what {who} has already written off on it); this write-off is "
                f"{self.amount}",
                authority_left=authority.on_invoice.to_json(),
            )
        if authority.today < self.amount:
            raise DailyWriteOffLimitReached(
                f"{who}'s daily write-off limit leaves {authority.today} today (after "
                f"what {who} has already written off today); this write-off is {self.amount}",
                authority_left_today=authority.today.to_json(),
            )
        self._approved(account_id=self.account_id, approved_by=who, stamp=stamp, reason=reason)

    class Approved(Aggregate.Event):
        """Applied: at once on the requester's authority, or approved by another with
        their ``reason`` (version 2; an event stored before it has none)."""

        cloudevent_type: ClassVar[str] = "arledger.write_off.approved"
        class_version = 2
        account_id: UUID
        approved_by: str
        stamp: Stamp
        reason: str | None = None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["reason"] = None

    @event(Approved)
    def _approved(
        self, account_id: UUID, approved_by: str, stamp: Stamp, reason: str | None = None
    ) -> None:
        self.status = "applied"
        self.decided_by = approved_by
        self.decision_reason = reason

    def reject(self, rejecter: str, reason: str, stamp: Stamp) -> None:
        self._require_pending()
        if rejecter == self.requested_by:
            raise FourEyesRequired("a write-off is rejected by someone other than its requester")
        self._rejected(account_id=self.account_id, rejected_by=rejecter, reason=reason, stamp=stamp)

    class Rejected(Aggregate.Event):
        """The write-off was refused by someone other than its requester."""

        cloudevent_type: ClassVar[str] = "arledger.write_off.rejected"
        account_id: UUID
        rejected_by: str
        reason: str
        stamp: Stamp

    @event(Rejected)
    def _rejected(self, account_id: UUID, rejected_by: str, reason: str, stamp: Stamp) -> None:
        self.status = "rejected"
        self.decided_by = rejected_by
        self.decision_reason = reason

    def _require_pending(self) -> None:
        if self.status != "pending_approval":
            raise WriteOffNotPending(f"write-off {self.id} is already {self.status}")
