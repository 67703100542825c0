"""``ocop-ledger serve --workers 2``: each worker listens on its own ``SO_REUSEPORT`` socket
(``ledger.cli.workers``), so keep-alive clients are spread over both, also after a worker dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from ledger.cli.workers import reuse_port_available
from ledger.service import Ledger
from tests.hardening import server

pytestmark = pytest.mark.skipif(not reuse_port_available(), reason="no SO_REUSEPORT on this system")
CLIENTS = 40


def _children(pid: int) -> set[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return {int(x) for x in out.split()}


def _connections_by_pid(port: int, pids: set[int]) -> dict[int, int]:
    """Established TCP connections on the server's ``port`` held by each of ``pids`` (from /proc)."""
    inodes: dict[str, int] = {}
    for pid in pids:
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
                if link.startswith("socket:["):
                    inodes[link[8:-1]] = pid
        except OSError:
            continue
    counts = dict.fromkeys(pids, 0)
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(name).read_text().splitlines()[1:]:
            f = line.split()
            local_port, state, inode = int(f[1].rsplit(":", 1)[1], 16), f[3], f[9]
            if local_port == port and state == "01" and inode in inodes:  # 01: ESTABLISHED
                counts[inodes[inode]] += 1
    return counts


def _workers(srv: server.Server, n: int, timeout: float = 60.0) -> set[int]:
    """The worker processes (the children that hold a listening socket), once there are ``n``."""
    assert srv.proc is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        kids = {k for k in _children(srv.proc.pid) if _listens(k, srv.port)}
        if len(kids) == n:
            return kids
        time.sleep(0.2)
    raise AssertionError(f"expected {n} workers, log:\n{srv.text()}")


def _listens(pid: int, port: int) -> bool:
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
            if link.startswith("socket:["):
                inodes.add(link[8:-1])
    except OSError:
        return False
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        f = line.split()
        if int(f[1].rsplit(":", 1)[1], 16) == port and f[3] == "0A" and f[9] in inodes:  # 0A: LISTEN
            return True
    return False


def _spread(srv: server.Server, workers: set[int]) -> dict[int, int]:
    clients = [httpx.Client(base_url=srv.url, timeout=10) for _ in range(CLIENTS)]
    try:
        for c in clients:
            assert c.get("/healthz").status_code == 200
        return _connections_by_pid(srv.port, workers)
    finally:
        for c in clients:
            c.close()


def test_keep_alive_clients_are_spread_over_both_workers(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    led = Ledger.open(server.settings(tmp_path, url))
    led.engine.dispose()
    with server.Server(tmp_path, url, tmp_path, "--workers", "2") as srv:
        workers = _workers(srv, 2)
        counts = _spread(srv, workers)
        assert sum(counts.values()) == CLIENTS, counts
        # binomial(40, 1/2): each side below 8 has a probability under 1e-5
        assert min(counts.values()) >= 8, counts

        victim = min(workers)
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            now = _workers(srv, 2)
            if victim not in now:
                break
            time.sleep(0.2)
        assert victim not in now and len(now) == 2
        deadline = time.monotonic() + 60  # the replacement answers on the dead worker's socket
        while time.monotonic() < deadline and min(_spread(srv, now).values()) < 8:
            time.sleep(0.5)
        assert min(_spread(srv, now).values()) >= 8

        second = subprocess.run(
            [str(Path(sys.executable).with_name("ocop-ledger")), "serve", "--port", str(srv.port), "--workers", "2"],
            env=srv.env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode != 0
        assert f"cannot listen on 127.0.0.1:{srv.port}" in second.stderr
