"""Read models in PostgreSQL, built from the event stream; each tracks its own position in
the same transaction as its rows."""
