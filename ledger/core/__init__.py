"""The consensus-critical core: canonical form, Merkle log, proofs, signing, verification, bundles.

Pure code: bytes and plain values in, values out, exceptions from ``ledger.errors`` on failure.
Nothing here touches a database, the network, a chain, the web or settings (an import-linter
contract in ``pyproject.toml`` enforces it). A change to the canonical form, the statement, the
signature, the tree or the bundle checks invalidates proofs that users already hold: version it
(a new statement or bundle version) and keep the old versions verifying.

Verification has one copy of each rule: ``chaincheck`` holds the per-entry checks that ``verify``
(a lot from the store), ``bundle_verify`` (a proof bundle) and the full-log audit all run, and
``ports`` the one ``ChainReader`` interface through which every verifier reads the chain.
"""
