"""Documents the ledger produces for people: statements of account and dunning letters,
as JSON, HTML and PDF. Each is a pure function of the events (and of the company's
details in the settings), so the same request renders the same bytes again."""
