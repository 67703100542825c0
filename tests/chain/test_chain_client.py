"""The chain adapter on both backends: deploy, anchor, reads, events, and normalized errors."""

from __future__ import annotations

from typing import Any

import pytest
from eth_account import Account

from ledger.chain.client import ZERO_ROOT, AnchorRevert, ChainClient, make_web3
from ledger.chain.rpc import RpcChain
from ledger.core.ports import AnchorTx, ChainReader
from ledger.errors import AnchorError
from tests.chain.support import free_port, send_value

pytestmark = pytest.mark.chain

ROOT_A = bytes.fromhex("11" * 32)
ROOT_B = bytes.fromhex("22" * 32)


@pytest.fixture(params=["eth-tester", pytest.param("anvil", marks=pytest.mark.slow)])
def client(request: pytest.FixtureRequest) -> ChainClient:
    """A freshly deployed contract with a signing client, on each backend."""
    name = "tester_chain" if request.param == "eth-tester" else "anvil_chain"
    return request.getfixturevalue(name)  # type: ignore[no-any-return]


def test_fresh_contract_has_nothing_anchored(client: ChainClient) -> None:
    assert client.has_code()
    assert client.latest_tree_size() == 0
    assert client.latest_root() == ZERO_ROOT
    assert client.root_at(1) == ZERO_ROOT
    assert client.sender is not None and client.is_anchorer(client.sender)


def test_anchor_then_read_back(client: ChainClient) -> None:
    receipt = client.wait_receipt(client.send_anchor(ROOT_A, 5))
    client.wait_receipt(client.send_anchor(ROOT_B, 9))
    assert receipt.status == 1 and receipt.gas_used < 100_000
    assert client.latest_tree_size() == 9
    assert (client.root_at(5), client.root_at(9), client.latest_root()) == (ROOT_A, ROOT_B, ROOT_B)
    assert client.root_at(7) == ZERO_ROOT
    events = client.anchored_events()
    me = client.sender
    assert [(e.tree_size, e.root, e.anchorer) for e in events] == [(5, ROOT_A, me), (9, ROOT_B, me)]
    assert events[0].tx_hash == receipt.tx_hash and events[0].block_number == receipt.block_number
    found = client.find_anchor_event(9)
    assert found is not None and found.root == ROOT_B
    assert client.find_anchor_event(7) is None
    assert client.block_time(receipt.block_number) == events[0].timestamp


def test_anchor_after_the_first_costs_at_most_55k_gas(client: ChainClient) -> None:
    client.wait_receipt(client.send_anchor(ROOT_A, 1))
    receipts = [client.wait_receipt(client.send_anchor(bytes([i]) * 32, 10**i)) for i in range(2, 8)]
    assert max(r.gas_used for r in receipts) <= 55_000


def test_signed_hash_is_known_before_sending(client: ChainClient) -> None:
    signed = client.sign_anchor(ROOT_A, 3)
    assert client.receipt(signed.tx_hash) is None and not client.is_known(signed.tx_hash)
    assert client.broadcast(signed) == signed.tx_hash
    assert client.wait_receipt(signed.tx_hash).tx_hash == signed.tx_hash


def test_tree_size_not_increasing_is_normalized(client: ChainClient) -> None:
    client.wait_receipt(client.send_anchor(ROOT_A, 5))
    with pytest.raises(AnchorRevert, match=r"TreeSizeNotIncreasing\(latest=5, given=5\)") as info:
        client.check_anchor(ROOT_B, 5)
    assert info.value.error == "TreeSizeNotIncreasing" and info.value.values == {"latest": 5, "given": 5}


def test_not_anchorer_is_normalized(client: ChainClient) -> None:
    stranger = Account.create()
    w3 = client.w3
    send_value(w3, 1, stranger.address, 10**18)
    other = ChainClient(w3, client.address, stranger)
    with pytest.raises(AnchorRevert, match="NotAnchorer") as info:
        other.check_anchor(ROOT_A, 1)
    assert info.value.error == "NotAnchorer" and info.value.values["caller"] == stranger.address


def test_zero_root_is_normalized(client: ChainClient) -> None:
    with pytest.raises(AnchorRevert, match=r"ZeroRoot\(\)"):
        client.check_anchor(ZERO_ROOT, 1)


def test_mined_revert_with_explicit_gas_raises(client: ChainClient) -> None:
    """With an explicit gas limit a reverting anchor is mined with status 0: that is a revert too."""
    client.wait_receipt(client.send_anchor(ROOT_A, 5))
    tx = client.send_anchor(ROOT_B, 4)  # send_anchor does not simulate first
    receipt = client.receipt(tx)
    assert receipt is not None and receipt.status == 0
    with pytest.raises(AnchorRevert, match="expected status 1, got 0"):
        client.wait_receipt(tx)
    assert client.latest_tree_size() == 5


def test_read_only_client_refuses_to_send(client: ChainClient) -> None:
    reader = ChainClient(client.w3, client.address)
    assert reader.latest_tree_size() == 0
    with pytest.raises(AnchorError, match="read-only"):
        reader.send_anchor(ROOT_A, 1)


def test_fees_from_settings_are_used(tester_chain: ChainClient) -> None:
    fixed = ChainClient(
        tester_chain.w3, tester_chain.address, tester_chain.account, max_fee_gwei=50, priority_fee_gwei=2
    )
    assert fixed.fees() == {"maxFeePerGas": 50 * 10**9, "maxPriorityFeePerGas": 2 * 10**9}
    auto = tester_chain.fees()
    assert auto["maxFeePerGas"] >= auto["maxPriorityFeePerGas"] > 0


def test_gas_limit_is_bounded(tester_chain: ChainClient) -> None:
    with pytest.raises(ValueError, match="anchor gas must be between"):
        ChainClient(tester_chain.w3, tester_chain.address, gas=5_000_000)


def test_unreachable_rpc_is_an_anchor_error() -> None:
    dead = ChainClient(make_web3(f"http://127.0.0.1:{free_port()}", timeout=2), "0x" + "00" * 20)
    with pytest.raises(AnchorError, match=r"latestTreeSize\(\) failed: ConnectionError") as info:
        dead.latest_tree_size()
    assert info.value.__cause__ is not None
    with pytest.raises(AnchorError, match="chain id"):
        _ = dead.chain_id


def test_unknown_transaction_has_no_receipt(tester_chain: ChainClient) -> None:
    assert tester_chain.receipt("0x" + "ab" * 32) is None


def _deploy_twice(w3: Any, account: Any) -> None:
    a, _ = ChainClient.deploy(w3, account)
    b, _ = ChainClient.deploy(w3, account)
    assert a.address != b.address


def test_deploy_twice_gives_two_contracts(tester_w3: Any, tester_account: Any) -> None:
    _deploy_twice(tester_w3, tester_account)


def test_the_client_and_the_rpc_reader_are_chain_readers(client: ChainClient) -> None:
    """Both implement ``ledger.core.ports.ChainReader``, the one interface the verifiers read."""
    receipt = client.wait_receipt(client.send_anchor(ROOT_A, 5))
    reader: ChainReader = client
    assert reader.anchor_tx(receipt.tx_hash) == AnchorTx(receipt.block_number, True, [(client.address, 5, ROOT_A)])
    assert reader.anchor_tx("0x" + "00" * 32) is None
    again = reader.at(client.address)
    assert (again.chain_id, again.latest_tree_size(), again.root_at(5)) == (client.chain_id, 5, ROOT_A)
    url = getattr(client.w3.provider, "endpoint_uri", None)
    if url is None:  # eth-tester has no JSON-RPC endpoint
        return
    rpc: ChainReader = RpcChain(str(url)).at(client.address)
    assert (rpc.chain_id, rpc.latest_tree_size(), rpc.root_at(5), rpc.root_at(7)) == (
        client.chain_id,
        5,
        ROOT_A,
        ZERO_ROOT,
    )
    tx = rpc.anchor_tx(receipt.tx_hash)
    assert tx is not None and tx.block_number == receipt.block_number and tx.success
    assert [(c.lower(), n, r) for c, n, r in tx.anchored] == [(client.address.lower(), 5, ROOT_A)]
