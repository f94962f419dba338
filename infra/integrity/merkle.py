"""Merkle trees over the notification log, as RFC 6962 (Certificate Transparency) defines
them: a leaf is hashed as SHA-256(0x00 || data), an inner node as SHA-256(0x01 || left ||
right), and a tree of n leaves splits at k, the largest power of two below n.

The log only grows, so a tree is carried from one checkpoint to the next as its frontier:
the roots of its perfect subtrees, largest first (the binary digits of n). Adding a leaf
merges equal-sized subtrees like a binary counter; the root folds the frontier from the
right. The verifier and the exports use the same functions.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

LEAF = b"\x00"
NODE = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(LEAF + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(NODE + left + right).digest()


def split(n: int) -> int:
    """The largest power of two strictly below ``n`` (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


@dataclass
class Frontier:
    """A growing tree: ``size`` leaves so far, kept as (subtree size, subtree root)."""

    size: int = 0
    subtrees: list[tuple[int, bytes]] = field(default_factory=list)

    def add(self, leaf: bytes) -> None:
        """Append one leaf hash."""
        self.size += 1
        size, node = 1, leaf
        while self.subtrees and self.subtrees[-1][0] == size:
            left_size, left = self.subtrees.pop()
            size, node = left_size + size, node_hash(left, node)
        self.subtrees.append((size, node))

    def extend(self, leaves: Iterable[bytes]) -> None:
        for leaf in leaves:
            self.add(leaf)

    def root(self) -> bytes:
        if not self.subtrees:
            return EMPTY_ROOT
        node = self.subtrees[-1][1]
        for _, left in reversed(self.subtrees[:-1]):
            node = node_hash(left, node)
        return node

    def to_json(self) -> list[list[object]]:
        return [[size, node.hex()] for size, node in self.subtrees]

    @classmethod
    def from_json(cls, size: int, subtrees: Sequence[Sequence[object]]) -> Frontier:
        return cls(size, [(int(str(s)), bytes.fromhex(str(h))) for s, h in subtrees])


def root(leaves: Sequence[bytes]) -> bytes:
    """MTH of a whole list of leaf hashes (the recursive definition, for small trees and
    for checking the frontier)."""
    if not leaves:
        return EMPTY_ROOT
    if len(leaves) == 1:
        return leaves[0]
    k = split(len(leaves))
    return node_hash(root(leaves[:k]), root(leaves[k:]))


def inclusion_proof(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """The audit path of leaf ``index`` in the tree of ``leaves`` (RFC 6962 2.1.1)."""
    if not 0 <= index < len(leaves):
        raise ValueError(f"leaf {index} is not in a tree of {len(leaves)}")
    if len(leaves) == 1:
        return []
    k = split(len(leaves))
    if index < k:
        return [*inclusion_proof(leaves[:k], index), root(leaves[k:])]
    return [*inclusion_proof(leaves[k:], index - k), root(leaves[:k])]


def root_from_inclusion(leaf: bytes, index: int, size: int, path: Sequence[bytes]) -> bytes:
    """The root that ``path`` leads to from ``leaf`` at ``index`` in a tree of ``size``
    leaves (RFC 9162 2.1.3.2); raises ValueError when the path has the wrong length."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size}")
    fn, sn, node = index, size - 1, leaf
    remaining = list(path)
    while remaining:
        sibling = remaining.pop(0)
        if sn == 0:
            raise ValueError("the proof is longer than the tree is deep")
        if fn % 2 == 1 or fn == sn:
            node = node_hash(sibling, node)
            if fn % 2 == 0:
                while fn % 2 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            node = node_hash(node, sibling)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ValueError("the proof is shorter than the tree is deep")
    return node


def verify_inclusion(
    leaf: bytes, index: int, size: int, path: Sequence[bytes], expected_root: bytes
) -> bool:
    try:
        return root_from_inclusion(leaf, index, size, path) == expected_root
    except ValueError:
        return False


def prefix_proof(leaves_before: Sequence[bytes], size: int) -> list[bytes]:
    """What proves that leaves ``[m, size)`` end a tree of ``size`` leaves, given the
    first ``m = len(leaves_before)`` leaves: the roots of the subtrees that lie wholly
    before ``m``, in the order :func:`root_with_prefix` consumes them."""
    proof: list[bytes] = []
    m = len(leaves_before)

    def walk(lo: int, hi: int) -> None:
        if hi <= m:
            proof.append(root(leaves_before[lo:hi]))
            return
        if lo >= m or hi - lo == 1:
            return
        k = split(hi - lo)
        walk(lo, lo + k)
        walk(lo + k, hi)

    if m:
        walk(0, size)
    return proof


def root_with_prefix(m: int, tail: Sequence[bytes], proof: Sequence[bytes]) -> bytes:
    """The root of a tree whose leaves ``[m, m + len(tail))`` are ``tail`` and whose
    earlier subtrees are given by ``proof`` (from :func:`prefix_proof`). Raises
    ValueError when the proof does not fit."""
    size = m + len(tail)
    remaining = list(proof)

    def walk(lo: int, hi: int) -> bytes:
        if hi <= m:
            if not remaining:
                raise ValueError("the proof is too short")
            return remaining.pop(0)
        if lo >= m:
            return root(tail[lo - m : hi - m])
        k = split(hi - lo)
        left = walk(lo, lo + k)
        return node_hash(left, walk(lo + k, hi))

    result = walk(0, size) if size else EMPTY_ROOT
    if remaining:
        raise ValueError("the proof is too long")
    return result
