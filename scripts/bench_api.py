"""Benchmark of the HTTP API and the bundle verifier, against a real anvil and a real uvicorn.

1. ``/verify`` and the scan page (``/01/{gtin}/10/{lot}``) of a lot of 10 anchored events, on ONE
   uvicorn worker at 10 concurrent keep-alive clients, side by side in the same run with the
   trivial ``/healthz`` of the same app. Targets: throughput ratio >= 0.5, p99 <= 20 ms.
2. ``ocop-ledger verify-bundle`` of a 100-event bundle against anvil: target < 1 s (whole command).

    .venv/bin/python scripts/bench_api.py [--seconds 3] [--rounds 3] [--json]

The rate limit is turned off for the server under test (LEDGER_RATE_LIMIT=0): this measures the
app, not the limiter. Request logging stays on (to a file), as in production.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


async def _client(host: str, port: int, path: str, stop: float, lat: list[float]) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    req = f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: text/html\r\nAccept-Language: vi\r\n\r\n".encode()
    try:
        while time.perf_counter() < stop:
            t0 = time.perf_counter()
            writer.write(req)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            status = int(head.split(b" ", 2)[1])
            await reader.readexactly(length)
            if status >= 400:
                raise RuntimeError(f"{path} answered {status}")
            lat.append(time.perf_counter() - t0)
    finally:
        writer.close()


async def _load(host: str, port: int, path: str, seconds: float, clients: int) -> list[float]:
    lat: list[float] = []
    stop = time.perf_counter() + seconds
    await asyncio.gather(*(_client(host, port, path, stop, lat) for _ in range(clients)))
    return lat


def load(port: int, path: str, seconds: float, clients: int = 10) -> dict[str, float]:
    t0 = time.perf_counter()
    lat = asyncio.run(_load("127.0.0.1", port, path, seconds, clients))
    elapsed = time.perf_counter() - t0
    lat.sort()
    return {
        "rps": len(lat) / elapsed,
        "p50_ms": lat[len(lat) // 2] * 1000,
        "p99_ms": lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000,
        "n": len(lat),
    }


def setup(tmp: Path) -> dict[str, Any]:
    from eth_account import Account

    from ledger.chain.client import ANVIL_DEV_KEY, ChainClient, make_web3
    from ledger.chain.devchain import Devchain, find_anvil
    from ledger.chain.worker import AnchorWorker
    from ledger.core.records import OrganizationCreate, ProductCreate
    from ledger.service import Ledger
    from ledger.settings import Settings
    from tests.api.anvil_support import MASTER_KEY_B64, free_port

    devchain = Devchain(find_anvil(None), free_port(), tmp / "anvil-state.json", tmp / "anvil.log")
    devchain.start()
    chain, _ = ChainClient.deploy(make_web3(devchain.url), Account.from_key(ANVIL_DEV_KEY))
    settings = Settings(  # type: ignore[call-arg]
        data_dir=tmp / "data", master_key=MASTER_KEY_B64, rpc_url=devchain.url, contract_address=chain.address
    )
    ledger = Ledger.open(settings)
    ledger.create_org(OrganizationCreate(name="HTX Thanh long Phú Hội", slug="htx", province="Lâm Đồng"))
    ledger.create_product(
        "htx", ProductCreate(gtin="08930000045676", name_vi="Thanh long ruột đỏ", ocop_stars=4, ocop_year=2024)
    )
    ev = {"type": "ObjectEvent", "action": "OBSERVE", "bizStep": "storing", "eventTime": "2026-07-02T06:30:00+07:00"}
    for code, n in (("TEN", 9), ("HUNDRED", 99)):
        ledger.create_lot("htx", {"gtin": "08930000045676", "code": code, "event_time": "2026-07-01T06:30:00+07:00"})
        ledger.record("htx", [{"lot": f"08930000045676.{code}", "event": ev}] * n)
    worker = AnchorWorker(ledger.engine, chain)
    worker.tick(force=True)
    for _ in range(100):
        worker.tick()
        if chain.latest_tree_size() == ledger.head().size:
            break
        time.sleep(0.05)
    return {"devchain": devchain, "settings": settings, "rpc": devchain.url, "contract": chain.address}


def serve(tmp: Path, ctx: dict[str, Any]) -> tuple[subprocess.Popen[bytes], int]:
    from tests.api.anvil_support import MASTER_KEY_B64, free_port

    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")},
        "LEDGER_DATA_DIR": str(tmp / "data"),
        "LEDGER_MASTER_KEY": MASTER_KEY_B64,
        "LEDGER_RPC_URL": ctx["rpc"],
        "LEDGER_CONTRACT_ADDRESS": ctx["contract"],
        "LEDGER_RATE_LIMIT": "0",
    }
    out = (tmp / "uvicorn.log").open("wb")
    factory = "ledger.cli.wiring:create_app_from_env"
    cmd = [sys.executable, "-m", "uvicorn", "--factory", factory, "--port", str(port), "--workers", "1"]
    proc = subprocess.Popen([*cmd, "--no-access-log"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    for _ in range(300):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):  # noqa: S310
                return proc, port
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("uvicorn did not start")


def bench_http(port: int, seconds: float, rounds: int) -> dict[str, Any]:
    paths = {
        "healthz": "/healthz",
        "verify": "/api/v1/lots/08930000045676.TEN/verify",
        "page": "/01/08930000045676/10/TEN",
    }
    t0 = time.perf_counter()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{paths['verify']}") as r:  # noqa: S310
        verdict = json.loads(r.read())["verdict"]
    cold_ms = (time.perf_counter() - t0) * 1000  # the first verification: no cached verdict
    if verdict != "verified":
        raise RuntimeError(f"the benchmark lot should be verified, got {verdict}")
    for p in paths.values():  # warm up
        load(port, p, 0.5)
    runs: dict[str, list[dict[str, float]]] = {k: [] for k in paths}
    for r in range(rounds):
        for name, p in paths.items():
            runs[name].append(load(port, p, seconds))
            log(f"round {r + 1} {name:<8} {runs[name][-1]['rps']:8.0f} req/s  p99 {runs[name][-1]['p99_ms']:6.2f} ms")
    out: dict[str, Any] = {}
    for name, rs in runs.items():
        out[name] = {
            "rps": statistics.median(x["rps"] for x in rs),
            "p50_ms": statistics.median(x["p50_ms"] for x in rs),
            "p99_ms": max(x["p99_ms"] for x in rs),
        }
    for name in ("verify", "page"):
        out[name]["ratio"] = out[name]["rps"] / out["healthz"]["rps"]
    out["verify"]["cold_ms"] = cold_ms
    t0 = time.perf_counter()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/lots/08930000045676.HUNDRED/verify") as r:  # noqa: S310
        assert json.loads(r.read())["verdict"] == "verified"
    out["verify"]["cold_100_ms"] = (time.perf_counter() - t0) * 1000
    return out


def bench_bundle(port: int, ctx: dict[str, Any], tmp: Path) -> dict[str, Any]:
    from ledger.chain.rpc import RpcChain
    from ledger.core.bundle import verify_bundle

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/lots/08930000045676.HUNDRED/bundle") as r:  # noqa: S310
        raw = r.read()
    path = tmp / "bundle-100.json"
    path.write_bytes(raw)
    bundle = json.loads(raw)
    assert len(bundle["entries"]) == 100
    t = []
    for _ in range(5):
        t0 = time.perf_counter()
        report = verify_bundle(bundle, RpcChain(ctx["rpc"]))
        t.append(time.perf_counter() - t0)
        assert report.verdict == "verified", report.failure
    cli = [
        sys.executable,
        "-c",
        "from ledger.cli import main; main()",
        "verify-bundle",
        str(path),
        "--rpc",
        ctx["rpc"],
    ]
    c = []
    for _ in range(5):
        t0 = time.perf_counter()
        done = subprocess.run(cli, capture_output=True, cwd=tmp, check=False)
        c.append(time.perf_counter() - t0)
        assert done.returncode == 0, done.stdout + done.stderr
    return {"entries": 100, "in_process_ms": statistics.median(t) * 1000, "cli_s": statistics.median(c)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=3.0, help="seconds per endpoint per round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-api-") as d:
        tmp = Path(d)
        log("setting up anvil, the contract, a ledger with anchored lots of 10 and 100 events ...")
        ctx = setup(tmp)
        proc, port = serve(tmp, ctx)
        try:
            http = bench_http(port, args.seconds, args.rounds)
            bundle = bench_bundle(port, ctx, tmp)
        finally:
            proc.terminate()
            proc.wait(timeout=10)
            ctx["devchain"].stop()
    checks = {
        "verify ratio >= 0.5": http["verify"]["ratio"] >= 0.5,
        "verify p99 <= 20 ms": http["verify"]["p99_ms"] <= 20,
        "page ratio >= 0.5": http["page"]["ratio"] >= 0.5,
        "page p99 <= 20 ms": http["page"]["p99_ms"] <= 20,
        "verify-bundle (100 events, CLI) < 1 s": bundle["cli_s"] < 1.0,
    }
    result = {"http": http, "bundle": bundle, "checks": checks}
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print("one uvicorn worker, 10 concurrent keep-alive clients, lot of 10 anchored events")
        print(f"{'endpoint':<10}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'ratio':>8}")
        for name, h in http.items():
            print(f"{name:<10}{h['rps']:>10.0f}{h['p50_ms']:>9.2f}{h['p99_ms']:>9.2f}{h.get('ratio', 1.0):>8.2f}")
        print(
            f"verify-bundle, 100 events: {bundle['in_process_ms']:.1f} ms in process, "
            f"{bundle['cli_s'] * 1000:.0f} ms for the whole CLI command"
        )
        print(
            f"uncached /verify: first request after start {http['verify']['cold_ms']:.0f} ms; "
            f"later, a 100-event lot {http['verify']['cold_100_ms']:.1f} ms (chain reads included)"
        )
        for name, ok in checks.items():
            print(f"  {'PASS' if ok else 'MISS'}  {name}")
    sys.exit(0 if all(checks.values()) else 1)


if __name__ == "__main__":
    main()
