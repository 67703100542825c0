"""Process-wide settings the composition roots (the app factory, the CLI entry) apply once.

Importing web3 imports py_ecc, which raises ``sys.setrecursionlimit`` to 100,000 for the whole
process. With that limit, deep recursion in C code (the JSON decoder) overflows the C stack and
kills the process before Python's own check fires. ``settle_recursion_limit`` imports web3 (so
nothing imports it later and raises the limit again) and puts a sane limit back.
"""

from __future__ import annotations

import sys

SANE_RECURSION_LIMIT = 2000


def settle_recursion_limit() -> int:
    """Import web3 now, then cap the recursion limit at ``SANE_RECURSION_LIMIT``; return the limit."""
    import web3  # noqa: F401  (py_ecc, imported by web3, raises the limit process-wide)

    if sys.getrecursionlimit() > SANE_RECURSION_LIMIT:
        sys.setrecursionlimit(SANE_RECURSION_LIMIT)
    return sys.getrecursionlimit()


GC_GEN0_THRESHOLD = 20_000
"""Container allocations between young-generation collections in a server process (CPython's default: 700)."""


def tune_gc_for_serving() -> tuple[int, int, int]:
    """Collect, freeze what is alive, and collect the young generation less often; return the thresholds.

    For a long-running API worker, called once its app is built (``ocop-ledger serve``'s factory).
    Measured with ``scripts/bench_ingest.py`` (50 writers): with CPython's defaults a full collection
    walked the ~1 M objects of the imported libraries every few seconds, a pause that set the
    writers' p99 at about 200 ms against a p50 of 40 ms; young collections every 700 allocations
    cost about a third of the CPU per event. Frozen objects (``gc.freeze``) are never walked again;
    garbage cycles are still collected, just in larger, rarer young collections.
    """
    import gc

    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GC_GEN0_THRESHOLD, gen1, gen2)
    return gc.get_threshold()
