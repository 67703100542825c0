"""``ledger.merkle``: the RFC 9162 functions of the interface contract, kept under this name.

The implementation lives in ``ledger.core.merkle``; this module re-exports it unchanged so that
scripts and external checks importing ``ledger.merkle`` keep working.
"""

from ledger.core.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    Frontier,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root,
    root_from_inclusion_proof,
    verify_consistency,
    verify_inclusion,
)

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "Frontier",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root",
    "root_from_inclusion_proof",
    "verify_consistency",
    "verify_inclusion",
]
