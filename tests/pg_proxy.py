"""A TCP proxy in front of PostgreSQL that counts round trips, for tests of how many a step costs.

Every answer from the server reaches the client ``delay`` seconds late, as over a slow network.
A round trip is counted each time the client sends after it has been answered (or sends first):
what a client sends without waiting for an answer in between (a pipeline) is one round trip, and
the delay keeps the client from seeing any answer while it is still sending such a burst.

``cut_after(match)``: the next time a client sends data that ``match`` accepts, the server gets it
and answers, and the client's connection is cut instead of the answer reaching it (a network lost
just after the server did the work); with ``then_refuse`` new connections are refused from then on,
until ``refusing`` is set False again (the network stays down). With ``hold`` seconds, that data
and what follows it reach the server only ``hold`` seconds later, and the client's connection is
cut as soon as it has sent its pipeline's end (a Sync message): a server that has not yet run what
the client sent when the client saw the connection go.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

_SYNC = b"S\x00\x00\x00\x04"  # the end of a pipeline (the extended protocol's Sync message)


class RoundTripProxy:
    def __init__(self, host: str = "127.0.0.1", port: int = 5432, delay: float = 0.1) -> None:
        self.target = (host, port)
        self.delay = delay
        self.round_trips = 0
        self._answered = True
        self._count_lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.AbstractServer | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._thread = threading.Thread(target=self._loop.run_forever, name="pg-proxy", daemon=True)
        self.port = 0
        self._cut: Callable[[bytes], bool] | None = None
        self._then_refuse = False
        self._hold = 0.0
        self.refusing = False

    def __enter__(self) -> RoundTripProxy:
        self._thread.start()
        started = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
        started.result(10)
        return self

    def __exit__(self, *exc: Any) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def cut_after(self, match: Callable[[bytes], bool] | None, *, then_refuse: bool = False, hold: float = 0.0) -> None:
        self._cut, self._then_refuse, self._hold = match, then_refuse, hold

    def reset(self) -> None:
        with self._count_lock:
            self.round_trips = 0
            self._answered = True

    async def _start(self) -> None:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        self._server = await asyncio.start_server(self._handle, sock=sock)

    async def _stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for w in list(self._writers):  # connections the client left open
            w.close()
        for t in list(self._tasks):  # and their handlers, so none is left pending when the loop closes
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    def _sent(self) -> None:
        with self._count_lock:
            if self._answered:
                self.round_trips += 1
                self._answered = False

    def _answer(self) -> None:
        with self._count_lock:
            self._answered = True

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        if self.refusing:
            client_w.transport.abort()
            return
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        server_r, server_w = await asyncio.open_connection(*self.target)
        self._writers |= {client_w, server_w}
        cutting = asyncio.Event()
        held_until = [0.0]

        def sent(data: bytes) -> float:
            self._sent()
            if not held_until[0]:
                if self._cut is None or not self._cut(data):
                    return 0.0
                self._cut = None
                self.refusing = self._then_refuse
                if not self._hold:
                    cutting.set()
                    return 0.0
                held_until[0] = time.monotonic() + self._hold
            if _SYNC in data:
                client_w.transport.abort()
            return max(0.0, held_until[0] - time.monotonic())

        def answered(_data: bytes) -> float:
            self._answer()
            return 0.0

        try:
            await asyncio.gather(
                self._pipe(client_r, server_w, 0.0, sent),
                self._pipe(server_r, client_w, self.delay, answered, cutting, server_w),
            )
        finally:
            for w in (client_w, server_w):
                self._writers.discard(w)
                w.close()
                try:
                    await w.wait_closed()
                except (ConnectionError, OSError):
                    pass

    async def _pipe(
        self,
        r: asyncio.StreamReader,
        w: asyncio.StreamWriter,
        delay: float,
        seen: Callable[[bytes], float],
        cut: asyncio.Event | None = None,
        source: asyncio.StreamWriter | None = None,
    ) -> None:
        """Forward ``r`` to ``w``, each chunk ``delay`` seconds after it arrived (order kept); once
        ``cut`` is set, the next chunk ends both connections (``w`` and ``source``, ``r``'s writer)
        instead of reaching ``w``, a moment later, so the server has finished what it answers."""
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def send() -> None:
            while True:
                due, data = await queue.get()
                if not data:
                    break
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                if cut is not None and cut.is_set():
                    await asyncio.sleep(0.2)
                    for lost in (w, source):
                        if lost is not None:
                            lost.transport.abort()  # the answer is lost with the connection
                    return
                if delay:
                    seen(data)  # the client is answered now
                w.write(data)
                await w.drain()
            if w.can_write_eof():
                w.write_eof()

        sender = asyncio.create_task(send())
        try:
            while data := await r.read(65536):
                later = seen(data) if not delay else 0.0  # the client sent (and it may be held)
                queue.put_nowait((time.monotonic() + delay + later, data))
        except (ConnectionError, OSError):
            pass
        finally:  # the sender ends, and its error (a connection cut) is taken, whatever ended this
            queue.put_nowait((0.0, b""))
            if not sender.done() and asyncio.current_task().cancelling():  # type: ignore[union-attr]
                sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)
