"""``ocop-ledger serve --workers N``: uvicorn's worker supervisor, with one listening socket per worker.

uvicorn's ``Multiprocess`` hands every worker the same listening socket. Clients that keep their
connections open (phones on keep-alive, a packing house's scanner hub, a proxy's pool) are then
spread by whoever wins each ``accept``: measured with 50 keep-alive writers on two workers, one
worker often held nearly all the connections while the other idled. Here each worker listens on
its own socket bound to the same address with ``SO_REUSEPORT``, and the kernel spreads new
connections evenly over them. Everything else is uvicorn's own supervisor: health checks, a dead
worker replaced (on the same socket), SIGTERM/SIGINT handling. Where ``SO_REUSEPORT`` does not
exist, ``serve`` falls back to uvicorn's shared socket.
"""

from __future__ import annotations

import logging
import socket
import sys
from typing import Any

from uvicorn.config import STARTUP_FAILURE, Config
from uvicorn.supervisors.multiprocess import Multiprocess, Process

log = logging.getLogger("uvicorn.error")


def reuse_port_available() -> bool:
    return hasattr(socket, "SO_REUSEPORT")


def bind_reuse_port(config: Config) -> socket.socket:
    """A listening socket on ``config.host:port`` that other workers' sockets may share."""
    family = socket.AF_INET6 if config.host and ":" in config.host else socket.AF_INET
    sock = socket.socket(family=family)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((config.host, config.port))
    except OSError as exc:
        sock.close()
        print(f"cannot listen on {config.host}:{config.port}: {exc}", file=sys.stderr)
        sys.exit(STARTUP_FAILURE)
    sock.listen(config.backlog)
    sock.set_inheritable(True)
    return sock


class ReusePortMultiprocess(Multiprocess):
    """uvicorn's supervisor; worker ``i`` serves ``sockets[i]`` (see module doc)."""

    def __init__(self, config: Config, sockets: list[socket.socket]) -> None:
        super().__init__(config, sockets)
        self.own: list[socket.socket] = sockets

    def init_processes(self) -> None:
        for i in range(self.processes_num):
            process = Process(self.config, [self.own[i % len(self.own)]])
            process.start()
            self.processes.append(process)

    def keep_subprocess_alive(self) -> None:
        """As uvicorn's, but a dead worker's replacement serves the dead worker's socket."""
        if self.should_exit.is_set():
            return
        for i, process in enumerate(self.processes):
            if process.is_alive(timeout=self.config.timeout_worker_healthcheck):
                continue
            process.kill()  # hung, or dead already
            process.join()
            if process.exitcode == STARTUP_FAILURE:  # the app or the socket is broken: it would fail again
                log.error("worker [%s] failed to start, stopping", process.pid)
                self.should_exit.set()
                return
            if self.should_exit.is_set():
                return
            log.info("worker [%s] died, starting another", process.pid)
            self.processes[i] = replacement = Process(self.config, [self.own[i % len(self.own)]])
            replacement.start()


def check_port_free(config: Config) -> None:
    """Exit (as uvicorn does) if anything listens on the address already: sockets that all set
    ``SO_REUSEPORT`` may share a port, so another ``serve`` there would not be refused otherwise."""
    family = socket.AF_INET6 if config.host and ":" in config.host else socket.AF_INET
    with socket.socket(family=family) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((config.host, config.port))
        except OSError as exc:
            print(f"cannot listen on {config.host}:{config.port}: {exc}", file=sys.stderr)
            sys.exit(STARTUP_FAILURE)


def run(config: Config) -> None:
    """Serve ``config`` (an import string, ``workers`` > 1) on one ``SO_REUSEPORT`` socket per worker."""
    check_port_free(config)
    sockets = [bind_reuse_port(config) for _ in range(config.workers)]
    try:
        ReusePortMultiprocess(config, sockets).run()
    finally:
        for s in sockets:
            s.close()


def serve(app: str, **kw: Any) -> None:
    """``uvicorn.run(app, **kw)``, with ``ReusePortMultiprocess`` for several workers where possible."""
    import uvicorn

    if kw.get("workers", 1) > 1 and reuse_port_available():
        run(Config(app, **kw))
    else:
        uvicorn.run(app, **kw)
