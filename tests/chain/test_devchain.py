"""The local chain, deployments, keys from settings, and ``ocop-ledger up`` end to end (real anvil)."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account

from ledger.chain.client import ANVIL_DEV_KEY, ChainClient, make_web3
from ledger.chain.devchain import Devchain, connect, ensure_deployed, find_anvil, load_account, load_deployments
from ledger.errors import ConfigError
from tests.chain.support import Proc, cli_env, free_port, run_cli, send_value, settings_for

pytestmark = pytest.mark.chain
ROOT = b"\x42" * 32


def test_find_anvil_says_how_to_install_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="run `npm ci` in the project root"):
        find_anvil(tmp_path / "no-anvil")


def test_dev_key_only_on_the_devchain(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    dev = load_account(settings, 31337)
    assert dev is not None and dev.key == Account.from_key(ANVIL_DEV_KEY).key
    assert load_account(settings, 11155111) is None  # Sepolia: no default key, ever


def test_key_from_env_and_from_keystore(tmp_path: Path) -> None:
    acct = Account.create()
    assert load_account(settings_for(tmp_path, anchor_key=acct.key.hex()), 1).address == acct.address  # type: ignore[union-attr]
    keystore = tmp_path / "key.json"
    keystore.write_text(json.dumps(Account.encrypt(acct.key, "s3cret", iterations=2)))
    (tmp_path / "pw").write_text("s3cret\n")
    pw_file = tmp_path / "pw"
    got = load_account(settings_for(tmp_path, anchor_keystore=keystore, anchor_keystore_password_file=pw_file), 1)
    assert got is not None and got.address == acct.address
    with pytest.raises(ConfigError, match="anchoring key is unusable"):
        load_account(settings_for(tmp_path, anchor_keystore=keystore, anchor_keystore_password="wrong"), 1)
    with pytest.raises(ConfigError, match="PASSWORD"):
        load_account(settings_for(tmp_path, anchor_keystore=keystore), 1)


def test_devchain_refuses_a_taken_port(anvil: Devchain, anvil_bin: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="already answers"):
        Devchain(anvil_bin, anvil.port, tmp_path / "other.json").start()


def test_anchors_survive_a_clean_restart_and_a_hard_kill(anvil: Devchain, anvil_account: Any) -> None:
    client, _ = ChainClient.deploy(make_web3(anvil.url), anvil_account)
    client.wait_receipt(client.send_anchor(ROOT, 7))
    anvil.stop()
    anvil.start()
    assert client.latest_tree_size() == 7 and client.root_at(7) == ROOT
    client.wait_receipt(client.send_anchor(b"\x43" * 32, 9))
    time.sleep(1.5)  # --state-interval 1: the state is dumped every second
    assert anvil.proc is not None
    anvil.proc.kill()
    anvil.proc.wait()
    anvil.start()
    assert client.latest_tree_size() == 9 and client.root_at(7) == ROOT


def test_deploy_reuses_a_live_contract_and_redeploys_on_a_reset_chain(
    anvil: Devchain, anvil_bin: Path, anvil_account: Any, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    first = ensure_deployed(make_web3(anvil.url), anvil_account, data)
    again = ensure_deployed(make_web3(anvil.url), anvil_account, data)
    assert (first["reused"], again["reused"], again["address"]) == (False, True, first["address"])
    assert load_deployments(data)["31337"]["address"] == first["address"]
    with Devchain(anvil_bin, free_port(), tmp_path / "fresh.json") as fresh:  # a reset chain: no code there
        w3 = make_web3(fresh.url)
        send_value(w3, 0, anvil_account.address, 1)  # move the deployer's nonce: the new contract lands elsewhere
        redeployed = ensure_deployed(w3, anvil_account, data)
        assert redeployed["reused"] is False and redeployed["address"] != first["address"]
        assert load_deployments(data)["31337"]["address"] == redeployed["address"]


def test_connect_checks_the_chain_id(anvil: Devchain, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="wrong chain: expected 11155111, got 31337"):
        connect(settings_for(tmp_path, rpc_url=anvil.url, chain_id=11155111))
    with pytest.raises(ConfigError, match="run `ocop-ledger deploy`"):
        connect(settings_for(tmp_path, rpc_url=anvil.url))


@pytest.mark.slow
def test_up_seeds_anchors_and_verifies_then_stops_cleanly(anvil_bin: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = cli_env(data, "", LEDGER_DEVCHAIN_PORT=str(free_port()), LEDGER_ANVIL_BIN=str(anvil_bin))
    del env["LEDGER_RPC_URL"]
    up = Proc(["up", "--port", str(free_port())], env, tmp_path, tmp_path / "up.log")
    try:
        up.wait_for("running; Ctrl-C stops everything", timeout=90)
    finally:
        code = up.stop(signal.SIGINT)
    out = up.text()
    assert code == 0, out
    assert "seeded the demo data set" in out and "VERIFIED" in out and "devchain stopped, state saved" in out
    lot = next(line.split()[1].rstrip(":") for line in out.splitlines() if line.startswith("lot "))
    assert (data / "anvil-state.json").exists() and (data / "deployments.json").exists()
    # the anchors survive: start the devchain alone and verify from the CLI
    with Devchain(anvil_bin, int(env["LEDGER_DEVCHAIN_PORT"]), data / "anvil-state.json"):
        res = run_cli(["verify", lot], env, tmp_path)
    assert res.returncode == 0 and "VERIFIED" in res.stdout, res.stdout + res.stderr


def test_the_projects_anvil_is_found_from_any_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ledger.chain.devchain import PROJECT_ROOT

    assert (PROJECT_ROOT / "pyproject.toml").is_file()  # the module's idea of the project root is the root
    if not (PROJECT_ROOT / "node_modules/.bin/anvil").exists():
        pytest.skip("anvil is not installed (npm ci)")
    monkeypatch.chdir(tmp_path)  # `ocop-ledger up` started from another folder
    assert find_anvil() == PROJECT_ROOT / "node_modules/.bin/anvil"
