"""The throughput suite: the ledger's figures next to references measured in the same run
on the same servers, printed as one table of figures, ratios and targets.

Run: ``.venv/bin/python benchmarks/suite.py [--scale small|large] [--clients 16]``.
``small`` takes about four minutes on two cores (a book of about 68,000 events);
``large`` first writes a book of 300,000 events (untimed) and runs four times the HTTP
commands: the better part of an hour. The produce reference reuses at most 50,000
distinct messages, cycled. It starts an
embedded PostgreSQL (fsync and synchronous_commit on, as initdb leaves them) and an
embedded broker in a temporary folder and stops them at the end, unless DATABASE_URL (a
server: a fresh database is made on it and dropped) or KAFKA_BOOTSTRAP_SERVERS are set.
Progress goes to stderr, the table to stdout. ``--only rebuild,consumer`` measures only
those rows (of ``http``, ``bulk``, ``in-process``, ``rebuild``, ``consumer``, ``relay``) and
their references: the book is written in full all the same (the command rows write it), so
the figures compare with a whole run's; the relay publishes it for ``consumer`` too.

The command mix, over HTTP and in-process alike: each client opens accounts of its own
(untimed), then works through them round-robin, four commands on one account per round:
raise an invoice, raise a second, record a BACS payment of their sum, allocate it
oldest-first (settling both). Each account takes 25 rounds in every run, whatever the
client's share: an oldest-first allocation reads every invoice the account ever had, so
a longer history would make a slower run. No two clients touch the same aggregate, so a
conflict is contention inside the ledger, not in the workload. Two rounds per client are
warm-up.

The rows (references in ``benchmarks/references.py``):

* commands over HTTP, N clients: commands/s from N threads, a keep-alive connection
  each, against ``arledger api --workers W`` (``--api-workers``, default one per CPU;
  ``benchmarks/suite_api.py``) on loopback; no relay or consumer runs meanwhile.
  p50 / p99 are each reply's time as its client saw it. Reference: single-row
  INSERT + COMMIT from N threads, a connection each, the same number of commits.
  Target 0.25x.
* bulk invoices, 4 clients: events appended per second by billing runs through
  ``POST /v1/invoices/batch`` (``benchmarks/suite_bulk.py``: 1,000 invoices a request,
  each invoice two events), against the same API. Reference: single-row commits from N
  threads, as for the HTTP commands. Target 1.0x.
* commands in-process, 1 client: the same mix through the ``Ledger`` facade in this
  process (no HTTP, no idempotency claims). Reference: as many single-row commits from
  one connection. Target 0.5x.
* rebuild of 'balances': ``arledger replay``'s code (``consumers/rebuild.py``: a side
  schema caught up from the store, then switched in), events applied per second over the
  whole book. Reference: ``SELECT *`` of the same events table in pages of 1,000, not
  decoded. Target 0.25x.
* consumer 'balances': the runner's apply path (JSON, rows and positions in one
  transaction, offset commit) fed from the ledger's topic once the relay has published
  the whole store. Reference: a bare kafka-python loop (poll + ``json.loads``) over the
  same topic, polled alike. The first non-empty poll of each is warm-up. Target 0.5x.
* relay, store to Kafka (no target): events/s published after its first batch.
  Reference: kafka-python producing the same messages to a fresh topic with the relay's
  producer settings (acks=all, idempotent).

Below the table: the HTTP commands' outcomes (accepted; refused by a rule, 409; refused
after the optimistic-concurrency retries ran out, 503; retries inside the API), the bare
consume of that fresh topic, and peak RSS of this process (the in-process commands, the
relay, the consumer and the rebuild run here), the API's and the embedded broker's."""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import signal
import sys
import tempfile
import uuid
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import references as ref  # noqa: E402
from benchmarks.projections import _write as write_big_book  # noqa: E402
from benchmarks.rebuild import fresh_database  # noqa: E402
from benchmarks.suite_api import ApiProcess, api_process  # noqa: E402
from benchmarks.suite_bulk import bulk_invoices  # noqa: E402
from benchmarks.suite_commands import (  # noqa: E402
    KEY,
    MIX,
    WARMUP_ROUNDS,
    HttpRun,
    http_commands,
    in_process_commands,
)
from benchmarks.suite_pipeline import consumer_balances, rebuild_balances, relay_store  # noqa: E402
from infra.collector import settle_collector  # noqa: E402
from infra.settings import Settings  # noqa: E402
from runtime.composition import Root  # noqa: E402
from runtime.embedded import EmbeddedPostgres  # noqa: E402
from runtime.embedded_broker import EmbeddedBroker  # noqa: E402

BULK_CLIENTS = 4
ROWS = ("http", "bulk", "in-process", "rebuild", "consumer", "relay")
NOT_MEASURED = ref.Timed(0, 0.0)


@dataclass(frozen=True)
class Scale:
    http_per_client: int  # commands per HTTP client, a whole number of rounds
    in_process: int  # commands of the one in-process client
    book_events: int  # events written first, untimed (0: the book is what the run writes)
    bulk_batches: int  # batches of 1,000 invoices per bulk client


SCALES = {
    "tiny": Scale(http_per_client=16, in_process=80, book_events=0, bulk_batches=1),  # smoke
    "small": Scale(http_per_client=500, in_process=3_000, book_events=0, bulk_batches=5),
    "large": Scale(http_per_client=2_000, in_process=10_000, book_events=300_000, bulk_batches=25),
}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    # "tiny" is a smoke test of the suite itself, left out of the help.
    parser.add_argument("--scale", choices=SCALES, default="small", metavar="{small,large}")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument(
        "--api-workers",
        type=int,
        default=os.cpu_count() or 1,
        help="API processes serving the HTTP clients (default: one per CPU)",
    )
    parser.add_argument(
        "--only",
        type=_rows,
        default=frozenset(ROWS),
        metavar="ROWS",
        help=f"comma-separated rows to measure, of {', '.join(ROWS)} (default: all); the "
        "book is written in full all the same",
    )
    args = parser.parse_args()
    # Killed, stop the servers this run started all the same (as on Ctrl-C).
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    # The rows run here run in processes of their own in a deployment, each with its
    # collector set so: the references measured here have it too.
    settle_collector()
    with ExitStack() as stack:
        run(
            _servers(stack), SCALES[args.scale], args.clients, args.api_workers, args.scale,
            args.only,
        )  # fmt: skip


def _rows(text: str) -> frozenset[str]:
    rows = frozenset(r.strip() for r in text.split(",") if r.strip())
    if not rows or rows - set(ROWS):
        raise argparse.ArgumentTypeError(f"rows are among {', '.join(ROWS)}: {text!r}")
    return rows


def _servers(stack: ExitStack) -> Settings:
    """Settings for a fresh database and topic on the given or the embedded servers."""
    temp = Path(tempfile.mkdtemp(prefix="arledger-suite-"))
    temp.chmod(0o755)  # as root the embedded PostgreSQL runs as another user
    stack.callback(shutil.rmtree, temp, ignore_errors=True)
    server = os.environ.get("DATABASE_URL")
    if server:
        url = fresh_database(server)
        stack.callback(_drop_database, server, url)
    else:
        pg = EmbeddedPostgres(database="postgres")
        url = fresh_database(pg.start(temp / "pg"))
        stack.callback(pg.stop)
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if not bootstrap:
        broker = EmbeddedBroker(temp / "broker")
        bootstrap = broker.start()
        stack.callback(broker.stop)
    tag = uuid.uuid4().hex[:8]
    return Settings(
        database_url=url,
        kafka_bootstrap_servers=bootstrap,
        topic=f"arledger.suite.{tag}",
        consumer_group=f"arledger.suite.{tag}",
        api_keys=f"{KEY}:coordinator:suite",
        topic_repair=not os.environ.get("KAFKA_BOOTSTRAP_SERVERS"),
        home=temp / "home",
        log_level="WARNING",
    )


def _drop_database(server: str, url: str) -> None:
    name = str(psycopg.conninfo.conninfo_to_dict(url)["dbname"])
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


# --- the run ------------------------------------------------------------------------


@dataclass
class Row:
    what: str
    figure: ref.Timed
    unit: str
    reference: str
    against: ref.Timed
    target: float | None


def run(
    settings: Settings,
    scale: Scale,
    clients: int,
    api_workers: int,
    scale_name: str,
    only: frozenset[str] = frozenset(ROWS),
) -> None:
    url = settings.database_url or ""
    _header(url, scale, clients, api_workers, scale_name)
    raw_1 = ref.raw_commits(url, 1, scale.in_process) if "in-process" in only else NOT_MEASURED
    raw_n = (
        ref.raw_commits(url, clients, scale.http_per_client)
        if only & {"http", "bulk"}
        else NOT_MEASURED
    )
    root = Root(settings)
    with ExitStack() as stack:
        ledger = root.ledger("api")
        stack.callback(ledger.close)
        if scale.book_events:
            print(f"writing a book of {scale.book_events:,} events", file=sys.stderr)
            write_big_book(ledger, scale.book_events, scale.book_events // 250, 4)
        cpu = _cpu_seconds()
        in_process = in_process_commands(ledger, scale.in_process)
        in_process_cpu = _cpu_seconds() - cpu
        with api_process(settings, api_workers) as api:
            cpu = api.cpu_seconds()
            http = http_commands(api.base_url, clients, scale.http_per_client)
            api_cpu = api.cpu_seconds() - cpu
            bulk = bulk_invoices(api.base_url, BULK_CLIENTS, scale.bulk_batches)
        head = ledger.head_position()
        piped = _pipeline(root, ledger.events_table, head, only)
    relayed, bare_consume, consumer = piped["relay"], piped["bare consume"], piped["consumer"]
    produced, consumed = piped["bare produce"], piped["bare consume, produced"]
    log_read, rebuilt = piped["bare log read"], piped["rebuild"]
    print(f"\nbook: {head:,} events", flush=True)
    rows = {
        "http": Row(f"commands over HTTP, {clients} clients", http.timed, "cmd/s",
                    f"raw commits, {clients} clients", raw_n, 0.25),
        "bulk": Row(f"bulk invoices, {BULK_CLIENTS} clients", bulk, "ev/s",
                    f"raw commits, {clients} clients", raw_n, 1.0),
        "in-process": Row("commands in-process, 1 client", in_process, "cmd/s",
                          "raw commits, 1 client", raw_1, 0.5),
        "rebuild": Row("rebuild of 'balances' (replay)", rebuilt, "ev/s",
                       "bare read of the log", log_read, 0.25),
        "consumer": Row("consumer 'balances' from Kafka", consumer, "ev/s",
                        "bare consume, same topic", bare_consume, 0.5),
        "relay": Row("relay, store to Kafka", relayed, "ev/s",
                     "bare produce, same msgs", produced, None),
    }  # fmt: skip
    _table([row for name, row in rows.items() if name in only])
    if {"http", "in-process"} <= only:
        _command_details(http, api, in_process, raw_1, raw_n, clients, api_cpu, in_process_cpu)
    if "relay" in only:
        print(f"bare consume of the freshly produced topic: {consumed.rate:,.0f} msgs/s")
    print(f"peak RSS: {_peak_rss(api)}", flush=True)


def _command_details(
    http: HttpRun,
    api: ApiProcess,
    in_process: ref.Timed,
    raw_1: ref.Timed,
    raw_n: ref.Timed,
    clients: int,
    api_cpu: float,
    in_process_cpu: float,
) -> None:
    """The command rows' latencies, outcomes and CPU per command, below the table."""
    ms = 1e3
    print(
        f"\nHTTP commands: p50 {http.timed.median() * ms:.1f} ms, p99 "
        f"{http.timed.percentile(0.99) * ms:.1f} ms; {http.outcomes()}; "
        f"retries on conflicts inside the API {api.conflicts()}"
    )
    print(
        f"in-process commands: p50 {in_process.median() * ms:.1f} ms, p99 "
        f"{in_process.percentile(0.99) * ms:.1f} ms; raw commits p50 / p99: 1 client "
        f"{raw_1.median() * ms:.1f} / {raw_1.percentile(0.99) * ms:.1f} ms, {clients} "
        f"clients {raw_n.median() * ms:.1f} / {raw_n.percentile(0.99) * ms:.1f} ms"
    )
    per_http, per_in_process = (
        api_cpu / http.timed.operations,
        in_process_cpu / in_process.operations,
    )
    print(
        f"CPU per timed command: API process {per_http * ms:.1f} ms over the HTTP run (its "
        f"setup and warm-up included), this process {per_in_process * ms:.1f} ms over the "
        "in-process run"
    )


def _pipeline(
    root: Root, events_table: str, head: int, only: frozenset[str]
) -> dict[str, ref.Timed]:
    """The pipeline's rows among ``only`` and their references, by name; the store is
    published first for the consumer and the relay."""
    settings = root.settings
    url, bootstrap = settings.database_url or "", settings.kafka_bootstrap_servers or ""
    topic, partitions = settings.topic, settings.topic_partitions
    timed = dict.fromkeys(
        ("relay", "bare consume", "consumer", "bare produce", "bare consume, produced"),
        NOT_MEASURED,
    )
    kept: list[ref.Message] = []
    if only & {"consumer", "relay"}:
        timed["relay"] = relay_store(root, head)
        timed["bare consume"] = ref.bare_consume(bootstrap, topic, partitions, head, kept)
    if "consumer" in only:
        timed["consumer"] = consumer_balances(root, head)
    if "relay" in only:
        timed["bare produce"] = ref.bare_produce(bootstrap, f"{topic}.bare", partitions, kept, head)
        timed["bare consume, produced"] = ref.bare_consume(
            bootstrap, f"{topic}.bare", partitions, head
        )
    timed["bare log read"] = timed["rebuild"] = NOT_MEASURED
    if "rebuild" in only:
        timed["bare log read"] = ref.bare_log_read(url, events_table, head)
        timed["rebuild"] = rebuild_balances(root, head)
    return timed


def _header(url: str, scale: Scale, clients: int, api_workers: int, scale_name: str) -> None:
    names = ("server_version", "fsync", "synchronous_commit", "wal_sync_method")
    with psycopg.connect(url) as conn:
        shown = [
            f"{n} {row[0] if (row := conn.execute(f'SHOW {n}').fetchone()) else '?'}" for n in names
        ]
    print(f"arledger throughput suite: scale {scale_name}, {os.cpu_count()} CPUs")
    print(f"PostgreSQL {', '.join(shown)}")
    print(f"command mix: {MIX}")
    print(
        f"commands: {clients} clients x {scale.http_per_client} over HTTP to {api_workers} API "
        f"process(es), "
        f"{scale.in_process} in-process (warm-up: {WARMUP_ROUNDS} rounds per client, not "
        f"counted); book written first: {scale.book_events:,} events",
        flush=True,
    )


def _table(rows: list[Row]) -> None:
    print(f"{'what':<34}{'arledger':>10}{'':9}{'reference':<35}{'ratio':>7}{'target':>9}")
    for row in rows:
        ratio = row.figure.rate / row.against.rate if row.against.rate else 0.0
        target = f"{row.target:.2f}x" if row.target else "-"
        verdict = "" if row.target is None else (" met" if ratio >= row.target else " below")
        print(
            f"{row.what:<34}{row.figure.rate:>10,.0f} {row.unit:<5}   {row.reference:<25}"
            f"{row.against.rate:>8,.0f}/s{ratio:>7.2f}x{target:>8}{verdict}"
        )


def _cpu_seconds() -> float:
    """User and system CPU time of this process so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _peak_rss(api: ApiProcess) -> str:
    mine = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    parts = [f"this process {mine} MiB", api.peak_rss()]
    parts += [f"{name} {kib // 1024} MiB" for name, kib in ref.children_peak_rss()]
    return ", ".join(parts)


if __name__ == "__main__":
    main()
