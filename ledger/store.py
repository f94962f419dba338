"""The event store side of the ledger: the application's configuration, its port to the
store's own features, and the reads of the write model and of the log."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import cast
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import JSONTranscoder, Notification
from eventsourcing.utils import resolve_topic

from ledger.account import Account
from ledger.errors import UnknownAccount
from ledger.invoice import Invoice
from ledger.payment import Payment
from ledger.stamp import TRANSCODINGS
from ledger.store_port import EVENT_STORE_TOPIC, Attach, EventStorePort, LibraryEventStore
from ledger.unit_of_work import Saved as Saved
from ledger.unit_of_work import UnitOfWork
from ledger.write_off import DEFAULT_LIMITS_MAJOR, WriteOff, WriteOffPolicy


class LedgerStore(Application[UUID]):
    """The ledger as an eventsourcing application: its configuration, the unit of work
    its commands run in, and the reads. ``EVENT_STORE_TOPIC`` in ``env`` names the
    adapter to the store's own features (PostgreSQL's); without it, the library's
    interface alone serves (the in-memory recorder)."""

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
        topic = self.env.get(EVENT_STORE_TOPIC)
        attach = cast(Attach, resolve_topic(topic)) if topic else LibraryEventStore
        self.store_port: EventStorePort = attach(self)
        self.uow = UnitOfWork(self, self.store_port)

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        for transcoding in TRANSCODINGS:
            transcoder.register(transcoding)

    @property
    def events_table(self) -> str:
        """The stored-events table: hash-chained, append-only, checkpointed."""
        return self.store_port.events_table

    def notify_channel(self) -> str:
        """The channel the store NOTIFYs on each insert: the relay's wake-up."""
        return self.store_port.notify_channel()

    # --- the write model, as stored now ---------------------------------------------

    def get_account(self, account_id: UUID) -> Account:
        return self.uow.account(account_id)

    def get_invoice(self, invoice_id: UUID) -> Invoice:
        return self.uow.invoice(invoice_id)

    def get_payment(self, payment_id: UUID) -> Payment:
        return self.uow.payment(payment_id)

    def get_write_off(self, write_off_id: UUID) -> WriteOff:
        return self.uow.write_off(write_off_id)

    def get_account_as_known_at(self, account_id: UUID, at: datetime) -> Account:
        """The account as the store knew it at ``at``: its events up to the last position
        committed by then, in commit order."""
        version = self.store_port.version_known_at(account_id, at)
        if version is None:
            raise UnknownAccount(f"no account {account_id} had been opened by {at.isoformat()}")
        account: Account = self.repository.get(account_id, version=version)
        return account

    # --- the log ----------------------------------------------------------------------

    def read_log(self, after: int, limit: int) -> Sequence[Notification]:
        """Stored events after position ``after``, oldest first, for the relay and for
        projections catching up from the store."""
        return self.recorder.select_notifications(
            start=after, limit=limit, inclusive_of_start=False
        )

    def decode(self, notification: Notification) -> DomainEventProtocol[UUID]:
        return self.mapper.to_domain_event(notification)

    def head_position(self) -> int:
        """The store's last notification id: the newest position there is."""
        return self.uow.head_position()
