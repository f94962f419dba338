"""A consumer tells the broker how far it has read now and then, not after every poll
(``consumers/runner.py``), and always when asked to stop: the member that starts next
begins where it ended, rather than reading everything since its last commit again."""

from __future__ import annotations

from kafka import KafkaConsumer, TopicPartition

from consumers import runner
from tests.pipeline import pipeline


def test_a_consumer_asked_to_stop_commits_what_it_has_read(settings, monkeypatch) -> None:
    monkeypatch.setattr(runner, "OFFSET_COMMIT_SECONDS", 3_600.0)  # a first commit, then none
    with pipeline(settings) as p:
        p.until_ready()  # the groups have formed: what follows is read from the broker
        for round_ in range(2):  # two polls with messages, at least: one commit is not enough
            for n in range(3):
                p.api.open_account(f"Offsets {round_}-{n} Ltd")
            p.wait_until_projected()

    partitions = [TopicPartition(settings.topic, n) for n in range(settings.topic_partitions)]
    reader = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=f"{settings.consumer_group}.balances",
        enable_auto_commit=False,
    )
    try:
        ends = reader.end_offsets(partitions)
        committed = {tp: reader.committed(tp) or 0 for tp in partitions}
    finally:
        reader.close(autocommit=False)
    assert sum(ends.values()) > 0
    assert committed == ends
