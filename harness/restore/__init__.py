"""Restoring backups into a scratch environment, store by store, every step timed."""
