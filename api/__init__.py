"""The HTTP API, the command-line entry points and the embedded default."""
