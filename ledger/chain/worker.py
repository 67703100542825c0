"""The anchor worker and anchor verification.

``AnchorWorker.tick()`` (once a second) first reconciles its ``anchor`` rows with the CHAIN (the
contract's state and receipts), then anchors the log head when ``interval`` seconds have passed
since the last anchor or ``batch`` entries wait, and never when nothing is new. Crash safety:

1. the intent (tree size, root, nonce and the signed transaction, hence its hash) is committed
   before anything is sent;
2. the transaction is broadcast and the row marked ``sent``;
3. once the contract holds the root for that size (and ``confirmations`` blocks are on top of
   it) the row is ``confirmed`` with its block number and time.

A crash between any two steps leaves a row that the next reconcile settles: the chain holds the
root → confirmed; the node does not know the transaction → the same signed bytes are broadcast
again (or, if that nonce was used by something else, a new transaction is signed); the chain
holds a different root for that size → ``failed``, logged loudly (fork or tampering evidence).
A size the chain already has is never sent, and only one anchor is in flight at a time.

One worker is active per database (``WorkerLock``); others stand by. Ingest never waits on
the worker: it only reads the log head and writes its own rows in short transactions.

``anchor_check_for`` (in ``ledger.chain.check``, re-exported here) builds the verification
``AnchorCheck`` that trusts the chain, not the database.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update
from sqlalchemy.exc import SQLAlchemyError

from ledger.chain.check import anchor_check_for
from ledger.chain.client import ZERO_ROOT, AnchorRevert, ChainClient, Receipt
from ledger.chain.lock import WorkerLock
from ledger.core.signing import Signer
from ledger.errors import AnchorError
from ledger.settings import Settings
from ledger.store import heads_map
from ledger.store import log as store
from ledger.store.db import read_tx, write_tx
from ledger.store.models import Anchor

log = logging.getLogger("ledger.chain.worker")
_anchor = Anchor.__table__  # type: ignore[attr-defined]
OPEN = ("intent", "sent")
__all__ = ["AnchorWorker", "WorkerConfig", "anchor_check_for", "fault"]
FAULT_POINTS = ("after_intent", "after_send", "after_receipt", "before_commit")


def fault(point: str) -> None:
    """Test hook: ``LEDGER_FAULT=<point>`` SIGKILLs this process there. Inert unless set explicitly."""
    if os.environ.get("LEDGER_FAULT") == point:
        log.warning("LEDGER_FAULT=%s: killing this process now", point)
        logging.shutdown()
        os.kill(os.getpid(), signal.SIGKILL)


@dataclass
class WorkerConfig:
    interval: float = 10.0
    batch: int = 1000
    confirmations: int = 0
    receipt_wait: float = 5.0  # how long one tick waits for a fresh receipt
    retry_max: float = 60.0
    poll: float = 1.0
    standby_retry: float = 2.0

    @classmethod
    def from_settings(cls, settings: Settings) -> WorkerConfig:
        return cls(
            interval=settings.anchor_interval,
            batch=settings.anchor_batch,
            confirmations=settings.confirmations,
            retry_max=settings.anchor_retry_max,
            poll=min(1.0, settings.anchor_interval),
        )


def _now() -> datetime:
    return datetime.now(UTC)


class AnchorWorker:
    def __init__(
        self,
        engine: Engine,
        chain: ChainClient,
        config: WorkerConfig | None = None,
        *,
        lock: WorkerLock | None = None,
        clock: Callable[[], float] = time.monotonic,
        heads_signer: Callable[[Connection], Signer] | None = None,
    ) -> None:
        """``heads_signer`` gives the operator's log key: with it every anchor first appends a ``heads``
        entry (issue 11, completeness; ``ledger.store.heads_map``) and anchors the log up to it. The map is
        kept in ``heads_cache`` from anchor to anchor, so the log-head lock is held only for the entries
        appended since the cache was brought up to date."""
        self.heads_signer = heads_signer
        self.heads_cache = heads_map.MapCache()
        self.engine, self.chain, self.config, self.lock, self.clock = (
            engine,
            chain,
            config or WorkerConfig(),
            lock,
            clock,
        )
        self.last_anchor_at: float | None = None
        self._behind: tuple[int, int] | None = None
        self._checked: tuple[int, int] | None = None  # (chain latest, our top confirmed size) last seen consistent

    # --- one pass ------------------------------------------------------------------------

    def tick(self, force: bool = False) -> str:
        """Reconcile, then anchor if due. Returns what happened: anchored | in_flight | idle | waiting | behind."""
        latest = self.reconcile()
        if self.rows(OPEN):
            return "in_flight"
        head = self._head()
        if head.size < latest:
            if self._behind != (latest, head.size):  # say it once per state, not every second
                log.error(
                    "the chain has tree size %d anchored but the local log has only %d entries: "
                    "the local log was truncated or restored from an old backup; not anchoring",
                    latest,
                    head.size,
                )
            self._behind = (latest, head.size)
            return "behind"
        if head.size == latest:
            return "idle"
        waiting = head.size - latest
        last = self.last_anchor_at
        if not (force or last is None or waiting >= self.config.batch or self.clock() - last >= self.config.interval):
            return "waiting"
        self.anchor(self._with_heads(head), latest)
        return "anchored"

    def _with_heads(self, head: store.TreeHead) -> store.TreeHead:
        """Format v2: append the ``heads`` entry (log key) and anchor exactly the log up to and including it.

        The map cache is first brought to the committed log outside the lock (the entries below it are
        immutable); under the lock only what was appended meanwhile is applied (``ledger.store.heads_map``)."""
        if self.heads_signer is None:
            return head
        self.heads_cache.catch_up(self.engine)
        with write_tx(self.engine) as conn:
            return heads_map.append_heads(conn, self.heads_signer(conn), _now(), self.heads_cache)

    def reconcile(self) -> int:
        """Settle every open row against the contract; return the contract's latest tree size."""
        latest = self.chain.latest_tree_size()
        self._check_confirmed(latest)
        for row in self.rows(OPEN):
            if row["tree_size"] <= latest:
                on_chain = self.chain.root_at(row["tree_size"])
                if on_chain == bytes(row["root"]):
                    self._settle(row)
                elif on_chain == ZERO_ROOT:
                    self._set(row["id"], status="superseded", error=f"the chain moved past it to size {latest}")
                    log.warning("anchor of size %d superseded: the chain already has size %d", row["tree_size"], latest)
                else:
                    self._mismatch(row, on_chain)
            else:
                self._resume(row)
        return latest

    def anchor(self, head: store.TreeHead, latest: int) -> None:
        """Store the intent, send, and wait a little for the receipt."""
        self._check_extends(latest)
        self.chain.check_anchor(head.root, head.size)
        signed = self.chain.sign_anchor(head.root, head.size)
        row_id = self._store_intent(head, signed.tx_hash, signed.raw.hex(), signed.nonce, signed.sender)
        log.info(
            "anchoring tree size %d root %s in tx %s (nonce %d)",
            head.size,
            head.root.hex(),
            signed.tx_hash,
            signed.nonce,
        )
        fault("after_intent")
        self.chain.broadcast(signed)
        self.last_anchor_at = self.clock()
        fault("after_send")
        self._set(row_id, status="sent")
        if self._await_receipt(signed.tx_hash):
            self.reconcile()

    # --- reconcile steps ---------------------------------------------------------------

    def _settle(self, row: dict[str, Any]) -> None:
        """The chain holds our root for this size: confirm once it has enough blocks on top."""
        tx_hash, receipt = row["tx_hash"], self.chain.receipt(row["tx_hash"]) if row["tx_hash"] else None
        if receipt is None or receipt.status != 1:
            event = self.chain.find_anchor_event(int(row["tree_size"]))
            tx_hash = event.tx_hash if event else tx_hash
            receipt = self.chain.receipt(event.tx_hash) if event else None
        if receipt is not None and self.config.confirmations:
            if self.chain.block_number() - receipt.block_number < self.config.confirmations:
                self._set(row["id"], status="sent", tx_hash=tx_hash)
                return
        block_time = _utc(self.chain.block_time(receipt.block_number)) if receipt else None
        fault("after_receipt")
        with write_tx(self.engine) as conn:
            conn.execute(
                update(_anchor)
                .where(_anchor.c.id == row["id"])
                .values(
                    status="confirmed",
                    tx_hash=tx_hash,
                    updated_at=_now(),
                    error=None,
                    **_receipt_cols(receipt, block_time),
                )
            )
            fault("before_commit")
        log.info(
            "anchor of tree size %d confirmed in block %s (tx %s)",
            row["tree_size"],
            receipt and receipt.block_number,
            tx_hash,
        )

    def _resume(self, row: dict[str, Any]) -> None:
        """Our size is not on chain yet: wait, or send again if the node lost the transaction."""
        tx_hash = row["tx_hash"]
        receipt = self.chain.receipt(tx_hash) if tx_hash else None
        if receipt is not None:
            if receipt.status != 1:
                self._set(
                    row["id"],
                    status="failed",
                    error=f"reverted in block {receipt.block_number}",
                    **_receipt_cols(receipt, None),
                )
                log.error(
                    "anchor tx %s for size %d reverted in block %d", tx_hash, row["tree_size"], receipt.block_number
                )
            return  # mined but not visible yet in the contract's state: a lagging node; look again next tick
        if tx_hash and self.chain.is_known(tx_hash):
            if row["status"] == "intent":
                self._set(row["id"], status="sent")
            return
        try:
            self.chain.check_anchor(bytes(row["root"]), int(row["tree_size"]))
        except AnchorRevert as exc:
            self._set(row["id"], status="failed", error=str(exc)[:1000])
            log.error("anchor of size %d can no longer be sent: %s", row["tree_size"], exc)
            return
        self._send_again(row)
        self._set(row["id"], status="sent")

    def _send_again(self, row: dict[str, Any]) -> None:
        """The node lost our transaction: broadcast the same signed bytes, or re-sign if its nonce was used."""
        sender = self.chain.sender
        # "pending" counts the pool too: if another transaction holds our nonce there, re-sign rather than resend
        if row["sender"] == sender and row["raw_tx"] and self.chain.nonce(str(sender), "pending") <= int(row["nonce"]):
            log.warning(
                "anchor tx %s for size %d is unknown to the node (never sent, dropped, reorged out): sending it again",
                row["tx_hash"],
                row["tree_size"],
            )
            self.chain.broadcast(bytes.fromhex(row["raw_tx"]))
        else:
            signed = self.chain.sign_anchor(bytes(row["root"]), int(row["tree_size"]))
            log.warning(
                "nonce %s of the anchor for size %d was used by another transaction: re-signing as %s",
                row["nonce"],
                row["tree_size"],
                signed.tx_hash,
            )
            self._set(
                row["id"],
                status="intent",
                tx_hash=signed.tx_hash,
                raw_tx=signed.raw.hex(),
                nonce=signed.nonce,
                sender=signed.sender,
            )
            self.chain.broadcast(signed)

    def _mismatch(self, row: dict[str, Any], on_chain: bytes) -> None:
        msg = (
            f"the chain holds a different root for tree size {row['tree_size']}: expected {bytes(row['root']).hex()} "
            f"(ours), got {on_chain.hex()} (chain) — fork or tampering evidence"
        )
        self._set(row["id"], status="failed", error=msg)
        log.error("ANCHOR MISMATCH: %s", msg)

    def _check_confirmed(self, latest: int) -> None:
        """Our confirmed anchors must still be on chain (a reset devchain or deep reorg loses them)."""
        top = self.rows(("confirmed",), newest_first=True, limit=1)
        if not top or self._checked == (latest, int(top[0]["tree_size"])):
            return
        for row in self.rows(("confirmed",), newest_first=True):
            on_chain = self.chain.root_at(row["tree_size"]) if row["tree_size"] <= latest else ZERO_ROOT
            if on_chain == bytes(row["root"]):
                break
            if on_chain != ZERO_ROOT:
                self._mismatch(row, on_chain)
                continue
            self._set(row["id"], status="failed", error="anchor no longer on chain (chain reset or reorg)")
            log.error(
                "anchor of tree size %d is no longer on chain (chain reset or reorg): will anchor again",
                row["tree_size"],
            )
        self._checked = (latest, int(top[0]["tree_size"]))

    def _check_extends(self, latest: int) -> None:
        """Refuse to anchor a log that does not extend what the chain holds (it was rewritten)."""
        if latest == 0:
            return
        with read_tx(self.engine) as conn:
            ours = store.root_at(conn, latest)
        theirs = self.chain.root_at(latest)
        if ours != theirs:
            raise AnchorError(
                f"the local log does not extend the chain's anchor at size {latest}: expected root {theirs.hex()} "
                f"from chain, got {ours.hex()} locally — the log was rewritten; refusing to anchor"
            )

    def _await_receipt(self, tx_hash: str) -> bool:
        deadline = time.monotonic() + self.config.receipt_wait
        while self.chain.receipt(tx_hash) is None:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    # --- rows ----------------------------------------------------------------------------

    def _head(self) -> store.TreeHead:
        with read_tx(self.engine) as conn:
            return store.read_head(conn)

    def _scope(self) -> Any:
        return (_anchor.c.chain_id == self.chain.chain_id) & (_anchor.c.contract == self.chain.address)

    def rows(
        self, statuses: tuple[str, ...], newest_first: bool = False, limit: int | None = None
    ) -> list[dict[str, Any]]:
        order = _anchor.c.tree_size.desc() if newest_first else _anchor.c.tree_size
        q = select(_anchor).where(self._scope(), _anchor.c.status.in_(statuses)).order_by(order).limit(limit)
        with read_tx(self.engine) as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    def _store_intent(self, head: store.TreeHead, tx_hash: str, raw: str, nonce: int, sender: str) -> int:
        values = {
            "root": head.root,
            "status": "intent",
            "tx_hash": tx_hash,
            "raw_tx": raw,
            "nonce": nonce,
            "sender": sender,
        }
        blank = {"block_number": None, "block_time": None, "gas_used": None, "error": None, "updated_at": _now()}
        with write_tx(self.engine) as conn:
            old = conn.execute(select(_anchor.c.id).where(self._scope(), _anchor.c.tree_size == head.size)).first()
            if old is not None:  # an earlier failed or lost anchor of this size: reuse its row
                conn.execute(update(_anchor).where(_anchor.c.id == old.id).values(**values, **blank))
                return int(old.id)
            scope = {"chain_id": self.chain.chain_id, "contract": self.chain.address, "tree_size": head.size}
            res = conn.execute(
                insert(_anchor).values(**scope, **values, **blank, created_at=_now()).returning(_anchor.c.id)
            )
            return int(res.scalar_one())

    def _set(self, row_id: int, **values: Any) -> None:
        with write_tx(self.engine) as conn:
            conn.execute(update(_anchor).where(_anchor.c.id == row_id).values(**values, updated_at=_now()))

    # --- the long-running loop -----------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Tick until ``stop`` is set; stand by while another worker holds the lock; back off on errors."""
        backoff, standby_logged = 1.0, False
        try:
            while not stop.is_set():
                if self.lock is not None and not self.lock.is_held():
                    if not self.lock.acquire():
                        if not standby_logged:
                            log.info("standby: another anchor worker holds the lock (%s)", self.lock.describe())
                            standby_logged = True
                        stop.wait(self.config.standby_retry)
                        continue
                    log.info("active: this worker holds the anchor lock (%s)", self.lock.describe())
                    standby_logged = False
                try:
                    self.tick()
                    backoff, pause = 1.0, self.config.poll
                except (AnchorError, SQLAlchemyError) as exc:
                    pause, backoff = backoff, min(backoff * 2, self.config.retry_max)
                    log.warning("anchoring failed, retrying in %.0f s: %s", pause, exc)
                except Exception:  # never let the worker die: log it in full and retry later
                    pause, backoff = backoff, min(backoff * 2, self.config.retry_max)
                    log.exception("unexpected error in the anchor worker, retrying in %.0f s", pause)
                stop.wait(pause)
        finally:
            if self.lock is not None:
                self.lock.release()


def _utc(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _receipt_cols(receipt: Receipt | None, block_time: datetime | None) -> dict[str, Any]:
    if receipt is None:
        return {}
    return {"block_number": receipt.block_number, "gas_used": receipt.gas_used, "block_time": block_time}
