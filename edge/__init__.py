"""store-edge: the daemon that runs on one supermarket's gateway box."""

__version__ = "0.1.0"
