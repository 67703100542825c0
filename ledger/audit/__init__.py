"""Independent checks of the whole ledger: the full-log audit over the database, the tree
checker it uses, and the outside monitor that watches a server's public log API."""
