"""Reconciling the ledger with Stripe over a period.

Stripe's PaymentIntents, refunds and payouts created in the period are listed through
its API and set against the ledger's payments that carry a PaymentIntent id. Each row is
one of:

- ``matched``: the same payment, amount and outcome on both sides;
- ``missing-in-ledger``: Stripe has it and the ledger did not; it is recorded now (and
  allocated when its metadata names the invoice), or, with no account to put it on,
  left for a person (``action``);
- ``missing-in-stripe``: the ledger has a Stripe payment Stripe does not know;
- ``amount-mismatch`` / ``status-mismatch``: both have it, and they disagree;
- ``refund-missing-in-ledger``: a Stripe refund the ledger lacks; recorded now;
- ``declined``: an attempt the card declined, which the ledger has as a failed payment;
  ``declined-recorded-in-ledger`` when the ledger lacked it and it is recorded now.

Payouts are listed with their totals, for matching against the bank statement. The run,
with every finding and what to do about each, is recorded as a
``reconciliation.completed`` event."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from time import monotonic
from typing import Any
from uuid import UUID

import stripe
from eventsourcing.persistence import Notification
from eventsourcing.utils import get_topic
from psycopg import Connection
from psycopg_pool import ConnectionPool

from channels.stripe_applier import release_deferred
from channels.stripe_apply import StripeEvents
from channels.stripe_outcome import Outcome, payment_id_for
from channels.stripe_receipts import record_successes
from ledger.application import Ledger
from ledger.commands import RefundPayment
from ledger.errors import LedgerError, Unavailable, UnknownPayment
from ledger.limits import POSITION_MAX
from ledger.money import Money
from ledger.reconciliation import Reconciliation
from ledger.stamp import Stamp
from projections import balance_queries

log = logging.getLogger("arledger.reconcile")

ACTIONS = {
    "matched": "nothing to do",
    "missing-in-ledger": "recorded in the ledger now; check the allocation",
    "unmatched": "find the account: the payment names none; record it by hand",
    "missing-in-stripe": "check the reference: the ledger says Stripe took it, Stripe does not",
    "amount-mismatch": "correct the ledger's payment (refund or record the difference)",
    "status-mismatch": "record the payment's real outcome in the ledger",
    "refund-missing-in-ledger": "recorded in the ledger now",
    "declined": "the ledger has this declined attempt as failed: follow the client up "
    "(a payment link) if nobody has",
    "declined-recorded-in-ledger": "recorded in the ledger now as a failed attempt: follow "
    "the client up (a payment link)",
}


@dataclass
class Finding:
    kind: str
    reference: str
    stripe_amount: Money | None = None
    ledger_amount: Money | None = None
    stripe_status: str | None = None
    ledger_status: str | None = None
    detail: str = ""

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "reference": self.reference,
            "stripe_amount": self.stripe_amount.to_json() if self.stripe_amount else None,
            "ledger_amount": self.ledger_amount.to_json() if self.ledger_amount else None,
            "stripe_status": self.stripe_status,
            "ledger_status": self.ledger_status,
            "detail": self.detail,
            "action": ACTIONS[self.kind],
        }


@dataclass
class Report:
    start: date
    end: date
    findings: list[Finding] = field(default_factory=list)
    payouts: list[dict[str, Any]] = field(default_factory=list)
    listed: dict[str, int] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for f in self.findings:
            out[f.kind] = out.get(f.kind, 0) + 1
        return dict(sorted(out.items()))


def _window(start: date, end: date) -> dict[str, int]:
    """Unix seconds from the start of ``start`` to the end of ``end`` (UTC)."""
    lo = datetime.combine(start, time(0), UTC)
    hi = datetime.combine(end + timedelta(days=1), time(0), UTC)
    return {"gte": int(lo.timestamp()), "lt": int(hi.timestamp())}


def listed(resource: Any, window: dict[str, int]) -> Iterator[dict[str, Any]]:
    """Every object of ``resource`` created in ``window``. A Stripe-compatible server
    that cannot filter by ``created`` is listed whole and filtered here."""
    try:
        page = resource.list(params={"created": window, "limit": 100})
    except (stripe.InvalidRequestError, stripe.APIError):
        log.warning("the server cannot filter by created; listing everything")
        page = resource.list(params={"limit": 100})
    for obj in page.auto_paging_iter():
        item = obj.to_dict()
        if window["gte"] <= int(item.get("created") or 0) < window["lt"]:
            yield item


class ReadModelBehind(Unavailable):
    code = "read-model-behind"
    title = "The balances read model has not caught up with the ledger"


class StripeReconciler:
    """``caught_up`` waits until the payments read model holds every event stored so
    far, and says whether it does: the comparison reads it."""

    def __init__(
        self,
        ledger: Ledger,
        pool: ConnectionPool,
        client: stripe.StripeClient,
        events: StripeEvents,
        caught_up: Callable[[int], bool],
    ) -> None:
        self.ledger, self.pool, self.client, self.events = ledger, pool, client, events
        self.caught_up = caught_up

    def run(self, start: date, end: date, run_id: UUID, stamp: Stamp) -> tuple[Report, int]:
        head = self.ledger.head_position()
        if not self.caught_up(head):
            raise ReadModelBehind(f"the balances read model is behind position {head}; retry")
        report = Report(start, end)
        window = _window(start, end)
        began = monotonic()
        intents = list(listed(self.client.v1.payment_intents, window))
        refunds = list(listed(self.client.v1.refunds, window))
        report.payouts = [
            {
                "id": p["id"],
                "amount": p["amount"],
                "currency": str(p["currency"]).upper(),
                "arrival_date": p.get("arrival_date"),
                "status": p.get("status"),
            }
            for p in listed(self.client.v1.payouts, window)
        ]
        kinds = ("payment_intents", "refunds", "payouts")
        report.listed = dict(zip(kinds, map(len, (intents, refunds, report.payouts)), strict=True))
        listed_s = monotonic() - began
        with self.pool.connection() as conn:
            ours = balance_queries.stripe_payments(
                conn, start - timedelta(days=1), end + timedelta(days=1)
            )
        by_reference: dict[str, list[dict[str, Any]]] = {}
        for row in ours:
            by_reference.setdefault(row["reference"], []).append(row)
        seen: set[str] = set()
        missing: list[tuple[Finding, dict[str, Any], Stamp]] = []
        for pi in intents:
            seen.add(pi["id"])
            self._intent(report, pi, by_reference.get(pi["id"], []), stamp, missing)
        self._record_missing(missing)
        for reference, rows in sorted(by_reference.items()):
            if reference not in seen and any(r["status"] == "succeeded" for r in rows):
                row = next(r for r in rows if r["status"] == "succeeded")
                report.findings.append(
                    Finding(
                        "missing-in-stripe",
                        reference,
                        ledger_amount=Money(row["amount_minor"], row["currency"].strip()),
                        ledger_status=row["status"],
                    )
                )
        for refund in refunds:
            self._refund(report, refund, stamp)
        # Stripe's listing and the ledger's side take apart: which one a slow run waits on.
        ledger_s = monotonic() - began - listed_s
        log.info(
            "stripe reconciliation",
            extra={"listed_s": round(listed_s, 1), "ledger_s": round(ledger_s, 1), **report.listed},
        )
        counts = {**report.counts(), **{f"listed_{k}": v for k, v in report.listed.items()}}
        saved = self.ledger.record_reconciliation(
            run_id,
            "stripe",
            (start, end),
            counts,
            [f.as_json() for f in report.findings if f.kind != "matched"],
            stamp,
        )
        return report, saved.position

    def _intent(
        self,
        report: Report,
        pi: dict[str, Any],
        rows: list[dict[str, Any]],
        stamp: Stamp,
        missing: list[tuple[Finding, dict[str, Any], Stamp]],
    ) -> None:
        """Compare one PaymentIntent with the ledger's rows of it; a success the ledger
        lacks joins ``missing``, recorded with the others after the comparison."""
        theirs = Money(int(pi["amount"]), str(pi["currency"]).upper())
        status = str(pi["status"])
        event = {"id": f"reconcile:{pi['id']}"}
        # What is recorded now took effect when Stripe took it, not when it was found.
        stamp = replace(stamp, effective_at=datetime.fromtimestamp(int(pi["created"]), UTC))
        paid = next((r for r in rows if r["status"] in ("succeeded", "returned")), None)
        found = Finding("matched", pi["id"], stripe_amount=theirs, stripe_status=status)
        if paid is not None:
            found.ledger_amount = Money(paid["amount_minor"], paid["currency"].strip())
            found.ledger_status = paid["status"]
        if status == "succeeded":
            received = Money(int(pi.get("amount_received") or pi["amount"]), theirs.currency)
            if paid is None and rows:
                found.kind, found.ledger_status = "status-mismatch", rows[0]["status"]
            elif paid is None:
                missing.append((found, pi, stamp))
            elif found.ledger_amount != received:
                found.kind = "amount-mismatch"
        elif paid is not None:
            found.kind = "status-mismatch"
        elif pi.get("last_payment_error"):
            self._declined(found, rows, lambda: self.events.record_failure(event, pi, stamp))
        report.findings.append(found)

    def _record_missing(self, missing: list[tuple[Finding, dict[str, Any], Stamp]]) -> None:
        """Record the successes the ledger lacks, many to a save (``stripe_receipts``); a
        payment the ledger cannot place stays for a person, as ``_record`` leaves it."""
        outcomes = record_successes(self.events, [(pi, stamp) for _, pi, stamp in missing])
        for (found, _, _), done in zip(missing, outcomes, strict=True):
            found.kind = "missing-in-ledger" if done.outcome == "applied" else "unmatched"
            found.detail = done.detail
        paid = [str(pi["id"]) for (found, pi, _) in missing if found.kind != "unmatched"]
        with self.pool.connection() as conn, conn.transaction():  # what waited for them
            release_deferred(conn, self.events, paid)

    def _declined(
        self, found: Finding, rows: list[dict[str, Any]], record: Callable[[], Outcome]
    ) -> None:
        """A declined attempt: recorded as a failed payment when the ledger lacks it,
        else shown with the failed payment the ledger has."""
        failed = next((r for r in rows if r["status"] == "failed"), None)
        if failed is None:
            self._record(found, record)
            if found.kind == "missing-in-ledger":
                found.kind = "declined-recorded-in-ledger"
            return
        found.kind = "declined"
        found.ledger_amount = Money(failed["amount_minor"], failed["currency"].strip())
        found.ledger_status = "failed"

    @staticmethod
    def _record(found: Finding, record: Callable[[], Outcome]) -> None:
        """Record what Stripe has and the ledger lacks; a payment the ledger cannot
        place (no account, an unknown one) stays for a person."""
        try:
            done = record()
        except LedgerError as e:
            found.kind, found.detail = "unmatched", f"{e.code}: {e.detail}"
            return
        found.kind = "missing-in-ledger" if done.outcome == "applied" else "unmatched"
        found.detail = done.detail

    def _refund(self, report: Report, refund: dict[str, Any], stamp: Stamp) -> None:
        pi_id = refund.get("payment_intent")
        if not pi_id or refund.get("status") not in (None, "succeeded"):
            return
        payment_id = payment_id_for(f"{pi_id}/succeeded")
        try:
            payment = self.ledger.get_payment(payment_id)
        except UnknownPayment:
            return  # its payment is a finding of its own
        saved = self.ledger.refund_payment(
            RefundPayment(
                payment_id=payment_id,
                request_id=f"stripe:{refund['id']}",
                amount=Money(int(refund["amount"]), str(refund["currency"]).upper()),
                reason=f"refunded in Stripe ({refund['id']})",
                refunded_on=datetime.fromtimestamp(int(refund["created"]), UTC).date(),
                stamp=stamp,
                reverse_allocations=True,
            )
        )
        if not saved.replayed:
            report.findings.append(
                Finding(
                    "refund-missing-in-ledger",
                    str(refund["id"]),
                    stripe_amount=Money(int(refund["amount"]), payment.currency),
                    detail=f"refund of {pi_id}",
                )
            )


# --- runs as recorded ---------------------------------------------------------------
# A run is read back from the store itself (its ``reconciliation.completed`` event), not
# from a read model: no projection keeps runs, and the store answers at once.

RUN_TOPIC = get_topic(Reconciliation.Completed)
RUNS_BATCH = 200
_COLUMNS = "notification_id, originator_id, originator_version, topic, state"


@dataclass(frozen=True)
class RecordedRun:
    """A run as its event recorded it: the counts (with ``listed_*``, what the channel
    listed) and the findings kept, which for Stripe are the differences, not the
    matched rows; Stripe's payouts are not recorded."""

    run_id: UUID
    channel: str
    start: date
    end: date
    counts: dict[str, Any]
    findings: list[dict[str, Any]]
    position: int
    recorded_at: datetime
    actor: str

    def split_counts(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """(counts by kind, what was listed), as the run's reply had them."""
        listed = {
            k.removeprefix("listed_"): v for k, v in self.counts.items() if k.startswith("listed_")
        }
        counts = {k: v for k, v in self.counts.items() if not k.startswith("listed_")}
        return counts, listed


def _decoded(ledger: Ledger, row: tuple[Any, ...]) -> RecordedRun:
    position, stream, version, topic, state = row
    stored = Notification(
        id=position,
        originator_id=stream,
        originator_version=version,
        topic=topic,
        state=bytes(state),
    )
    event: Any = ledger.decode(stored)
    return RecordedRun(
        run_id=event.originator_id,
        channel=event.channel,
        start=event.period_start,
        end=event.period_end,
        counts=dict(event.counts),
        findings=list(event.findings),
        position=position,
        recorded_at=event.timestamp,
        actor=event.stamp.actor,
    )


def recorded_run(ledger: Ledger, conn: Connection[Any], run_id: UUID) -> RecordedRun | None:
    """The run ``run_id`` (any channel's), or None when no run has that id."""
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM {ledger.events_table} WHERE originator_id = %s AND topic = %s",
        (run_id, RUN_TOPIC),
    ).fetchone()
    return None if row is None else _decoded(ledger, row)


def recorded_runs(
    ledger: Ledger, conn: Connection[Any], channel: str | None, before: int | None, limit: int
) -> list[RecordedRun]:
    """Up to ``limit`` runs (of ``channel``, if given) recorded before position
    ``before``, newest first: the store read backwards along its position index, a batch
    at a time, until the page is full or the store's start is reached."""
    found: list[RecordedRun] = []
    cursor = POSITION_MAX if before is None else before
    query = (
        f"SELECT {_COLUMNS} FROM {ledger.events_table} WHERE topic = %s"
        " AND notification_id < %s ORDER BY notification_id DESC LIMIT %s"
    )
    while len(found) < limit:
        rows = conn.execute(query, (RUN_TOPIC, cursor, RUNS_BATCH)).fetchall()
        runs = (_decoded(ledger, row) for row in rows)
        found += [r for r in runs if channel is None or r.channel == channel]
        if len(rows) < RUNS_BATCH:
            break
        cursor = rows[-1][0]
    return found[:limit]
