"""The event topic: its partitioning and its creation."""

from __future__ import annotations

import logging
from functools import lru_cache
from uuid import UUID

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError
from kafka.partitioner.default import murmur2

log = logging.getLogger("arledger.topic")

REPAIR_ATTEMPTS = 5


def partition_for(account_id: UUID | str, partitions: int) -> int:
    """The partition an account's events go to: Kafka's own default (murmur2 of the key),
    computed here so that the relay and a consumer catching up from the store agree."""
    return _partition_of(str(account_id), partitions)


@lru_cache(maxsize=1 << 16)
def _partition_of(account_id: str, partitions: int) -> int:
    # kafka-python's murmur2 is pure Python: remembered per account, not hashed per event.
    return int(murmur2(account_id.encode()) & 0x7FFFFFFF) % partitions


class TopicMismatch(RuntimeError):
    """The topic exists with another partition count than arledger is configured for."""


def ensure_topic(bootstrap: str, topic: str, partitions: int, *, repair: bool = False) -> None:
    """Create the topic if the broker does not have it (a restarted in-memory broker
    comes back empty). A topic with another partition count is refused, since the relay
    and the consumers would disagree about where an account's events are, unless
    ``repair`` is set: then it is deleted and made again. That is for the embedded broker,
    which auto-creates any topic a client merely asks about (with 4 partitions); the
    store, not the topic, holds the truth, and consumers catch up from it."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="arledger-admin")
    try:
        for _ in range(REPAIR_ATTEMPTS):
            found = _partition_count(admin, topic)
            if found == partitions:
                return
            if found is None:
                _create(admin, topic, partitions)
                continue
            if not repair:
                raise TopicMismatch(
                    f"topic {topic} has {found} partitions; arledger is configured for "
                    f"{partitions} (ARLEDGER_TOPIC_PARTITIONS)"
                )
            log.warning(
                "recreating topic with the configured partition count",
                extra={"topic": topic, "found": found, "partitions": partitions},
            )
            admin.delete_topics([topic])
            _create(admin, topic, partitions)
        raise TopicMismatch(f"could not give topic {topic} {partitions} partitions")
    finally:
        admin.close()


def _partition_count(admin: KafkaAdminClient, topic: str) -> int | None:
    if topic not in admin.list_topics():
        return None
    described = admin.describe_topics([topic])
    return len(described[0]["partitions"]) if described else None


def _create(admin: KafkaAdminClient, topic: str, partitions: int) -> None:
    try:
        admin.create_topics([NewTopic(topic, partitions, 1)])
        log.info("created topic", extra={"topic": topic, "partitions": partitions})
    except TopicAlreadyExistsError:
        pass
    except KafkaError as e:
        log.warning("creating topic failed", extra={"topic": topic, "error": repr(e)})
