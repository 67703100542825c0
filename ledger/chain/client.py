"""The chain adapter: a small client for the ``ProvenanceAnchor`` contract over web3.

``ChainClient`` is built from a ``Web3`` instance handed in (HTTP to anvil or a testnet, or the
in-process ``EthereumTesterProvider`` in tests), the contract address and, for sending, a
``LocalAccount``: transactions are signed here and sent raw, so no node ever holds the key.
Without an account the client is read-only, which is all a verifier needs.

Errors are normalized at this boundary (``ledger.chain.reverts``, re-exported here). A revert
surfaces as ``eth_tester.exceptions.TransactionFailed`` on eth-tester,
``web3.exceptions.ContractCustomError`` on anvil, or a mined receipt with status 0; all three
become ``AnchorRevert`` naming the contract's custom error (``TreeSizeNotIncreasing(latest=5,
given=3)``). Every other RPC or connection failure becomes ``AnchorError`` raised ``from`` the
original.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from eth_utils.address import to_checksum_address
from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import TransactionNotFound
from web3.logs import DISCARD
from web3.types import Nonce, TxParams, Wei

from ledger.chain.reverts import AnchorRevert, artifact, decode_revert, revert_from, rpc
from ledger.core.ports import AnchorTx
from ledger.errors import AnchorError, InputError

ANCHOR_GAS = 100_000
"""Gas limit of an anchor transaction; the contract needs at most ~55k after the first anchor."""
MAX_GAS = 1_000_000
DEPLOY_GAS = 1_500_000
GWEI = 10**9
DEV_CHAIN_ID = 31337
ANVIL_DEV_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
"""anvil's first well-known development account. Public knowledge: only ever used on chain id 31337."""
ZERO_ROOT = bytes(32)
__all__ = [
    "ANCHOR_GAS",
    "ANVIL_DEV_KEY",
    "DEV_CHAIN_ID",
    "ZERO_ROOT",
    "AnchorRevert",
    "AnchoredEvent",
    "ChainClient",
    "Receipt",
    "SignedAnchor",
    "artifact",
    "decode_revert",
    "eip1559_fees",
    "make_web3",
    "revert_from",
    "rpc",
]


@dataclass(frozen=True)
class Receipt:
    tx_hash: str
    status: int
    block_number: int
    gas_used: int
    effective_gas_price: int


@dataclass(frozen=True)
class AnchoredEvent:
    tree_size: int
    root: bytes
    timestamp: int
    anchorer: str
    tx_hash: str
    block_number: int


@dataclass(frozen=True)
class SignedAnchor:
    """An anchor transaction signed but not necessarily sent: its hash is known before sending."""

    tx_hash: str
    raw: bytes
    nonce: int
    sender: str


def make_web3(rpc_url: str, timeout: float = 10.0) -> Web3:
    """A ``Web3`` over HTTP without web3's own retries: callers retry with their own backoff."""
    provider = Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": timeout}, exception_retry_configuration=None)
    return Web3(provider)


class ChainClient:
    """Read and anchor on one deployed ``ProvenanceAnchor``."""

    def __init__(
        self,
        w3: Web3,
        address: str,
        account: LocalAccount | None = None,
        *,
        gas: int = ANCHOR_GAS,
        max_fee_gwei: float | None = None,
        priority_fee_gwei: float | None = None,
    ) -> None:
        if not 21_000 <= gas <= MAX_GAS:
            raise InputError(f"anchor gas must be between 21000 and {MAX_GAS}, got {gas}")
        self.w3 = w3
        self.address = to_checksum_address(address)
        self.account = account
        self.gas = gas
        self.max_fee_wei = _wei(max_fee_gwei)
        self.priority_fee_wei = _wei(priority_fee_gwei)
        self.contract = w3.eth.contract(address=self.address, abi=artifact()["abi"])
        self._chain_id: int | None = None

    @classmethod
    def deploy(cls, w3: Web3, account: LocalAccount, **kwargs: Any) -> tuple[ChainClient, Receipt]:
        """Deploy the committed bytecode from ``account``; return the client and the receipt."""
        factory = w3.eth.contract(abi=artifact()["abi"], bytecode=artifact()["bytecode"])
        with rpc("deploying the contract"):
            chain_id = int(w3.eth.chain_id)
            nonce = int(w3.eth.get_transaction_count(account.address, "pending"))
            fees = eip1559_fees(w3, _wei(kwargs.get("max_fee_gwei")), _wei(kwargs.get("priority_fee_gwei")))
            tx = factory.constructor().build_transaction(_tx_params(account.address, nonce, DEPLOY_GAS, chain_id, fees))
            signed = account.sign_transaction(cast(dict[str, Any], tx))
            tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
            raw = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=60, poll_latency=0.1)
        receipt = _receipt(raw)
        if receipt.status != 1 or not raw.get("contractAddress"):
            raise AnchorError(f"deployment reverted: expected status 1, got {receipt.status} in {receipt.tx_hash}")
        return cls(w3, str(raw["contractAddress"]), account, **kwargs), receipt

    # --- reads ---------------------------------------------------------------------------

    @property
    def chain_id(self) -> int:
        if self._chain_id is None:
            with rpc("reading the chain id"):
                self._chain_id = int(self.w3.eth.chain_id)
        return self._chain_id

    @property
    def sender(self) -> str | None:
        return self.account.address if self.account else None

    def has_code(self) -> bool:
        with rpc("reading the contract code"):
            return len(self.w3.eth.get_code(self.address)) > 0

    def latest_tree_size(self) -> int:
        with rpc("reading latestTreeSize()"):
            return int(self.contract.functions.latestTreeSize().call())

    def root_at(self, size: int) -> bytes:
        """The root anchored for ``size``; 32 zero bytes when that size was never anchored."""
        with rpc(f"reading rootAt({size})"):
            return bytes(self.contract.functions.rootAt(size).call())

    def at(self, address: str) -> ChainClient:
        """A read-only client of the contract at ``address`` on the same chain (a ``ChainReader``)."""
        other = ChainClient(self.w3, address, gas=self.gas)
        other._chain_id = self._chain_id
        return other

    def anchor_tx(self, tx_hash: str) -> AnchorTx | None:
        """Block, status and ``Anchored`` events (of any contract) of a mined transaction; None if unknown."""
        with rpc(f"reading the receipt of {tx_hash}"):
            try:
                raw = self.w3.eth.get_transaction_receipt(HexBytes(tx_hash))
            except TransactionNotFound:
                return None
            events = self.contract.events.Anchored().process_receipt(raw, errors=DISCARD)
        anchored = [(str(ev["address"]), int(ev["args"]["treeSize"]), bytes(ev["args"]["root"])) for ev in events]
        return AnchorTx(int(raw["blockNumber"]), int(raw["status"]) == 1, anchored)

    def latest_root(self) -> bytes:
        with rpc("reading latestRoot()"):
            return bytes(self.contract.functions.latestRoot().call())

    def is_anchorer(self, address: str) -> bool:
        with rpc("reading isAnchorer()"):
            return bool(self.contract.functions.isAnchorer(to_checksum_address(address)).call())

    def block_number(self) -> int:
        with rpc("reading the block number"):
            return int(self.w3.eth.block_number)

    def block_time(self, number: int) -> int:
        """The block's timestamp (seconds since the epoch)."""
        with rpc(f"reading block {number}"):
            return int(self.w3.eth.get_block(number)["timestamp"])

    def receipt(self, tx_hash: str) -> Receipt | None:
        """The receipt of a mined transaction, or None while it is pending or unknown."""
        with rpc(f"reading the receipt of {tx_hash}"):
            try:
                return _receipt(self.w3.eth.get_transaction_receipt(HexBytes(tx_hash)))
            except TransactionNotFound:
                return None

    def is_known(self, tx_hash: str) -> bool:
        """Whether the node knows the transaction (pending or mined)."""
        with rpc(f"looking up {tx_hash}"):
            try:
                self.w3.eth.get_transaction(HexBytes(tx_hash))
            except TransactionNotFound:
                return False
            return True

    def nonce(self, address: str, block: str = "latest") -> int:
        """Transactions ``address`` has mined (``latest``) or sent including the pool (``pending``)."""
        with rpc(f"reading the nonce of {address}"):
            return int(self.w3.eth.get_transaction_count(to_checksum_address(address), block))  # type: ignore[arg-type]

    def anchored_events(
        self, from_block: int = 0, to_block: int | str = "latest", tree_size: int | None = None
    ) -> list[AnchoredEvent]:
        """``Anchored`` events of this contract, optionally for one tree size."""
        filters = {} if tree_size is None else {"treeSize": tree_size}
        with rpc("reading Anchored events"):
            logs = self.contract.events.Anchored().get_logs(
                from_block=from_block, to_block=to_block, argument_filters=filters
            )
        return [
            AnchoredEvent(
                tree_size=int(lg["args"]["treeSize"]),
                root=bytes(lg["args"]["root"]),
                timestamp=int(lg["args"]["timestamp"]),
                anchorer=str(lg["args"]["anchorer"]),
                tx_hash=_hex(lg["transactionHash"]),
                block_number=int(lg["blockNumber"]),
            )
            for lg in logs
        ]

    def find_anchor_event(self, tree_size: int, window: int = 10_000) -> AnchoredEvent | None:
        """The ``Anchored`` event of one tree size, searched backwards from the newest block in windows
        (public RPCs refuse huge log ranges)."""
        end = self.block_number()
        while end >= 0:
            found = self.anchored_events(max(0, end - window + 1), end, tree_size)
            if found:
                return found[-1]
            end -= window
        return None

    # --- writes --------------------------------------------------------------------------

    def fees(self) -> dict[str, int]:
        return eip1559_fees(self.w3, self.max_fee_wei, self.priority_fee_wei)

    def check_anchor(self, root: bytes, size: int) -> None:
        """Simulate ``anchor(root, size)`` from our account; raise ``AnchorRevert`` if it would revert."""
        with rpc(f"simulating anchor at size {size}"):
            self.contract.functions.anchor(root, size).call({"from": self._account().address, "gas": self.gas})

    def sign_anchor(self, root: bytes, size: int, nonce: int | None = None) -> SignedAnchor:
        """Build and sign ``anchor(root, size)`` with an explicit gas limit and EIP-1559 fees."""
        account = self._account()
        if len(root) != 32:
            raise InputError(f"root must be 32 bytes, got {len(root)}")
        if nonce is None:
            nonce = self.nonce(account.address, "pending")
        with rpc(f"building the anchor transaction for size {size}"):
            params = _tx_params(account.address, nonce, self.gas, self.chain_id, self.fees())
            tx = self.contract.functions.anchor(root, size).build_transaction(params)
        signed = account.sign_transaction(cast(dict[str, Any], tx))
        return SignedAnchor(_hex(signed.hash), bytes(signed.raw_transaction), nonce, account.address)

    def broadcast(self, signed: SignedAnchor | bytes) -> str:
        """Send a signed transaction; sending one the node already has is not an error."""
        raw = signed.raw if isinstance(signed, SignedAnchor) else signed
        try:
            with rpc("sending the anchor transaction"):
                return _hex(self.w3.eth.send_raw_transaction(raw))
        except AnchorError as exc:
            text = str(exc).lower()
            if isinstance(signed, SignedAnchor) and ("already known" in text or "known transaction" in text):
                return signed.tx_hash
            raise

    def send_anchor(self, root: bytes, size: int, nonce: int | None = None) -> str:
        """Sign and send ``anchor(root, size)``; return the transaction hash."""
        return self.broadcast(self.sign_anchor(root, size, nonce))

    def wait_receipt(self, tx_hash: str, timeout: float = 30.0) -> Receipt:
        """Wait for the receipt; a status-0 receipt raises ``AnchorRevert`` like any revert."""
        with rpc(f"waiting for {tx_hash}"):
            raw = self.w3.eth.wait_for_transaction_receipt(HexBytes(tx_hash), timeout=timeout, poll_latency=0.1)
        receipt = _receipt(raw)
        if receipt.status != 1:
            raise AnchorRevert(f"transaction {tx_hash} reverted: expected status 1, got {receipt.status}")
        return receipt

    def _account(self) -> LocalAccount:
        if self.account is None:
            raise AnchorError("this chain client is read-only: no anchoring key configured")
        return self.account


def eip1559_fees(w3: Web3, max_fee_wei: int | None, priority_fee_wei: int | None) -> dict[str, int]:
    """EIP-1559 fees: from settings, else the node's priority fee and twice the latest base fee on top."""
    with rpc("reading fees"):
        priority = priority_fee_wei
        if priority is None:
            priority = int(w3.eth.max_priority_fee)
        max_fee = max_fee_wei
        if max_fee is None:
            base = int(w3.eth.get_block("latest").get("baseFeePerGas") or 0)
            max_fee = 2 * base + priority
    return {"maxFeePerGas": max(max_fee, priority), "maxPriorityFeePerGas": priority}


def _tx_params(sender: ChecksumAddress, nonce: int, gas: int, chain_id: int, fees: dict[str, int]) -> TxParams:
    return {
        "from": sender,
        "nonce": Nonce(nonce),
        "gas": gas,
        "chainId": chain_id,
        "maxFeePerGas": Wei(fees["maxFeePerGas"]),
        "maxPriorityFeePerGas": Wei(fees["maxPriorityFeePerGas"]),
    }


def _wei(gwei: float | None) -> int | None:
    return None if gwei is None else int(gwei * GWEI)


def _hex(value: Any) -> str:
    h = HexBytes(value).hex()
    return h if h.startswith("0x") else "0x" + h


def _receipt(raw: Any) -> Receipt:
    return Receipt(
        tx_hash=_hex(raw["transactionHash"]),
        status=int(raw["status"]),
        block_number=int(raw["blockNumber"]),
        gas_used=int(raw["gasUsed"]),
        effective_gas_price=int(raw.get("effectiveGasPrice") or 0),
    )
