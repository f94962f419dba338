"""Kafka plumbing: the relay that publishes the store's notification log, and the consumer
runner that feeds projections."""
