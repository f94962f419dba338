"""The plumbing under the application service: aggregates in and out of the store."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate, DomainEventProtocol
from eventsourcing.persistence import IntegrityError, JSONTranscoder, Notification, Recording

from ledger import limits
from ledger.account import Account
from ledger.errors import (
    ConcurrencyExhausted,
    CurrencyMismatch,
    UnknownAccount,
    UnknownInvoice,
    UnknownPayment,
    UnknownWriteOff,
)
from ledger.integrity.install import install
from ledger.invoice import Invoice
from ledger.money import Money
from ledger.payment import Payment
from ledger.stamp import TRANSCODINGS
from ledger.write_off import DEFAULT_LIMITS_MAJOR, WriteOff, WriteOffPolicy

log = logging.getLogger("arledger.ledger")

A = TypeVar("A", bound=Aggregate)
R = TypeVar("R")


@dataclass(frozen=True)
class Saved:
    """What a command did: the aggregate it concerns and the store position of the last
    event it appended (or, when it appended nothing because it was a replay, the
    position the store had reached)."""

    aggregate: Any
    position: int
    replayed: bool = False


@dataclass(frozen=True)
class AllocationResult:
    payment: Payment
    allocations: list[tuple[UUID, Money]]
    position: int
    replayed: bool = False


def _new(kind: type[A], created: str, aggregate_id: UUID | None, **fields: Any) -> A:
    """Create an aggregate, with a client-chosen id when one is given: the API derives it
    from the Idempotency-Key, so a command retried after a lost reply conflicts with
    itself in the store instead of creating a twin."""
    event_class = getattr(kind, created)
    return kind._create(event_class, id=aggregate_id or uuid4(), **fields)


def _require_currency(account: Account, amount: Money, what: str) -> None:
    if amount.currency != account.currency:
        raise CurrencyMismatch(
            f"account {account.id} is in {account.currency}; the {what} is in {amount.currency}",
            expected=account.currency,
            got=amount.currency,
        )


class LedgerStore(Application[UUID]):
    """The event store side of the ledger: configuration, loading aggregates, retrying
    after a lost concurrency race, and reading the log. The commands build on it."""

    name = "Ledger"

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        snapshot_interval: int = 0,
        write_off_policy: WriteOffPolicy | None = None,
    ):
        self.write_off_policy = write_off_policy or WriteOffPolicy(dict(DEFAULT_LIMITS_MAJOR))
        if snapshot_interval:
            # Per instance, so that the interval is configuration rather than code.
            self.snapshotting_intervals = {  # type: ignore[misc]
                Account: snapshot_interval,
                Invoice: snapshot_interval,
                Payment: snapshot_interval,
            }
            env = {**(env or {}), "IS_SNAPSHOTTING_ENABLED": "y"}
        super().__init__(env)
        with self.recorder.datastore.get_connection() as conn:  # type: ignore[attr-defined]
            install(conn, self.events_table)

    @property
    def events_table(self) -> str:
        """The stored-events table: hash-chained, append-only, checkpointed."""
        return str(self.recorder.events_table_name)  # type: ignore[attr-defined]

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        for transcoding in TRANSCODINGS:
            transcoder.register(transcoding)

    # --- commands ---------------------------------------------------------------

    def get_write_off(self, write_off_id: UUID) -> WriteOff:
        return self._get(WriteOff, write_off_id, UnknownWriteOff(f"no write-off {write_off_id}"))

    def get_account(self, account_id: UUID) -> Account:
        return self._get(Account, account_id, UnknownAccount(f"no account {account_id}"))

    def get_account_as_known_at(self, account_id: UUID, at: datetime) -> Account:
        """The account as the store knew it at ``at``: its events up to the last position
        committed by then, in commit order (``projections/commits.py``)."""
        with self.recorder.datastore.get_connection() as conn:  # type: ignore[attr-defined]
            row = conn.execute(
                f"SELECT max(originator_version) AS v FROM {self.events_table}"
                " WHERE originator_id = %s AND notification_id <= COALESCE(("
                "  SELECT position FROM event_commits WHERE committed_at <= %s"
                "   ORDER BY committed_at DESC, position DESC LIMIT 1), 0)",
                (account_id, at),
            ).fetchone()
        version = row["v"] if row else None  # rows come as dicts from the library's pool
        if version is None:
            raise UnknownAccount(f"no account {account_id} had been opened by {at.isoformat()}")
        account: Account = self.repository.get(account_id, version=version)
        return account

    def get_invoice(self, invoice_id: UUID) -> Invoice:
        return self._get(Invoice, invoice_id, UnknownInvoice(f"no invoice {invoice_id}"))

    def get_payment(self, payment_id: UUID) -> Payment:
        return self._get(Payment, payment_id, UnknownPayment(f"no payment {payment_id}"))

    def read_log(self, after: int, limit: int) -> Sequence[Notification]:
        """Stored events after position ``after``, oldest first, for the relay and for
        projections catching up from the store."""
        return self.recorder.select_notifications(
            start=after, limit=limit, inclusive_of_start=False
        )

    def decode(self, notification: Notification) -> DomainEventProtocol[UUID]:
        return self.mapper.to_domain_event(notification)

    def notify_channel(self) -> str:
        """The PostgreSQL channel the store NOTIFYs on each insert: the relay's wake-up."""
        return str(getattr(self.recorder, "channel_name", self.recorder.__class__.__name__))

    def head_position(self) -> int:
        """The store's last notification id: the newest position there is."""
        return self.recorder.max_notification_id() or 0

    # --- plumbing ----------------------------------------------------------------

    def _get(self, kind: type[A], aggregate_id: UUID, missing: Exception) -> A:
        try:
            aggregate: Aggregate = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            raise missing from None
        if not isinstance(aggregate, kind):
            raise missing
        return aggregate

    def _exists(self, kind: type[Invoice], account_id: UUID, number: str) -> bool:
        return kind.create_id(account_id, number) in self.repository

    def _create(self, aggregate: Aggregate, existing: Callable[[], Any]) -> Saved:
        try:
            return Saved(aggregate, self._position(self.save(aggregate)))
        except IntegrityError:
            # The client-chosen id exists: this command already ran (a retry after a
            # lost reply). Answer with what it made, appending nothing.
            return Saved(existing(), self.head_position(), replayed=True)

    def _retrying(self, attempt: Callable[[], R]) -> R:
        for n in range(limits.COMMAND_RETRIES_MAX):
            try:
                return attempt()
            except IntegrityError:
                log.info("optimistic concurrency conflict", extra={"attempt": n + 1})
                time.sleep(random.uniform(0, 0.005 * 2**n))
        raise ConcurrencyExhausted(
            f"gave up after {limits.COMMAND_RETRIES_MAX} concurrent-modification retries"
        )

    @staticmethod
    def _position(recordings: Sequence[Recording[UUID]]) -> int:
        return max(r.notification.id for r in recordings)
