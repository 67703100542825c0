"""A ``ledger.core.ports.ChainReader`` over plain EVM JSON-RPC (the standard library's HTTP, no web3).

Four calls, all standard Ethereum JSON-RPC: ``eth_chainId``, ``eth_getCode`` (is there a contract
at the address at all), ``eth_call`` of ``rootAt(uint64)`` / ``latestTreeSize()`` on the anchoring
contract, and ``eth_getTransactionReceipt`` (its
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

from ledger.core import bounds
from ledger.core.ports import AnchorTx
from ledger.errors import AnchorError, InputError

ROOT_AT_SELECTOR = "eaa38b41"  # first 4 bytes of keccak256("rootAt(uint64)")
LATEST_TREE_SIZE_SELECTOR = "5854c57d"  # first 4 bytes of keccak256("latestTreeSize()")
NO_CONTRACT = ""
ANCHORED_TOPIC = "0x89df1eaa818c1feb7376e45cebef0652cdb850a0425bfee61f4d2e2711d71941"
"""keccak256("Anchored(uint64,bytes32,uint64,address)")"""


class RpcChain:
    """Read-only JSON-RPC reader of one anchoring contract (``contract``, or one chosen by ``at``)."""

    def __init__(self, url: str, timeout: float = 10.0, contract: str = NO_CONTRACT) -> None:
        self.url = url
        self.timeout = timeout
        self.address = contract
        self._ids = itertools.count(1)
        self._chain_id: int | None = None

    def at(self, address: str) -> RpcChain:
        """A reader of the contract at ``address`` over the same endpoint."""
        reader = RpcChain(self.url, self.timeout, address)
        reader._ids, reader._chain_id = self._ids, self._chain_id
        return reader

    def call(self, method: str, params: list[Any]) -> Any:
        body = json.dumps({"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params}).encode()
        req = urllib.request.Request(self.url, data=body, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310 - the user's RPC URL
                reply = bounds.loads(resp.read(), where=f"RPC {method} reply")  # InputError is a ValueError
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise AnchorError(f"RPC {method} to {self.url} failed: {exc}") from exc
        if not isinstance(reply, dict) or "error" in reply:
            raise AnchorError(f"RPC {method} failed: {reply.get('error') if isinstance(reply, dict) else reply}")
        return reply.get("result")

    @property
    def chain_id(self) -> int:
        if self._chain_id is None:
            self._chain_id = int(str(self.call("eth_chainId", [])), 16)
        return self._chain_id

    def has_code(self) -> bool:
        """True when the contract address holds code (``eth_getCode`` is ``0x`` for an account or a precompile)."""
        if self.address == NO_CONTRACT:
            raise InputError("this RPC reader has no contract: call at(address) first")
        code = str(self.call("eth_getCode", [self.address, "latest"]))
        return code not in ("0x", "0x0", "")

    def latest_tree_size(self) -> int:
        return int.from_bytes(self._read(LATEST_TREE_SIZE_SELECTOR)[:32] or b"\x00", "big")

    def root_at(self, size: int) -> bytes:
        raw = self._read(ROOT_AT_SELECTOR + f"{size:064x}")
        return raw[:32] if len(raw) >= 32 else bytes(32)

    def _read(self, data: str) -> bytes:
        """``eth_call`` of the contract at ``latest``: the raw return data."""
        if self.address == NO_CONTRACT:
            raise InputError("this RPC reader has no contract: call at(address) first")
        result = str(self.call("eth_call", [{"to": self.address, "data": "0x" + data}, "latest"]))
        try:
            return bytes.fromhex(result[2:]) if result.startswith("0x") else b""
        except ValueError as exc:
            raise AnchorError(f"RPC eth_call returned no hex data: got {result[:80]!r}") from exc

    def anchor_tx(self, tx_hash: str) -> AnchorTx | None:
        r = self.call("eth_getTransactionReceipt", [tx_hash])
        if not r:
            return None
        try:
            return _anchor_tx(r)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise AnchorError(f"RPC eth_getTransactionReceipt returned a malformed receipt: {exc}") from exc


def _anchor_tx(r: dict[str, Any]) -> AnchorTx:
    """The block, status and ``Anchored`` logs of a JSON-RPC receipt."""
    anchored = []
    for lg in r.get("logs", []):
        topics = lg.get("topics", [])
        if len(topics) >= 2 and str(topics[0]).lower() == ANCHORED_TOPIC:
            data = bytes.fromhex(str(lg.get("data", "0x"))[2:])
            anchored.append((str(lg.get("address")), int(str(topics[1]), 16), data[:32]))
    return AnchorTx(int(str(r["blockNumber"]), 16), int(str(r.get("status", "0x0")), 16) == 1, anchored)
