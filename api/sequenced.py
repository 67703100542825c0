"""The append routes' way to the ledger: the process's sequencer (``ledger.sequencer``).

A route parses and checks its request's events on its own (a bad request fails alone, before it
is queued), submits them with the caller's role, and answers once its batch has committed. No
route authorizes by itself: ``ledger.core.policy`` decides on every event in the batch's append,
and a refused request fails alone with 403 while the others commit. The
route handles its ``Idempotency-Key`` here rather than in ``api.idempotency``'s wrapper: a
completed first answer is replayed at once; otherwise the key's record is claimed and completed
in the batch's transaction, with the entries it guards, so a server killed after the commit
still answers the retry from the record.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from fastapi import FastAPI, Request, Response
from prometheus_client import CollectorRegistry, Histogram
from starlette.concurrency import run_in_threadpool

from api.idempotency import HEADER, REPLAYED, _fault
from api.services import Services
from ledger.sequencer import Answer, Group, GroupResult, IdemSpec, Sequencer, fingerprint, idem_spec, parse_key

MARK = "handles_idempotency_key"
INLINE_ITEMS = 8
F = TypeVar("F", bound=Callable[..., Any])
_lock = threading.Lock()


class Caller(Protocol):
    """The authenticated principal, as far as an append needs it."""

    @property
    def org_id(self) -> int: ...

    @property
    def role(self) -> str: ...

    @property
    def key_id(self) -> str: ...


class SequencerMetrics:
    """Batch sizes, queue wait and commit time, on the app's ``/metrics`` registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        sizes = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000)
        times = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)
        self.events = Histogram("ocop_sequencer_batch_events", "events per batch", buckets=sizes, registry=registry)
        self.requests = Histogram(
            "ocop_sequencer_batch_requests", "requests per batch", buckets=sizes, registry=registry
        )
        self.wait = Histogram(
            "ocop_sequencer_queue_wait_seconds", "time a request waited in the queue", buckets=times, registry=registry
        )
        self.commit = Histogram(
            "ocop_sequencer_commit_seconds", "append and commit time of a batch", buckets=times, registry=registry
        )

    def batch(self, requests: int, events: int, waits: Sequence[float], commit_seconds: float) -> None:
        self.requests.observe(requests)
        self.events.observe(events)
        for w in waits:
            self.wait.observe(w)
        self.commit.observe(commit_seconds)


def install(app: FastAPI, registry: CollectorRegistry) -> None:
    """Register the metrics now; the sequencer itself starts with the first write."""
    app.state.sequencer_metrics = SequencerMetrics(registry)
    app.state.sequencer = None


def sequencer(app: FastAPI) -> Sequencer:
    seq: Sequencer | None = getattr(app.state, "sequencer", None)
    if seq is not None:  # started: no lock (every append asks)
        return seq
    with _lock:
        seq = getattr(app.state, "sequencer", None)
        if seq is None:
            svc: Services = app.state.services
            seq = app.state.sequencer = Sequencer(
                svc.ledger.engine,
                svc.ledger.keyring,
                svc.ledger.clock,
                max_wait=svc.settings.sequencer_max_wait_ms / 1000,
                max_batch=svc.settings.sequencer_max_batch,
                min_wait=svc.settings.sequencer_min_wait_ms / 1000,
                observer=getattr(app.state, "sequencer_metrics", None),
            )
        return seq


def close(app: FastAPI) -> None:
    with _lock:
        seq: Sequencer | None = getattr(app.state, "sequencer", None)
        app.state.sequencer = None
    if seq is not None:
        seq.close()


def handles_idempotency(fn: F) -> F:
    """Mark a route that takes its ``Idempotency-Key`` through the sequencer (see module doc)."""
    setattr(fn, MARK, True)
    return fn


@dataclass(frozen=True)
class Incoming:
    """What an append needs of its HTTP request (for ``Idempotency-Key``'s fingerprint)."""

    method: str
    path: str
    query: str
    body: bytes
    idempotency_key: str | None


async def record(
    request: Request,
    svc: Services,
    who: Caller,
    items: Sequence[Mapping[str, Any]],
    render: Callable[[list[dict[str, Any]]], Any],
) -> Response:
    """Check, queue and await one request's events; the answer is ``render(recorded)`` as JSON, 201."""
    raw = request.headers.get(HEADER)
    body = await request.body() if raw is not None else b""
    incoming = Incoming(request.method, request.url.path, request.url.query, body, raw)
    return await record_items(request.app, svc, who, incoming, items, render)


async def record_items(
    app: FastAPI,
    svc: Services,
    who: Caller,
    request: Incoming,
    items: Sequence[Mapping[str, Any]],
    render: Callable[[list[dict[str, Any]]], Any],
) -> Response:
    """``record`` for a request already read (also ``api.fastpath``'s way in)."""
    seq = sequencer(app)
    idem = _idem(request, svc)
    if idem is not None:
        stored = await run_in_threadpool(seq.stored_answer, who.org_id, idem)
        if stored is not None:
            return _response(stored, replayed=True)

    def prepare() -> Group:
        subs = seq.prepare(who.org_id, items, who.role)
        return Group(who.org_id, subs, idem, lambda rec: _answer(render(rec)), key_id=who.key_id)

    # a few events are checked faster on the event loop than the hop to a thread and back costs
    group = prepare() if len(items) <= INLINE_ITEMS else await run_in_threadpool(prepare)
    result = await _woken(seq.submit(group))
    assert result.answer is not None
    if idem is not None and not result.replayed:
        _fault("exit-after-idempotent-commit")
    return _response(result.answer, replayed=result.replayed)


def _idem(request: Incoming, svc: Services) -> IdemSpec | None:
    if request.idempotency_key is None:
        return None
    key = parse_key(request.idempotency_key)
    fp = fingerprint(request.method, request.path, request.query, request.body)
    return idem_spec(key, fp, svc.settings.idempotency_retention_hours)


class _LoopWaker:
    """Hands the sequencer's results to one event loop, a whole batch per wake-up.

    ``asyncio.wrap_future`` wakes the loop once per request (a write to its self-pipe from the
    sequencer thread, and a callback); here the requests a batch resolves are queued and the loop
    is woken once, when the first of them arrives, to settle all that are queued by then.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._queued: list[tuple[asyncio.Future[GroupResult], Future[GroupResult]]] = []
        self._lock = threading.Lock()

    def watch(self, done: Future[GroupResult]) -> asyncio.Future[GroupResult]:
        waiter: asyncio.Future[GroupResult] = self.loop.create_future()
        done.add_done_callback(lambda f: self._queue(waiter, f))
        return waiter

    def _queue(self, waiter: asyncio.Future[GroupResult], done: Future[GroupResult]) -> None:
        with self._lock:
            self._queued.append((waiter, done))
            first = len(self._queued) == 1
        if first:
            try:
                self.loop.call_soon_threadsafe(self._settle)
            except RuntimeError:  # the loop has closed: nobody is waiting any more
                pass

    def _settle(self) -> None:
        with self._lock:
            queued, self._queued = self._queued, []
        for waiter, done in queued:
            if waiter.done():
                continue
            if done.cancelled():
                waiter.cancel()
            elif (exc := done.exception()) is not None:
                waiter.set_exception(exc)
            else:
                waiter.set_result(done.result())


_wakers: dict[asyncio.AbstractEventLoop, _LoopWaker] = {}


async def _woken(done: Future[GroupResult]) -> GroupResult:
    """``await asyncio.wrap_future(done)``, woken with the rest of its batch (``_LoopWaker``)."""
    loop = asyncio.get_running_loop()
    waker = _wakers.get(loop)
    if waker is None:
        with _lock:
            for old in [k for k in _wakers if k.is_closed()]:
                del _wakers[old]
            waker = _wakers.setdefault(loop, _LoopWaker(loop))
    try:
        return await waker.watch(done)
    except asyncio.CancelledError:
        done.cancel()  # dropped if its batch has not begun (``Sequencer._commit``)
        raise


def _answer(content: Any) -> Answer:
    body = json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()
    return Answer(201, "application/json", body)


def _response(answer: Answer, *, replayed: bool) -> Response:
    headers = {REPLAYED: "true"} if replayed else None
    return Response(answer.body, status_code=answer.status_code, media_type=answer.content_type, headers=headers)
