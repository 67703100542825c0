"""Exactly one active anchor worker per database.

PostgreSQL: a session-level advisory lock (``pg_try_advisory_lock``) taken on a dedicated
connection that the worker holds for its lifetime; if that connection dies the lock is gone
and ``is_held`` says so. SQLite: ``fcntl.flock`` on ``anchor-worker.lock`` next to the
database file (the data folder by default). The operating system drops either lock when
the process dies, however it dies.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from pathlib import Path
from typing import IO

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import SQLAlchemyError

from ledger.store.db import is_sqlite

LOCK_NAME = b"ocop-ledger:anchor-worker"
PG_LOCK_KEY = int.from_bytes(hashlib.sha256(LOCK_NAME).digest()[:8], "big", signed=True)


class WorkerLock:
    def __init__(self, engine: Engine, data_dir: Path) -> None:
        self.engine = engine
        self.path = _lock_path(engine, data_dir)
        self._file: IO[str] | None = None
        self._conn: Connection | None = None

    def describe(self) -> str:
        return f"flock {self.path}" if self.path else f"PostgreSQL advisory lock {PG_LOCK_KEY}"

    def acquire(self) -> bool:
        """Take the lock without waiting; True if this process holds it now."""
        if self.is_held():
            return True
        return self._acquire_file() if self.path else self._acquire_pg()

    def _acquire_file(self) -> bool:
        assert self.path is not None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        f = self.path.open("a+")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.close()
            return False
        f.seek(0)
        f.truncate()
        f.write(f"{os.getpid()}\n")
        f.flush()
        self._file = f
        return True

    def _acquire_pg(self) -> bool:
        conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": PG_LOCK_KEY}).scalar_one())
        except SQLAlchemyError:
            conn.close()
            raise
        if not got:
            conn.close()
            return False
        self._conn = conn
        return True

    def is_held(self) -> bool:
        if self._file is not None:
            return True
        if self._conn is None:
            return False
        try:
            self._conn.execute(text("SELECT 1"))
            return True
        except SQLAlchemyError:  # the session (and its lock) is gone
            self._drop_conn()
            return False

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": PG_LOCK_KEY})
            except SQLAlchemyError:
                pass
            self._drop_conn()

    def _drop_conn(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except SQLAlchemyError:
                pass
            self._conn = None


def _lock_path(engine: Engine, data_dir: Path) -> Path | None:
    if not is_sqlite(engine):
        return None
    db = engine.url.database
    if db and db != ":memory:" and not db.startswith("file:"):
        return Path(db).resolve().parent / "anchor-worker.lock"
    return data_dir / "anchor-worker.lock"
