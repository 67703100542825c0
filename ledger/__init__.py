"""OCOP Ledger core: canonical form, signing, the Merkle log, storage and verification.

The pure modules (``errors``, ``merkle``, ``canonical``, ``signing``, ``proofs``, ``events``,
``gs1``, ``records``, ``verify``) take plain values and do no I/O; ``store``, ``keys``,
``ingest`` and ``service`` work on a database connection handed to them.
"""

__version__ = "0.1.0"
