"""The service runs as a restricted role (`arledger up` sets it up on the embedded
database): no superuser, so it cannot switch the append-only guard off, and it may only
read and append to the history. The owner sets the schema up first; the processes start
as the role without touching the schema. Checkpoints are signed by default with a key
kept in the home, outside the database."""

from __future__ import annotations

import datetime as dt
import json
import re
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from api.auth import Principal
from channels.notifier import Notifier
from channels.senders import OutboxSender, outbox
from consumers import liveness
from infra.database import open_ledger, open_pool
from infra.integrity import checkpoints
from infra.integrity.signing import Signer
from infra.integrity.verify import verify
from infra.settings import Settings
from ledger.commands import OpenAccount, RaiseInvoice
from ledger.money import Money
from ledger.stamp import Stamp
from projections import tracking
from projections.registry import PROJECTIONS
from runtime import provision
from runtime.composition import Root

EVENTS = "ledger_events"
SOURCES = ["api", "channels", "consumers", "ledger", "projections"]


@pytest.fixture
def service_url(database_url: str) -> str:
    """The database set up by its owner, and the URL of a new service role (roles are
    the whole server's, so each test makes its own)."""
    role = f"arledger_svc_{uuid.uuid4().hex[:10]}"
    owner = Settings(database_url=database_url)
    provision.prepare_database(owner, role)
    return provision.prepare_database(owner, role)  # again, as a restart does: no change


@pytest.fixture
def as_service(service_url: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    with psycopg.connect(service_url, autocommit=True) as conn:
        yield conn


def append_some(service_url: str) -> None:
    """An account and an invoice, appended by the service role, and a checkpoint."""
    ledger = open_ledger(Settings(database_url=service_url))
    try:
        stamp = Stamp("alice", "corr", "cause", dt.datetime(2026, 3, 1, tzinfo=dt.UTC))
        account = ledger.open_account(OpenAccount("Client", "GBP", 30, stamp)).aggregate.id
        ledger.raise_invoice(
            RaiseInvoice(
                account,
                "INV-1",
                Money(100_00, "GBP"),
                dt.date(2026, 3, 1),
                dt.date(2026, 3, 31),
                stamp,
            )
        )
    finally:
        ledger.close()
    with psycopg.connect(service_url, autocommit=True) as conn:
        assert checkpoints.record(conn, EVENTS, None) is not None


@pytest.mark.parametrize(
    "statement",
    [
        "SET session_replication_role = replica",
        f"UPDATE {EVENTS} SET topic = topic",
        f"DELETE FROM {EVENTS}",
        f"TRUNCATE {EVENTS}",
        f"ALTER TABLE {EVENTS} DISABLE TRIGGER USER",
        f"DROP TRIGGER {EVENTS}_no_change ON {EVENTS}",
        f"UPDATE {checkpoints.TABLE} SET root = root",
        f"DELETE FROM {checkpoints.TABLE}",
        "DELETE FROM command_marks",
        "DELETE FROM access_log",
        "CREATE TABLE sneaky (a int)",
    ],
)
def test_the_service_role_can_neither_silence_the_guard_nor_change_history(
    service_url: str,
    as_service: psycopg.Connection[tuple[object, ...]],
    database_url: str,
    statement: str,
) -> None:
    append_some(service_url)
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        as_service.execute(statement)
    with psycopg.connect(database_url, autocommit=True) as owner:
        report = verify(owner, EVENTS)
    assert report.ok and report.events == 3 and report.checkpoints == 1


def test_the_service_role_is_no_superuser_and_owns_nothing(
    as_service: psycopg.Connection[tuple[object, ...]],
) -> None:
    row = as_service.execute(
        "SELECT rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls,"
        " (SELECT count(*) FROM pg_class WHERE relowner = r.oid)"
        " FROM pg_roles r WHERE rolname = current_user"
    ).fetchone()
    assert row == (False, False, False, False, False, 0)


def test_the_processes_start_as_the_service_role_without_touching_the_schema(
    service_url: str, as_service: psycopg.Connection[tuple[object, ...]]
) -> None:
    settings = Settings(database_url=service_url, api_keys="k-1:admin:ada")
    services = Root(settings).services()  # every table the API makes, left to the owner
    try:
        services.access.record_refusal(Principal("auditor", "mallory"), "POST", "/v1/x", "role")
        assert services.access.access_log(5)[0]["actor"] == "mallory"
    finally:
        services.close()
    append_some(service_url)
    pool = open_pool(service_url, max_size=2)
    ledger = open_ledger(settings, pool_size=1)
    try:
        tracking.ensure_schema(pool)  # the relay's
        liveness.ensure_schema(pool)  # each worker's heartbeat
        for projection in PROJECTIONS.values():  # each consumer's
            projection.ensure_schema(pool)
        sender = OutboxSender(pool)  # the notifier's
        Notifier(ledger, pool, sender, settings).run_once()
        assert outbox(pool, None, 10) == []
    finally:
        pool.close()
        ledger.close()
    owned = as_service.execute(
        "SELECT count(*) FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner"
        " WHERE r.rolname = current_user"
    ).fetchone()
    assert owned == (0,)


def test_the_owner_sets_up_every_table_the_code_creates(
    service_url: str, as_service: psycopg.Connection[tuple[object, ...]]
) -> None:
    root = Path(__file__).resolve().parent.parent
    named = {
        match
        for source in SOURCES
        for path in (root / source).rglob("*.py")
        for match in re.findall(r"CREATE TABLE IF NOT EXISTS (\w+)", path.read_text())
    }
    assert {"desk_sessions", "worker_heartbeats", "idempotency_keys"} <= named
    missing = [
        table
        for table in sorted(named)
        if as_service.execute("SELECT to_regclass(%s)", (table,)).fetchone() == (None,)
    ]
    assert missing == []
    for table in sorted(named):  # and the service role may read each
        as_service.execute(f"SELECT 1 FROM {table} LIMIT 1")


def test_the_role_is_named_in_the_url_a_uri_stays_a_uri() -> None:
    url = "postgresql://postgres@/arledger?host=/tmp/pg&port=5432"
    assert provision.as_role(url, "svc") == "postgresql://svc@/arledger?host=/tmp/pg&port=5432"
    assert provision.as_role("postgresql://u:p@db:5432/x", "svc", "p@ss") == (
        "postgresql://svc:p%40ss@db:5432/x"
    )
    assert "user=svc" in provision.as_role("host=db dbname=x user=postgres", "svc")


def test_up_makes_a_signing_key_once_beside_the_data_and_reuses_it(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    first = provision.with_signing_key(settings)
    key = first.signing_key_file
    assert key == (tmp_path / "home" / "signing-key.pem").resolve()
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert (tmp_path / "home" / "signing-key.pub").exists()
    key_id = Signer.from_file(key).key_id
    again = provision.with_signing_key(settings)
    assert again.signing_key_file == key and Signer.from_file(key).key_id == key_id


def test_up_keeps_a_configured_signing_key(tmp_path: Path) -> None:
    mine = tmp_path / "mine.pem"
    settings = Settings(home=tmp_path / "home", signing_key_file=mine)
    assert provision.with_signing_key(settings).signing_key_file == mine
    assert not (tmp_path / "home" / "signing-key.pem").exists()


def test_migrate_sets_up_a_database_of_your_own_and_its_service_role(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from runtime.cli import main

    role = f"arledger_svc_{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv(provision.PASSWORD_ENV, "s3cret")
    assert main(["migrate", "--service-role", role]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["service_role"] == role and "s3cret" not in shown["database_url"]
    with psycopg.connect(database_url, autocommit=True) as owner:
        assert owner.execute(
            "SELECT rolpassword IS NOT NULL FROM pg_authid WHERE rolname = %s", (role,)
        ).fetchone() == (True,)
    append_some(provision.as_role(database_url, role, "s3cret"))
