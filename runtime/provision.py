"""What ``arledger up`` prepares before it starts the processes, and ``arledger migrate``
does for a database of your own: the schema, set up by its owner; the restricted role the
processes run as (``infra/integrity/guard.py``); the key that signs checkpoints, kept in
the home beside the database's data, never in the database."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
from psycopg.conninfo import make_conninfo

from api import access, idempotency
from api.desk import sessions
from channels import bank_lines, notifier, send_claims, senders, stripe_inbox
from consumers import liveness
from infra import append, commits, read_check, recorder, write_off_days
from infra.database import SCHEMA_LOCK_KEY, create_schema
from infra.integrity import checkpoints, guard
from infra.integrity.signing import new_key_pair
from infra.settings import Settings
from projections import tracking
from projections.registry import PROJECTIONS
from runtime.composition import Root

SERVICE_ROLE = "arledger_service"
PASSWORD_ENV = "ARLEDGER_SERVICE_PASSWORD"  # noqa: S105 - a variable's name
SIGNING_KEY = "signing-key.pem"
PUBLIC_KEY = "signing-key.pub"
# History the service role may read and append to, never change (besides the events).
APPEND_ONLY = [
    checkpoints.TABLE,
    "command_marks",
    "command_replies",
    commits.TABLE,
    "write_off_authority",
    "access_log",
    "notification_sends",
]
FUNCTIONS = [
    "arledger_charge_write_off(uuid, text, date, text, bigint, bigint)",
    read_check.FUNCTION,
    append.FUNCTION,
]
# Tables the processes create at start-up when their role may (the owner's, here).
SCHEMAS = [
    tracking.SCHEMA,
    liveness.SCHEMA,
    access.SCHEMA,
    idempotency.SCHEMA,
    recorder.SCHEMA,
    commits.SCHEMA,
    write_off_days.SCHEMA,
    read_check.SCHEMA,
    sessions.SCHEMA,
    stripe_inbox.SCHEMA,
    bank_lines.SCHEMA,
    notifier.DISPATCHES,
    senders.OUTBOX_SCHEMA,
    send_claims.SCHEMA,
]


def set_up_schema(settings: Settings) -> tuple[str, str]:
    """Make, or bring up to date, every table, index and function the processes use, as
    the role of ``settings.database_url`` (the schema's owner). Returns the store's
    events and snapshots tables."""
    # Snapshotting on, so that the snapshots table exists whatever the processes use.
    root = Root(settings.model_copy(update={"snapshot_interval": 1}))
    ledger = root.ledger("migrate")
    try:
        events = ledger.events_table
        snapshots = ledger.snapshots.recorder if ledger.snapshots else None
        snapshots_table = str(getattr(snapshots, "events_table_name", "ledger_snapshots"))
    finally:
        ledger.close()
    pool = root.pool("migrate")
    try:
        for projection in PROJECTIONS.values():
            projection.ensure_schema(pool)
        create_schema(pool, *SCHEMAS)
    finally:
        pool.close()
    return events, snapshots_table


def grant_service_role(
    owner_url: str, role: str, password: str | None, events: str, snapshots: str
) -> None:
    """Make (or bring up to date) ``role`` with exactly what the processes need."""
    with psycopg.connect(owner_url, autocommit=True) as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK_KEY,))
        version = conn.info.server_version
        for statement in guard.service_role_statements(
            role, password, events, [*APPEND_ONLY, snapshots], version, FUNCTIONS
        ):
            conn.execute(statement)


def as_role(url: str, role: str, password: str | None = None) -> str:
    """``url`` with ``role`` (and ``password``) as its user; a URI stays a URI."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql"):
        extra = {"password": password} if password else {}
        return make_conninfo(url, user=role, **extra)
    user = quote(role, safe="") + (f":{quote(password, safe='')}" if password else "")
    return urlunsplit(parts._replace(netloc=f"{user}@{parts.netloc.rpartition('@')[2]}"))


def prepare_database(
    settings: Settings, role: str = SERVICE_ROLE, password: str | None = None
) -> str:
    """Set the schema up as the owner ``settings.database_url`` names, make the service
    role, and return the URL the processes connect with. The embedded server trusts its
    local socket (in the data directory, reached only by its own system user), so there
    the role needs no password."""
    events, snapshots = set_up_schema(settings)
    grant_service_role(settings.database_url or "", role, password, events, snapshots)
    return as_role(settings.database_url or "", role, password)


def with_signing_key(settings: Settings) -> Settings:
    """With no key configured, make (once) an Ed25519 key pair in the home, beside the
    embedded database's data and outside the database, and sign checkpoints with it."""
    if settings.signing_key_file:
        return settings
    home = settings.home.resolve()
    private = home / SIGNING_KEY
    if not private.exists():
        home.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):  # another `up` made it just now
            new_key_pair(private, home / PUBLIC_KEY)
    return settings.model_copy(update={"signing_key_file": private})


def register(sub: Any) -> None:
    migrate = sub.add_parser(
        "migrate", help="set the schema up as its owner, and the role the processes run as"
    )
    migrate.add_argument(
        "--service-role",
        default=None,
        help=f"make (or bring up to date) this login role, e.g. {SERVICE_ROLE}; its "
        f"password from {PASSWORD_ENV} (none: set one yourself, or trust the socket)",
    )
    migrate.set_defaults(run=_migrate)


def _migrate(args: argparse.Namespace, root: Root) -> int:
    settings = root.settings
    if not settings.database_url:
        raise SystemExit("DATABASE_URL is not set: name the database, as its owner")
    if not args.service_role:
        events, snapshots = set_up_schema(settings)
        print(json.dumps({"events_table": events, "snapshots_table": snapshots}), flush=True)
        return 0
    prepare_database(settings, args.service_role, os.environ.get(PASSWORD_ENV) or None)
    shown = as_role(settings.database_url, args.service_role)  # without the password
    print(json.dumps({"service_role": args.service_role, "database_url": shown}), flush=True)
    return 0
