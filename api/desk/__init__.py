"""The desk: the web pages the ledger's users do their day in, under ``/``.

Pages are rendered on the server and work without JavaScript; every read and every
action goes through the ``/v1`` API in-process (``api.desk.inner``) for the signed-in
user, so the desk has the API's rules, roles, idempotency and problem types and no
write path of its own."""
