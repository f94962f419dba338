"""An account's standing: active, on hold, suspended or terminated, with the moves a
collections team makes between them, and the rules of which move is allowed from where.

* hold -- stop chasing for a while (a query open, a promise being honoured);
* recommend_suspension -- a payment-ops rep recommends it; the account stays as it is;
* suspend -- services stop until the debt is dealt with;
* reinstate -- back to active from hold or suspension;
* terminate -- the relationship ends; nothing moves the account after it.
"""

from __future__ import annotations

from ledger.errors import RuleViolation

ACTIONS: dict[str, tuple[frozenset[str], str | None]] = {
    # action: (statuses it may be taken from, the status it leads to; None keeps it)
    "hold": (frozenset({"active"}), "on_hold"),
    "recommend_suspension": (frozenset({"active", "on_hold"}), None),
    "suspend": (frozenset({"active", "on_hold"}), "suspended"),
    "reinstate": (frozenset({"on_hold", "suspended"}), "active"),
    "terminate": (frozenset({"active", "on_hold", "suspended"}), "terminated"),
}
INSOLVENCY_KINDS = ("administration", "insolvency", "liquidation", "iva")


class StandingNotAllowed(RuleViolation):
    code = "standing-not-allowed"
    title = "The account's standing does not allow this"


def next_status(action: str, current: str) -> str:
    """The status ``action`` leads to from ``current``, or why it may not be taken."""
    if action not in ACTIONS:
        raise StandingNotAllowed(f"unknown action {action!r}; one of {', '.join(ACTIONS)}")
    allowed_from, to = ACTIONS[action]
    if current not in allowed_from:
        raise StandingNotAllowed(
            f"cannot {action.replace('_', ' ')} an account that is {current.replace('_', ' ')}",
            status=current,
        )
    return to or current
