"""The durable state of the daemon: one SQLite database, one writer thread, an outbox and an inbox."""

from edge.store.db import Store, Tx

__all__ = ["Store", "Tx"]
