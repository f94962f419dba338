"""The auditor's pack for a period: every event recorded in it, tied to a Merkle
checkpoint of the log, with the receivables and the reports at the period's end.

Files (all deterministic: the same period exported twice gives the same bytes):

- ``events.jsonl``: one event a line, with its exact stored content (``state``), its
  chain hash, the hash of the previous event of its stream, and its leaf hash;
- ``events.csv``: the same events for a spreadsheet;
- ``receivables.csv``: opening and closing receivables per account and currency;
- ``aged_debt.json``, ``debtor_days.json``: the reports at the period's end, as the
  ledger stood when its last event was recorded;
- ``proof.json``: the checkpoint (root, signature) at the period's last event, and the
  subtree hashes that, with the period's leaves, recompute that root;
- ``merkle.py``, ``chain.py``, ``verify_export.py``: the formulas and a script (Python
  standard library only) that checks all of it; ``public_key.pem`` when signed;
- ``README.md``, ``SHA256SUMS``, ``manifest.json``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import shutil
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg

from infra.integrity import chain, merkle
from infra.integrity.checkpoints import Checkpoint
from infra.integrity.service import Integrity
from infra.integrity.signing import public_pem
from projections import ageing, debtor_days, tracking
from projections.receivables import NAME as RECEIVABLES

BATCH = 5_000
PROJECTION_WAIT_SECONDS = 60
PACK_DIR = Path(__file__).parent / "audit_pack"


class ExportError(Exception):
    """The export cannot be made as asked (an empty period, a lagging read model)."""


def _stored(conn: psycopg.Connection[Any], table: str) -> Iterator[tuple[Any, ...]]:
    last = 0
    while True:
        rows = conn.execute(
            "SELECT notification_id, originator_id, originator_version, topic, state, chain_hash"
            f" FROM {table} WHERE notification_id > %s ORDER BY notification_id LIMIT %s",
            (last, BATCH),
        ).fetchall()
        yield from rows
        if len(rows) < BATCH:
            return
        last = rows[-1][0]


def _recorded_at(state: bytes) -> datetime:
    stamp = json.loads(state)["timestamp"]
    return datetime.fromisoformat(stamp["_data_"] if isinstance(stamp, dict) else stamp)


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _write(out: Path, name: str, text: str) -> None:
    (out / name).write_bytes(text.encode())


def export_period(
    conn: psycopg.Connection[Any],
    integrity: Integrity,
    start: date,
    end: date,
    out: Path,
    progress: Callable[[int, int], None] | None = None,
    relay: str = "",
    wait_seconds: float = PROJECTION_WAIT_SECONDS,
) -> dict[str, Any]:
    """Write the pack for events recorded from ``start`` to ``end`` (inclusive, UTC
    days) into ``out``; return the manifest."""
    if end < start:
        raise ExportError(f"--to {end} is before --from {start}")
    begins = datetime.combine(start, datetime.min.time(), UTC)
    ends = datetime.combine(end + timedelta(days=1), datetime.min.time(), UTC)
    head = _head(conn, integrity.events_table)
    before, period = _scan(conn, integrity.events_table, begins, ends, head, progress)
    if not period:
        raise ExportError(f"no events were recorded from {start} to {end}")
    last = period[-1]["position"]
    cp = integrity.checkpoint(conn, last)
    assert cp is not None and cp.position == last
    known_at = datetime.fromisoformat(period[-1]["recorded_at"])
    _wait_for_receivables(conn, relay, last, wait_seconds)

    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    _write(out, "events.jsonl", "".join(_dumps(e) + "\n" for e in period))
    _write(out, "events.csv", _events_csv(period))
    # The reports as the ledger stood when the period's last event was committed.
    _write(out, "receivables.csv", _receivables_csv(conn, start, end, last))
    _write(out, "aged_debt.json", _dumps(_aged(conn, end, known_at, last)) + "\n")
    _write(out, "debtor_days.json", _dumps(_debtor_days(conn, start, end, last)) + "\n")
    proof = _write_proof(out, integrity, cp, before, period)
    for name in ("merkle.py", "chain.py"):
        shutil.copyfile(Path(merkle.__file__).parent / name, out / name)
    for name in ("verify_export.py", "README.md"):
        shutil.copyfile(PACK_DIR / name, out / name)
    files = sorted(p.name for p in out.iterdir())
    sums = {name: hashlib.sha256((out / name).read_bytes()).hexdigest() for name in files}
    _write(out, "SHA256SUMS", "".join(f"{digest}  {name}\n" for name, digest in sums.items()))
    manifest = {
        "period": {"from": start.isoformat(), "to": end.isoformat()},
        "events": len(period),
        "positions": {"first": period[0]["position"], "last": last},
        "as_known_at": known_at.isoformat(),
        "checkpoint": proof["checkpoint"],
        "files": {
            name: {"sha256": sums[name], "bytes": (out / name).stat().st_size} for name in files
        },
    }
    _write(out, "manifest.json", json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    if progress:
        progress(head, head)
    return manifest


def _write_proof(
    out: Path,
    integrity: Integrity,
    cp: Checkpoint,
    before: list[bytes],
    period: list[dict[str, Any]],
) -> dict[str, Any]:
    """Write the proof that the period's events extend the checkpointed log, with the
    public key and the checkpoint's signature when there are; return the proof."""
    proof = {
        "first_position": period[0]["position"],
        "last_position": cp.position,
        "leaves_before": len(before),
        "tree_size": cp.tree_size,
        "root": cp.root.hex(),
        "prefix_proof": [h.hex() for h in merkle.prefix_proof(before, cp.tree_size)],
        "checkpoint": {k: v for k, v in cp.to_json().items() if k != "recorded_at"},
    }
    _write(out, "proof.json", json.dumps(proof, indent=2, sort_keys=True) + "\n")
    if integrity.public_key is not None:
        _write(out, "public_key.pem", public_pem(integrity.public_key))
    if cp.signature is not None:
        (out / "checkpoint_message.txt").write_bytes(cp.message)
        (out / "checkpoint_signature.bin").write_bytes(cp.signature)
    return proof


def _scan(
    conn: psycopg.Connection[Any],
    table: str,
    begins: datetime,
    ends: datetime,
    head: int,
    progress: Callable[[int, int], None] | None,
) -> tuple[list[bytes], list[dict[str, Any]]]:
    """The leaf hashes of the events before the period, and the period's events as
    the pack shows them (with each one's previous hash in its stream)."""
    before: list[bytes] = []
    period: list[dict[str, Any]] = []
    last_hash: dict[UUID, bytes] = {}
    for position, stream, version, topic, state, chain_hash in _stored(conn, table):
        state, stored = bytes(state), bytes(chain_hash)
        recorded = _recorded_at(state)
        if recorded >= ends:
            break
        leaf = merkle.leaf_hash(chain.leaf_data(position, stored))
        if recorded < begins and not period:
            before.append(leaf)
        else:
            period.append(
                {
                    "position": position,
                    "stream": str(stream),
                    "version": version,
                    "type": topic,
                    "recorded_at": recorded.isoformat(),
                    "state": state.decode(),
                    "previous_hash": last_hash[stream].hex() if stream in last_hash else None,
                    "chain_hash": stored.hex(),
                    "leaf_hash": leaf.hex(),
                }
            )
        last_hash[stream] = stored
        if progress and position % BATCH == 0:
            progress(position, head)
    return before, period


def _head(conn: psycopg.Connection[Any], events_table: str) -> int:
    row = conn.execute(f"SELECT coalesce(max(notification_id), 0) FROM {events_table}").fetchone()
    return int(row[0]) if row else 0


class ExportBehind(ExportError):
    """The receivables read model has not yet reached the period's last event."""


def _wait_for_receivables(
    conn: psycopg.Connection[Any], relay: str, position: int, wait_seconds: float
) -> None:
    """The reports come from the receivables read model: it must have every event of the
    period before they are written."""
    deadline = time.monotonic() + wait_seconds
    while tracking.watermark(conn, RECEIVABLES, relay) < position:
        if time.monotonic() > deadline:
            raise ExportBehind(
                f"the receivables read model has not reached position {position}; "
                "is `arledger consume` running?"
            )
        time.sleep(0.2)


def _events_csv(period: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    columns = ["position", "stream", "version", "type", "recorded_at", "actor", "effective_at"]
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*columns, "chain_hash", "state"])
    for e in period:
        stamp = json.loads(e["state"]).get("stamp", {})
        stamp = stamp.get("_data_", stamp) if isinstance(stamp, dict) else {}
        writer.writerow(
            [e[c] for c in columns[:5]]
            + [stamp.get("actor", ""), stamp.get("effective_at", ""), e["chain_hash"], e["state"]]
        )
    return buffer.getvalue()


def _currencies(conn: psycopg.Connection[Any]) -> list[str]:
    rows = conn.execute("SELECT DISTINCT currency FROM receivable_accounts ORDER BY 1").fetchall()
    return [r[0] for r in rows]


def _names(conn: psycopg.Connection[Any]) -> dict[UUID, str]:
    return dict(conn.execute("SELECT account_id, name FROM receivable_accounts").fetchall())


def _receivables_csv(conn: psycopg.Connection[Any], start: date, end: date, known: int) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["account_id", "name", "currency", "opening_minor", "closing_minor"])
    names = _names(conn)
    for currency in _currencies(conn):
        figures = debtor_days.figures(conn, currency, start, end, known)
        for account in sorted(figures, key=str):
            f = figures[account]
            writer.writerow([account, names.get(account, ""), currency, f.opening, f.closing])
    return buffer.getvalue()


def _aged(
    conn: psycopg.Connection[Any], as_of: date, known_at: datetime, known: int
) -> dict[str, Any]:
    report: dict[str, Any] = {"as_of": as_of.isoformat(), "as_known_at": known_at.isoformat()}
    for currency in _currencies(conn):
        total, accounts = ageing.aged_debt(conn, currency, as_of, known)
        report[currency] = {
            "total": total.buckets | {"total": total.total},
            "accounts": [
                {"account_id": str(a.account_id), "name": a.name, **a.aged.buckets}
                for a in accounts
            ],
        }
    return report


def _debtor_days(
    conn: psycopg.Connection[Any], start: date, end: date, known: int
) -> dict[str, Any]:
    report: dict[str, Any] = {"period_start": start.isoformat(), "period_end": end.isoformat()}
    for currency in _currencies(conn):
        total = debtor_days.total_figures(conn, currency, start, end, known)
        dd = debtor_days.debtor_days(start, end, total)
        report[currency] = {k: (str(v) if v is not None else None) for k, v in vars(dd).items()}
    return report
