"""Integrity: the store refuses to change history, and `verify` catches every kind of
tampering a superuser can do behind its back (an edited, a deleted, a reordered row, a
truncated tail, a rewritten hash, a forged checkpoint)."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from infra.database import eventstore_env
from infra.integrity import chain, checkpoints, merkle
from infra.integrity.signing import Signer, load_public_key, new_key_pair
from infra.integrity.verify import Report, verify
from ledger.application import Ledger
from ledger.commands import AllocatePayment, OpenAccount, RaiseInvoice, RecordPayment
from ledger.money import Money
from ledger.stamp import Stamp

NOW = dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.UTC)
TABLE = "ledger_events"


def stamp() -> Stamp:
    return Stamp("alice", "corr-1", "cause-1", NOW)


@pytest.fixture
def ledger(database_url: str) -> Iterator[Ledger]:
    app = Ledger(eventstore_env(database_url), snapshot_interval=0)
    yield app
    app.close()


@pytest.fixture
def conn(database_url: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    with psycopg.connect(database_url, autocommit=True) as c:
        yield c


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Signer, Path]:
    private, public = tmp_path / "checkpoint.key", tmp_path / "checkpoint.pub"
    new_key_pair(private, public)
    return Signer.from_file(private), public


def book(ledger: Ledger, accounts: int = 3) -> None:
    """Each account: opened, two invoices, a payment allocated oldest first."""
    for a in range(accounts):
        account = ledger.open_account(OpenAccount(f"Client {a}", "GBP", 30, stamp())).aggregate.id
        for n in (1, 2):
            ledger.raise_invoice(
                RaiseInvoice(
                    account,
                    f"INV-{a}-{n}",
                    Money(100_00 * n, "GBP"),
                    dt.date(2026, 1, n),
                    dt.date(2026, 1, 20 + n),
                    stamp(),
                )
            )
        paid = ledger.record_payment(
            RecordPayment(account, Money(150_00, "GBP"), "bacs", dt.date(2026, 2, 1), stamp())
        ).aggregate.id
        ledger.allocate_payment(
            AllocatePayment(paid, f"alloc-{paid}", stamp(), strategy="oldest_first")
        )


def rows(conn: psycopg.Connection[tuple[object, ...]]) -> list[tuple[object, ...]]:
    return conn.execute(
        f"SELECT notification_id, originator_id, originator_version FROM {TABLE} "
        "ORDER BY notification_id"
    ).fetchall()


def tamper(conn: psycopg.Connection[tuple[object, ...]], statement: str, *params: object) -> None:
    """What a superuser can do: switch the guard off, change rows, switch it back on."""
    with conn.transaction():
        conn.execute(f"ALTER TABLE {TABLE} DISABLE TRIGGER USER")
        conn.execute(statement, params)  # type: ignore[arg-type]
        conn.execute(f"ALTER TABLE {TABLE} ENABLE TRIGGER USER")


def kinds(report: Report) -> list[tuple[str, int | None]]:
    return [(f.kind, f.position) for f in report.findings]


def test_the_database_chains_each_stream_as_the_verifier_recomputes_it(
    ledger: Ledger, conn: psycopg.Connection[tuple[object, ...]]
) -> None:
    book(ledger, accounts=2)
    stored = conn.execute(
        f"SELECT notification_id, originator_id, originator_version, topic, state, chain_hash "
        f"FROM {TABLE} ORDER BY originator_id, originator_version"
    ).fetchall()
    previous: dict[object, bytes] = {}
    for position, stream, version, topic, state, chain_hash in stored:
        expected = chain.event_hash(
            previous.get(stream) if version > 1 else None,  # type: ignore[operator]
            position,  # type: ignore[arg-type]
            stream,  # type: ignore[arg-type]
            version,  # type: ignore[arg-type]
            topic,  # type: ignore[arg-type]
            bytes(state),  # type: ignore[arg-type]
        )
        assert bytes(chain_hash) == expected  # type: ignore[arg-type]
        previous[stream] = expected
    assert len(stored) > 10


@pytest.mark.parametrize(
    "statement",
    [
        f"UPDATE {TABLE} SET topic = topic",
        f"DELETE FROM {TABLE} WHERE originator_version = 1",
        f"TRUNCATE {TABLE}",
        f"UPDATE {checkpoints.TABLE} SET root = root",
        f"DELETE FROM {checkpoints.TABLE}",
        f"TRUNCATE {checkpoints.TABLE}",
    ],
)
def test_history_cannot_be_changed_even_by_the_tables_owner(
    ledger: Ledger, conn: psycopg.Connection[tuple[object, ...]], statement: str
) -> None:
    book(ledger, accounts=1)
    checkpoints.record(conn, TABLE, None)
    before = rows(conn)
    with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
        conn.execute(statement)
    assert rows(conn) == before
    assert verify(conn, TABLE).ok


def test_a_clean_store_verifies_with_signed_checkpoints(
    ledger: Ledger, conn: psycopg.Connection[tuple[object, ...]], keys: tuple[Signer, Path]
) -> None:
    signer, public = keys
    book(ledger, accounts=2)
    first = checkpoints.record(conn, TABLE, signer)
    book(ledger, accounts=1)
    second = checkpoints.record(conn, TABLE, signer)
    assert first and second and second.tree_size > first.tree_size
    # Asking again at the same head gives the same checkpoint, not a second row.
    assert checkpoints.record(conn, TABLE, signer) == second
    # The incremental root (from the first checkpoint's frontier) is the full tree's root.
    leaves = [leaf for _, leaf in checkpoints.leaves(conn, TABLE, 0, second.position)]
    assert merkle.root(leaves) == second.root

    report = verify(conn, TABLE, load_public_key(public))

    assert report.ok, report.to_json()
    assert (report.events, report.streams) == (len(leaves), 3 * 4)
    assert (report.checkpoints, report.signatures_verified) == (2, 2)


def test_an_edited_row_is_found_at_its_position(
    ledger: Ledger, conn: psycopg.Connection[tuple[object, ...]]
) -> None:
    book(ledger)
    checkpoints.record(conn, TABLE, None)
    target, state = conn.execute(
        f"SELECT notification_id, state FROM {TABLE} WHERE topic LIKE %s "
        "ORDER BY notification_id LIMIT 1",
        ("%Invoice.Raised",),
    ).fetchone()  # type: ignore[misc]
    assert b'"amount":10000' in bytes(state)
    edited = bytes(state).replace(b'"amount":10000', b'"amount":1000')
    tamper(conn, f"UPDATE {TABLE} SET state = %s WHERE notification_id = %s", edited, target)
    # The leaf covers the stored hash, which still matches the checkpoint: the chain
    # is what shows the edit.
    assert kinds(verify(conn, TABLE)) == [("edited", target)]


def test_a_rewritten_hash_breaks_the_next_link_and_a_signed_checkpoint(
    ledger: Ledger, conn: psycopg.Connection[tuple[object, ...]], keys: tuple[Signer, Path]
) -> None:
    """A tamperer who knows the formula edits a row and recomputes its hash, and even
    rewrites the checkpoint's root: the stream's next link and the signature give it away."""
    signer, public = keys
    book(ledger, accounts=1)
    cp = checkpoints.record(conn, TABLE, signer)
    assert cp is not None
    position, stream, _version, topic, state, _ = conn.execute(
        f"SELECT notification_id, originator_id, originator_version, topic, state, chain_hash "
        f"FROM {TABLE} WHERE topic LIKE %s ORDER BY notification_id DESC LIMIT 1",
        ("%Account.Opened",),
    ).fetchone()  # type: ignore[misc]
    forged_state = bytes(state).replace(b"Client", b"Klient")
    forged = chain.event_hash(None, position, stream, 1, topic, forged_state)
    tamper(
        conn,
        f"UPDATE {TABLE} SET state = %s, chain_hash = %s WHERE notification_id = %s",
        forged_state,
        forged,
        position,
    )
    leaves = [leaf for _, leaf in checkpoints.leaves(conn, TABLE, 0, cp.position)]
    with conn.transaction():
        conn.execute(f"ALTER TABLE {checkpoints.TABLE} DISABLE TRIGGER USER")
        conn.execute(f"UPDATE {checkpoints.TABLE} SET root = %s", (merkle.root(leaves),))
        conn.execute(f"ALTER TABLE {checkpoints.TABLE} ENABLE TRIGGER USER")

    report = verify(conn, TABLE, load_public_key(public))

    found = kinds(report)
    assert ("bad-signature", cp.position) in found
    next_in_stream = conn.execute(
        f"SELECT notification_id FROM {TABLE} WHERE originator_id = %s AND originator_version = 2",
        (stream,),
    ).fetchone()
    if next_in_stream:
        assert ("edited", next_in_stream[0]) in found


def test_a_deleted_row_is_a_gap_in_its_stream(
    ledger: Ledger, conn: psycopg.Connection[tuple[object, ...]]
) -> None:
    book(ledger)
    position, stream, _ = next(r for r in rows(conn) if r[2] == 2)
    tamper(conn, f"DELETE FROM {TABLE} WHERE notification_id = %s", position)
    report = verify(conn, TABLE)
    first = report.first_broken
    assert first is not None and first.kind == "deleted"
    assert (first.stream, first.version) == (stream, 2)
    assert "versions 2..2 are missing" in first.detail


def test_a_deleted_last_event_of_a_stream_is_caught_by_the_checkpoint(
    ledger: Ledger, conn: psycopg.Connection[tuple[object, ...]]
) -> None:
    book(ledger)
    first_cp = checkpoints.record(conn, TABLE, None)
    assert first_cp is not None
    book(ledger, accounts=1)
    second_cp = checkpoints.record(conn, TABLE, None)
    assert second_cp is not None
    # The last event of some stream that lies between the two checkpoints.
    victim = conn.execute(
        f"SELECT min(notification_id) FROM {TABLE} e WHERE notification_id > %s AND "
        f"originator_version = (SELECT max(originator_version) FROM {TABLE} "
        "WHERE originator_id = e.originator_id)",
        (first_cp.position,),
    ).fetchone()[0]  # type: ignore[index]
    tamper(conn, f"DELETE FROM {TABLE} WHERE notification_id = %s", victim)
    report = verify(conn, TABLE)
    assert kinds(report) == [("deleted", second_cp.position)]
    assert f"between positions {first_cp.position} and {second_cp.position}" in (
        report.findings[0].detail
    )


def swap(conn: psycopg.Connection[tuple[object, ...]], a: object, b: object) -> None:
    tamper(conn, f"UPDATE {TABLE} SET notification_id = -1 WHERE notification_id = %s", a)
    tamper(conn, f"UPDATE {TABLE} SET notification_id = %s WHERE notification_id = %s", a, b)
    tamper(conn, f"UPDATE {TABLE} SET notification_id = %s WHERE notification_id = -1", b)


def test_a_reordered_pair_of_two_streams_is_named_by_both_positions(
    ledger: Ledger, conn: psycopg.Connection[tuple[object, ...]]
) -> None:
    book(ledger)
    log = rows(conn)
    a, b = next((x[0], y[0]) for x, y in itertools.pairwise(log) if x[1] != y[1] and y[2] > 1)
    swap(conn, a, b)
    report = verify(conn, TABLE)
    assert [f.kind for f in report.findings] == ["reordered"]
    assert f"positions {a} and {b} were swapped" in report.findings[0].detail


def test_a_reordered_pair_within_a_stream_is_out_of_version_order(
    ledger: Ledger, conn: psycopg.Connection[tuple[object, ...]]
) -> None:
    book(ledger)
    log = rows(conn)
    x, y = next((x, y) for x, y in itertools.pairwise(log) if x[1] == y[1])
    swap(conn, x[0], y[0])
    report = verify(conn, TABLE)
    assert [(f.kind, f.stream) for f in report.findings] == [("reordered", x[1])]
    assert f"version {x[2]} of stream {x[1]} is at position {y[0]}" in report.findings[0].detail


def test_a_truncated_tail_is_caught_by_the_last_checkpoint(
    ledger: Ledger, conn: psycopg.Connection[tuple[object, ...]]
) -> None:
    book(ledger)
    cp = checkpoints.record(conn, TABLE, None)
    assert cp is not None
    cut = rows(conn)[-4][0]
    tamper(conn, f"DELETE FROM {TABLE} WHERE notification_id >= %s", cut)
    report = verify(conn, TABLE)
    assert ("truncated", cp.position) in kinds(report)
    truncated = next(f for f in report.findings if f.kind == "truncated")
    assert "4 were cut from the tail" in truncated.detail


def test_an_inclusion_proof_checks_out_and_a_forged_one_is_rejected(
    ledger: Ledger, conn: psycopg.Connection[tuple[object, ...]]
) -> None:
    book(ledger)
    cp = checkpoints.record(conn, TABLE, None)
    assert cp is not None
    leaves = [leaf for _, leaf in checkpoints.leaves(conn, TABLE, 0, cp.position)]
    for index in (0, 5, len(leaves) - 1):
        path = merkle.inclusion_proof(leaves, index)
        assert merkle.verify_inclusion(leaves[index], index, cp.tree_size, path, cp.root)
    path = merkle.inclusion_proof(leaves, 5)
    forged = [bytes(32), *path[1:]]
    assert not merkle.verify_inclusion(leaves[5], 5, cp.tree_size, forged, cp.root)
    assert not merkle.verify_inclusion(leaves[5], 6, cp.tree_size, path, cp.root)
    assert not merkle.verify_inclusion(leaves[6], 5, cp.tree_size, path, cp.root)
    assert not merkle.verify_inclusion(leaves[5], 5, cp.tree_size, path[:-1], cp.root)


@pytest.mark.parametrize("size", [0, 1, 2, 3, 5, 8, 13, 64, 100])
def test_the_frontier_and_the_prefix_proof_agree_with_rfc_6962(size: int) -> None:
    leaves = [merkle.leaf_hash(str(i).encode()) for i in range(size)]
    frontier = merkle.Frontier()
    frontier.extend(leaves)
    assert frontier.root() == merkle.root(leaves)
    for m in range(0, size + 1, max(1, size // 7)):
        proof = merkle.prefix_proof(leaves[:m], size)
        assert merkle.root_with_prefix(m, leaves[m:], proof) == merkle.root(leaves)
        if m and size > m:
            with pytest.raises(ValueError):
                merkle.root_with_prefix(m, leaves[m:], proof[:-1])


def test_the_service_role_can_append_and_read_but_never_change(
    ledger: Ledger, database_url: str, conn: psycopg.Connection[tuple[object, ...]]
) -> None:
    from infra.integrity.guard import service_role_statements

    role = f"arledger_svc_{uuid.uuid4().hex[:8]}"
    version = conn.info.server_version
    for statement in service_role_statements(role, "s3cret", TABLE, [], version):
        conn.execute(statement)
    service_url = psycopg.conninfo.make_conninfo(database_url, user=role, password="s3cret")
    env = {**eventstore_env(service_url), "CREATE_TABLE": "n"}
    as_service = Ledger(env, snapshot_interval=0)
    try:
        book(as_service, accounts=1)
    finally:
        as_service.close()
    with psycopg.connect(service_url, autocommit=True) as svc:
        assert svc.execute(f"SELECT count(*) FROM {TABLE}").fetchone() == (len(rows(conn)),)
        for statement in (f"UPDATE {TABLE} SET topic = topic", f"DELETE FROM {TABLE}"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                svc.execute(statement)
    assert verify(conn, TABLE).ok
