"""Replaying one account straight from the event store: its history as recorded by any
moment (``history``) and what it owed, invoice by invoice and bucket by bucket, at any
date (``fold``)."""
