"""Payment channels: Stripe (webhooks in, payment links out, reconciliation) and the bank
(statement imports), and the notices sent when a payment fails."""
