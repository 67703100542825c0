"""A bad ``LEDGER_*`` setting stops a command with its variable's name, the value and what to fix:
one line per setting on stderr, exit code 2, no traceback, nothing started or written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def _cli(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    clean.update(LEDGER_DATA_DIR=str(tmp_path / "data"), **env)
    return subprocess.run(
        [sys.executable, "-m", "ledger.cli", *args], env=clean, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    "name,value,says",
    [
        ("LEDGER_SEQUENCER_MIN_WAIT_MS", "-1", "greater than or equal to 0"),
        ("LEDGER_SEQUENCER_MAX_BATCH", "abc", "valid integer"),
        ("LEDGER_RATE_LIMIT", "-5", "greater than or equal to 0"),  # an API setting, checked before any worker
    ],
)
def test_serve_refuses_a_bad_setting_by_name(tmp_path: Path, name: str, value: str, says: str) -> None:
    r = _cli(tmp_path, "serve", "--port", "1", "--workers", "2", **{name: value})
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith("error: bad setting:")
    assert f"{name}={value!r}" in r.stderr and says in r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "data").exists()


def test_every_bad_setting_is_listed(tmp_path: Path) -> None:
    r = _cli(tmp_path, "audit", LEDGER_SEQUENCER_MIN_WAIT_MS="-1", LEDGER_SEQUENCER_MAX_WAIT_MS="x")
    assert r.returncode == 2 and r.stderr.startswith("error: bad settings:")
    assert "LEDGER_SEQUENCER_MIN_WAIT_MS='-1'" in r.stderr and "LEDGER_SEQUENCER_MAX_WAIT_MS='x'" in r.stderr
    assert not (tmp_path / "data").exists()  # nothing created
