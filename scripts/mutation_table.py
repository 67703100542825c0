"""Print the tamper-detection table: mutation class × detected / total (bar: 100 %).

    .venv/bin/python scripts/mutation_table.py [--count 3000] [--seed 1] [--processes 2]

Builds the realistic anchored ledger of ``tests/hardening/lab.py`` (in-process EVM), applies
``--count`` random single mutations (``tests/hardening/mutations.py``), each to a fresh copy of
the database, and checks the audit and the affected lot's verdict after each. Exit 1 on a miss.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.hardening import lab, mutations  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--count", type=int, default=3000)
    p.add_argument("--seed", type=int, default=20260801)
    p.add_argument("--processes", type=int, default=2)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        built = lab.build(Path(tmp) / "ledger.db")
        print(f"ledger: {built.entries} entries, {len(built.lots)} lots, anchors at {sorted(built.chain.roots)}")
        outcomes = mutations.run_all(built, args.count, args.seed, Path(tmp), args.processes)
        print(mutations.table(outcomes))
        missed = [o for o in outcomes if not o.detected]
        for o in missed[:50]:
            print(f"MISSED {o.cls} {o.what}: {o.detail}")
        print(f"{len(outcomes)} mutations in {time.perf_counter() - t0:.0f} s")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
