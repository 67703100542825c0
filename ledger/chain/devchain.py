"""The local chain (anvil), contract deployments per chain id, and chain clients from settings.

``Devchain`` runs anvil from the project's ``node_modules`` (npm package ``@foundry-rs/anvil``)
on 127.0.0.1 with ``--state`` in the data folder and ``--state-interval 1``, so anchors survive
restarts and a hard kill loses at most a second. The hardfork is not part of the state file, so
``--hardfork prague`` is passed on every start.

Deployments are recorded in ``<data_dir>/deployments.json`` as
``{"<chain id>": {"address", "tx", "block", "deployer", "deployed_at"}}``.

The anchoring key comes from ``LEDGER_ANCHOR_KEY`` or an encrypted keystore
(``LEDGER_ANCHOR_KEYSTORE`` + password). Only on chain id 31337 (the local devchain) does it
default to anvil's first well-known development key; on every other chain there is no default.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3

from ledger.chain.client import ANVIL_DEV_KEY, DEV_CHAIN_ID, ChainClient, make_web3, rpc
from ledger.errors import ConfigError
from ledger.settings import Settings

PROJECT_ROOT = Path(__file__).resolve().parents[2]  # ledger/chain/devchain.py → the project root
HARDFORK = "prague"


def find_anvil(explicit: Path | None = None) -> Path:
    """The anvil binary: ``explicit`` (LEDGER_ANVIL_BIN), else ``node_modules/.bin/anvil`` of the project."""
    candidates = (
        [explicit] if explicit else [PROJECT_ROOT / "node_modules/.bin/anvil", Path.cwd() / "node_modules/.bin/anvil"]
    )
    for path in candidates:
        if path is not None and path.is_file() and os.access(path, os.X_OK):
            return path
    shown = ", ".join(str(p) for p in candidates)
    raise ConfigError(
        f"anvil not found (looked at {shown}): run `npm ci` in the project root to install @foundry-rs/anvil, "
        "or set LEDGER_ANVIL_BIN"
    )


def rpc_chain_id(url: str, timeout: float = 0.5) -> int | None:
    """The chain id served at ``url``, or None if nothing answers there."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}).encode()
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return int(json.loads(resp.read())["result"], 16)
    except (OSError, ValueError, KeyError, urllib.error.URLError):
        return None


class Devchain:
    """One anvil process on 127.0.0.1:``port`` with its state in ``state_file``."""

    def __init__(self, anvil: Path, port: int, state_file: Path, log_file: Path | None = None) -> None:
        self.anvil, self.port, self.state_file, self.log_file = anvil, port, state_file, log_file
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @classmethod
    def from_settings(cls, settings: Settings, port: int | None = None) -> Devchain:
        data = settings.data_dir
        return cls(
            find_anvil(settings.anvil_bin),
            port or settings.devchain_port,
            data / "anvil-state.json",
            data / "anvil.log",
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        return [
            str(self.anvil),
            *("--host", "127.0.0.1", "--port", str(self.port), "--chain-id", str(DEV_CHAIN_ID)),
            *("--hardfork", HARDFORK, "--state", str(self.state_file), "--state-interval", "1"),
        ]

    def start(self, timeout: float = 20.0) -> None:
        """Start anvil and wait until it answers; refuse if the port is taken."""
        if rpc_chain_id(self.url) is not None:
            raise ConfigError(f"something already answers at {self.url}: stop it or choose another port")
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        self._close_log()
        if self.log_file is not None:
            self._log = self.log_file.open("ab")
        out = self._log if self._log is not None else subprocess.DEVNULL
        self.proc = subprocess.Popen(self.command(), stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while rpc_chain_id(self.url) is None:
            if self.proc.poll() is not None:
                self._close_log()
                raise ConfigError(f"anvil exited with code {self.proc.returncode} on start; see {self.log_file}")
            if time.monotonic() > deadline:
                self.stop()
                raise ConfigError(f"anvil did not answer at {self.url} within {timeout:.0f} s; see {self.log_file}")
            time.sleep(0.05)

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM so anvil dumps its state; SIGKILL only if it does not exit in time."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._close_log()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> Devchain:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class DevchainSupervisor:
    """Keeps ``up``'s devchain running: when anvil exits (crash or kill) it is restarted with the
    same ``--state`` file, so anchors survive, after a pause that doubles on each quick exit
    (1 s up to ``backoff_max``). Meanwhile the API keeps serving (verdicts ``pending``) and the
    anchor worker backs off as it does against any unreachable chain, then catches up.
    ``check`` is called from ``up``'s main loop; ``say`` reports exits and restarts."""

    STABLE = 60.0  # seconds up after which the next exit starts again from the shortest pause

    def __init__(
        self,
        chain: Devchain,
        say: Callable[[str], None],
        backoff_max: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.chain, self.say, self.backoff_max, self.clock = chain, say, backoff_max, clock
        self.backoff, self.restarts = 1.0, 0
        self.next_try: float | None = None
        self.up_since = clock()

    def check(self) -> None:
        """Notice an exit, restart when the pause is over; cheap when anvil is running."""
        now = self.clock()
        if self.chain.running():
            if now - self.up_since > self.STABLE:
                self.backoff = 1.0
            return
        if self.next_try is None:
            code = self.chain.proc.returncode if self.chain.proc is not None else None
            self.say(
                f"anvil exited (code {code}); the API keeps serving and verdicts stay pending; "
                f"restarting it in {self.backoff:.0f} s (see {self.chain.log_file})"
            )
            self.next_try = now + self.backoff
        elif now >= self.next_try:
            self._restart()

    def _restart(self) -> None:
        self.backoff = min(self.backoff * 2, self.backoff_max)
        try:
            self.chain.start(timeout=10.0)
        except ConfigError as exc:
            self.next_try = self.clock() + self.backoff
            self.say(f"anvil restart failed: {exc}; next try in {self.backoff:.0f} s")
            return
        self.restarts += 1
        self.next_try, self.up_since = None, self.clock()
        self.say(
            f"anvil restarted at {self.chain.url} with state {self.chain.state_file} "
            f"(restart {self.restarts}); anchoring resumes"
        )


# --- deployments ------------------------------------------------------------------------


def deployments_file(data_dir: Path) -> Path:
    return data_dir / "deployments.json"


def load_deployments(data_dir: Path) -> dict[str, dict[str, Any]]:
    path = deployments_file(data_dir)
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ConfigError(f"{path} is not valid JSON: {exc}") from exc
    return data if isinstance(data, dict) else {}


def record_deployment(data_dir: Path, chain_id: int, info: dict[str, Any]) -> None:
    data = load_deployments(data_dir)
    data[str(chain_id)] = info
    path = deployments_file(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def ensure_deployed(w3: Web3, account: LocalAccount, data_dir: Path, *, force: bool = False) -> dict[str, Any]:
    """Reuse the recorded contract if it has code on chain; deploy (and record) otherwise."""
    with rpc("reading the chain id"):
        chain_id = int(w3.eth.chain_id)
    known = load_deployments(data_dir).get(str(chain_id))
    if known and not force:
        with rpc("reading the recorded contract's code"):
            has_code = len(w3.eth.get_code(Web3.to_checksum_address(known["address"]))) > 0
        if has_code:
            return {**known, "chain_id": chain_id, "reused": True}
    client, receipt = ChainClient.deploy(w3, account)
    info = {
        "address": client.address,
        "tx": receipt.tx_hash,
        "block": receipt.block_number,
        "deployer": account.address,
        "deployed_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    record_deployment(data_dir, chain_id, info)
    return {**info, "chain_id": chain_id, "reused": False}


# --- clients from settings --------------------------------------------------------------


def rpc_url(settings: Settings) -> str:
    return settings.rpc_url or f"http://127.0.0.1:{settings.devchain_port}"


def load_account(settings: Settings, chain_id: int) -> LocalAccount | None:
    """The anchoring account: key, else keystore, else (chain id 31337 only) anvil's dev key."""
    key: Any = None
    try:
        if settings.anchor_key is not None:
            key = settings.anchor_key.get_secret_value().strip()
        elif settings.anchor_keystore is not None:
            keystore = json.loads(settings.anchor_keystore.read_text(encoding="utf-8"))
            key = Account.decrypt(keystore, _keystore_password(settings))
        elif chain_id == DEV_CHAIN_ID:
            key = ANVIL_DEV_KEY
        else:
            return None
        account: LocalAccount = Account.from_key(key)
    except (OSError, ValueError, TypeError) as exc:
        raise ConfigError(f"anchoring key is unusable: {type(exc).__name__}: {exc}") from exc
    return account


def _keystore_password(settings: Settings) -> str:
    if settings.anchor_keystore_password is not None:
        return settings.anchor_keystore_password.get_secret_value()
    if settings.anchor_keystore_password_file is not None:
        return settings.anchor_keystore_password_file.read_text(encoding="utf-8").rstrip("\r\n")
    raise ConfigError("LEDGER_ANCHOR_KEYSTORE needs LEDGER_ANCHOR_KEYSTORE_PASSWORD or ..._PASSWORD_FILE")


def chain_id_of(w3: Web3, settings: Settings) -> int:
    """The node's chain id, checked against ``LEDGER_CHAIN_ID`` when that is set."""
    with rpc(f"connecting to {rpc_url(settings)}"):
        chain_id = int(w3.eth.chain_id)
    if settings.chain_id is not None and settings.chain_id != chain_id:
        raise ConfigError(
            f"the RPC at {rpc_url(settings)} serves the wrong chain: expected {settings.chain_id}, got {chain_id}"
        )
    return chain_id


def connect(settings: Settings, *, signer: bool = True, timeout: float = 10.0) -> ChainClient:
    """A chain client for the configured chain and contract (read-only when ``signer`` is False)."""
    w3 = make_web3(rpc_url(settings), timeout)
    chain_id = chain_id_of(w3, settings)
    address = settings.contract_address
    if address is None:
        known = load_deployments(settings.data_dir).get(str(chain_id))
        if not known:
            raise ConfigError(
                f"no contract known on chain {chain_id}: run `ocop-ledger deploy` or set LEDGER_CONTRACT_ADDRESS"
            )
        address = str(known["address"])
    account = load_account(settings, chain_id) if signer else None
    if signer and account is None:
        raise ConfigError(f"no anchoring key for chain {chain_id}: set LEDGER_ANCHOR_KEY or LEDGER_ANCHOR_KEYSTORE")
    return ChainClient(
        w3,
        address,
        account,
        gas=settings.anchor_gas,
        max_fee_gwei=settings.max_fee_gwei,
        priority_fee_gwei=settings.priority_fee_gwei,
    )


def deploy(settings: Settings, *, force: bool = False) -> dict[str, Any]:
    """``ocop-ledger deploy``: deploy to the configured chain (or reuse) and record the address."""
    w3 = make_web3(rpc_url(settings))
    chain_id = chain_id_of(w3, settings)
    account = load_account(settings, chain_id)
    if account is None:
        raise ConfigError(f"no deploying key for chain {chain_id}: set LEDGER_ANCHOR_KEY or LEDGER_ANCHOR_KEYSTORE")
    return ensure_deployed(w3, account, settings.data_dir, force=force)
