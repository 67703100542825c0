"""Storage: tables and migrations, the log in the database, the append path, keys, API keys,
shipments and lineage. Builds on ``ledger.core``; knows nothing of the chain, the web or the CLI."""
