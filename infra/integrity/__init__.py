"""Evidence that the event store is complete and unaltered: a hash chain per stream,
Merkle checkpoints over the whole log, the append-only guard, and the verifier."""
