"""Proof bundles: a lot's signed history with everything needed to check it against the chain.

CONSENSUS-CRITICAL in the same way as ``ledger.core.canonical``: ``docs/bundle.md`` specifies this
format for third-party verifiers. Change it only by adding a new version. Version 1 is one lot's
history; version 2 (``kind`` ``lot`` or ``shipment``) holds several lots' histories ("chains"):
the subject lot or the shipment's lots, and every upstream lot they were made from.

Pure: ``build_bundle`` takes plain values (``bundle_build``); ``verify_bundle`` (``bundle_verify``)
takes the bundle and a ``ChainReader`` (``ledger.core.ports``: the chain read is passed in) and
trusts nothing else. Checks, in order:

- ``format``     the document is a bundle with well-formed fields (``bundle_parse``)
- ``key``        every signer's public key is in the bundle and hashes to its key id
- ``signature``  Ed25519 over the RFC 8785 bytes of each statement
- ``chain``      entries are the lot's, seq 0, 1, 2, …, each ``prev`` the previous leaf hash
- ``inclusion``  each leaf is included at its index under the tree head (RFC 9162)
- ``lineage``    (v2) each ``ocop:inputs`` head is the leaf hash of an earlier entry of that input lot
                 in the bundle, and every chain is the subject's or an input of one
- ``membership`` (v2 shipment) each listed lot has a signed AggregationEvent ADD with ``parentID`` the
                 SSCC and no later DELETE; no other chain in the bundle is still in the shipment
- ``anchor``     the contract on the bundle's chain holds the tree head's root for its size
- ``anchor_tx``  the anchor transaction was mined in the stated block and emitted that anchor

This module keeps the public names under ``ledger.core.bundle``.
"""

from __future__ import annotations

from ledger.core.bundle_anchor import ZERO_ROOT
from ledger.core.bundle_build import FORMAT, KINDS, VERSION, VERSION_MULTI, build_bundle, build_multi_bundle
from ledger.core.bundle_verify import CHECKS, CHECKS_V2, SSCC_URI, BundleReport, verify_bundle
from ledger.core.ports import AnchorTx, ChainReader

ChainRead = ChainReader
"""The former name of the chain-reader protocol."""

__all__ = [
    "CHECKS",
    "CHECKS_V2",
    "FORMAT",
    "KINDS",
    "SSCC_URI",
    "VERSION",
    "VERSION_MULTI",
    "ZERO_ROOT",
    "AnchorTx",
    "BundleReport",
    "ChainRead",
    "ChainReader",
    "build_bundle",
    "build_multi_bundle",
    "verify_bundle",
]
