"""The processes and their wiring: the ``arledger`` command, the supervisor of ``arledger
up`` and its workers (relay, consumers, scheduler, notifier), the embedded PostgreSQL and
broker, provisioning, the demo book. Not HTTP: the API lives in ``api/``."""
