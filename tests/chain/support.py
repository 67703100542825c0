"""Helpers for the chain tests: ledgers with entries, free ports, the CLI in a subprocess."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ledger.core.records import OrganizationCreate, ProductCreate
from ledger.service import Ledger
from ledger.settings import Settings

MASTER_KEY_B64 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="  # bytes 0..31


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def send_value(w3: Any, sender_index: int, to: str, value: int) -> None:
    """Send ETH from one of the node's unlocked accounts (eth-tester and anvil both have them)."""
    w3.eth.wait_for_transaction_receipt(
        w3.eth.send_transaction({"from": w3.eth.accounts[sender_index], "to": to, "value": value})
    )


# --- ledgers -------------------------------------------------------------------------------


def settings_for(data_dir: Path, **extra: Any) -> Settings:
    return Settings(data_dir=data_dir, master_key=MASTER_KEY_B64, _env_file=None, **extra)


def open_ledger(data_dir: Path, database_url: str | None = None) -> Ledger:
    """A ledger of lot events only (master data stays out of the log): these tests pin tree sizes."""
    return Ledger.open(settings_for(data_dir, database_url=database_url), log_masterdata=False)


@dataclass
class Farm:
    """One cooperative with one product; ``add`` appends events, ``new_lot`` starts a lot."""

    ledger: Ledger
    org: str = "htx-phu-hoi"
    gtin: str = "08930000045676"
    lots: int = 0

    def setup(self) -> Farm:
        self.ledger.create_org(OrganizationCreate(name="HTX Thanh long Phú Hội", slug=self.org))
        self.ledger.create_product(self.org, ProductCreate(gtin=self.gtin, name_vi="Thanh long ruột đỏ"))
        return self

    def new_lot(self) -> str:
        self.lots += 1
        lot = self.ledger.create_lot(
            self.org, {"gtin": self.gtin, "code": f"PH-{self.lots:04d}", "event_time": "2026-07-01T06:30:00+07:00"}
        )
        return str(lot["lot_id"])

    def add(self, lot: str, n: int) -> None:
        """Append ``n`` events to ``lot`` (in batches of at most 1000)."""
        ev = {
            "type": "ObjectEvent",
            "action": "OBSERVE",
            "bizStep": "storing",
            "eventTime": "2026-07-02T06:30:00+07:00",
        }
        while n > 0:
            k = min(n, 1000)
            self.ledger.record(self.org, [{"lot": lot, "event": ev}] * k)
            n -= k


# --- the CLI in a subprocess ---------------------------------------------------------------

CLI = [sys.executable, "-c", "from ledger.cli.app import main; main()"]


def cli_env(data_dir: Path, rpc_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    env.update(
        LEDGER_DATA_DIR=str(data_dir),
        LEDGER_RPC_URL=rpc_url,
        LEDGER_MASTER_KEY=MASTER_KEY_B64,
        PYTHONPATH=str(Path(__file__).resolve().parents[2]),
        **extra,
    )
    return env


def run_cli(args: list[str], env: dict[str, str], cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)


class Proc:
    """A long-running CLI subprocess whose output goes to a file the test can read."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path, log: Path) -> None:
        self.log = log
        self._out = log.open("w")
        self.p = subprocess.Popen([*CLI, *args], env=env, cwd=cwd, stdout=self._out, stderr=subprocess.STDOUT)

    def text(self) -> str:
        return self.log.read_text()

    def wait_for(self, needle: str, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while needle not in self.text():
            if self.p.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{needle!r} not seen (exit {self.p.poll()}):\n{self.text()}")
            time.sleep(0.1)

    def stop(self, sig: int = 15, timeout: float = 15) -> int:
        if self.p.poll() is None:
            self.p.send_signal(sig)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self._out.close()
        return int(self.p.returncode)


def wait_until(cond: Callable[[], Any], timeout: float = 20, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)
