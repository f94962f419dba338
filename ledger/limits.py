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
# Digits of the sums the read models keep and the reports form (an account's lifetime
# invoiced, a portfolio's aged debt): PostgreSQL numeric(38,0), read back as exact Python
# ints. Single amounts fit a bigint; 10**23 of the largest would be needed to pass this.
TOTAL_DIGITS = 38
# Business dates (due dates, value dates, as-of dates) and moments lie in these years.
BUSINESS_YEAR_MIN = 1900
BUSINESS_YEAR_MAX = 2200
# Store positions and page cursors: PostgreSQL bigint.
POSITION_MAX = 2**63 - 1
# Request bodies: a command is small; a bank statement carries its CSV.
REQUEST_BODY_BYTES_MAX = 1_048_576
STATEMENT_BODY_BYTES_MAX = 25 * 1_048_576
# A bank statement's text, whichever door it comes through (the API, the command line).
STATEMENT_CHARS_MAX = 20_000_000
JSON_DEPTH_MAX = 32
