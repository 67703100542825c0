"""The chain: the web3 client, the anchor worker and its lock, the check of stored anchors
against the contract, the RPC reader used by the bundle verifier, and the local devchain (anvil)."""
