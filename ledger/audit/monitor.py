"""Monitor a ledger server from outside: no database, only its public log API and the chain.

Each run (``ocop-ledger monitor URL --rpc RPC``):

1. fetches the checkpoint (tree size n, root r) from ``/api/v1/log/checkpoint``;
2. if a previous run verified a head (m, r_m) - kept in a state file - checks that the log did not
   shrink and that ``/api/v1/log/consistency?first=m&second=n`` proves r_m is a prefix of r;
3. fetches the new entries ``[m, n)`` from ``/api/v1/log/entries``, recomputes each leaf hash
   from the entry's canonical bytes, and the root from the state's frontier plus the new leaves,
   which must equal r (so the run costs O(new entries + log n), not O(n));
4. checks the server's anchors (``/api/v1/anchors``): the chain holds each anchored root
   (``root_at``), and a consistency proof links it to r;
5. only when all of that holds, saves the new head and frontier in the state file. A server that
   rewrote its history - or a second server serving another history - fails step 2 or 3 on the
   next run, against the head remembered from before.

JSON shapes of the three log routes: ``docs/log-api.md``. HTTP goes through an ``httpx.Client``
passed in; the chain through a ``ledger.core.ports.ChainReader`` (only ``root_at`` is read).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from ledger.core import bounds, canonical, merkle
from ledger.core.ports import ChainReader
from ledger.errors import LedgerError, VerificationError

PAGE = 1000


@dataclass
class MonitorState:
    url: str
    tree_size: int = 0
    root: str = merkle.EMPTY_ROOT.hex()
    frontier: list[str] = field(default_factory=list)
    anchored_size: int = 0
    checked_at: str = ""

    def to_json(self) -> dict[str, Any]:
        return self.__dict__.copy()

    @classmethod
    def load(cls, path: Path, url: str) -> MonitorState:
        if not path.exists():
            return cls(url)
        data = json.loads(path.read_text())
        if data.get("url") != url:
            raise LedgerError(f"state file {path} belongs to {data.get('url')}, not {url}: use another --state")
        return cls(**data)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=2))
        os.replace(tmp, path)


@dataclass
class MonitorReport:
    url: str
    previous_size: int
    tree_size: int = 0
    root: str = ""
    entries_checked: int = 0
    anchors_checked: int = 0
    findings: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def to_json(self) -> dict[str, Any]:
        return {**self.__dict__, "ok": self.ok}


class _Api:
    def __init__(self, client: httpx.Client, url: str) -> None:
        self.client, self.url = client, url.rstrip("/")

    def get(self, path: str, **params: Any) -> Any:
        try:
            r = self.client.get(self.url + path, params=params or None)
        except httpx.HTTPError as exc:
            raise LedgerError(f"GET {path} failed: {exc}") from exc
        if r.status_code != 200:
            raise LedgerError(f"GET {path}: expected status 200, got {r.status_code}: {r.text[:200]}")
        return bounds.loads(r.content, where=f"GET {path}")  # the server is not trusted: depth-bounded


def monitor(
    client: httpx.Client,
    url: str,
    state_path: Path,
    *,
    chain: ChainReader | None = None,
    page: int = PAGE,
    progress: Callable[[int, int], None] | None = None,
) -> MonitorReport:
    """Check the server's log since the last verified head; save the new head only if all holds."""
    api = _Api(client, url)
    state = MonitorState.load(state_path, url)
    rep = MonitorReport(url, state.tree_size)
    cp = api.get("/api/v1/log/checkpoint")
    n, root = int(cp["tree_size"]), bytes.fromhex(cp["root"])
    rep.tree_size, rep.root = n, root.hex()

    def find(check: str, message: str, index: int | None = None) -> None:
        rep.findings.append({"check": check, "index": index, "message": message})

    if not _consistent(api, state, n, root, find):
        return rep
    frontier = merkle.Frontier(state.tree_size, [bytes.fromhex(h) for h in state.frontier])
    for start in range(state.tree_size, n, page):
        body = api.get("/api/v1/log/entries", start=start, end=min(start + page, n))
        for i, item in enumerate(body["entries"], start=start):
            if int(item["index"]) != i:
                find("entry", f"entries out of sequence: expected index {i}, got {item['index']}", i)
                return rep
            leaf = merkle.leaf_hash(canonical.entry_bytes(item["entry"]))
            if leaf.hex() != item["leaf_hash"]:
                find("leaf", f"leaf hash differs from the entry: expected {leaf.hex()}, got {item['leaf_hash']}", i)
            frontier.append(leaf)
        if len(body["entries"]) == 0:
            find("entry", f"server returned no entries from index {start}: expected up to {n}", start)
            return rep
        rep.entries_checked = frontier.size - state.tree_size
        if progress:
            progress(frontier.size, n)
    if frontier.root() != root:
        find(
            "root",
            f"the entries give another root than the checkpoint: expected {root.hex()}, got {frontier.root().hex()}",
        )
    anchored = _anchors(api, chain, state, n, root, find, rep)
    if rep.ok:
        MonitorState(
            url,
            n,
            root.hex(),
            [h.hex() for h in frontier.nodes],
            max(anchored, state.anchored_size),
            datetime.now(UTC).isoformat(timespec="seconds"),
        ).save(state_path)
    return rep


def _consistent(api: _Api, state: MonitorState, n: int, root: bytes, find: Callable[..., None]) -> bool:
    m = state.tree_size
    if m == 0:
        return True
    if n < m:
        find("rewritten", f"the log shrank: expected tree size >= {m} (verified before), got {n}")
        return False
    if n == m:
        if root.hex() != state.root:
            find("rewritten", f"same tree size {n}, another root: expected {state.root}, got {root.hex()}")
            return False
        return True
    body = api.get("/api/v1/log/consistency", first=m, second=n)
    proof = [bytes.fromhex(h) for h in body["proof"]]
    try:
        merkle.verify_consistency(m, n, proof, bytes.fromhex(state.root), root)
    except VerificationError as exc:
        find("rewritten", f"the log at size {n} does not extend the verified head at size {m}: {exc}")
        return False
    return True


def _anchors(
    api: _Api,
    chain: ChainReader | None,
    state: MonitorState,
    n: int,
    root: bytes,
    find: Callable[..., None],
    rep: MonitorReport,
) -> int:
    body = api.get("/api/v1/anchors", limit=1000)
    newest = 0
    for a in sorted(body.get("anchors", []), key=lambda x: int(x["tree_size"])):
        size, claimed = int(a["tree_size"]), bytes.fromhex(a["root"])
        if size <= state.anchored_size and state.anchored_size:
            continue
        rep.anchors_checked += 1
        where = f"anchor at tree size {size} (tx {a.get('tx_hash')})"
        if size > n:
            find("anchor_root", f"{where} is beyond the checkpoint: expected <= {n}")
            continue
        trusted = claimed
        if chain is not None:
            trusted = bytes(chain.root_at(size))
            if trusted != claimed:
                find(
                    "anchor_chain",
                    f"{where}: the chain holds another root: expected {trusted.hex()}, got {claimed.hex()}",
                )
                continue
        try:
            if size == n:
                if trusted != root:
                    raise VerificationError(f"anchored root differs: expected {trusted.hex()}, got {root.hex()}")
            else:
                proof = api.get("/api/v1/log/consistency", first=size, second=n)["proof"]
                merkle.verify_consistency(size, n, [bytes.fromhex(h) for h in proof], trusted, root)
        except VerificationError as exc:
            find("anchor_consistency", f"{where} is not a prefix of the log: {exc}")
            continue
        newest = max(newest, size)
    return newest
