"""API keys: ``Authorization: Bearer <key>``. Each key has a role and an actor name that
is stamped on every event it causes. Keys are held only as SHA-256 digests."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

ROLES = ("coordinator", "manager", "auditor", "service", "admin")
# Roles that may change the ledger. The auditor reads everything and changes nothing.
WRITER_ROLES = frozenset({"coordinator", "manager", "service", "admin"})
# Roles that may verify the store, take checkpoints and export the ledger.
AUDITOR_ROLES = frozenset({"auditor", "manager", "admin"})


@dataclass(frozen=True)
class Principal:
    role: str
    actor: str

    @property
    def can_write(self) -> bool:
        return self.role in WRITER_ROLES


class KeyRing:
    """The configured keys, held and looked up by digest."""

    def __init__(self, entries: dict[str, Principal]) -> None:
        self._by_digest = {_digest(key): who for key, who in entries.items()}

    @classmethod
    def parse(cls, spec: str) -> KeyRing:
        """``key:role:actor`` entries, comma separated."""
        entries: dict[str, Principal] = {}
        for item in filter(None, (part.strip() for part in spec.split(","))):
            key, sep, rest = item.partition(":")
            role, sep2, actor = rest.partition(":")
            if not (sep and sep2 and key and actor) or role not in ROLES:
                raise ValueError(
                    f"ARLEDGER_API_KEYS entry {item.split(':')[0][:4]}… must be "
                    f"key:role:actor with role one of {', '.join(ROLES)}"
                )
            entries[key] = Principal(role, actor)
        return cls(entries)

    def find(self, key: str) -> Principal | None:
        # Looking up the digest, not the key, leaks nothing about a key through timing.
        return self._by_digest.get(_digest(key))

    def find_digest(self, digest: str) -> Principal | None:
        """The key whose SHA-256 digest is ``digest`` (a desk session keeps only that)."""
        return self._by_digest.get(digest)

    def __len__(self) -> int:
        return len(self._by_digest)


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_development_key() -> str:
    return "dev_" + secrets.token_urlsafe(24)
