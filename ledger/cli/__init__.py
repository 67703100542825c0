"""The command line, and the composition root: settings, engine, key ring and chain client are
built here and handed to the service, the API app and the anchor worker."""

from ledger.cli.app import main

__all__ = ["main"]
