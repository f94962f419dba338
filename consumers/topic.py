"""The event topic: its partitioning and its creation."""

from __future__ import annotations

import logging
from uuid import UUID

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError
from kafka.partitioner.default import murmur2

log = logging.getLogger("arledger.topic")


def partition_for(account_id: UUID | str, partitions: int) -> int:
    """The partition an account's events go to: Kafka's own default (murmur2 of the key),
    computed here so that the relay and a consumer catching up from the store agree."""
    key = str(account_id).encode()
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def ensure_topic(bootstrap: str, topic: str, partitions: int) -> None:
    """Create the topic if the broker does not have it (a restarted in-memory broker
    comes back empty). A topic with another partition count is refused: the relay and
    the consumers would disagree about where an account's events are."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="arledger-admin")
    try:
        if topic not in admin.list_topics():
            try:
                admin.create_topics([NewTopic(topic, partitions, 1)])
                log.info("created topic", extra={"topic": topic, "partitions": partitions})
            except TopicAlreadyExistsError:
                pass
        described = admin.describe_topics([topic])
        found = len(described[0]["partitions"]) if described else partitions
        if found != partitions:
            raise RuntimeError(
                f"topic {topic} has {found} partitions; arledger is configured for "
                f"{partitions} (ARLEDGER_TOPIC_PARTITIONS)"
            )
    finally:
        admin.close()
