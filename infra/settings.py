"""Configuration, from the environment. Pointing at real servers is configuration only:
``DATABASE_URL`` and ``KAFKA_BOOTSTRAP_SERVERS``; without them ``arledger up`` starts the
embedded servers and fills these in."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every setting the processes read. Environment names are ``ARLEDGER_<FIELD>``
    except for the two server addresses, which use their conventional names."""

    model_config = SettingsConfigDict(env_prefix="ARLEDGER_", extra="ignore")

    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "ARLEDGER_DATABASE_URL")
    )
    kafka_bootstrap_servers: str | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "KAFKA_BOOTSTRAP_SERVERS", "ARLEDGER_KAFKA_BOOTSTRAP_SERVERS"
        ),
    )
    home: Path = Path(".arledger")
    topic: str = "arledger.events"
    topic_partitions: int = 6
    # Delete and remake a topic found with the wrong partition count. Only for a broker
    # that auto-creates topics on any metadata request (the embedded one): `arledger up`
    # turns it on for that broker.
    topic_repair: bool = False
    consumer_group: str = "arledger.projections"
    # `key:role:actor`, comma separated. Empty: `arledger up` makes a development key.
    api_keys: str = ""
    snapshot_interval: int = 50
    # Write-off authority per role, in major units of the account's currency: within it a
    # write-off applies at once, above it a second person approves.
    write_off_limits: str = "coordinator:250,manager:25000,admin:25000"
    # What one person may write off on their own authority in one day (UTC), summed over
    # every invoice, per currency, in major units; above it a write-off waits for approval.
    write_off_daily_limits: str = "coordinator:1000,manager:100000,admin:100000"
    # How long a query with min_position waits for its projection before a 503.
    query_wait_ms: int = 3_000
    relay_batch_size: int = 500
    consumer_max_poll_interval_ms: int = 5_000
    # Apache Kafka refuses less than 6 s (group.min.session.timeout.ms); a new group's
    # first join takes about half of it.
    consumer_session_timeout_ms: int = 6_000
    # How long the broker may hold a fetch that finds nothing new. Apache Kafka answers as
    # soon as data arrives, whatever this is; the embedded broker answers only after
    # about half of it, so it is also how long a command's effect takes to be readable.
    # Measured on an idle `arledger up` (embedded broker): at 500 ms the consumers took
    # 3% of a core and the broker 1%, and reading a command's effect took 250 ms (p99
    # 258); at 100 ms, 6.5% and 3%, and 47 ms (p99 58). With Apache Kafka, 500 costs no
    # latency.
    consumer_fetch_wait_ms: int = Field(default=100, ge=10, le=5_000)
    log_level: str = "INFO"
    # API processes serving one port (uvicorn's workers): a process fills one core at
    # about a hundred commands a second, so a busy ledger wants one per core. Each takes
    # its share of the API's connections (``runtime/composition.py``).
    api_workers: int = Field(default=1, ge=1, le=32)
    # Integrity: the relay records a Merkle checkpoint every this many events; a PEM
    # Ed25519 private key, kept outside the database, signs them; a public key verifies.
    checkpoint_interval: int = 1_000
    signing_key_file: Path | None = None
    public_key_file: Path | None = None
    # Stripe, the card channel: the secret key, another Stripe-compatible server (tests),
    # and the webhook signing secrets, comma separated while one is being rotated.
    stripe_api_key: str | None = Field(
        default=None, validation_alias=AliasChoices("STRIPE_API_KEY", "ARLEDGER_STRIPE_API_KEY")
    )
    stripe_api_base: str | None = Field(
        default=None, validation_alias=AliasChoices("STRIPE_API_BASE", "ARLEDGER_STRIPE_API_BASE")
    )
    stripe_webhook_secret: str = Field(
        default="",
        validation_alias=AliasChoices("STRIPE_WEBHOOK_SECRET", "ARLEDGER_STRIPE_WEBHOOK_SECRET"),
    )
    # How far a webhook's signed timestamp may be from now, either way, in seconds.
    stripe_webhook_tolerance_s: int = 300
    # Bank statements: how far a receipt may be from what an invoice owes and still pay
    # it (minor units: a bank charge taken off on the way), and how like an account's
    # name a payer must be, in percent, to count as weak evidence.
    bank_amount_tolerance: int = 0
    bank_payer_similarity: int = 85
    # Notifications (a failed payment tells the account's coordinator and client): who
    # delivers them (`outbox`, or `module:factory` of your own), who hears of accounts
    # with no coordinator, how often the notifier looks, and how often it retries.
    notification_sender: str = "outbox"
    notify_unassigned_to: str = "coordinators"
    notify_interval_ms: int = 1_000
    notify_max_attempts: int = 5
    # A failed delivery is tried again after this, doubling after each failure.
    notify_backoff_ms: int = 1_000
    # Email: `smtp://user:pass@host:port` (STARTTLS when the server offers it; `smtps://`
    # for TLS from the start). Set, it replaces the outbox sender. Coordinators are actor
    # names: one without an `@` is mailed at `name@<mail_internal_domain>`.
    smtp_url: str | None = None
    smtp_timeout_s: float = 10.0
    # A CA bundle to check the mail server's certificate with (default: the system's).
    smtp_ca_file: Path | None = None
    mail_from: str = "arledger@localhost"
    mail_internal_domain: str = "localhost"
    # Statements and dunning letters: who they come from and how to pay. The address and
    # the bank details are lines separated by `|` (or newlines); the logo a PNG or JPEG.
    company_name: str = "arledger"
    company_address: str = ""
    company_bank_details: str = ""
    company_logo_file: Path | None = None
    # The desk (the web pages under /): how long a sign-in lasts, and the secret its
    # session cookies are signed with (empty: one is made and kept in the database, so
    # every API process of one ledger shares it).
    desk_session_hours: int = 10
    desk_secret: str = ""
