"""The receivables domain: money, aggregates, their events and rules, and the application
service that is the only door to the write model."""
