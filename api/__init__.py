"""The HTTP API: routes, API keys, idempotency, exports and the desk."""
