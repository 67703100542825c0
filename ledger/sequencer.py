"""The sequencer: concurrent append requests coalesced into one transaction per batch.

Each API process runs one. A request is parsed and validated on its own first (``prepare``: a
bad event fails only its request, before it is queued), then ``submit`` queues it and returns a
future. One thread takes the queue in batches, bounded by ``max_wait`` after the first request
arrived and by ``max_batch`` events (a larger request travels alone), appends the batch in one
write transaction (``ledger.store.group_append``: a request that fails at append time rolls back only
itself) and commits. Only then are the futures resolved: acknowledged means committed. If the
commit fails, every request of the batch gets that error and none is acknowledged.

Several processes (``serve --workers N``, replicas) share one database safely: every batch takes
the log-head lock first (``store.lock_head``), so indexes stay gapless and unique.

While requests are waiting when a batch commits the thread keeps its database connection for the
next batch; otherwise it returns it to the pool before answering, as ``write_tx`` would (a
connection idle for ``HOLD_SECONDS`` is never reused, and one that failed is dropped). Taking it
from the pool again costs no round trip under load: the pool pings only connections that sat
unused (``ledger.store.db.make_engine``). On PostgreSQL a batch's write goes with its ``COMMIT``
(``append_requests(..., commit=True)``). It also keeps the Merkle frontier it wrote (``FrontierCache``),
saving the frontier read while no other process appends.

Under load the first request of a batch has usually waited through the previous batch already, so
``max_wait`` alone would close the batch at once, with only what queued meanwhile. ``min_wait``
keeps it open that much longer from when the thread starts collecting it (group commit, like
PostgreSQL's ``commit_delay``): the writers the previous batch just answered can send their next
request into it. Measured with 50 keep-alive writers (``scripts/bench_ingest.py``): without it
the writers split into two cohorts that alternate, each batch holding about half of them; with
0.5 ms a batch holds nearly all, so the fixed cost of a batch (its reads, the lock, the commit) is
paid half as often, and two processes take the log-head lock half as often.

A connection is pinged only after it sat unused for a second, so one that the server ended a
moment ago (a restart, a failover, an administrator) fails the batch's first statement. If it is
found gone before the batch's write was sent (``append_requests(on_write=...)``), nothing of the
batch was stored: the batch runs once more on a new connection (the pool drops the old ones) and
its requests never see the fault. A connection lost while the write and its ``COMMIT`` are under
way leaves the outcome to the server: the sequencer waits, on a new connection, until that
transaction has ended (it holds the log-head lock until then; ``OUTCOME_WAIT_SECONDS`` at most),
then asks whether the batch's entries are in the log at their indexes with their leaf hashes. If
they are, the ``COMMIT`` took effect and only its answer was lost: the requests are acknowledged.
If not, the transaction was rolled back and the batch fails (503, nothing stored); it is never
sent twice.

Two requests with the same ``Idempotency-Key`` never share a batch: the later one waits for the
next batch, where its claim finds the first's committed answer and replays it.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, select
from sqlalchemy.exc import DBAPIError, IntegrityError

from ledger.errors import ConflictError, InputError, Unavailable
from ledger.store import log as store
from ledger.store.append import FrontierCache
from ledger.store.db import read_tx
from ledger.store.group_append import Group, GroupResult, IdemSpec, Render, append_requests
from ledger.store.idempotency import Answer, _replay, fingerprint, parse_key
from ledger.store.keys import KeyRing
from ledger.store.log import NewEntry
from ledger.store.models import IdempotencyRecord
from ledger.store.submission import Submission, check_size, parse_batch, prevalidate

# what the API's sequenced routes need, through this service-level module (never ledger.store)
__all__ = [
    "Answer",
    "BatchObserver",
    "Group",
    "GroupResult",
    "IdemSpec",
    "Render",
    "Sequencer",
    "fingerprint",
    "idem_spec",
    "parse_key",
]
log = logging.getLogger("ocop.sequencer")
_record = IdempotencyRecord.__table__  # type: ignore[attr-defined]


class BatchObserver(Protocol):
    """Told about every batch (the API turns this into Prometheus metrics)."""

    def batch(self, requests: int, events: int, waits: Sequence[float], commit_seconds: float) -> None: ...


@dataclass
class _Pending:
    group: Group
    future: Future[GroupResult]
    queued: float = field(default_factory=time.monotonic)

    @property
    def key(self) -> tuple[int, str] | None:
        return None if self.group.idem is None else (self.group.org_id, self.group.idem.key)


_AUTOCOMMIT = {"isolation_level": "AUTOCOMMIT"}
"""On PostgreSQL the sequencer's connection is in autocommit mode: a batch's reads before the
log-head lock need no transaction (each would read its own snapshot anyway, under READ COMMITTED),
and the ``BEGIN`` goes with the lock (``store.lock_head(begin=True)``) instead of in a round trip of
its own. Nothing is written before the lock; the lock checks that a transaction is open."""

OUTCOME_WAIT_SECONDS = 5.0
"""How long the sequencer waits for a transaction whose connection was lost to end, to tell its outcome."""

_STOP = object()
HOLD_SECONDS = 1.0
"""A kept connection unused for longer goes back to the pool (and is pinged on its next checkout)."""


class Sequencer:
    def __init__(
        self,
        engine: Engine,
        keyring: KeyRing,
        clock: Callable[[], datetime],
        *,
        max_wait: float = 0.002,
        max_batch: int = 256,
        min_wait: float = 0.0,
        observer: BatchObserver | None = None,
    ) -> None:
        self.engine, self.keyring, self.clock = engine, keyring, clock
        self.max_wait, self.max_batch, self.min_wait = max_wait, max(1, max_batch), min_wait
        self.observer = observer
        self._queue: queue.Queue[Any] = queue.Queue()
        self._deferred: list[_Pending] = []
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False
        self._conn: Connection | None = None  # the sequencing thread's, between close batches
        self._conn_used = 0.0
        self._frontiers = FrontierCache()
        self._written: tuple[dict[int, bytes], list[GroupResult]] | None = None  # the batch's write, once sent

    # --- the request side -----------------------------------------------------------------

    def prepare(self, org_id: int, items: Sequence[Mapping[str, Any]], role: str | None = None) -> list[Submission]:
        """Parse and validate one request's events (all its errors at once), before it is queued.

        ``role`` is the caller's API-key role: ``ledger.core.policy`` decides on each event with it
        in the batch's append (a refused request fails alone)."""
        if not items:
            raise InputError("no events to record: expected at least 1, got 0", field="events")
        check_size(items)  # the single append's rule
        subs = parse_batch(items, org_id, role)
        prevalidate(subs, self.clock())
        return subs

    def stored_answer(self, org_id: int, idem: IdemSpec) -> Answer | None:
        """The completed first answer for this key, if there is one (a resend needs no batch)."""
        with read_tx(self.engine) as conn:
            row = conn.execute(
                select(_record).where(
                    _record.c.org_id == org_id, _record.c.key == idem.key, _record.c.expires_at >= self.clock()
                )
            ).first()
        if row is None or int(row.status_code) == 0:
            return None
        return _replay(row, idem.fingerprint, idem.key)

    def submit(self, group: Group) -> Future[GroupResult]:
        """Queue a prepared request; the future resolves once its batch has committed (or failed)."""
        fut: Future[GroupResult] = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("the sequencer is closed")
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="ledger-sequencer", daemon=True)
                self._thread.start()
        self._queue.put(_Pending(group, fut))
        return fut

    def record(self, group: Group, timeout: float | None = None) -> GroupResult:
        """Submit and wait: the result, or the request's error raised."""
        return self.submit(group).result(timeout)

    def close(self, timeout: float = 10.0) -> None:
        with self._lock:
            self._closed = True
            thread = self._thread
        if thread is not None:
            self._queue.put(_STOP)
            thread.join(timeout)

    # --- the sequencing thread ------------------------------------------------------------

    def _run(self) -> None:
        while True:
            batch = self._collect()
            if batch is None:
                self._release()
                return
            try:
                self._commit(batch)
            except BaseException as exc:  # noqa: BLE001 - a future must never be left hanging
                log.exception("sequencer batch failed")
                for p in batch:
                    if not p.future.done():
                        p.future.set_exception(exc)

    def _collect(self) -> list[_Pending] | None:
        """The next batch: deferred requests first, then the queue, bounded by size and wait."""
        pending, self._deferred = self._deferred, []
        if not pending:
            first = self._queue.get()
            if first is _STOP:
                return None
            pending = [first]
        batch: list[_Pending] = []
        keys: set[tuple[int, str]] = set()
        events = 0
        deadline = max(pending[0].queued + self.max_wait, time.monotonic() + self.min_wait)
        while True:
            for p in pending:
                if (p.key is not None and p.key in keys) or (batch and events + len(p.group.subs) > self.max_batch):
                    self._deferred.append(p)
                    continue
                batch.append(p)
                events += len(p.group.subs)
                if p.key is not None:
                    keys.add(p.key)
            if events >= self.max_batch or self._deferred:
                return batch
            try:
                nxt = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                return batch
            if nxt is _STOP:
                self._queue.put(_STOP)
                return batch
            pending = [nxt]

    def _commit(self, batch: list[_Pending]) -> None:
        # a request whose waiter gave up before its batch began is dropped; the others can no longer
        # be cancelled, so a committed request is always told so
        batch = [p for p in batch if p.future.set_running_or_notify_cancel()]
        if not batch:
            return
        started = time.monotonic()
        waits = [started - p.queued for p in batch]
        results = self._append_retrying([p.group for p in batch])
        if self._queue.empty() and not self._deferred:
            self._release()  # no batch waiting: back to the pool before anyone is answered
        commit_seconds = time.monotonic() - started
        if self.observer is not None:  # before the answers, so /metrics never lags an acknowledged write
            self.observer.batch(len(batch), sum(len(p.group.subs) for p in batch), waits, commit_seconds)
        for p, r in zip(batch, results, strict=True):
            if r.error is not None:
                p.future.set_exception(r.error)
            else:
                p.future.set_result(r)

    def _append_retrying(self, groups: list[Group]) -> list[GroupResult]:
        """The batch appended; once more on a new connection if the first was found gone before the
        batch's write was sent; its results if the connection was lost after the write was sent
        but the entries are stored all the same (see module doc)."""
        for attempt in range(2):
            self._written = None
            try:
                with self._transaction() as conn:
                    return self._append(conn, groups)
            except DBAPIError as exc:
                if not exc.connection_invalidated:
                    raise
                if self._written is not None:
                    stored = self._committed_anyway(*self._written)
                    if stored is None:
                        raise
                    return stored
                if attempt:
                    raise
                log.warning("sequencer: its database connection was gone before the batch's write; once more")
        raise AssertionError("unreachable")

    def _append(self, conn: Connection, groups: list[Group]) -> list[GroupResult]:
        return append_requests(
            conn, groups, self.keyring, self.clock(), self._frontiers, commit=True, on_write=self._writing
        )

    def _writing(self, entries: Sequence[NewEntry], results: list[GroupResult]) -> None:
        self._written = ({e.idx: e.leaf_hash for e in entries}, results)

    def _committed_anyway(self, leaves: dict[int, bytes], results: list[GroupResult]) -> list[GroupResult] | None:
        """After a connection lost with the batch's write and ``COMMIT`` under way: its results if
        every entry it wrote is in the log (the ``COMMIT`` took effect and only its answer was lost),
        None if not (the transaction was rolled back: the batch fails, nothing stored).
        ``Unavailable`` if the database cannot be asked: then nobody can tell yet."""
        if not leaves:
            return None
        try:
            with self.engine.connect() as conn, conn.begin():
                if conn.dialect.name == "postgresql":  # the lost transaction holds the log-head lock until
                    # it has committed or rolled back (its server process may still be at it): wait for that
                    conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{int(OUTCOME_WAIT_SECONDS * 1000)}ms'")
                    conn.exec_driver_sql("SELECT 1 FROM log_head WHERE id = 1 FOR SHARE")
                stored = {i: h for (_, i), h in store.read_nodes(conn, [(0, i) for i in leaves]).items()}
        except Exception as exc:  # noqa: BLE001 - still out of reach: say so, not "nothing stored"
            log.warning("sequencer: cannot tell whether a batch whose connection was lost was committed")
            raise Unavailable(
                "the database connection was lost while these events were being committed, and whether "
                "they were stored cannot be told yet; send the request again with the same Idempotency-Key"
            ) from exc
        if stored != leaves:
            return None
        log.warning("sequencer: a batch's connection was lost after its COMMIT took effect; acknowledged")
        return results

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        """``write_tx`` on the thread's kept connection (see module doc)."""
        if self._conn is not None and time.monotonic() - self._conn_used > HOLD_SECONDS:
            self._release()
        if self._conn is None:
            options = _AUTOCOMMIT if self.engine.dialect.name == "postgresql" else {}
            self._conn = self.engine.connect().execution_options(ledger_write=True, **options)
        conn = self._conn
        try:
            with conn.begin():
                yield conn
        except IntegrityError as exc:
            self._release()
            raise ConflictError("conflicting write: a record with the same identity was stored meanwhile") from exc
        except BaseException:
            self._release()
            raise
        self._conn_used = time.monotonic()

    def _release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - a broken connection is dropped all the same
                log.warning("sequencer: closing its connection failed", exc_info=True)


def idem_spec(key: str | None, fingerprint: str, retention_hours: float) -> IdemSpec | None:
    return None if key is None else IdemSpec(key, fingerprint, timedelta(hours=retention_hours))
