"""Chain commands of the CLI: ``devchain``, ``deploy``, ``anchor-worker`` and ``up``.

Everything chain-related (web3) and the API are imported inside the commands, so that the rest of
the CLI starts without them. ``up`` is the composition root of the whole local product: it builds
the settings, the ledger, the chain clients, the anchor worker and the API app.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ledger.cli.common import anchor_check, emit, fail, load_settings, run

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from ledger.chain.lock import WorkerLock
    from ledger.chain.worker import AnchorWorker
    from ledger.settings import Settings


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("web3", "urllib3", "httpx", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """An event set by SIGTERM or SIGINT (Ctrl-C); the previous handlers come back afterwards."""
    stop = threading.Event()

    def handler(signum: int, _frame: Any) -> None:
        stop.set()

    old = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stop
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def open_engine(settings: Settings) -> Engine:
    from ledger.store import migrate
    from ledger.store.db import make_engine

    engine = make_engine(settings.resolved_database_url())
    if not migrate.is_current(engine):
        migrate.upgrade(engine)
    return engine


def log_signer_of(settings: Settings, engine: Engine) -> Any:
    """The operator's log key, which signs the ``heads`` entry of every anchor: the worker needs the
    master key (``LEDGER_MASTER_KEY`` or the key file) to open it; a wrong one stops it here."""
    from ledger.store import keys as keys_mod
    from ledger.store.db import write_tx

    def ring() -> Any:
        with write_tx(engine) as conn:
            fresh = not keys_mod.ledger_has_fingerprint(conn)
            master = keys_mod.load_master_key(settings.master_key, settings.resolved_master_key_file(), create=fresh)
            keys_mod.check_master_key(conn, master)
            return keys_mod.KeyRing(master)

    return run(ring).log_signer


def connect_retrying(settings: Settings, stop: threading.Event) -> Any:
    """Connect to the chain, retrying with bounded backoff while it is unreachable."""
    from ledger.chain.devchain import connect, rpc_url
    from ledger.errors import AnchorError

    log, backoff = logging.getLogger("ledger.chain.worker"), 1.0
    while not stop.is_set():
        try:
            return connect(settings)
        except AnchorError as exc:
            log.warning("chain at %s unreachable, retrying in %.0f s: %s", rpc_url(settings), backoff, exc)
            stop.wait(backoff)
            backoff = min(backoff * 2, settings.anchor_retry_max)
    return None


def run_once(worker: AnchorWorker, timeout: float) -> str:
    """One reconcile + anchor pass (anchoring at once if anything is new), then wait for it to settle."""
    outcome = worker.tick(force=True)
    deadline = time.monotonic() + timeout
    while worker.rows(("intent", "sent")) and time.monotonic() < deadline:
        time.sleep(0.2)
        worker.reconcile()
    return outcome


def devchain_cmd(
    port: Annotated[int | None, typer.Option(help="default LEDGER_DEVCHAIN_PORT (8545)")] = None,
) -> None:
    """Run the local chain (anvil, chain id 31337) with its state in the data folder, until Ctrl-C."""
    from ledger.chain.devchain import Devchain

    chain = run(lambda: Devchain.from_settings(load_settings(), port))
    run(chain.start)
    typer.echo(f"devchain (anvil) at {chain.url}, chain id 31337, state in {chain.state_file}")
    typer.echo("deploy the contract with `ocop-ledger deploy`; stop with Ctrl-C (the state is saved)")
    with stop_on_signals() as stop:
        while not stop.wait(0.5):
            if not chain.running():
                fail(f"anvil exited; see {chain.log_file}", 1)
    chain.stop()
    typer.echo("devchain stopped, state saved")


def deploy_cmd(
    force: Annotated[bool, typer.Option("--force", help="deploy a new contract even if one is recorded")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Deploy ProvenanceAnchor to the configured chain (reusing a recorded one that still has code)."""
    from ledger.chain.devchain import deploy

    info = run(lambda: deploy(load_settings(), force=force))
    verb = "reusing" if info["reused"] else "deployed"
    emit(info, as_json, f"{verb} ProvenanceAnchor at {info['address']} on chain {info['chain_id']} (tx {info['tx']})")


def anchor_worker_cmd(
    once: Annotated[bool, typer.Option("--once", help="one reconcile + anchor pass, then exit")] = False,
    wait: Annotated[float, typer.Option(help="with --once: seconds to wait for the anchor to confirm")] = 120.0,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Anchor the log head on chain every LEDGER_ANCHOR_INTERVAL s or LEDGER_ANCHOR_BATCH entries."""
    from ledger.chain.lock import WorkerLock
    from ledger.chain.worker import AnchorWorker, WorkerConfig

    setup_logging(verbose)
    settings = load_settings()
    engine = run(lambda: open_engine(settings))
    lock = WorkerLock(engine, settings.data_dir)
    if once:
        anchor_once(settings, engine, lock, wait)
        return
    with stop_on_signals() as stop:
        chain = connect_retrying(settings, stop)
        if chain is not None:
            config, heads = WorkerConfig.from_settings(settings), log_signer_of(settings, engine)
            AnchorWorker(engine, chain, config, lock=lock, heads_signer=heads).run(stop)
    logging.getLogger("ledger.chain.worker").info("anchor worker stopped")


def anchor_once(settings: Settings, engine: Engine, lock: WorkerLock, wait: float) -> None:
    """``anchor-worker --once``: one pass under the worker lock, or nothing if another worker holds it."""
    from ledger.chain.devchain import connect
    from ledger.chain.worker import AnchorWorker, WorkerConfig

    if not lock.acquire():
        typer.echo(f"another anchor worker is active ({lock.describe()}): nothing done")
        return
    try:
        config, heads = WorkerConfig.from_settings(settings), log_signer_of(settings, engine)
        worker = AnchorWorker(engine, run(lambda: connect(settings)), config, heads_signer=heads)
        outcome = run(lambda: run_once(worker, wait))
        typer.echo(f"{outcome}: chain holds tree size {run(worker.chain.latest_tree_size)}")
    finally:
        lock.release()


def up_cmd(
    no_demo: Annotated[bool, typer.Option("--no-demo", help="do not seed the demo data set")] = False,
    host: Annotated[str, typer.Option(help="API host")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="API port")] = 8000,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Everything local in one command: devchain, contract, anchor worker, API; Ctrl-C stops it all."""
    setup_logging(verbose)
    run(lambda: up(no_demo=no_demo, host=host, port=port))


def up(*, no_demo: bool, host: str, port: int, anchored_timeout: float = 90.0) -> None:
    """``ocop-ledger up``: start (or reuse) the devchain, deploy, seed, anchor, serve, until a signal."""
    from ledger.chain.devchain import Devchain, DevchainSupervisor, connect, deploy, rpc_url
    from ledger.chain.lock import WorkerLock
    from ledger.chain.worker import AnchorWorker, WorkerConfig
    from ledger.cli import demo
    from ledger.service import Ledger
    from ledger.settings import Settings

    settings, say = Settings(), typer.echo
    anvil: Devchain | None = None
    api: tuple[Any, threading.Thread] | None = None
    worker_thread: threading.Thread | None = None
    with stop_on_signals() as stop:
        try:
            anvil = _start_devchain(settings)
            if anvil is not None or settings.rpc_url is None:
                info = deploy(settings)  # the devchain: deploy on first start, reuse afterwards
                say(f"contract ProvenanceAnchor at {info['address']} (chain {info['chain_id']}, {rpc_url(settings)})")
            ledger = Ledger.open(settings)
            seeded = demo.seed(ledger) if not no_demo and demo.is_fresh(ledger) else None
            if seeded:
                say(f"seeded the demo data set: {len(seeded.lots)} lots, {ledger.head().size} log entries")
            chain = connect(settings)  # on a testnet: LEDGER_CONTRACT_ADDRESS or `ocop-ledger deploy` first
            reader = connect(settings, signer=False)  # the worker thread keeps its own HTTP session
            lock = WorkerLock(ledger.engine, settings.data_dir)
            config, heads = WorkerConfig.from_settings(settings), ledger.keyring.log_signer
            worker = AnchorWorker(ledger.engine, chain, config, lock=lock, heads_signer=heads)
            worker_thread = threading.Thread(target=worker.run, args=(stop,), name="anchor-worker", daemon=True)
            worker_thread.start()
            api = _start_api(settings, ledger, host, port)
            base = f"http://{host}:{port}" if settings.public_url == "http://127.0.0.1:8000" else settings.public_url
            _wait_anchored(ledger, reader, stop, anchored_timeout)
            _summary(settings, ledger, reader, seeded.featured if seeded else None, base, api is not None)
            say("running; Ctrl-C stops everything")
            supervisor = DevchainSupervisor(anvil, say) if anvil is not None else None
            while not stop.wait(0.5):
                if supervisor is not None:
                    supervisor.check()  # anvil down: restarted with its state; the API keeps serving
        finally:
            stop.set()
            if api is not None:
                api[0].should_exit = True
                api[1].join(10)
            if worker_thread is not None:
                worker_thread.join(10)
            if anvil is not None:
                anvil.stop()
                say("devchain stopped, state saved")


def _start_devchain(settings: Settings) -> Any:
    """Start anvil unless an RPC URL is configured or a devchain already runs on the port."""
    from ledger.chain.client import DEV_CHAIN_ID
    from ledger.chain.devchain import Devchain, rpc_chain_id, rpc_url
    from ledger.errors import ConfigError

    if settings.rpc_url is not None:
        return None
    url = rpc_url(settings)
    running = rpc_chain_id(url)
    if running == DEV_CHAIN_ID:
        typer.echo(f"using the devchain already running at {url}")
        return None
    if running is not None:
        raise ConfigError(f"{url} serves chain {running}, not a devchain (31337): free the port or set LEDGER_RPC_URL")
    anvil = Devchain.from_settings(settings)
    anvil.start()
    typer.echo(f"devchain (anvil) at {anvil.url}, chain id {DEV_CHAIN_ID}, state in {anvil.state_file}")
    return anvil


def _start_api(settings: Settings, ledger: Any, host: str, port: int) -> tuple[Any, threading.Thread]:
    """Serve ``api.app.create_app`` (with the chain client built here) with uvicorn in a thread."""
    import uvicorn

    from api.app import create_app
    from ledger.chain.devchain import connect
    from ledger.errors import ConfigError

    chain = connect(settings, signer=False)  # its own HTTP session, read-only
    app = create_app(settings, ledger=ledger, chain=chain)
    server = uvicorn.Server(
        uvicorn.Config(app, host=host, port=port, log_level="warning", http="api.protocol:HttpProtocol")
    )
    thread = threading.Thread(target=server.run, name="api", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    if not server.started:
        raise ConfigError(f"the API did not start on {host}:{port} (port taken?)")
    typer.echo(f"API at http://{host}:{port} (docs at http://{host}:{port}/docs)")
    return server, thread


def _wait_anchored(ledger: Any, chain: Any, stop: threading.Event, timeout: float) -> None:
    from ledger.errors import AnchorError

    size, deadline = ledger.head().size, time.monotonic() + timeout
    while size and not stop.is_set() and time.monotonic() < deadline:
        try:
            if chain.latest_tree_size() >= size:
                typer.echo(f"log anchored on chain at tree size {chain.latest_tree_size()}")
                return
        except AnchorError:
            pass
        stop.wait(0.3)
    if size and not stop.is_set():
        typer.echo(f"the log is not anchored yet after {timeout:.0f} s; the worker keeps trying (see the log)")


def _summary(settings: Settings, ledger: Any, chain: Any, lot_id: str | None, base: str, api: bool) -> None:
    from ledger.core import gs1

    say = typer.echo
    say(f"RPC URL:  {chain.w3.provider.endpoint_uri}\ncontract: {chain.address} (chain id {chain.chain_id})")
    if lot_id is None:
        return
    report = ledger.verify_lot(lot_id, anchor_check(ledger, chain, settings))
    gtin, code = gs1.split_lot_id(lot_id)
    say(f"lot {lot_id}: {report.verdict.upper()}  (check it yourself: ocop-ledger verify {lot_id})")
    say(f"page:     {gs1.digital_link(base, gtin, code)}" + ("" if api else "  (once the API is built)"))
    say(f"QR:       {_write_qr(settings, lot_id, gs1.digital_link(base, gtin, code))}")


def _write_qr(settings: Settings, lot_id: str, url: str) -> str:
    from ledger.exports import qr

    path = settings.data_dir / "qr" / f"{lot_id}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(qr.png(url, caption=lot_id))
    return str(path.resolve())
