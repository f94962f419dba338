"""The throughput suite's two command rows alone, for comparing one change of the write
path with another in a few minutes: commands over HTTP from N clients and in-process
from one, each beside its reference measured in the same run (raw single-row commits
from N clients, and from one), with the API's CPU per command.
The same command mix, servers and API process as ``benchmarks/suite.py``.

Run: ``.venv/bin/python benchmarks/suite_writes.py [--per-client 300] [--clients 16]
[--in-process 1500] [--api-workers N] [--profile DIR]``. To compare with an older commit,
run this file from a checkout of that commit (it uses only what ``suite.py`` had).
``--profile DIR`` samples the API workers with py-spy during the HTTP row (``--py-spy``
names the program; ``pip install --target /tmp/tools py-spy`` puts one in
``/tmp/tools/bin``), keeps the raw samples in DIR and prints where the CPU went; the
sampling costs the workers some CPU, so take the figures from a run without it."""

from __future__ import annotations

import argparse
import os
import resource
import signal
import sys
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import references as ref
from benchmarks import suite
from benchmarks.suite_api import api_process, profiled
from benchmarks.suite_commands import http_commands, in_process_commands
from runtime.composition import Root


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--per-client", type=int, default=300, help="HTTP commands a client")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--in-process", type=int, default=1_500)
    parser.add_argument("--api-workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--profile", type=Path, default=None, help="py-spy samples to DIR")
    parser.add_argument("--py-spy", default="py-spy", help="the py-spy program")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    with ExitStack() as stack:
        settings = suite._servers(stack)
        url = settings.database_url or ""
        raw_n = ref.raw_commits(url, args.clients, args.per_client)
        raw_1 = ref.raw_commits(url, 1, args.in_process)
        ledger = Root(settings).ledger("api")
        stack.callback(ledger.close)
        cpu = _cpu_seconds()
        in_process = in_process_commands(ledger, args.in_process)
        in_process_cpu = _cpu_seconds() - cpu
        with api_process(settings, args.api_workers) as api:
            with ExitStack() as sampling:
                if args.profile is not None:
                    sampling.enter_context(profiled(api, args.profile, args.py_spy))
                cpu = api.cpu_seconds()
                http = http_commands(api.base_url, args.clients, args.per_client)
                api_cpu = api.cpu_seconds() - cpu
            conflicts = api.conflicts()
    ms, timed = 1e3, http.timed
    print(
        f"commands over HTTP, {args.clients} clients, {args.api_workers} API workers: "
        f"{timed.rate:,.0f} cmd/s against raw commits {raw_n.rate:,.0f}/s: "
        f"{timed.rate / raw_n.rate:.3f}x (target 0.25x); p50 {timed.median() * ms:.1f} ms, "
        f"p99 {timed.percentile(0.99) * ms:.1f} ms; API CPU {api_cpu / timed.operations * ms:.2f}"
        f" ms a command; {http.outcomes()}; retries on conflicts inside the API {conflicts}"
    )
    print(
        f"commands in-process, 1 client: {in_process.rate:,.0f} cmd/s against raw commits "
        f"{raw_1.rate:,.0f}/s: {in_process.rate / raw_1.rate:.3f}x (target 0.5x); p50 "
        f"{in_process.median() * ms:.1f} ms; CPU {in_process_cpu / in_process.operations * ms:.2f}"
        " ms a command",
        flush=True,
    )


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


if __name__ == "__main__":
    main()
