#!/usr/bin/env python3
"""Benchmark anchoring (issue 3, "Benchmark") on a real anvil that this script starts and stops.

Figures:
  1. gas per anchor, from receipts: the first anchor of a contract, and the later ones
     (target: at most 55,000 gas whatever the tree size);
  2. amortized gas per event at batch sizes 1, 100 and 10,000: append that many signed entries
     through ``Ledger.record``, anchor the head with ``AnchorWorker``, divide the receipt's gas;
  3. anchors per second on anvil: sequential sign + send + wait for the receipt
     (``ChainClient.send_anchor`` + ``wait_receipt``), and full worker cycles (intent stored,
     sent, receipt, confirmed in the database).

    .venv/bin/python scripts/bench_anchor.py            # full run
    .venv/bin/python scripts/bench_anchor.py --quick    # smoke run for CI
    .venv/bin/python scripts/bench_anchor.py --json

anvil is ``node_modules/.bin/anvil`` (``npm ci``) or ``LEDGER_ANVIL_BIN``. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import socket
import sys
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

from bench_common import Figure, log, machine, print_table, temp_dir  # noqa: E402
from eth_account import Account  # noqa: E402

from ledger.chain.client import ANVIL_DEV_KEY, ChainClient, make_web3  # noqa: E402
from ledger.chain.devchain import Devchain, find_anvil  # noqa: E402
from ledger.chain.worker import AnchorWorker, WorkerConfig  # noqa: E402
from ledger.core.records import OrganizationCreate, ProductCreate  # noqa: E402
from ledger.service import Ledger  # noqa: E402
from ledger.settings import Settings  # noqa: E402

GAS_TARGET = 55_000
MASTER_KEY = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def gas_figures(client: ChainClient, n: int) -> list[Figure]:
    first = client.wait_receipt(client.send_anchor(secrets.token_bytes(32), 1)).gas_used
    later = []
    for i in range(n):
        size = 10 ** (1 + 9 * i // n) + i  # strictly increasing, from tens to billions of entries
        later.append(client.wait_receipt(client.send_anchor(secrets.token_bytes(32), size)).gas_used)
    return [
        Figure("gas", "first anchor of a contract", first, "gas"),
        Figure("gas", f"later anchors, max of {n}", max(later), "gas", GAS_TARGET, "lower"),
        Figure("gas", f"later anchors, min of {n}", min(later), "gas"),
    ]


def amortized_figures(client: ChainClient, data: Path, batches: Sequence[int]) -> list[Figure]:
    ledger = Ledger.open(Settings(data_dir=data, master_key=MASTER_KEY, _env_file=None))  # type: ignore[call-arg]
    ledger.create_org(OrganizationCreate(name="HTX Thanh long Phú Hội", slug="htx-phu-hoi"))
    ledger.create_product("htx-phu-hoi", ProductCreate(gtin="08930000045676", name_vi="Thanh long ruột đỏ"))
    lot = ledger.create_lot("htx-phu-hoi", {"gtin": "08930000045676", "code": "BENCH-1"})["lot_id"]
    worker = AnchorWorker(ledger.engine, client, WorkerConfig(receipt_wait=30))
    worker.tick(force=True)  # the lot's commissioning entry: anchored before the measured batches
    ev = {"type": "ObjectEvent", "action": "OBSERVE", "bizStep": "storing", "eventTime": "2026-07-02T06:30+07:00"}
    out = []
    for batch in batches:
        log(f"appending {batch} entries, then anchoring")
        for start in range(0, batch, 1000):
            ledger.record("htx-phu-hoi", [{"lot": lot, "event": ev}] * min(1000, batch - start))
        worker.tick(force=True)
        row = worker.rows(("confirmed",), newest_first=True, limit=1)[0]
        assert row["tree_size"] == ledger.head().size, "the head was not anchored"
        gas = int(row["gas_used"])
        note = f"{gas:,} gas / {batch:,} = {gas / batch:,.2f}"
        out.append(Figure("amortized", f"batch of {batch:,} events", gas / batch, "gas/event", note=note))
    ledger.engine.dispose()
    return out


def rate_figures(client: ChainClient, data: Path, n: int) -> list[Figure]:
    start_size = client.latest_tree_size() + 1
    t = time.perf_counter()
    for i in range(n):
        client.wait_receipt(client.send_anchor(secrets.token_bytes(32), start_size + i))
    raw = n / (time.perf_counter() - t)
    ledger = Ledger.open(Settings(data_dir=data / "rate", master_key=MASTER_KEY, _env_file=None))  # type: ignore[call-arg]
    ledger.create_org(OrganizationCreate(name="HTX Chuối sạch Chiêu Yên", slug="htx-chieu-yen"))
    ledger.create_product("htx-chieu-yen", ProductCreate(gtin="08930000045683", name_vi="Chuối sấy"))
    fresh, _ = ChainClient.deploy(client.w3, client.account)  # type: ignore[arg-type]
    worker = AnchorWorker(ledger.engine, fresh, WorkerConfig(receipt_wait=30))
    t = time.perf_counter()
    for i in range(n // 2):
        ledger.create_lot("htx-chieu-yen", {"gtin": "08930000045683", "code": f"CY-{i}"})
        worker.tick(force=True)
    cycles = (n // 2) / (time.perf_counter() - t)
    ledger.engine.dispose()
    return [
        Figure("rate", "anchors/s, send + wait receipt", raw, "anchors/s"),
        Figure("rate", "anchors/s, full worker cycle", cycles, "anchors/s", note="incl. 1 append + DB rows"),
    ]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smoke run: fewer anchors, batches 1 and 100 only")
    ap.add_argument("--anchors", type=int, help="anchors for the gas and rate figures (default 200; quick 20)")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON on stdout instead of a table")
    return ap.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    n = args.anchors or (20 if args.quick else 200)
    batches = (1, 100) if args.quick else (1, 100, 10_000)
    anvil_bin = find_anvil(Path(os.environ["LEDGER_ANVIL_BIN"]) if os.environ.get("LEDGER_ANVIL_BIN") else None)
    figures: list[Figure] = []
    with temp_dir("ocop-bench-anchor-") as tmp, Devchain(anvil_bin, free_port(), tmp / "anvil-state.json") as anvil:
        log(f"anvil at {anvil.url}")
        account = Account.from_key(ANVIL_DEV_KEY)
        client, _ = ChainClient.deploy(make_web3(anvil.url), account)
        log(f"gas: {n} anchors")
        figures += gas_figures(client, n)
        amortized_client, _ = ChainClient.deploy(client.w3, account)
        figures += amortized_figures(amortized_client, tmp / "amortized", batches)
        log(f"rate: {n} anchors")
        figures += rate_figures(client, tmp, n)
    if args.json:
        print(json.dumps({"machine": machine(), "figures": [f.to_json() for f in figures]}, indent=2))
    else:
        print_table(
            "OCOP Ledger: anchoring on anvil (ProvenanceAnchor, prague)",
            figures,
            [
                "amortized gas = gas of the one anchor that covers the batch / events in the batch",
                "anchor gas does not depend on the tree size: one new storage slot per anchor",
                "rate: anvil automines; a worker cycle also reconciles with the chain (about 15 RPC calls)",
            ],
        )
    misses = [f for f in figures if f.verdict == "MISS"]
    return 1 if misses else 0


if __name__ == "__main__":
    sys.exit(main())
