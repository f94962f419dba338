"""Named limits. Everything that can grow has a ceiling, stated once, here."""

# Largest single amount in minor units (Stripe's own ceiling is 99,999,999; a ledger also
# records BACS transfers, so allow ten times the largest 2-decimal amount a bank moves).
AMOUNT_MINOR_MAX = 10**15
NAME_LENGTH_MAX = 200
REFERENCE_LENGTH_MAX = 200
DESCRIPTION_LENGTH_MAX = 2_000
INVOICE_NUMBER_LENGTH_MAX = 64
PAYMENT_TERMS_DAYS_MAX = 365
ALLOCATIONS_PER_COMMAND_MAX = 100
# How often a command retries after losing an optimistic-concurrency race.
COMMAND_RETRIES_MAX = 8
