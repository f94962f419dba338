"""The ``arledger`` command: ``up`` (everything, on the embedded default unless
DATABASE_URL / KAFKA_BOOTSTRAP_SERVERS point elsewhere), ``api``, ``relay``, ``consume``,
``stripe-apply``, ``scheduler``, ``replay``, ``demo``, ``migrate``, and the auditor's ``verify``,
``checkpoint``, ``signing-key`` and ``export``."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import date
from pathlib import Path

import uvicorn
from fastapi import FastAPI
from uvicorn.supervisors import Multiprocess

from api.auth import new_development_key
from infra.collector import settle_collector
from infra.settings import Settings
from runtime import cli_bank, cli_import, cli_integrity, logs, provision, workers
from runtime.composition import Root
from runtime.workers import settings_env

log = logging.getLogger("arledger.cli")

API_WORKERS_HELP = "API processes sharing the port (default: ARLEDGER_API_WORKERS, else 1)"


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    root = Root()  # every command is given the composition root, and builds through it
    logs.configure(root.settings.log_level)
    result: int = args.run(args, root)
    return result


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="arledger", description=__doc__)
    sub = parser.add_subparsers(required=True, metavar="COMMAND")
    up = sub.add_parser("up", help="run the whole pipeline on one machine")
    up.add_argument("--host", default="127.0.0.1")
    up.add_argument("--port", type=int, default=8000)
    up.add_argument(
        "--broker-port",
        type=int,
        default=None,
        help="port for the embedded broker (default: a free one)",
    )
    up.add_argument("--consumers", type=int, default=1, help="consumer processes")
    up.add_argument("--api-workers", type=int, default=None, help=API_WORKERS_HELP)
    up.set_defaults(run=_up)
    api = sub.add_parser("api", help="run the HTTP API alone")
    api.add_argument("--host", default="127.0.0.1")
    api.add_argument("--port", type=int, default=8000)
    api.add_argument("--workers", dest="api_workers", type=int, default=None, help=API_WORKERS_HELP)
    api.set_defaults(run=_api)
    relay = sub.add_parser("relay", help="publish the event store to Kafka")
    relay.set_defaults(run=_relay)
    consume = sub.add_parser("consume", help="build the projections from Kafka")
    consume.add_argument("--consumers", type=int, default=1)
    consume.set_defaults(run=_consume)
    stripe_apply = sub.add_parser(
        "stripe-apply", help="apply the Stripe events the webhook recorded (one works at a time)"
    )
    stripe_apply.set_defaults(run=_stripe_apply)
    scheduler = sub.add_parser("scheduler", help="emit the events a passing date causes")
    scheduler.add_argument(
        "--today", type=date.fromisoformat, default=None, help="business date (default: UTC today)"
    )
    scheduler.add_argument("--once", action="store_true", help="one run, then exit")
    scheduler.add_argument("--interval", type=float, default=60.0, help="seconds between runs")
    scheduler.set_defaults(run=_scheduler)
    replay = sub.add_parser(
        "replay", help="rebuild a read model from the event store and switch to it"
    )
    replay.add_argument(
        "--projection", required=True, help="the read model: " + ", ".join(_projection_names())
    )
    replay.set_defaults(run=_replay)
    demo = sub.add_parser("demo", help="load a realistic sample book through the API")
    demo.add_argument("--url", default="http://127.0.0.1:8000")
    demo.add_argument("--key", default=None, help="API key (default: the development key)")
    demo.add_argument("--accounts", type=int, default=40)
    demo.add_argument("--seed", type=int, default=7)
    demo.set_defaults(run=_demo)
    cli_integrity.register(sub)
    cli_bank.register(sub)
    cli_import.register(sub)
    provision.register(sub)
    return parser


def _up(args: argparse.Namespace, root: Root) -> int:
    with ExitStack() as stack:
        settings = stack.enter_context(_embedded_servers(root.settings, args.broker_port))
        generated_key = not settings.api_keys
        settings = provision.with_signing_key(_with_api_key(settings))
        settings = _with_api_workers(settings, args.api_workers)
        root = Root(settings)  # what the embedded servers, the key and the signer settled
        supervisor = workers.Supervisor(settings, args.consumers)
        supervisor.start()
        stack.callback(supervisor.stop)
        print(f"arledger API      http://{args.host}:{args.port}  (OpenAPI at /openapi.json)")
        print(f"Kafka broker      {settings.kafka_bootstrap_servers}  topic {settings.topic}")
        print(f"Database          {settings.database_url}")
        print(f"Signing key       {settings.signing_key_file}  (signs every checkpoint)")
        if generated_key:
            print(
                f"API key           {settings.api_keys.split(':')[0]}  (role admin; "
                f"kept in {settings.home.resolve() / 'dev-api-key'})",
                flush=True,
            )
        else:
            print("API keys          from ARLEDGER_API_KEYS", flush=True)
        serving = threading.Event()
        stack.callback(serving.set)
        announcer = threading.Thread(
            target=announce_when_ready,
            args=(_local_url(args.host, args.port), serving),
            name="ready",
            daemon=True,
        )
        announcer.start()
        _serve(root, args.host, args.port)
    print("arledger stopped", flush=True)
    return 0


def _local_url(host: str, port: int) -> str:
    """Where this machine reaches the API served on ``host``."""
    reach = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104 - compared
    return f"http://[{reach}]:{port}" if ":" in reach else f"http://{reach}:{port}"


def is_ready(base_url: str) -> bool:
    """Whether ``GET /readyz`` answers 200."""
    try:
        direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # no proxy
        with direct.open(f"{base_url}/readyz", timeout=5) as reply:
            return int(reply.status) == 200
    except (OSError, ValueError):
        return False  # not serving yet, or a 503 (urllib raises HTTPError, an OSError)


def announce_when_ready(base_url: str, done: threading.Event) -> bool:
    """Print the "Ready" line once the API says every read model is fed (``/readyz``):
    a command's effect is then readable within a read's wait. Gives up when ``done``."""
    began = time.monotonic()
    while not done.wait(READY_POLL_SECONDS):
        if is_ready(base_url):
            waited = time.monotonic() - began
            print(
                f"Ready             every read model is fed ({waited:.1f} s; GET /readyz)",
                flush=True,
            )
            return True
    return False


READY_POLL_SECONDS = 0.5


@contextmanager
def _embedded_servers(settings: Settings, broker_port: int | None) -> Iterator[Settings]:
    """Start the embedded PostgreSQL and broker for what is not configured. The embedded
    database is set up as its superuser, and the processes get the URL of the restricted
    service role."""
    from runtime.embedded import EmbeddedPostgres
    from runtime.embedded_broker import EmbeddedBroker

    home = settings.home.resolve()
    home.mkdir(parents=True, exist_ok=True)
    updates: dict[str, object] = {}
    with ExitStack() as stack:
        if not settings.database_url:
            postgres = EmbeddedPostgres()
            owner = settings.model_copy(update={"database_url": postgres.start(home)})
            stack.callback(postgres.stop)
            updates["database_url"] = provision.prepare_database(owner)
        if not settings.kafka_bootstrap_servers:
            broker = EmbeddedBroker(home / "broker")
            updates["kafka_bootstrap_servers"] = broker.start(broker_port)
            updates["topic_repair"] = True  # it auto-creates topics with 4 partitions
            stack.callback(broker.stop)
        yield settings.model_copy(update=updates)


def _development_key(settings: Settings) -> str:
    path = settings.home.resolve() / "dev-api-key"
    if not path.exists():
        raise SystemExit(f"no API key: pass --key, or run `arledger up` first (it writes {path})")
    return path.read_text().split(":")[0]


def _with_api_key(settings: Settings) -> Settings:
    """With no keys configured, make (once) and keep a development key in the home."""
    if settings.api_keys:
        return settings
    path: Path = settings.home.resolve() / "dev-api-key"
    if not path.exists():
        path.write_text(f"{new_development_key()}:admin:developer\n")
        path.chmod(0o600)
    return settings.model_copy(update={"api_keys": path.read_text().strip()})


class _Server(uvicorn.Server):
    """Stops on SIGINT or SIGTERM like uvicorn's own, but then returns instead of raising
    the signal again, so that ``up`` can stop the relay, the consumers and the embedded
    servers before it exits."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        originals = {sig: signal.signal(sig, self.handle_exit) for sig in STOP_SIGNALS}
        try:
            yield
        finally:
            for sig, handler in originals.items():
                signal.signal(sig, handler)


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# How long an API worker may take to answer its supervisor (uvicorn's default is 5 s):
# one that is still importing and building its services on a busy machine was killed as
# dead and started again, every 5 s, and the API never came up.
WORKER_HEALTHCHECK_SECONDS = 60


def _serve(root: Root, host: str, port: int) -> None:
    """Serve the API in this process, or in ``api_workers`` processes sharing the port
    (uvicorn's own supervisor: a worker that dies is started again)."""
    workers = root.settings.api_workers
    if workers <= 1:
        config = uvicorn.Config(root.app(), host=host, port=port, log_config=None, access_log=False)
        _Server(config).run()
        return
    os.environ.update(settings_env(root.settings))  # what each worker reads its settings from
    config = uvicorn.Config(
        f"{__name__}:worker_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=None,
        access_log=False,
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS,
    )
    Multiprocess(config, sockets=[config.bind_socket()]).run()


def worker_app() -> FastAPI:
    """One API worker's application, from the settings its parent put in the environment."""
    root = Root()
    logs.configure(root.settings.log_level)
    return root.app()


def _with_api_workers(settings: Settings, workers: int | None) -> Settings:
    return settings if workers is None else settings.model_copy(update={"api_workers": workers})


def _api(args: argparse.Namespace, root: Root) -> int:
    _serve(Root(_with_api_workers(root.settings, args.api_workers)), args.host, args.port)
    return 0


def _run_workers(
    root: Root, *, relay: bool = False, consumers: int = 0, stripe_applier: bool = False
) -> int:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    threads = workers.start(
        root, stop, relay=relay, consumers=consumers, stripe_applier=stripe_applier
    )
    settle_collector()
    while not stop.wait(0.5):
        pass
    for thread in threads:
        thread.join(timeout=10)
    return 0


def _relay(args: argparse.Namespace, root: Root) -> int:
    return _run_workers(root, relay=True)


def _consume(args: argparse.Namespace, root: Root) -> int:
    return _run_workers(root, consumers=args.consumers)


def _stripe_apply(args: argparse.Namespace, root: Root) -> int:
    return _run_workers(root, stripe_applier=True)


def _scheduler(args: argparse.Namespace, root: Root) -> int:
    from runtime import scheduler

    topic = root.settings.topic
    with root.scheduler() as store:
        if args.once or args.today:
            today = args.today or scheduler.today_utc()
            made = scheduler.run_once(store.ledger, store.pool, topic, today)
            print(json.dumps({"today": today.isoformat(), **made}), flush=True)
            return 0
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        workers.mark_running("scheduler")
        workers.heartbeat(root, ["scheduler"], stop)
        settle_collector()
        scheduler.run(store.ledger, store.pool, topic, stop, args.interval)
        return 0


def _projection_names() -> list[str]:
    from projections.registry import PROJECTIONS

    return list(PROJECTIONS)


def _replay(args: argparse.Namespace, root: Root) -> int:
    from consumers.rebuild import rebuild
    from projections.registry import PROJECTIONS
    from runtime.progress import ProgressBar

    if args.projection not in PROJECTIONS:
        print(
            f"no projection {args.projection!r}; one of {', '.join(PROJECTIONS)}", file=sys.stderr
        )
        return 2
    projection = PROJECTIONS[args.projection]
    with root.replay(projection) as store:
        settle_collector()
        bar = ProgressBar(f"rebuilding {projection.name}", sys.stderr)
        applied = rebuild(
            store.ledger,
            store.pool,
            root.database_url,
            projection,
            root.settings.topic_partitions,
            progress=bar.update,
        )
        bar.finish()
        print(json.dumps({"projection": projection.name, "events_applied": applied}), flush=True)
        return 0


def _demo(args: argparse.Namespace, root: Root) -> int:
    from runtime.demo import load_demo

    key = args.key or _development_key(root.settings)
    load_demo(args.url, key, accounts=args.accounts, seed=args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
