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
