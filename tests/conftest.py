"""Shared real servers for the whole test run: no mocks.

One PostgreSQL and one Kafka-protocol broker per session: the embedded ones, or the servers
named by ``DATABASE_URL`` / ``KAFKA_BOOTSTRAP_SERVERS`` when those are set. Each test gets
its own fresh database (dropped afterwards) and its own topic and consumer group names.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

# The project is not necessarily installed: make the repository root importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from infra.settings import Settings
from runtime.embedded import EmbeddedPostgres
from runtime.embedded_broker import EmbeddedBroker

log = logging.getLogger("arledger.tests")

# The session's embedded server is throwaway: durability only costs time.
_FAST_UNSAFE_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}

TEST_API_KEYS = (
    "test-coordinator-key:coordinator:alice,"
    "test-auditor-key:auditor:audrey,"
    "test-manager-key:manager:mo,"
    "test-admin-key:admin:ada,"
    "test-service-key:service:booking-service"
)


def with_dbname(url: str, dbname: str) -> str:
    """``url`` pointed at database ``dbname``, as a libpq key/value conninfo string.

    Works for a host:port URL, a socket-directory URL (``?host=/path``) and a key/value
    string alike, keeping every other parameter (user, password, sslmode, ...).
    """
    return make_conninfo(url, dbname=dbname)


def _make_fast(maintenance_url: str) -> None:
    """Turn off durability on a throwaway server (takes effect on reload, no restart)."""
    with psycopg.connect(maintenance_url, autocommit=True) as conn:
        for name, value in _FAST_UNSAFE_SETTINGS.items():
            conn.execute(
                sql.SQL("ALTER SYSTEM SET {} = {}").format(sql.Identifier(name), sql.Literal(value))
            )
        conn.execute("SELECT pg_reload_conf()")


def _keep_log(log_file: Path, directory: Path) -> None:
    """Copy the embedded server's log into ``directory`` before its data is deleted."""
    with contextlib.suppress(OSError):
        shutil.copyfile(log_file, directory / "embedded-postgres.log")


def _unique(prefix: str) -> str:
    """``prefix`` followed by 32 random hex digits."""
    return f"{prefix}{uuid.uuid4().hex}"


@pytest.fixture(scope="session")
def pg_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Maintenance URL (database ``postgres``) of the session's PostgreSQL server.

    The embedded server's data lives in its own ``/tmp/arledger-test-pg-*`` directory, not
    under pytest's ``/tmp/pytest-of-<user>``: as root the server runs as another system
    user, and every pytest session re-tightens that directory to 0700, which would crash
    the server of any other session running at the time. Its log is kept in basetemp.
    """
    external = os.environ.get("DATABASE_URL")
    if external:
        log.info("tests use external postgres", extra={"database_url": external})
        yield with_dbname(external, "postgres")
        return
    began = time.monotonic()
    home = Path(tempfile.mkdtemp(prefix="arledger-test-pg-"))
    server = EmbeddedPostgres(database="postgres")
    try:
        url = server.start(home)
        _make_fast(url)
        log.info(
            "tests use embedded postgres",
            extra={"database_url": url, "seconds": round(time.monotonic() - began, 3)},
        )
        yield url
    finally:
        server.stop()
        _keep_log(home / "pgdata" / "log", tmp_path_factory.getbasetemp())
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Bootstrap servers of the session's Kafka-protocol broker."""
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if external:
        log.info("tests use external kafka", extra={"bootstrap": external})
        yield external
        return
    broker = EmbeddedBroker(log_dir=tmp_path_factory.mktemp("embedded-broker"))
    try:
        yield broker.start()
    finally:
        broker.stop()


@pytest.fixture
def database_url(pg_server_url: str) -> Iterator[str]:
    """A fresh, empty database for this test; dropped (forcefully) at teardown."""
    name = _unique("arledger_t_")
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield with_dbname(pg_server_url, name)
    finally:
        with psycopg.connect(pg_server_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture
def topic() -> str:
    """A topic name no other test uses."""
    return _unique("arledger.test.")


@pytest.fixture
def settings(database_url: str, kafka_bootstrap: str, topic: str, tmp_path: Path) -> Settings:
    """Settings for this test: its own database, topic, consumer group and home."""
    return Settings(
        database_url=database_url,
        kafka_bootstrap_servers=kafka_bootstrap,
        topic=topic,
        consumer_group=_unique("arledger.test."),
        home=tmp_path,
        api_keys=TEST_API_KEYS,
        # A new consumer group needs a few seconds to join: reads with min_position made
        # right after start-up must outwait that, not fail.
        query_wait_ms=30_000,
    )


@pytest.fixture
def private_broker(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    """A broker of this test's own, on its own free port, for restart (fault) tests."""
    broker = EmbeddedBroker(log_dir=tmp_path / "private-broker")
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def localstripe_url() -> Iterator[str]:
    """A localstripe server (a stateful Stripe API) for the whole run."""
    from tests.stripe_servers import localstripe

    with localstripe() as url:
        yield url


@pytest.fixture(scope="session")
def chromium_driver() -> Iterator[object]:
    """One headless Chromium for the whole run (each test clears its cookies)."""
    from tests.browser import chromium

    with chromium() as driver:
        yield driver


@pytest.fixture
def checkout(localstripe_url: str) -> Iterator[object]:
    """A Checkout Sessions double in front of localstripe, for this test."""
    from tests.stripe_servers import CheckoutSessionsDouble

    double = CheckoutSessionsDouble(localstripe_url)
    yield double
    double.close()


@pytest.fixture
def stripe_settings(settings: Settings, checkout: object) -> Settings:
    """Settings with the card channel pointed at the test's Stripe double."""
    from tests.stripe_servers import KEY, SECRET

    return settings.model_copy(
        update={
            "stripe_api_key": KEY,
            "stripe_api_base": checkout.url,  # type: ignore[attr-defined]
            "stripe_webhook_secret": SECRET,
        }
    )


from tests.smtp_server import smtp_server  # noqa: E402, F401 - a session fixture
