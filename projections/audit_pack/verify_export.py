#!/usr/bin/env python3
"""Check an arledger audit pack with the Python standard library alone.

Run it in the pack's directory: ``python3 verify_export.py``. It checks that

1. every file matches SHA256SUMS;
2. every event's chain hash is the SHA-256 of its exact content and the previous event
   of its stream (chain.py gives the formula), and within the period each event links
   to the one before it in its stream;
3. the period's events, as Merkle leaves, with the subtree hashes in proof.json,
   recompute the root of the checkpoint (merkle.py: RFC 6962 hashing);
4. the checkpoint's signed message states that root.

The checkpoint's signature itself is checked with openssl (see README.md).
Exit status 0 when everything holds, 1 otherwise, with each problem printed.
"""

from __future__ import annotations

import hashlib
import json
import sys
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from chain import event_hash, leaf_data  # type: ignore[import-not-found]  # noqa: E402
from merkle import leaf_hash, root_with_prefix  # type: ignore[import-not-found]  # noqa: E402


def check_sums(problems: list[str]) -> None:
    for line in (HERE / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split("  ", 1)
        if hashlib.sha256((HERE / name).read_bytes()).hexdigest() != digest:
            problems.append(f"{name} does not match its SHA256SUMS line")


def check_events(problems: list[str]) -> list[bytes]:
    leaves: list[bytes] = []
    last_in_period: dict[str, str] = {}
    for n, line in enumerate((HERE / "events.jsonl").read_text().splitlines(), start=1):
        e = json.loads(line)
        previous = bytes.fromhex(e["previous_hash"]) if e["previous_hash"] else None
        if (e["version"] == 1) != (previous is None):
            problems.append(
                f"line {n}: version {e['version']} with previous_hash {e['previous_hash']}"
            )
        if e["stream"] in last_in_period and e["previous_hash"] != last_in_period[e["stream"]]:
            problems.append(f"line {n}: does not link to the previous event of its stream")
        computed = event_hash(
            previous,
            e["position"],
            uuid.UUID(e["stream"]),
            e["version"],
            e["type"],
            e["state"].encode(),
        )
        if computed.hex() != e["chain_hash"]:
            problems.append(f"line {n} (position {e['position']}): content does not match its hash")
        last_in_period[e["stream"]] = computed.hex()
        leaves.append(leaf_hash(leaf_data(e["position"], computed)))
    return leaves


def check_proof(problems: list[str], leaves: list[bytes]) -> dict[str, Any]:
    proof: dict[str, Any] = json.loads((HERE / "proof.json").read_text())
    path = [bytes.fromhex(h) for h in proof["prefix_proof"]]
    if proof["leaves_before"] + len(leaves) != proof["tree_size"]:
        problems.append("the number of events does not fill the checkpointed tree")
    try:
        root = root_with_prefix(proof["leaves_before"], leaves, path).hex()
    except ValueError as e:
        problems.append(f"the proof does not fit: {e}")
        return proof
    if root != proof["root"]:
        problems.append(f"the events give root {root}, not the checkpoint's {proof['root']}")
    message = proof["checkpoint"]["signed_message"]
    if (
        f"root {proof['root']}\n" not in message
        or f"tree_size {proof['tree_size']}\n" not in message
    ):
        problems.append("the checkpoint's signed message does not state this root and size")
    return proof


def main() -> int:
    problems: list[str] = []
    check_sums(problems)
    leaves = check_events(problems)
    proof = check_proof(problems, leaves)
    for problem in problems:
        print("FAIL", problem)
    if problems:
        return 1
    print(
        f"OK {len(leaves)} events, positions {proof['first_position']}..{proof['last_position']},"
        f" Merkle root {proof['root']} over {proof['tree_size']} events"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
