"""ASGI middleware: encoded-slash paths, body size limit, rate limit, logs, metrics, security headers.

Plain ASGI classes (no ``BaseHTTPMiddleware``), so a request pays a few microseconds for each.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import unquote_to_bytes

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.concurrency import run_in_threadpool

from ledger.core.bounds import MAX_JSON_DEPTH, json_depth

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

access_log = logging.getLogger("ocop.api.access")
UNLIMITED_PATHS = frozenset({"/healthz", "/metrics"})
NO_CSP_PATHS = frozenset({"/docs", "/redoc", "/docs/oauth2-redirect"})
BASE_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-resource-policy", b"same-origin"),
]
API_CSP = (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")


_KEEP = re.compile(rb"(%2[Ff]|%25)")


def keep_encoded_slashes(raw_path: bytes) -> str:
    """Percent-decode a raw path except ``%2F`` and ``%25``, so an encoded '/' stays inside its segment.

    Routes then see ``/api/v1/lots/08930000045676.A%2FB/verify`` and take ``08930000045676.A%2FB``
    as one parameter, which ``api.deps.lot_param`` decodes.
    """
    pieces = _KEEP.split(raw_path)
    return "".join(
        p.upper().decode("ascii") if i % 2 else unquote_to_bytes(p).decode("utf-8", "replace")
        for i, p in enumerate(pieces)
    )


_ENCODED_CONTROL = re.compile(rb"%(?:[01][0-9A-Fa-f]|7[Ff])|%[Cc]2%[89][0-9A-Fa-f]|[\x00-\x1f\x7f]")


class PathMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("raw_path"):
            raw = scope["raw_path"]
            if b"%2f" in raw.lower() or b"%25" in raw:
                scope["path"] = keep_encoded_slashes(raw)
        await self.app(scope, receive, send)


def replay_body(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives ``body`` (already read) as the request's one message, then the client's."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


class BodyTooLarge(Exception):
    pass


async def send_json(send: Send, status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]] = []) -> None:  # noqa: B006
    data = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode()), *headers],
        }
    )
    await send({"type": "http.response.body", "body": data})


def _error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


class LimitMiddleware:
    """413 for bodies over ``max_body``; 400 for bodies nested deeper than ``MAX_JSON_DEPTH``;
    429 (token bucket per client IP) on public routes.

    A request body (other than ``text/csv``) is read whole, within the size limit, and its nesting
    depth scanned before any JSON parser sees it; the app then receives the same bytes.
    Control characters (``%00``, ``%0A``, C1) in the path or query get a 400: no identifier holds
    one, and PostgreSQL cannot even compare text holding NUL, so no route gets to look one up.
    """

    def __init__(
        self, app: ASGIApp, max_body: int, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ):
        self.app = app
        self.max_body = max_body
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self.buckets: dict[str, tuple[float, float]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if _ENCODED_CONTROL.search(scope.get("raw_path") or b"") or _ENCODED_CONTROL.search(scope["query_string"]):
            message = "the request path or query holds a control character (e.g. %00): expected none"
            await send_json(send, 400, _error("bad_request", message))
            return
        if self.rate > 0 and scope["method"] in ("GET", "HEAD") and scope["path"] not in UNLIMITED_PATHS:
            wait = self._take(scope.get("client"))
            if wait > 0:
                retry = str(max(1, int(wait + 0.999)))
                await send_json(
                    send,
                    429,
                    _error("rate_limited", f"too many requests: retry in {retry} s"),
                    [(b"retry-after", retry.encode())],
                )
                return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_body:
            await send_json(
                send,
                413,
                _error("payload_too_large", f"request body is {declared} bytes; the limit is {self.max_body}"),
            )
            return
        if scope["method"] in ("POST", "PUT", "PATCH") and not _is_csv(scope):
            await self._depth_checked(scope, receive, send)
            return
        await self._guarded(scope, receive, send)

    async def _depth_checked(self, scope: Scope, receive: Receive, send: Send) -> None:
        chunks: list[bytes] = []
        seen, more = 0, True
        while more:
            msg = await receive()
            if msg["type"] != "http.request":
                return  # the client went away
            chunks.append(msg.get("body", b""))
            seen += len(chunks[-1])
            more = bool(msg.get("more_body"))
            if seen > self.max_body:
                await send_json(
                    send, 413, _error("payload_too_large", f"request body exceeds the limit of {self.max_body} bytes")
                )
                return
        body = b"".join(chunks)
        depth = json_depth(body) if len(body) < 65536 else await run_in_threadpool(json_depth, body)
        if depth > MAX_JSON_DEPTH:
            message = f"request body nests too deep: expected at most {MAX_JSON_DEPTH} levels, got {depth}"
            await send_json(send, 400, _error("too_deep", message))
            return
        await self.app(scope, replay_body(body, receive), send)

    async def _guarded(self, scope: Scope, receive: Receive, send: Send) -> None:
        seen = 0
        started = False

        async def guarded_receive() -> Message:
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > self.max_body:
                    raise BodyTooLarge
            return msg

        async def tracked_send(msg: Message) -> None:
            nonlocal started
            if msg["type"] == "http.response.start":
                started = True
            await send(msg)

        try:
            await self.app(scope, guarded_receive, tracked_send)
        except BodyTooLarge:
            if not started:
                await send_json(
                    send, 413, _error("payload_too_large", f"request body exceeds the limit of {self.max_body} bytes")
                )

    def _take(self, client: Any) -> float:
        """Take a token for ``client``; return 0 if allowed, else the seconds until one is free."""
        ip = client[0] if client else "-"
        now = self.clock()
        tokens, last = self.buckets.get(ip, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        if tokens < 1:
            self.buckets[ip] = (tokens, now)
            return (1 - tokens) / self.rate
        self.buckets[ip] = (tokens - 1, now)
        if len(self.buckets) > 100_000:
            self._prune(now)
        return 0.0

    def _prune(self, now: float) -> None:
        full = self.burst / self.rate
        self.buckets = {k: v for k, v in self.buckets.items() if now - v[1] < full}


def _is_csv(scope: Scope) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            return bytes(value).split(b";")[0].strip().lower() == b"text/csv"
    return False


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class Metrics:
    """Prometheus metrics of one app (its own registry, so several apps can live in one process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "ocop_http_requests", "HTTP requests", ["method", "route", "status"], registry=self.registry
        )
        self.duration = Histogram(
            "ocop_http_request_duration_seconds",
            "HTTP request duration",
            ["route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=self.registry,
        )
        self.log_size = Gauge("ocop_log_tree_size", "entries in the log", registry=self.registry)
        self.anchored_size = Gauge(
            "ocop_log_anchored_size", "log size of the newest confirmed anchor", registry=self.registry
        )
        self.cache_hits = Gauge("ocop_verdict_cache_hits", "verdict cache hits since start", registry=self.registry)
        self.cache_misses = Gauge(
            "ocop_verdict_cache_misses", "verdict cache misses since start", registry=self.registry
        )


class ObserveMiddleware:
    """One JSON log line per request, Prometheus metrics, and security headers on every response.

    Logged: method, path (never the query string or headers, so never an API key), route,
    status, duration, client address.
    """

    def __init__(self, app: ASGIApp, metrics: Metrics, log_requests: bool = True) -> None:
        self.app = app
        self.metrics = metrics
        self.log_requests = log_requests

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500
        path = scope["path"]

        async def observed_send(msg: Message) -> None:
            nonlocal status
            if msg["type"] == "http.response.start":
                status = int(msg["status"])
                headers = list(msg.get("headers", []))
                names = {n.lower() for n, _ in headers}
                headers.extend(h for h in BASE_HEADERS if h[0] not in names)
                if b"content-security-policy" not in names and path not in NO_CSP_PATHS:
                    headers.append(API_CSP)
                msg["headers"] = headers
            await send(msg)

        try:
            await self.app(scope, receive, observed_send)
        finally:
            elapsed = time.perf_counter() - start
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            self.metrics.requests.labels(scope["method"], route, str(status)).inc()
            self.metrics.duration.labels(route).observe(elapsed)
            if self.log_requests and access_log.isEnabledFor(logging.INFO):
                client = scope.get("client")
                access_log.info(
                    json.dumps(
                        {
                            "msg": "request",
                            "method": scope["method"],
                            "path": path,
                            "route": route,
                            "status": status,
                            "duration_ms": round(elapsed * 1000, 2),
                            "client": client[0] if client else None,
                        },
                        ensure_ascii=False,
                    )
                )
