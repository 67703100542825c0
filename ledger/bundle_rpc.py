"""A ``ledger.bundle.ChainRead`` over plain EVM JSON-RPC (the standard library's HTTP, no web3).

Three calls, all standard Ethereum JSON-RPC: ``eth_chainId``, ``eth_call`` of
``rootAt(uint64)`` on the anchoring contract, and ``eth_getTransactionReceipt`` (its
``Anchored(uint64 indexed treeSize, bytes32 root, uint64 timestamp, address indexed anchorer)``
logs). Kept free of web3 so that ``ocop-ledger verify-bundle`` starts fast and a third party
can see exactly what is read from the chain.
"""

from __future__ import annotations

import itertools
import json
import urllib.error
import urllib.request
from typing import Any

from ledger import bounds
from ledger.bundle import AnchorTx
from ledger.errors import AnchorError

ROOT_AT_SELECTOR = "eaa38b41"  # first 4 bytes of keccak256("rootAt(uint64)")
ANCHORED_TOPIC = "0x89df1eaa818c1feb7376e45cebef0652cdb850a0425bfee61f4d2e2711d71941"
"""keccak256("Anchored(uint64,bytes32,uint64,address)")"""


class RpcChain:
    """Read-only JSON-RPC client for bundle verification."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url
        self.timeout = timeout
        self._ids = itertools.count(1)

    def call(self, method: str, params: list[Any]) -> Any:
        body = json.dumps({"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params}).encode()
        req = urllib.request.Request(self.url, data=body, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310 - the user's RPC URL
                reply = bounds.loads(resp.read(), where=f"RPC {method} reply")
        except (urllib.error.URLError, OSError, ValueError) as exc:  # InputError is a ValueError
            raise AnchorError(f"RPC {method} to {self.url} failed: {exc}") from exc
        if not isinstance(reply, dict) or "error" in reply:
            raise AnchorError(f"RPC {method} failed: {reply.get('error') if isinstance(reply, dict) else reply}")
        return reply.get("result")

    def chain_id(self) -> int:
        return int(str(self.call("eth_chainId", [])), 16)

    def root_at(self, contract: str, size: int) -> bytes:
        data = "0x" + ROOT_AT_SELECTOR + f"{size:064x}"
        result = str(self.call("eth_call", [{"to": contract, "data": data}, "latest"]))
        raw = bytes.fromhex(result[2:]) if result.startswith("0x") else b""
        return raw[:32] if len(raw) >= 32 else bytes(32)

    def anchor_tx(self, tx_hash: str) -> AnchorTx | None:
        r = self.call("eth_getTransactionReceipt", [tx_hash])
        if not r:
            return None
        anchored = []
        for lg in r.get("logs", []):
            topics = lg.get("topics", [])
            if len(topics) >= 2 and str(topics[0]).lower() == ANCHORED_TOPIC:
                data = bytes.fromhex(str(lg.get("data", "0x"))[2:])
                anchored.append((str(lg.get("address")), int(str(topics[1]), 16), data[:32]))
        return AnchorTx(int(str(r["blockNumber"]), 16), int(str(r.get("status", "0x0")), 16) == 1, anchored)
