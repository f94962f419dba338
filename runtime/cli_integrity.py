"""The auditor's commands: ``verify``, ``checkpoint``, ``signing-key`` and ``export``."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path
from typing import Any

import psycopg

from infra.integrity.signing import load_public_key, new_key_pair
from runtime.composition import Root


def register(sub: Any) -> None:
    verify = sub.add_parser(
        "verify", help="recompute every hash chain and checkpoint; name the first broken link"
    )
    verify.add_argument(
        "--public-key", type=Path, default=None, help="PEM Ed25519 key that checks signatures"
    )
    verify.set_defaults(run=_verify)
    checkpoint = sub.add_parser("checkpoint", help="record a Merkle checkpoint of the log now")
    checkpoint.add_argument("--up-to", type=int, default=None, help="a position (default: head)")
    checkpoint.set_defaults(run=_checkpoint)
    key = sub.add_parser("signing-key", help="make an Ed25519 key pair for checkpoints")
    key.add_argument("private", type=Path, help="where to write the private key (PEM)")
    key.add_argument("public", type=Path, help="where to write the public key (PEM)")
    key.set_defaults(run=_signing_key)
    export = sub.add_parser("export", help="the auditor's pack for a period")
    export.add_argument("--from", dest="start", type=date.fromisoformat, required=True)
    export.add_argument("--to", dest="end", type=date.fromisoformat, required=True)
    export.add_argument("--out", type=Path, required=True, help="a directory (made if missing)")
    export.set_defaults(run=_export)
    reconcile = sub.add_parser("reconcile", help="compare the ledger with a payment channel")
    reconcile.add_argument("channel", choices=["stripe"])
    reconcile.add_argument("--from", dest="start", type=date.fromisoformat, required=True)
    reconcile.add_argument("--to", dest="end", type=date.fromisoformat, required=True)
    reconcile.set_defaults(run=_reconcile)


def _verify(args: argparse.Namespace, root: Root) -> int:
    from runtime.progress import ProgressBar

    integrity = root.integrity()
    public_key = load_public_key(args.public_key) if args.public_key else None
    bar = ProgressBar("verifying", sys.stderr)
    with psycopg.connect(root.database_url, autocommit=True) as conn:
        report = integrity.verify(conn, public_key, on_progress=bar.update)
    bar.finish()
    print(json.dumps(report.to_json(), indent=2), flush=True)
    return 0 if report.ok else 1


def _checkpoint(args: argparse.Namespace, root: Root) -> int:
    integrity = root.integrity()
    with psycopg.connect(root.database_url, autocommit=True) as conn:
        cp = integrity.checkpoint(conn, args.up_to)
    if cp is None:
        print("the store holds no events to checkpoint", file=sys.stderr)
        return 1
    print(json.dumps(cp.to_json(), indent=2), flush=True)
    return 0


def _signing_key(args: argparse.Namespace, root: Root) -> int:
    if args.private.exists():
        print(f"{args.private} exists; not overwriting a key", file=sys.stderr)
        return 2
    kid = new_key_pair(args.private, args.public)
    print(json.dumps({"key_id": kid, "private": str(args.private), "public": str(args.public)}))
    return 0


def _export(args: argparse.Namespace, root: Root) -> int:
    from projections.exports import export_period
    from runtime.progress import ProgressBar

    integrity = root.integrity()
    bar = ProgressBar("exporting", sys.stderr)
    with psycopg.connect(root.database_url, autocommit=True) as conn:
        manifest = export_period(
            conn, integrity, args.start, args.end, args.out, bar.update, root.settings.topic
        )
    bar.finish()
    print(json.dumps({"out": str(args.out), "files": list(manifest["files"])}), flush=True)
    return 0


def _reconcile(args: argparse.Namespace, root: Root) -> int:
    """Exit 0 when everything matched, 1 when there are findings to act on."""
    import uuid
    from datetime import UTC, datetime

    from channels.reconcile_report import report_json
    from ledger.stamp import Stamp

    services = root.services()
    try:
        run_id = uuid.uuid4()
        stamp = Stamp("arledger-cli", str(run_id), f"reconcile:{run_id}", datetime.now(UTC))
        report, position = services.stripe.reconciler().run(args.start, args.end, run_id, stamp)
    finally:
        services.close()
    print(json.dumps(report_json(report, str(run_id), position), indent=2), flush=True)
    return 0 if set(report.counts()) <= {"matched"} else 1
