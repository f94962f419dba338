"""The PostgreSQL side and settings: the connection pool and schema creation, the event
store's recorder and the tables it writes in the events' transaction, the integrity
evidence (hash chains, checkpoints, the append-only guard), and the settings."""
