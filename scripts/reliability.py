"""The reliability figures, in one command: every bounded hardening suite and script, then one table.

    .venv/bin/python scripts/reliability.py [--load-seconds 20] [--mutations 1000] [--fuzz-examples 20]

Runs pytest on tests/hardening (fuzzing, tamper mutations, authorization matrix, load, faults,
secrets) plus the chain-outage fault test of tests/chain/test_faults.py, then the scripts with short
durations (scripts/mutation_table.py, scripts/fuzz_api.py, scripts/load_test.py on PostgreSQL), and
prints the figures. Exit 1 if anything failed. Needs PostgreSQL at LEDGER_TEST_PG_URL.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
CHAIN_OUTAGE = "tests/chain/test_faults.py::test_chain_outage_ingest_goes_on_and_the_worker_catches_up"


def sh(args: list[str], *, quiet: bool = False, env: dict[str, str] | None = None) -> tuple[int, str, float]:
    t0 = time.perf_counter()
    res = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, env={**os.environ, **(env or {})})
    took = time.perf_counter() - t0
    if res.returncode and not quiet:
        sys.stderr.write(res.stdout[-4000:] + res.stderr[-4000:])
    return res.returncode, res.stdout + res.stderr, took


def junit(path: Path) -> list[tuple[str, str, str]]:
    """(file, test name, outcome) for every test case."""
    out = []
    for case in ET.parse(path).getroot().iter("testcase"):
        outcome = "passed"
        for tag in ("failure", "error", "skipped"):
            if case.find(tag) is not None:
                outcome = tag
        out.append((str(case.get("classname", "")), str(case.get("name", "")), outcome))
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--load-seconds", type=float, default=20.0)
    p.add_argument("--mutations", type=int, default=1000)
    p.add_argument("--fuzz-examples", type=int, default=20)
    args = p.parse_args()
    ok = True
    fig: dict[str, Any] = {}

    with TemporaryDirectory() as tmp:
        xml = Path(tmp) / "junit.xml"
        code, out, took = sh(
            [PY, "-m", "pytest", "-q", "-rP", "-n", "2", "--dist", "loadfile", "-p", "no:randomly",
             f"--junitxml={xml}", "tests/hardening", CHAIN_OUTAGE],
            env={"LEDGER_MUTATIONS": "200"},  # the full table comes from scripts/mutation_table.py below
        )  # fmt: skip
        ok &= code == 0
        cases = junit(xml) if xml.exists() else []
    fig["pytest"] = (code, took, cases)
    m = re.search(r"authorization matrix: (\d+) cases over (\d+) keyed routes", out)
    fig["authz"] = (int(m.group(1)), int(m.group(2))) if m else None
    m = re.search(r"fuzzing: (\d+) operations, (\d+) examples, (\d+) failing", out)
    fig["fuzz_ci"] = tuple(int(x) for x in m.groups()) if m else None
    m = re.search(r"duration ([\d.]+) s: .*?(\d+) events acknowledged \(([\d.]+)/s\)", out)
    fig["load_ci"] = m.groups() if m else None

    code, mut, _ = sh([PY, "scripts/mutation_table.py", "--count", str(args.mutations)])
    ok &= code == 0
    code, fz, _ = sh([PY, "scripts/fuzz_api.py", "--examples", str(args.fuzz_examples), "--json"])
    ok &= code == 0
    fuzz = (
        json.loads(fz.strip().splitlines()[-1]) if code == 0 else {"failing": "?", "operations": "?", "examples": "?"}
    )
    code, ld, _ = sh([PY, "scripts/load_test.py", "--seconds", str(args.load_seconds), "--json"])
    ok &= code == 0
    load = next((json.loads(line) for line in ld.splitlines() if line.startswith("{")), None)

    print(f"# OCOP Ledger reliability figures — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC\n")
    code, took, cases = fig["pytest"]
    by_file: dict[str, list[str]] = {}
    for cls, _name, outcome in cases:
        by_file.setdefault(cls.rsplit(".", 1)[-1], []).append(outcome)
    print(f"pytest tests/hardening + chain outage: {len(cases)} tests in {took:.0f} s (2 workers), exit {code}")
    for f, outcomes in sorted(by_file.items()):
        print(f"  {f:<16} {outcomes.count('passed')}/{len(outcomes)} passed" + (
            f", {outcomes.count('skipped')} skipped" if "skipped" in outcomes else ""))  # fmt: skip
    print("\n## Tamper mutation table (scripts/mutation_table.py)\n")
    print(mut.strip())
    print("\n## Figures\n")
    print("| figure | value |\n|---|---|")
    if fuzz:
        print(f"| API fuzzing (scripts/fuzz_api.py) | {fuzz['operations']} operations, {fuzz['examples']} examples, "
              f"{fuzz['failing']} failing |")  # fmt: skip
    if fig["fuzz_ci"]:
        o, e, f = fig["fuzz_ci"]
        print(f"| API fuzzing (CI test) | {o} operations, {e} examples, {f} failing |")
    if fig["authz"]:
        print(
            f"| authorization matrix | {fig['authz'][0]} cases over {fig['authz'][1]} keyed routes, all as expected |"
        )
    mm = re.search(r"(\d+) mutations in", mut)
    missed = mut.count("MISSED")
    print(f"| tamper mutations | {mm.group(1) if mm else '?'} applied, {missed} missed |")
    if load:
        lat = ", ".join(f"{k} {v['p50']:.0f}/{v['p99']:.0f}" for k, v in load["latency_ms"].items())
        who = f"{load['database']}, {load['writers']} writers + {load['readers']} readers, {load['seconds']} s"
        print(f"| load ({who}) | "
              f"{load['writes_per_s']} write req/s ({load['events_per_s']} events/s), {load['reads_per_s']} reads/s; "
              f"{load['events_acknowledged']} acknowledged, {load['lost_or_duplicated']} lost or duplicated, "
              f"{load['server_errors']} 5xx |")  # fmt: skip
        print(f"| load latency p50/p99 ms | {lat} |")
    if fig["load_ci"]:
        s, n, r = fig["load_ci"]
        print(f"| load (CI test, 20 writers + 5 readers) | {n} events acknowledged in {s} s ({r}/s), 0 lost |")
    faults = [(c, n, o) for c, n, o in cases if c.endswith("test_faults")]
    survived = sum(o == "passed" for *_, o in faults)
    print(f"| fault scenarios | {survived}/{len(faults)} survived: " + "; ".join(
        f"{n} {'ok' if o == 'passed' else o.upper()}" for c, n, o in faults) + " |")  # fmt: skip
    sec = [(n, o) for c, n, o in cases if c.endswith("test_secrets")]
    print(f"| secrets, start-up, headers | {sum(o == 'passed' for _, o in sec)}/{len(sec)} passed |")
    print(f"\noverall: {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
