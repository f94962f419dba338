"""The integrity operations as the processes use them, configured from Settings: the
relay checkpoints at intervals, the API and the CLI checkpoint on demand and verify."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from infra.integrity import checkpoints
from infra.integrity.checkpoints import Checkpoint
from infra.integrity.signing import Signer, load_public_key
from infra.integrity.verify import Report, verify
from infra.settings import Settings

log = logging.getLogger("arledger.integrity")


@dataclass
class Integrity:
    events_table: str
    signer: Signer | None = None
    public_key: Ed25519PublicKey | None = None
    interval: int = 1_000

    @classmethod
    def from_settings(cls, settings: Settings, events_table: str) -> Integrity:
        signer = Signer.from_file(settings.signing_key_file) if settings.signing_key_file else None
        public_key = (
            load_public_key(settings.public_key_file)
            if settings.public_key_file
            else (signer.public_key if signer else None)
        )
        return cls(events_table, signer, public_key, settings.checkpoint_interval)

    def checkpoint(
        self, conn: psycopg.Connection[Any], up_to: int | None = None
    ) -> Checkpoint | None:
        return checkpoints.record(conn, self.events_table, self.signer, up_to)

    def checkpoint_if_due(self, conn: psycopg.Connection[Any], head: int) -> Checkpoint | None:
        """A checkpoint when ``interval`` events or more have been stored since the last."""
        last = checkpoints.latest(conn)
        if head - (last.position if last else 0) < self.interval:
            return None
        return self.checkpoint(conn, head)

    def verify(
        self,
        conn: psycopg.Connection[Any],
        public_key: Ed25519PublicKey | None = None,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> Report:
        report = verify(conn, self.events_table, public_key or self.public_key, on_progress)
        log.log(
            logging.INFO if report.ok else logging.ERROR,
            "store verified" if report.ok else "store verification found broken links",
            extra={
                "events": report.events,
                "checkpoints": report.checkpoints,
                "findings": len(report.findings),
                "seconds": round(report.seconds, 3),
            },
        )
        return report
