"""The Stripe channel as the API holds it: the webhook receiver and, when a key is
configured, a client of the Stripe API (or of a Stripe-compatible server)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import psycopg
import stripe
from psycopg_pool import ConnectionPool

from channels import stripe_inbox
from channels.read_model import balances_caught_up
from channels.reconcile import StripeReconciler
from channels.stripe_applier import StripeApplier
from channels.stripe_apply import StripeEvents
from channels.stripe_links import StripeLinks
from channels.stripe_webhooks import Webhooks
from infra.settings import Settings
from ledger.application import Ledger


def client_for(settings: Settings) -> stripe.StripeClient | None:
    """A Stripe client, or None when no ``STRIPE_API_KEY`` is set."""
    if not settings.stripe_api_key:
        return None
    base = settings.stripe_api_base
    return stripe.StripeClient(
        settings.stripe_api_key,
        base_addresses={"api": base} if base else None,
        max_network_retries=2,
    )


@dataclass
class StripeChannel:
    webhooks: Webhooks
    events: StripeEvents
    links: StripeLinks

    caught_up: Callable[[int], bool]

    def reconciler(self) -> StripeReconciler:
        """Raises ``StripeNotConfigured`` without an API key."""
        links = self.links
        return StripeReconciler(links.ledger, links.pool, links.client, self.events, self.caught_up)

    def applier(self, database_url: str) -> StripeApplier:
        """The background applier of the events the webhook kept; its own session on
        ``database_url`` holds the one-applier lock."""
        pool = self.webhooks.pool

        def session() -> psycopg.Connection[tuple[object, ...]]:
            return psycopg.connect(database_url, autocommit=True)

        return StripeApplier(pool, self.events, session)

    @classmethod
    def start(cls, settings: Settings, ledger: Ledger, pool: ConnectionPool) -> StripeChannel:
        with pool.connection() as conn:
            stripe_inbox.ensure_schema(conn)

        def account_of_customer(customer_id: str) -> str | None:
            with pool.connection() as conn:
                return stripe_inbox.account_for_customer(conn, customer_id)

        secrets = [s.strip() for s in settings.stripe_webhook_secret.split(",") if s.strip()]
        events = StripeEvents(ledger, account_of_customer)
        webhooks = Webhooks(pool, events, secrets, settings.stripe_webhook_tolerance_s)

        links = StripeLinks(ledger, client_for(settings), pool)
        return cls(webhooks, events, links, balances_caught_up(settings, pool))
