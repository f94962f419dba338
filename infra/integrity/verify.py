"""The verifier: recomputes every stream's hash chain and every checkpoint's Merkle root
from the rows as they are now, checks the checkpoints' signatures, and reports each
broken link precisely. It trusts nothing the database computed: only the rows.

What each kind of tampering looks like to it:

- an edited row: its chain hash no longer matches its content (``edited``), or, when
  the tamperer also rewrote the hash, the next event in its stream no longer links to
  it, and the checkpoint covering it no longer matches (``checkpoint-mismatch``);
- a deleted row: a gap in its stream's versions (``deleted``), or, for the last event of
  a stream, fewer events under a checkpoint than it covered;
- a reordered pair: two rows whose hashes match each other's positions, or a stream
  whose versions come out of order (``reordered``);
- a truncated tail: the log ends before a checkpoint's position (``truncated``).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from infra.integrity import chain, merkle
from infra.integrity.checkpoints import Checkpoint, all_checkpoints
from infra.integrity.signing import key_id, signature_valid

BATCH = 5_000
SUSPECTS_KEPT = 256


@dataclass
class Finding:
    kind: str
    position: int | None
    detail: str
    stream: UUID | None = None
    version: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "position": self.position,
            "stream": str(self.stream) if self.stream else None,
            "version": self.version,
            "detail": self.detail,
        }


@dataclass
class Report:
    events: int = 0
    streams: int = 0
    head: int = 0
    checkpoints: int = 0
    signatures_verified: int = 0
    seconds: float = 0.0
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def first_broken(self) -> Finding | None:
        if not self.findings:
            return None
        return min(self.findings, key=lambda f: (f.position is None, f.position or 0))

    def to_json(self) -> dict[str, Any]:
        first = self.first_broken
        return {
            "ok": self.ok,
            "events": self.events,
            "streams": self.streams,
            "head": self.head,
            "checkpoints": self.checkpoints,
            "signatures_verified": self.signatures_verified,
            "seconds": round(self.seconds, 3),
            "first_broken": first.to_json() if first else None,
            "findings": [f.to_json() for f in sorted_findings(self.findings)],
        }


def sorted_findings(findings: list[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: (f.position is None, f.position or 0))


@dataclass
class _Row:
    position: int
    stream: UUID
    version: int
    topic: str
    state: bytes
    stored: bytes | None
    previous: bytes | None
    finding: Finding | None = None

    def hash_at(self, position: int) -> bytes:
        return chain.event_hash(
            self.previous, position, self.stream, self.version, self.topic, self.state
        )


def _rows(conn: psycopg.Connection[Any], table: str) -> Iterator[tuple[Any, ...]]:
    last = -(2**62)
    while True:
        batch = conn.execute(
            "SELECT notification_id, originator_id, originator_version, topic, state, "
            f"chain_hash FROM {table} WHERE notification_id > %s "
            "ORDER BY notification_id LIMIT %s",
            (last, BATCH),
        ).fetchall()
        yield from batch
        if len(batch) < BATCH:
            return
        last = batch[-1][0]


class _Walk:
    def __init__(
        self,
        checkpoints: list[Checkpoint],
        public_key: Ed25519PublicKey | None,
        report: Report,
    ) -> None:
        self.pending = deque(checkpoints)
        self.previous_checkpoint: Checkpoint | None = None
        self.public_key = public_key
        self.report = report
        self.heads: dict[UUID, tuple[int, bytes | None, int]] = {}
        self.gaps: dict[tuple[UUID, int], Finding] = {}
        self.suspects: deque[_Row] = deque(maxlen=SUSPECTS_KEPT)
        self.frontier = merkle.Frontier()

    def add(self, finding: Finding) -> Finding:
        self.report.findings.append(finding)
        return finding

    def row(self, values: tuple[Any, ...]) -> None:
        position, stream, version, topic, state, stored = values
        while self.pending and self.pending[0].position < position:
            self.checkpoint(self.pending.popleft(), self.frontier)
        stored = bytes(stored) if stored is not None else None
        last_version, last_hash, last_position = self.heads.get(stream, (0, None, 0))
        row = _Row(position, stream, version, topic or "", bytes(state or b""), stored, last_hash)
        if version == last_version + 1:
            self.check_hash(row)
            self.heads[stream] = (version, stored, position)
        elif version > last_version + 1:
            finding = self.add(
                Finding(
                    "deleted",
                    position,
                    f"stream {stream} jumps from version {last_version} (position "
                    f"{last_position}) to version {version}: versions "
                    f"{last_version + 1}..{version - 1} are missing",
                    stream,
                    last_version + 1,
                )
            )
            for missing in range(last_version + 1, version):
                self.gaps[(stream, missing)] = finding
            self.heads[stream] = (version, stored, position)
        else:
            gap = self.gaps.pop((stream, version), None)
            detail = (
                f"version {version} of stream {stream} is at position {position}, after "
                f"version {last_version} at position {last_position}: the events were reordered"
            )
            if gap is not None:
                gap.kind, gap.detail, gap.position = "reordered", detail, gap.position
            else:
                self.add(Finding("reordered", position, detail, stream, version))
        if stored is None:
            self.add(Finding("unchained", position, "the event has no chain hash", stream, version))
        self.frontier.add(merkle.leaf_hash(chain.leaf_data(position, stored or b"")))
        self.report.events += 1
        self.report.head = position

    def check_hash(self, row: _Row) -> None:
        if row.stored is None or row.hash_at(row.position) == row.stored:
            return
        for other in self.suspects:
            if row.hash_at(other.position) == row.stored and (
                other.hash_at(row.position) == other.stored
            ):
                assert other.finding is not None
                other.finding.kind = "reordered"
                other.finding.detail = (
                    f"the events at positions {other.position} and {row.position} were "
                    "swapped: each one's hash matches the other's position"
                )
                self.suspects.remove(other)
                return
        row.finding = self.add(
            Finding(
                "edited",
                row.position,
                f"the event at position {row.position} (stream {row.stream}, version "
                f"{row.version}) does not match its chain hash: its content, its position or "
                "the hash of the event before it was changed",
                row.stream,
                row.version,
            )
        )
        self.suspects.append(row)

    def checkpoint(self, cp: Checkpoint, frontier: merkle.Frontier) -> None:
        self.report.checkpoints += 1
        since = self.previous_checkpoint.position if self.previous_checkpoint else 0
        self.previous_checkpoint = cp
        if self.public_key is not None:
            self.check_signature(cp)
        if frontier.size != cp.tree_size:
            missing = cp.tree_size - frontier.size
            what = f"{missing} missing" if missing > 0 else f"{-missing} added"
            kind = "deleted" if missing > 0 else "inserted"
            self.add(
                Finding(
                    kind,
                    cp.position,
                    f"the checkpoint at position {cp.position} covered {cp.tree_size} events; "
                    f"the log now holds {frontier.size} up to there ({what} between "
                    f"positions {since} and {cp.position})",
                )
            )
        elif frontier.root() != cp.root:
            self.add(
                Finding(
                    "checkpoint-mismatch",
                    cp.position,
                    f"the Merkle root up to position {cp.position} is no longer the one "
                    f"checkpointed: an event between positions {since} and {cp.position} "
                    "was altered, or its hash rewritten",
                )
            )

    def check_signature(self, cp: Checkpoint) -> None:
        assert self.public_key is not None
        if cp.signature is None:
            self.add(Finding("unsigned", cp.position, f"checkpoint {cp.position} is not signed"))
        elif cp.key_id != key_id(self.public_key) or not signature_valid(
            self.public_key, cp.signature, cp.message
        ):
            self.add(
                Finding(
                    "bad-signature",
                    cp.position,
                    f"checkpoint {cp.position}'s signature does not verify with key "
                    f"{key_id(self.public_key)}: the checkpoint was altered or signed by "
                    "another key",
                )
            )
        else:
            self.report.signatures_verified += 1

    def finish(self) -> None:
        for cp in self.pending:
            if self.report.head < cp.position:
                self.report.checkpoints += 1
                if self.public_key is not None:
                    self.check_signature(cp)
                self.add(
                    Finding(
                        "truncated",
                        cp.position,
                        f"the log ends at position {self.report.head}, but the checkpoint at "
                        f"position {cp.position} covered {cp.tree_size} events: "
                        f"{cp.tree_size - self.frontier.size} were cut from the tail",
                    )
                )
            else:
                self.checkpoint(cp, self.frontier)
        self.report.streams = len(self.heads)


def verify(
    conn: psycopg.Connection[Any],
    events_table: str,
    public_key: Ed25519PublicKey | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> Report:
    """Check the whole store; ``on_progress(position, head)`` every batch."""
    began = time.monotonic()
    report = Report()
    row = conn.execute(f"SELECT coalesce(max(notification_id), 0) FROM {events_table}").fetchone()
    head = int(row[0]) if row else 0
    walk = _Walk(all_checkpoints(conn), public_key, report)
    for n, values in enumerate(_rows(conn, events_table), start=1):
        walk.row(values)
        if on_progress and n % BATCH == 0:
            on_progress(values[0], head)
    walk.finish()
    if on_progress:
        on_progress(head, head)
    report.seconds = time.monotonic() - began
    return report
