"""A real API server in a subprocess (``ocop-ledger serve``) over a seeded ledger, for load and faults.

``seed`` writes organizations, API keys, products and lots with ``Ledger.open`` (the same settings
the server gets); ``Server`` starts ``ocop-ledger serve`` on 127.0.0.1 and a free port, waits for
``/healthz`` and is stopped (SIGTERM, then SIGKILL) by whoever started it. The chain RPC points at a
closed port: verdicts are ``pending``, which is what these tests need.
"""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
from sqlalchemy.engine import make_url

from ledger.core.records import OrganizationCreate, ProductCreate
from ledger.service import Ledger
from ledger.settings import Settings
from ledger.store import apikeys
from ledger.store.db import write_tx
from tests.helpers import gtin

ROOT = Path(__file__).resolve().parents[2]
MASTER_KEY = bytes(range(32))
MASTER_KEY_B64 = base64.b64encode(MASTER_KEY).decode()
PG_URL = os.environ.get("LEDGER_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_env(data_dir: Path, database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    env.update(
        LEDGER_DATA_DIR=str(data_dir),
        LEDGER_DATABASE_URL=database_url,
        LEDGER_MASTER_KEY=MASTER_KEY_B64,
        LEDGER_RATE_LIMIT="0",
        LEDGER_LOG_REQUESTS="false",
        LEDGER_RPC_URL=f"http://127.0.0.1:{free_port()}",  # nothing listens: verdicts stay pending
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def settings(data_dir: Path, database_url: str) -> Settings:
    return Settings(data_dir=data_dir, database_url=database_url, master_key=MASTER_KEY_B64, _env_file=None)  # type: ignore[call-arg]


@dataclass
class Seeded:
    """Producers (org slug → API key), an inspector key, and lots: one per writer plus one shared per org."""

    tokens: dict[str, str] = field(default_factory=dict)
    inspector: str = ""
    own_lots: list[tuple[str, str]] = field(default_factory=list)  # (org, lot)
    shared_lots: dict[str, str] = field(default_factory=dict)  # org → lot


def seed(led: Ledger, *, orgs: int, lots_per_org: int) -> Seeded:
    out = Seeded()
    for n in range(orgs):
        slug = f"htx-{n:02d}"
        org = led.create_org(OrganizationCreate(name=f"HTX số {n}", slug=slug, kind="cooperative"))
        with write_tx(led.engine) as conn:
            out.tokens[slug] = str(apikeys.create(conn, int(org["id"]), "producer")["token"])
        g = gtin(7000 + n)
        led.create_product(slug, ProductCreate(gtin=g, name_vi=f"Sản phẩm {n}"))
        shared = led.create_lot(slug, {"gtin": g, "code": "SHARED", "event_time": "2026-07-01T06:00:00+07:00"})
        out.shared_lots[slug] = str(shared["lot_id"])
        for k in range(lots_per_org):
            lot = led.create_lot(slug, {"gtin": g, "code": f"L-{k:03d}", "event_time": "2026-07-01T06:00:00+07:00"})
            out.own_lots.append((slug, str(lot["lot_id"])))
    insp = led.create_org(OrganizationCreate(name="Quatest 3", slug="quatest-3", kind="inspector"))
    with write_tx(led.engine) as conn:
        out.inspector = str(apikeys.create(conn, int(insp["id"]), "inspector")["token"])
    return out


class Server:
    """``ocop-ledger serve`` in a subprocess; stderr goes to a file the tests read."""

    def __init__(self, data_dir: Path, database_url: str, cwd: Path, *args: str, **env: str) -> None:
        self.args = args  # more ``serve`` options, e.g. "--workers", "2"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = cwd / f"server-{self.port}.log"
        self.env = server_env(data_dir, database_url, **env)
        self.cwd = cwd
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> Server:
        exe = Path(sys.executable).with_name("ocop-ledger")
        with open(self.log, "ab") as err:
            self.proc = subprocess.Popen(
                [str(exe), "serve", "--port", str(self.port), *self.args],
                cwd=self.cwd,
                env=self.env,
                stdout=err,
                stderr=err,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.text()}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code < 500:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server did not come up in {timeout} s:\n{self.text()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flushing."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(10)

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


@contextmanager
def pg_temp_database(base: str = PG_URL) -> Iterator[str]:
    """A fresh PostgreSQL database (dropped afterwards); yields its URL."""
    name = f"ledger_hard_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield make_url(base).set(database=name).render_as_string(hide_password=False)
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def pg_reachable(base: str = PG_URL) -> bool:
    try:
        psycopg.connect(base, connect_timeout=3).close()
        return True
    except psycopg.OperationalError:
        return False
