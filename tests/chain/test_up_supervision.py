"""``up`` supervises its devchain (issue 9, reproduction 7): anvil killed, the API keeps serving.

Before, ``up`` stopped the API and the worker when anvil exited. Now anvil is restarted with the same
``--state`` file after a backoff; meanwhile ``/healthz`` answers and a new event's verdict is ``pending``
(not a 5xx); the worker catches up once anvil is back; SIGTERM to ``up`` leaves no child process.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import httpx
import pytest

from ledger.chain.devchain import DevchainSupervisor
from ledger.errors import ConfigError
from ledger.settings import Settings
from tests.chain.support import MASTER_KEY_B64, Proc, cli_env, free_port, settings_for, wait_until


class FakeChain:
    """A devchain whose process exits when the test says, and whose start may fail."""

    url, state_file, log_file = "http://127.0.0.1:1", Path("state.json"), Path("anvil.log")

    def __init__(self) -> None:
        self.alive, self.starts, self.fail_next = True, 0, 0
        self.proc: Any = type("P", (), {"returncode": -9})()

    def running(self) -> bool:
        return self.alive

    def start(self, timeout: float = 20.0) -> None:
        self.starts += 1
        if self.fail_next:
            self.fail_next -= 1
            raise ConfigError("anvil exited with code 1 on start")
        self.alive = True


def test_the_supervisor_restarts_after_a_pause_that_grows_and_resets() -> None:
    now = [0.0]
    chain, said = FakeChain(), []
    sup = DevchainSupervisor(chain, said.append, backoff_max=4.0, clock=lambda: now[0])  # type: ignore[arg-type]
    sup.check()
    assert chain.starts == 0 and not said
    chain.alive = False
    sup.check()  # noticed: a restart is scheduled in 1 s, not at once
    assert chain.starts == 0 and "anvil exited (code -9)" in said[-1] and "in 1 s" in said[-1]
    now[0] = 1.0
    chain.fail_next = 1
    sup.check()
    assert chain.starts == 1 and "restart failed" in said[-1] and "next try in 2 s" in said[-1]
    now[0] = 2.5
    sup.check()
    assert chain.starts == 1  # still pausing
    now[0] = 3.0
    sup.check()
    assert chain.starts == 2 and chain.alive and "anvil restarted" in said[-1] and "restart 1" in said[-1]
    chain.alive = False
    sup.check()
    assert "in 4 s" in said[-1]  # a quick second exit waits longer (capped at backoff_max)
    now[0] = 7.0
    sup.check()
    assert chain.alive
    now[0] = 7.0 + DevchainSupervisor.STABLE + 1
    sup.check()  # up for a while: the next exit starts from 1 s again
    chain.alive = False
    sup.check()
    assert "in 1 s" in said[-1]


def _children(pid: int) -> set[int]:
    out: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        out |= {int(p) for p in (task / "children").read_text().split()}
    return out


def _dumped_block(state: Path) -> int:
    """The block number of anvil's last state dump (-1 while there is none or it is being written)."""
    try:
        return int(json.loads(state.read_text())["block"]["number"], 16)
    except (OSError, ValueError, KeyError, TypeError):
        return -1


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.slow
@pytest.mark.chain
def test_up_keeps_serving_while_anvil_is_down_and_restarts_it(anvil_bin: Path, tmp_path: Path) -> None:
    data, api_port = tmp_path / "data", free_port()
    env = cli_env(
        data,
        "",
        LEDGER_DEVCHAIN_PORT=str(free_port()),
        LEDGER_ANVIL_BIN=str(anvil_bin),
        LEDGER_ANCHOR_INTERVAL="1",
        LEDGER_ANCHOR_RETRY_MAX="2",
    )
    del env["LEDGER_RPC_URL"]
    base = f"http://127.0.0.1:{api_port}"
    up = Proc(["up", "--port", str(api_port)], env, tmp_path, tmp_path / "up.log")
    anvils: set[int] = set()
    try:
        up.wait_for("running; Ctrl-C stops everything", timeout=120)
        lot = next(line.split()[1].rstrip(":") for line in up.text().splitlines() if line.startswith("lot "))
        anvils = _children(up.p.pid)
        assert len(anvils) == 1, anvils
        # anvil dumps its state once a second (--state-interval 1): a SIGKILL loses what came after the
        # last dump (TOOLCHAIN.md). Kill it once the dump holds the deployed contract and the anchor.
        wait_until(lambda: _dumped_block(data / "anvil-state.json") >= 2, timeout=10, what="anvil's state dump")
        os.kill(next(iter(anvils)), signal.SIGKILL)  # anvil, up's only child, dies hard
        up.wait_for("anvil exited", timeout=10)
        assert httpx.get(base + "/healthz", timeout=10).status_code == 200
        _record_event(data, lot)
        r = httpx.get(f"{base}/api/v1/lots/{lot}/verify", timeout=30)
        assert r.status_code == 200, r.text
        # issue 11: while anvil is down the chain cannot answer: unverifiable (was "pending"); once up's
        # supervisor has restarted it, the new event is pending; never tampered
        assert r.json()["verdict"] in ("unverifiable", "pending")
        up.wait_for("anvil restarted", timeout=30)
        anvils |= _children(up.p.pid)
        assert len(anvils) == 2 and up.p.poll() is None
        wait_until(
            lambda: httpx.get(f"{base}/api/v1/lots/{lot}/verify", timeout=30).json()["verdict"] == "verified",
            timeout=60,
            what="the worker to anchor the event recorded while anvil was down",
        )
    finally:
        code = up.stop(signal.SIGTERM, timeout=30)
    out = up.text()
    assert code == 0, out
    assert "devchain stopped, state saved" in out
    assert [pid for pid in anvils if _alive(pid)] == [], out  # no orphaned anvil


def _record_event(data: Path, lot: str) -> None:
    """An event on the demo lot while anvil is down (the same SQLite file ``up`` serves)."""
    from ledger.service import Ledger

    settings: Settings = settings_for(data)
    assert settings.master_key == MASTER_KEY_B64
    led = Ledger.open(settings)
    try:
        org = int(led.get_lot(lot)["org_id"])
        event = {
            "type": "ObjectEvent",
            "action": "OBSERVE",
            "bizStep": "storing",
            "eventTime": "2026-07-09T06:30:00+07:00",
        }
        led.record(org, [{"lot": lot, "event": event}])
    finally:
        led.engine.dispose()
