"""What the API's routes depend on, built once per process by the composition root
(``runtime/composition.py``), which hands it, or a factory for it, to ``create_app``."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from kafka import KafkaAdminClient
from kafka.errors import KafkaError
from psycopg_pool import ConnectionPool

from api.access import KeyStore
from api.auth import KeyRing
from api.desk.sessions import DeskSessions
from api.idempotency import IdempotencyStore
from channels.bank_import import BankStatements
from channels.bank_queue import BankQueue
from channels.stripe_channel import StripeChannel
from infra.integrity.service import Integrity
from infra.settings import Settings
from ledger.application import Ledger
from projections.position_watch import PositionWatch

BROKER_PROBE_TIMEOUT_MS = 2_000
BROKER_PROBE_CACHE_SECONDS = 2.0


@dataclass
class BrokerProbe:
    """Is the broker reachable? A metadata request, cached for a moment so that a
    health-check storm does not become a broker storm."""

    bootstrap: str
    _checked_at: float = 0.0
    _ok: bool = False
    _error: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def check(self) -> tuple[bool, str]:
        with self._lock:
            if time.monotonic() - self._checked_at > BROKER_PROBE_CACHE_SECONDS:
                self._ok, self._error = self._probe()
                self._checked_at = time.monotonic()
            return self._ok, self._error

    def _probe(self) -> tuple[bool, str]:
        try:
            # Bounded both ways: a broker that is down must make /healthz say so
            # promptly, not hang it for the client library's 30 s default.
            admin = KafkaAdminClient(
                bootstrap_servers=self.bootstrap,
                client_id="arledger-health",
                request_timeout_ms=BROKER_PROBE_TIMEOUT_MS,
                bootstrap_timeout_ms=BROKER_PROBE_TIMEOUT_MS,
            )
        except KafkaError as e:
            return False, repr(e)
        try:
            admin.list_topics()
            return True, ""
        except KafkaError as e:
            return False, repr(e)
        finally:
            admin.close()


@dataclass
class Services:
    """The API's ledger, pool, keys, channels and stores; built by the composition root."""

    settings: Settings
    ledger: Ledger
    pool: ConnectionPool
    keys: KeyRing
    idempotency: IdempotencyStore
    broker: BrokerProbe
    access: KeyStore
    integrity: Integrity
    stripe: StripeChannel
    bank: BankStatements
    bank_queue: BankQueue
    desk: DeskSessions
    # Wakes the reads that wait for a read model (``min_position``) as it commits.
    watch: PositionWatch | None = None

    def check_connections(self) -> None:
        """Check every idle pooled connection now, replacing those the database cut."""
        self.pool.check()
        self.idempotency.quick.check()
        self.ledger.recorder.datastore.pool.check()  # type: ignore[attr-defined]

    def close(self) -> None:
        if self.watch is not None:
            self.watch.close()
        self.idempotency.close()
        self.stripe.webhooks.intake.close()  # its writer records what waits, then ends
        self.pool.close()
        self.ledger.close()
