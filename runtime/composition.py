"""The composition root: how every process's parts are built from one ``Settings``
(cosmicpython's ``bootstrap``). The API, the relay, each projection consumer, the
notifier, the scheduler and the CLI's commands ask a :class:`Root` for what they need;
no entry point opens a ledger or a pool of its own, and what each kind of process opens,
and under which name, is the one table below."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Literal

from fastapi import FastAPI
from psycopg_pool import ConnectionPool

from api.access import KeyStore
from api.app import create_app
from api.auth import KeyRing
from api.desk.sessions import DeskSessions
from api.idempotency import IdempotencyStore
from api.services import BrokerProbe, Services
from channels import bank_import
from channels.bank_import import BankStatements
from channels.bank_queue import BankQueue
from channels.notifier import Notifier
from channels.senders import Sender, load_sender
from channels.stripe_channel import StripeChannel
from consumers import liveness
from consumers.liveness import Heartbeat, Holding
from consumers.relay import Relay
from consumers.runner import ProjectionConsumer
from infra.database import open_ledger, open_pool
from infra.integrity.service import Integrity
from infra.settings import Settings
from ledger.application import Ledger
from projections import tracking
from projections.position_watch import PositionWatch
from projections.registry import BALANCES, PROJECTIONS
from projections.writer import Projection

# The API's warning keeps the logger it has always had.
api_log = logging.getLogger("arledger.api")

Process = Literal[
    "api", "relay", "consumer", "notifier", "stripe", "scheduler", "replay", "migrate"
]


@dataclass(frozen=True)
class Connections:
    """What one kind of process opens: its ledger's pool on the event store, and a pool of
    its own (read models, bookkeeping) under ``name``, as PostgreSQL's activity shows it.
    ``flushed``: the pool's commits wait for the WAL to reach the disk. A consumer's do
    not: it writes only read models, whose rows and positions commit together, so a
    crash loses whole batches, never part of one; the positions then say which, and the
    consumer applies them again (a gap in a partition, or a partition behind the relay,
    is read from the store: ``consumers/runner.py``). Anyone who acts on such rows and
    then commits durably (the notifier marking a message sent) flushes them with it."""

    ledger: int
    pool: int
    name: str
    flushed: bool = True


# The workers' ledgers read the store and save little; the API's serves every request.
CONNECTIONS: dict[Process, Connections] = {
    "api": Connections(ledger=10, pool=20, name="arledger-api"),
    "relay": Connections(ledger=2, pool=2, name="arledger-relay"),
    "consumer": Connections(ledger=2, pool=2, name="arledger-{projection}", flushed=False),
    "notifier": Connections(ledger=2, pool=3, name="arledger-notifier"),
    # The Stripe applier holds an inbox transaction while the ledger saves its batch.
    "stripe": Connections(ledger=4, pool=6, name="arledger-stripe"),
    "scheduler": Connections(ledger=10, pool=2, name="arledger-scheduler"),
    "replay": Connections(ledger=10, pool=2, name="arledger-replay"),
    "migrate": Connections(ledger=1, pool=1, name="arledger-migrate"),
}


API_WORKER_CONNECTIONS_MIN = 4
# The API's idempotency claims and kept replies that need not wait for the WAL's flush
# (``api/idempotency.py``): each connection is held for one statement, so a few serve
# many requests at once.
QUICK_CONNECTIONS = 8


@dataclass(frozen=True)
class Store:
    """A process's connections: its ledger over the event store and its own pool."""

    ledger: Ledger
    pool: ConnectionPool


class Root:
    """Builds each process's parts from one ``Settings`` (read from the environment when
    none are given)."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings if settings is not None else Settings()

    @property
    def database_url(self) -> str:
        return self.settings.database_url or ""

    # The connections.

    def ledger(self, process: Process) -> Ledger:
        return open_ledger(
            self.settings, pool_size=self._share(process, CONNECTIONS[process].ledger)
        )

    def pool(self, process: Process, name: str | None = None) -> ConnectionPool:
        connections = CONNECTIONS[process]
        return open_pool(
            self.database_url,
            max_size=self._share(process, connections.pool),
            name=name or connections.name,
            wait_for_flush=connections.flushed,
        )

    def quick_pool(self, process: Process) -> ConnectionPool:
        """Connections that commit each statement on its own without waiting for the
        WAL's flush, for what ``api/idempotency.py`` says may."""
        return open_pool(
            self.database_url,
            max_size=self._share(process, QUICK_CONNECTIONS),
            name=f"{CONNECTIONS[process].name}-quick",
            wait_for_flush=False,
            autocommit=True,
        )

    def _share(self, process: Process, size: int) -> int:
        """An API worker's share of the API's connections (at least a few each), so that
        more workers do not take more of the server's connections."""
        workers = self.settings.api_workers if process == "api" else 1
        return max(API_WORKER_CONNECTIONS_MIN, -(-size // workers)) if workers > 1 else size

    @contextmanager
    def store(self, process: Process, name: str | None = None) -> Iterator[Store]:
        """The ledger and the pool of ``process``, closed (pool first) on leaving."""
        with ExitStack() as stack:
            ledger = self.ledger(process)
            stack.callback(ledger.close)
            pool = self.pool(process, name)
            stack.callback(pool.close)
            yield Store(ledger, pool)

    # The channels and the evidence.

    def stripe(self, ledger: Ledger, pool: ConnectionPool) -> StripeChannel:
        return StripeChannel.start(self.settings, ledger, pool)

    def bank(self, ledger: Ledger, pool: ConnectionPool) -> BankStatements:
        return bank_import.start(self.settings, ledger, pool)

    def sender(self, pool: ConnectionPool) -> Sender:
        """The notifier's: the outbox, SMTP, or the configured ``module:factory``."""
        return load_sender(self.settings, pool)

    def integrity(self, ledger: Ledger | None = None) -> Integrity:
        """The integrity evidence over the store's events table; without a ledger, one is
        opened only to name that table (the auditor's commands)."""
        if ledger is None:
            ledger = open_ledger(self.settings)
            table = ledger.events_table
            ledger.close()
            return Integrity.from_settings(self.settings, table)
        return Integrity.from_settings(self.settings, ledger.events_table)

    # The processes.

    def services(self) -> Services:
        """What the API's routes depend on, every table they read made sure of; the caller
        closes them (``Services.close``). The CLI's bank and Stripe commands use them too."""
        settings = self.settings
        ledger = self.ledger("api")
        pool = self.pool("api")
        for projection in PROJECTIONS.values():
            projection.ensure_schema(pool)
        tracking.ensure_schema(pool)
        liveness.ensure_schema(pool)
        keys = KeyRing.parse(settings.api_keys)
        access = KeyStore(pool)
        if not len(keys):
            api_log.warning("no API keys configured (ARLEDGER_API_KEYS): every request is refused")
        return Services(
            settings,
            ledger,
            pool,
            keys,
            IdempotencyStore(pool, self.quick_pool("api")),
            BrokerProbe(settings.kafka_bootstrap_servers or ""),
            access,
            self.integrity(ledger),
            self.stripe(ledger, pool),
            self.bank(ledger, pool),
            BankQueue(ledger, pool),
            DeskSessions(pool, keys, access, settings.desk_secret, settings.desk_session_hours),
            PositionWatch(self.database_url).start(),
        )

    def app(self) -> FastAPI:
        """The HTTP API: it builds its services here as it starts, and closes them as it
        stops."""
        return create_app(self.services)

    @contextmanager
    def relay(self) -> Iterator[Relay]:
        with self.store("relay") as store:
            yield Relay(self.settings, store.ledger, store.pool)

    @contextmanager
    def consumer(self, projection: str, client_id: str) -> Iterator[ProjectionConsumer]:
        """The consumer that feeds ``projection``, its pool named after it."""
        feeds = PROJECTIONS[projection]
        pool_name = CONNECTIONS["consumer"].name.format(projection=projection)
        with self.store("consumer", pool_name) as store:
            yield ProjectionConsumer(
                self.settings, store.ledger, store.pool, feeds, client_id=client_id
            )

    @contextmanager
    def notifier(self) -> Iterator[Notifier]:
        with self.store("notifier") as store:
            PROJECTIONS["notifications"].ensure_schema(store.pool)
            yield Notifier(store.ledger, store.pool, self.sender(store.pool), self.settings)

    @contextmanager
    def scheduler(self) -> Iterator[Store]:
        """The scheduler's store; the balances read model it decides from made sure of."""
        with self.store("scheduler") as store:
            BALANCES.ensure_schema(store.pool)
            yield store

    @contextmanager
    def replay(self, projection: Projection) -> Iterator[Store]:
        """The store a rebuild of ``projection`` reads and switches in."""
        with self.store("replay") as store:
            tracking.ensure_schema(store.pool)
            projection.ensure_schema(store.pool)
            yield store

    def heartbeat(
        self, workers: list[str], alive: Callable[[str], bool], holding: Callable[[str], Holding]
    ) -> Heartbeat:
        return Heartbeat(self.database_url, workers, alive, holding)
