"""The sequencer: concurrent requests in one transaction, each failing alone, acknowledged after commit."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event as sa_event
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from ledger.errors import ConflictError, InputError, PermissionDenied
from ledger.sequencer import Sequencer
from ledger.service import Ledger
from ledger.store import log as store
from ledger.store.db import read_tx
from ledger.store.group_append import Group, GroupResult, IdemSpec
from ledger.store.idempotency import Answer
from ledger.store.models import IdempotencyRecord, LogEntry
from tests.helpers import add_lot, add_org, add_product, client_entry, event, new_client_key

_entry: Any = LogEntry.__table__
_record: Any = IdempotencyRecord.__table__
WAIT = 0.2  # long enough that every request submitted together lands in one batch


class Recorder:
    def __init__(self) -> None:
        self.batches: list[tuple[int, int]] = []

    def batch(self, requests: int, events: int, waits: Sequence[float], commit_seconds: float) -> None:
        assert len(waits) == requests and commit_seconds >= 0
        self.batches.append((requests, events))


@pytest.fixture
def world(ledger: Ledger) -> dict[str, Any]:
    add_org(ledger, "htx-a")
    add_org(ledger, "htx-b")
    ga, gb = add_product(ledger, "htx-a", 11), add_product(ledger, "htx-b", 12)
    org_a = int(ledger.get_org("htx-a")["id"])
    return {
        "lot": add_lot(ledger, "htx-a", ga, "A-1"),
        "lot_b": add_lot(ledger, "htx-b", gb, "B-1"),
        "org": org_a,
        "org_b": int(ledger.get_org("htx-b")["id"]),
    }


@pytest.fixture
def seq(ledger: Ledger) -> Iterator[Sequencer]:
    s = Sequencer(ledger.engine, ledger.keyring, ledger.clock, max_wait=WAIT, max_batch=100, observer=Recorder())
    yield s
    s.close()


def group(seq: Sequencer, org: int, items: list[dict[str, Any]], idem: IdemSpec | None = None) -> Group:
    render = (lambda rec: Answer(201, "application/json", repr(rec).encode())) if idem else None
    return Group(org, seq.prepare(org, items), idem, render)


def entries(ledger: Ledger) -> list[Any]:
    with read_tx(ledger.engine) as conn:
        return list(conn.execute(select(_entry.c.idx, _entry.c.lot_id, _entry.c.seq).order_by(_entry.c.idx)))


def gapless(ledger: Ledger) -> None:
    rows = entries(ledger)
    assert [r.idx for r in rows] == list(range(len(rows)))
    assert ledger.head().size == len(rows)


def test_requests_submitted_together_share_one_batch_and_get_their_own_indexes(
    ledger: Ledger, seq: Sequencer, world: dict[str, Any]
) -> None:
    before = ledger.head().size
    futures = [seq.submit(group(seq, world["org"], [{"lot": world["lot"], "event": event()}])) for _ in range(5)]
    results = [f.result(10) for f in futures]
    assert sorted(r.recorded[0]["index"] for r in results) == list(range(before, before + 5))
    assert sorted(r.recorded[0]["seq"] for r in results) == [1, 2, 3, 4, 5]
    assert seq.observer is not None and seq.observer.batches == [(5, 5)]  # type: ignore[attr-defined]
    gapless(ledger)


def test_a_bad_request_fails_alone_before_it_is_queued(ledger: Ledger, seq: Sequencer, world: dict[str, Any]) -> None:
    good = seq.submit(group(seq, world["org"], [{"lot": world["lot"], "event": event()}]))
    with pytest.raises(InputError, match="expected a CBV 2.0 business step"):
        seq.prepare(world["org"], [{"lot": world["lot"], "event": event(biz_step="")}])
    assert good.result(10).recorded[0]["seq"] == 1
    with pytest.raises(InputError, match="expected at least 1, got 0"):
        seq.prepare(world["org"], [])


def test_a_request_failing_at_append_time_rolls_back_only_itself(
    ledger: Ledger, seq: Sequencer, world: dict[str, Any]
) -> None:
    before = ledger.head().size
    good1 = seq.submit(group(seq, world["org"], [{"lot": world["lot"], "event": event()}]))
    # the second event of this request names an unknown lot: its first event must not stay either
    bad = seq.submit(
        group(
            seq,
            world["org"],
            [{"lot": world["lot"], "event": event()}, {"lot": world["lot"] + "X", "event": event()}],
        )
    )
    foreign = seq.submit(group(seq, world["org"], [{"lot": world["lot_b"], "event": event("ocop:harvesting")}]))
    good2 = seq.submit(group(seq, world["org"], [{"lot": world["lot"], "event": event()}]))
    r1, r2 = good1.result(10), good2.result(10)
    with pytest.raises(InputError, match=r"events\.1: unknown lot"):
        bad.result(10)
    # the one policy (ledger.core.policy, issue 9) refuses a step on another organization's lot
    with pytest.raises(PermissionDenied, match="events.0: wrong signer: a cooperative organization may not record"):
        foreign.result(10)
    assert [r1.recorded[0]["index"], r2.recorded[0]["index"]] == [before, before + 1]
    assert [r1.recorded[0]["seq"], r2.recorded[0]["seq"]] == [1, 2]  # the rolled-back event took no seq
    gapless(ledger)
    assert ledger.verify_lot(world["lot"]).verdict in ("pending", "verified")


def test_two_writers_on_one_lots_head_one_wins_the_other_fails_cleanly(
    ledger: Ledger, seq: Sequencer, world: dict[str, Any]
) -> None:
    signer, pub = new_client_key()
    ledger.register_key("htx-a", pub)
    head = ledger.get_lot(world["lot"])["head_hash"]
    now = ledger.clock()
    a = client_entry(signer, lot=world["lot"], seq=1, prev=head, raw_event=event("storing"), now=now)
    b = client_entry(signer, lot=world["lot"], seq=1, prev=head, raw_event=event("packing"), now=now)
    fa = seq.submit(group(seq, world["org"], [{"lot": world["lot"], "entry": a}]))
    fb = seq.submit(group(seq, world["org"], [{"lot": world["lot"], "entry": b}]))
    assert fa.result(10).recorded[0]["seq"] == 1
    with pytest.raises(ConflictError, match="does not match the lot's head"):
        fb.result(10)
    assert [r.seq for r in entries(ledger) if r.lot_id == world["lot"]] == [0, 1]
    gapless(ledger)


def test_acknowledged_means_committed_a_failed_commit_fails_every_request(
    ledger: Ledger, seq: Sequencer, world: dict[str, Any]
) -> None:
    before = ledger.head().size

    def fail(conn: Any) -> None:
        raise OperationalError("COMMIT", {}, Exception("disk I/O error"))

    sa_event.listen(ledger.engine, "commit", fail)
    try:
        futures = [seq.submit(group(seq, world["org"], [{"lot": world["lot"], "event": event()}])) for _ in range(3)]
        for f in futures:
            with pytest.raises(OperationalError, match="disk I/O error"):
                f.result(10)
    finally:
        sa_event.remove(ledger.engine, "commit", fail)
    assert ledger.head().size == before and len(entries(ledger)) == before
    after = seq.record(group(seq, world["org"], [{"lot": world["lot"], "event": event()}]), 10)
    assert after.recorded[0]["index"] == before  # the sequencer goes on after a failed batch
    gapless(ledger)


def test_idempotent_resends_in_the_same_and_a_later_batch_store_once(
    ledger: Ledger, seq: Sequencer, world: dict[str, Any]
) -> None:
    spec = IdemSpec("k-1", "fp-1", timedelta(hours=1))
    before = ledger.head().size
    items = [{"lot": world["lot"], "event": event()}]
    futures = [seq.submit(group(seq, world["org"], items, spec)) for _ in range(3)]
    results: list[GroupResult] = [f.result(10) for f in futures]
    assert [r.replayed for r in results] == [False, True, True]
    assert results[0].answer is not None and all(r.answer == results[0].answer for r in results)
    later = seq.record(group(seq, world["org"], items, spec), 10)
    assert later.replayed and later.answer == results[0].answer
    assert seq.stored_answer(world["org"], spec) == results[0].answer
    assert ledger.head().size == before + 1
    with read_tx(ledger.engine) as conn:
        assert len(conn.execute(select(_record.c.id)).all()) == 1
    other = seq.record(group(seq, world["org_b"], [{"lot": world["lot_b"], "event": event()}], spec), 10)
    assert not other.replayed  # keys are per organization
    mismatch = IdemSpec("k-1", "fp-other", timedelta(hours=1))
    with pytest.raises(InputError, match="was used for a different request"):
        seq.record(group(seq, world["org"], items, mismatch), 10)
    gapless(ledger)


def test_a_failed_request_keeps_no_idempotency_record(ledger: Ledger, seq: Sequencer, world: dict[str, Any]) -> None:
    spec = IdemSpec("k-bad", "fp", timedelta(hours=1))
    with pytest.raises(InputError, match="unknown lot"):
        seq.record(group(seq, world["org"], [{"lot": world["lot"] + "X", "event": event()}], spec), 10)
    with read_tx(ledger.engine) as conn:
        assert conn.execute(select(_record.c.id)).all() == []


def test_batches_are_bounded_by_size(ledger: Ledger, world: dict[str, Any]) -> None:
    rec = Recorder()
    seq = Sequencer(ledger.engine, ledger.keyring, ledger.clock, max_wait=WAIT, max_batch=3, observer=rec)
    try:
        items = [{"lot": world["lot"], "event": event()}]
        futures = [seq.submit(group(seq, world["org"], items)) for _ in range(7)]
        big = seq.submit(group(seq, world["org"], items * 5))  # larger than a batch: travels alone
        for f in [*futures, big]:
            f.result(10)
    finally:
        seq.close()
    assert all(events <= 3 for _, events in rec.batches[:-1]) and rec.batches[-1] == (1, 5)
    assert sum(events for _, events in rec.batches) == 12
    gapless(ledger)


@pytest.mark.parametrize("min_wait,expected", [(0.0, [(1, 1), (1, 1)]), (0.6, [(2, 2)])])
def test_a_batch_stays_open_min_wait_once_collecting_starts(
    ledger: Ledger, world: dict[str, Any], min_wait: float, expected: list[tuple[int, int]]
) -> None:
    """Group commit: with ``min_wait`` a request arriving 0.2 s after the batch began joins it, even
    with ``max_wait`` 0; without, the first request's batch is closed when its deadline passes."""
    rec = Recorder()
    seq = Sequencer(ledger.engine, ledger.keyring, ledger.clock, max_wait=0.0, min_wait=min_wait, observer=rec)
    try:
        items = [{"lot": world["lot"], "event": event()}]
        first = seq.submit(group(seq, world["org"], items))
        time.sleep(0.2)
        second = seq.submit(group(seq, world["org"], items))
        indexes = [first.result(10).recorded[0]["index"], second.result(10).recorded[0]["index"]]
    finally:
        seq.close()
    assert rec.batches == expected
    assert indexes == [2, 3]  # after the two lots' commissioning entries, in arrival order
    gapless(ledger)


def test_many_threads_through_one_sequencer_stay_gapless(ledger: Ledger, world: dict[str, Any]) -> None:
    seq = Sequencer(ledger.engine, ledger.keyring, ledger.clock, max_wait=0.002, max_batch=50)
    acks: list[int] = []
    lock = threading.Lock()

    def writer(n: int) -> None:
        for _ in range(20):
            r = seq.record(group(seq, world["org"], [{"lot": world["lot"], "event": event()}]), 30)
            with lock:
                acks.append(r.recorded[0]["index"])

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        seq.close()
    assert len(set(acks)) == 160
    gapless(ledger)
    lot_seqs = [r.seq for r in entries(ledger) if r.lot_id == world["lot"]]
    assert lot_seqs == list(range(161))
    with read_tx(ledger.engine) as conn:
        assert store.read_head(conn).size == len(entries(ledger))


def test_two_sequencers_on_two_engines_share_one_log(ledger: Ledger, db_url: str, world: dict[str, Any]) -> None:
    """Two API processes (here: two engines and sequencers) on one database stay gapless and unique."""
    from ledger.store.db import make_engine

    other = make_engine(db_url)
    seqs = [
        Sequencer(ledger.engine, ledger.keyring, ledger.clock, max_wait=0.002, max_batch=20),
        Sequencer(other, ledger.keyring, ledger.clock, max_wait=0.002, max_batch=20),
    ]
    acks: list[int] = []
    lock = threading.Lock()

    def writer(n: int) -> None:
        s = seqs[n % 2]
        for _ in range(15):
            r = s.record(group(s, world["org"], [{"lot": world["lot"], "event": event()}]), 60)
            with lock:
                acks.append(r.recorded[0]["index"])

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        for s in seqs:
            s.close()
        other.dispose()
    assert len(set(acks)) == 90
    gapless(ledger)
    assert [r.seq for r in entries(ledger) if r.lot_id == world["lot"]] == list(range(91))


def test_a_request_cancelled_before_its_batch_is_not_appended(ledger: Ledger, world: dict[str, Any]) -> None:
    seq = Sequencer(ledger.engine, ledger.keyring, ledger.clock, max_wait=WAIT, max_batch=10)
    try:
        before = ledger.head().size
        gone = seq.submit(group(seq, world["org"], [{"lot": world["lot"], "event": event()}]))
        kept = seq.submit(group(seq, world["org"], [{"lot": world["lot"], "event": event()}]))
        assert gone.cancel()  # its client went away while it waited in the queue
        assert kept.result(10).recorded[0]["index"] == before
        assert not kept.cancel()  # once its batch began, a request is answered, never cancelled
    finally:
        seq.close()
    assert ledger.head().size == before + 1
    gapless(ledger)


def test_the_callers_role_is_decided_per_request_in_the_batch(ledger: Ledger, world: dict[str, Any]) -> None:
    """The routes no longer pre-authorize: the role travels with the submissions and the one policy
    refuses one request in the batch (403) while the same organization's other request commits."""
    exporter = int(add_org(ledger, "xk-sai-gon", "exporter")["id"])
    rec = Recorder()
    s = Sequencer(ledger.engine, ledger.keyring, ledger.clock, max_wait=WAIT, max_batch=100, observer=rec)
    try:
        item = [{"lot": world["lot"], "event": event("storing")}]
        as_producer = s.submit(Group(exporter, s.prepare(exporter, item, "producer")))
        as_exporter = s.submit(Group(exporter, s.prepare(exporter, item, "exporter")))
        with pytest.raises(
            PermissionDenied, match="events.0: a producer key may not record storing on another organization"
        ):
            as_producer.result(10)
        assert as_exporter.result(10).recorded[0]["seq"] == 1
    finally:
        s.close()
    assert rec.batches == [(2, 2)]  # one batch: the refusal was decided inside it
    gapless(ledger)


def _roast(src: str, kg: float) -> dict[str, Any]:
    qty = [{"lot": src, "quantity": kg, "uom": "KGM"}]
    return event("ocop:roasting", type="TransformationEvent", action=None, inputQuantityList=qty)


def test_transformations_in_one_batch_consume_an_input_lot_at_most_once(
    ledger: Ledger, seq: Sequencer, world: dict[str, Any]
) -> None:
    """A batch's entries are written at its end: the quantity check counts the ones built before
    (two concurrent 60 kg roastings of a 100 kg lot: the first commits, the second is refused)."""
    gtin = add_product(ledger, "htx-a", 13)
    src = add_lot(ledger, "htx-a", gtin, "GREEN-100", quantity=100)
    out1, out2 = add_lot(ledger, "htx-a", gtin, "ROAST-1"), add_lot(ledger, "htx-a", gtin, "ROAST-2")
    first = seq.submit(group(seq, world["org"], [{"lot": out1, "event": _roast(src, 60)}]))
    second = seq.submit(group(seq, world["org"], [{"lot": out2, "event": _roast(src, 60)}]))
    assert first.result(10).recorded[0]["lot"] == out1
    with pytest.raises(InputError, match="60 of it consumed already: expected a quantity of at most 40, got 60"):
        second.result(10)
    assert seq.observer.batches[-1] == (2, 2)  # type: ignore[union-attr,attr-defined]
    # inside one request too: two roastings that together exceed the lot store nothing
    both = [{"lot": out1, "event": _roast(src, 30)}, {"lot": out2, "event": _roast(src, 30)}]
    with pytest.raises(
        InputError, match=r"events\.1: .*90 of it consumed already: expected a quantity of at most 10, got 30"
    ):
        ledger.record("htx-a", both)
    gapless(ledger)


def test_batches_between_other_writers_keep_the_log_sound(
    ledger: Ledger, seq: Sequencer, world: dict[str, Any]
) -> None:
    """The sequencer reuses the frontier it wrote only while nobody else appended: a write by another
    appender in between (here the single append of ``Ledger.record``) makes it read the stored one."""
    from ledger.audit.auditor import audit

    for n in range(3):
        seq.record(group(seq, world["org"], [{"lot": world["lot"], "event": event()} for _ in range(n + 1)]), 10)
        ledger.record("htx-b", [{"lot": world["lot_b"], "event": event("ocop:harvesting")}])
    seq.record(group(seq, world["org"], [{"lot": world["lot"], "event": event()}]), 10)
    gapless(ledger)
    report = audit(ledger.engine)
    assert report.entries == ledger.head().size == 10 + 2  # the two lots' commissioning entries
    assert report.findings == []


def test_stored_rows_read_back_exactly(ledger: Ledger, seq: Sequencer, world: dict[str, Any]) -> None:
    """What the batch's bulk insert stores (bytes, times, text with quotes and non-ASCII) reads back as built."""
    note = 'ghi chú "Đà Lạt" \\ {x}'
    r = seq.record(group(seq, world["org"], [{"lot": world["lot"], "event": event(**{"ocop:note": note})}]), 10)
    rec = r.recorded[0]
    with read_tx(ledger.engine) as conn:
        row = conn.execute(select(_entry).where(_entry.c.idx == rec["index"])).one()
    assert row.leaf_hash.hex() == rec["leaf_hash"] and row.seq == rec["seq"] == 1
    assert json.loads(row.event)["ocop:note"] == note and row.recorded_at == ledger.clock()
    assert ledger.head().size == rec["index"] + 1


def test_a_key_revoked_after_its_request_was_authenticated_stores_nothing(
    ledger: Ledger, seq: Sequencer, world: dict[str, Any]
) -> None:
    """The API authenticates from a cache; the batch checks the key again in its transaction."""
    from ledger.errors import Unauthenticated
    from ledger.store import apikeys
    from ledger.store.db import write_tx

    with write_tx(ledger.engine) as conn:
        key = apikeys.create(conn, world["org"], "producer")
    items = [{"lot": world["lot"], "event": event()}]
    ok = seq.record(Group(world["org"], seq.prepare(world["org"], items), key_id=key["key_id"]), 10)
    assert ok.recorded[0]["seq"] == 1
    with write_tx(ledger.engine) as conn:
        apikeys.revoke(conn, key["key_id"])
    before = ledger.head().size
    refused = seq.submit(Group(world["org"], seq.prepare(world["org"], items), key_id=key["key_id"]))
    other = seq.submit(group(seq, world["org"], items))  # same batch, no key to check: stored
    with pytest.raises(Unauthenticated, match="invalid or revoked API key"):
        refused.result(10)
    assert other.result(10).recorded[0]["index"] == before
    assert ledger.head().size == before + 1
    gapless(ledger)


def test_two_sequencers_on_the_same_lots_keep_every_chain_sound(ledger: Ledger, world: dict[str, Any]) -> None:
    """Two processes' sequencers build and sign before the head lock; entries whose lot head moved
    meanwhile (the other appended to it) are built again under the lock: nothing lost, no fork."""
    from ledger.audit.auditor import audit

    seqs = [Sequencer(ledger.engine, ledger.keyring, ledger.clock, max_wait=0.005, max_batch=8) for _ in range(2)]
    lot2 = add_lot(ledger, "htx-a", add_product(ledger, "htx-a", 13), "A-2")
    before = ledger.head().size
    errors: list[BaseException] = []

    def writer(k: int) -> None:
        s = seqs[k % 2]
        try:
            futures = [
                s.submit(group(s, world["org"], [{"lot": (world["lot"], lot2)[(k + n) % 2], "event": event()}]))
                for n in range(15)
            ]
            for f in futures:
                f.result(30)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s in seqs:
        s.close()
    assert errors == []
    assert ledger.head().size == before + 90
    gapless(ledger)
    with read_tx(ledger.engine) as conn:
        seqs_by_lot = {
            lot: [
                r.seq for r in conn.execute(select(_entry.c.seq).where(_entry.c.lot_id == lot).order_by(_entry.c.idx))
            ]
            for lot in (world["lot"], lot2)
        }
    assert all(v == list(range(len(v))) for v in seqs_by_lot.values()), seqs_by_lot
    report = audit(ledger.engine)
    assert report.findings == [] and report.entries == ledger.head().size


def test_an_append_between_prebuilding_and_the_lock_makes_the_batch_build_again(
    ledger: Ledger, seq: Sequencer, world: dict[str, Any]
) -> None:
    """Another process appends to the lot after this batch built its entries but before it locks
    the head: the entries no longer extend the lot's head, so they are built again under the lock."""
    if ledger.engine.dialect.name == "sqlite":
        pytest.skip("SQLite's write transaction holds the lock from its start: nothing can come between")
    seq.record(group(seq, world["org"], [{"lot": world["lot"], "event": event()}]), 10)  # seq 1
    other = Ledger(ledger.engine, ledger.keyring, clock=ledger.clock, log_masterdata=False)
    fired: list[int] = []

    def foreign_append(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.startswith("UPDATE log_head SET updated_at") and not fired:
            fired.append(1)
            other.record("htx-a", [{"lot": world["lot"], "event": event("packing")}])  # seq 2, committed

    sa_event.listen(ledger.engine, "before_cursor_execute", foreign_append)
    try:
        r = seq.record(group(seq, world["org"], [{"lot": world["lot"], "event": event()}]), 10)
    finally:
        sa_event.remove(ledger.engine, "before_cursor_execute", foreign_append)
    assert fired == [1]
    assert r.recorded[0]["seq"] == 3
    gapless(ledger)
    from ledger.audit.auditor import audit

    assert audit(ledger.engine).findings == []
