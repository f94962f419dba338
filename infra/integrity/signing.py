"""Ed25519 signatures over checkpoints, with a key held outside the database.

The signed message is plain text, so an auditor can check it with the public key alone
and standard tools (``openssl pkeyutl -verify -pubin -inkey key.pub -rawin``):

    arledger checkpoint v1
    position <last position covered>
    tree_size <events covered>
    root <hex Merkle root>
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey


def checkpoint_message(position: int, tree_size: int, root: bytes) -> bytes:
    return (
        f"arledger checkpoint v1\nposition {position}\ntree_size {tree_size}\nroot {root.hex()}\n"
    ).encode()


def key_id(public_key: Ed25519PublicKey) -> str:
    """A short name for a public key: the first 16 hex digits of SHA-256 of its raw bytes."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def public_pem(public_key: Ed25519PublicKey) -> str:
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


class Signer:
    """Signs checkpoints with a private key read from a PEM file (PKCS#8)."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self.private_key = private_key
        self.public_key = private_key.public_key()
        self.key_id = key_id(self.public_key)

    @classmethod
    def from_file(cls, path: Path) -> Signer:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{path} does not hold an Ed25519 private key")
        return cls(key)

    def sign(self, message: bytes) -> bytes:
        return self.private_key.sign(message)


def load_public_key(path: Path) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(path.read_bytes())
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError(f"{path} does not hold an Ed25519 public key")
    return key


def signature_valid(public_key: Ed25519PublicKey, signature: bytes, message: bytes) -> bool:
    try:
        public_key.verify(signature, message)
    except InvalidSignature:
        return False
    return True


def new_key_pair(private_path: Path, public_path: Path) -> str:
    """Write a new private key (mode 0600 from the start; FileExistsError if there is
    one already) and its public key; return the key id."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    private_path.chmod(0o600)  # whatever the umask
    public_path.write_text(public_pem(key.public_key()))
    return key_id(key.public_key())
