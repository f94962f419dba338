"""The API under test in the throughput suite: ``arledger api`` as deployed, in
processes of its own (so that the clients do not share its interpreter lock), with
``--workers N`` API processes sharing the port. Its CPU time and peak RSS are read from
``/proc`` for the whole process tree; its retries after optimistic-concurrency conflicts
are counted from its log."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from infra.settings import Settings
from runtime.workers import settings_env
from tests.support import free_port

CONFLICT_LOG = "optimistic concurrency conflict"  # ledger/unit_of_work.py, on each retry
START_SECONDS = 60
PROFILE_RATE_HZ = 200
# Where a sample of an API worker's CPU went: the first of these found in its stack
# (outermost first for the API's own steps, so that the ledger's share is one figure),
# else the innermost frame's package.
PROFILE_STEPS = (
    ("ledger call", "(ledger/application.py"),
    ("idempotency", "(api/idempotency.py"),
    ("reply shaping", "CommandContext.save.<locals>.reply"),
    ("dependencies (auth, headers, body)", "solve_dependencies"),
    # Below the door (an ASGI middleware around everything) and in none of the above:
    # its body checks, and the routing, request and response handling of the framework.
    ("the door and the framework around the route", "(api/door.py"),
)


@dataclass
class ApiProcess:
    base_url: str
    pid: int
    log: Path
    peak_rss_kib: dict[int, int] = field(default_factory=dict)  # per process of the tree

    def pids(self) -> list[int]:
        """This process and its descendants (the workers), as running now."""
        parents: dict[int, int] = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                after_name = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(stat.parent.name)] = int(after_name[1])
        tree, frontier = [self.pid], [self.pid]
        while frontier:
            frontier = [pid for pid, parent in parents.items() if parent in frontier]
            tree += frontier
        return tree

    def cpu_seconds(self) -> float:
        """User and system CPU time of the API's processes so far (Linux)."""
        ticks = 0
        for pid in self.pids():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            ticks += int(fields[11]) + int(fields[12])
        return ticks / os.sysconf("SC_CLK_TCK")

    def note_peak_rss(self) -> None:
        for pid in self.pids():
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            for line in status.splitlines():
                if line.startswith("VmHWM:"):
                    self.peak_rss_kib[pid] = int(line.split()[1])

    def conflicts(self) -> int:
        return self.log.read_text(errors="replace").count(CONFLICT_LOG)

    def peak_rss(self) -> str:
        sizes = sorted(self.peak_rss_kib.values(), reverse=True)
        return "API " + " + ".join(f"{kib // 1024}" for kib in sizes) + " MiB"


@contextmanager
def api_process(settings: Settings, workers: int) -> Iterator[ApiProcess]:
    """``arledger api --workers N`` on a free port, its log in ``api.log`` in the home."""
    settings.home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {**os.environ, **settings_env(settings), "ARLEDGER_LOG_LEVEL": "INFO"}
    command = [sys.executable, "-m", "runtime.cli", "api", "--port", str(port)]
    log_path = settings.home / "api.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [*command, "--workers", str(workers)],
            cwd=Path(__file__).resolve().parents[1],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        api = ApiProcess(f"http://127.0.0.1:{port}", proc.pid, log_path)
        try:
            _wait_until_serving(api, proc, workers)
            yield api
            api.note_peak_rss()
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait_until_serving(api: ApiProcess, proc: subprocess.Popen[bytes], workers: int) -> None:
    """Until every worker answers: each has built its services and warmed its pool."""
    deadline = time.monotonic() + START_SECONDS
    seen: set[int] = set()
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = api.log.read_text(errors="replace")[-3000:]
            raise SystemExit(f"the API exited ({proc.returncode}); the end of its log:\n{tail}")
        try:
            reply = httpx.get(f"{api.base_url}/v1/problems", timeout=5)
            # One worker serves in the process itself; more are its children.
            if reply.status_code == 200 and (workers == 1 or len(api.pids()) > workers):
                seen.add(1)
                if len(seen) and _all_started(api, workers):
                    return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"the API did not start in {START_SECONDS} s; see {api.log}")


def _all_started(api: ApiProcess, workers: int) -> bool:
    """Whether the log says every worker finished starting (uvicorn's own line)."""
    started = api.log.read_text(errors="replace").count("Application startup complete")
    return started >= workers


@contextmanager
def profiled(api: ApiProcess, directory: Path, py_spy: str = "py-spy") -> Iterator[None]:
    """Sample where each API worker's CPU goes meanwhile (py-spy, the interpreter lock's
    holder only, so idle threads do not count), into ``directory``; print a summary."""
    directory.mkdir(parents=True, exist_ok=True)
    workers = [pid for pid in api.pids() if pid != api.pid] or [api.pid]
    files = [directory / f"api-worker-{pid}.txt" for pid in workers]
    spies = [
        subprocess.Popen(
            [py_spy, "record", "--pid", str(pid), "--rate", str(PROFILE_RATE_HZ), "--gil",
             "--nonblocking", "--format", "raw", "--output", str(out)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for pid, out in zip(workers, files, strict=True)
    ]  # fmt: skip
    try:
        yield
    finally:
        for spy in spies:
            spy.send_signal(signal.SIGINT)  # py-spy writes its file as it stops
        for spy in spies:
            spy.wait(timeout=60)
    print(profile_summary(files), file=sys.stderr)


def profile_summary(files: list[Path]) -> str:
    """The share of the samples in ``files`` (py-spy's raw format) by step or package."""
    shares: Counter[str] = Counter()
    for path in files:
        for line in path.read_text().splitlines() if path.exists() else ():
            stack, _, count = line.rpartition(" ")
            shares[_step_of(stack)] += int(count)
    total = sum(shares.values()) or 1
    rows = [f"  {100 * n / total:5.1f}%  {step}" for step, n in shares.most_common(16)]
    return "\n".join([f"API workers' CPU samples: {total}", *rows])


def _step_of(stack: str) -> str:
    for step, marker in PROFILE_STEPS:
        if marker in stack:
            return step
    inner = stack.rsplit(";", 1)[-1]
    found = re.search(r"\(([^:)]*)", inner)
    where = re.sub(r".*site-packages/", "", found.group(1)) if found else ""
    return where.split("/")[0] if "/" in where else where or "native (no Python frame)"
