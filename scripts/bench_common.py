"""Helpers shared by the benchmark scripts: realistic events, figures with targets, a table,
temporary databases.

Nothing here imports the ledger; the benchmarks do. Progress goes to stderr so that
``--json`` output on stdout stays machine-readable.
"""

from __future__ import annotations

import hashlib
import os
import platform
import random
import secrets
import sys
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

# --- realistic OCOP events (EPCIS 2.0 shaped, as a cooperative submits them) -------------------

VN = timezone(timedelta(hours=7))
PRODUCTS = [
    ("Thanh long ruột đỏ", "Red-flesh dragon fruit", "fruit", 3, 2023),
    ("Sầu riêng Ri6 cấp đông", "Frozen Ri6 durian", "fruit", 4, 2024),
    ("Cà phê bột Thuận An", "Thuan An ground coffee", "coffee", 4, 2022),
]
PLACES = {
    "ocop:harvesting": ("urn:epc:id:sgln:8930000.00012.0", "Vườn thanh long Phú Hội, lô 12", "phường Bình Thuận"),
    "inspecting": ("urn:epc:id:sgln:8930000.00090.0", "Phòng kiểm nghiệm Quatest 3", "phường Bình Thuận"),
    "packing": ("urn:epc:id:sgln:8930000.00031.0", "Nhà đóng gói HTX Phú Hội", "phường Bình Thuận"),
}
STEPS = [("ocop:harvesting", "active"), ("inspecting", "conformant"), ("packing", "in_progress")]


def make_event(rng: random.Random, lot: str, k: int, now: datetime, fractional: bool) -> dict[str, Any]:
    step, disposition = STEPS[k % len(STEPS)]
    rp_id, rp_name, commune = PLACES[step]
    qty: float = rng.randint(200, 1500)
    if fractional:
        qty += rng.choice((0.25, 0.5, 0.75))
    event: dict[str, Any] = {
        "type": "ObjectEvent",
        "action": "OBSERVE",
        "bizStep": step,
        "disposition": disposition,
        "eventTime": (now - timedelta(seconds=rng.randint(600, 30 * 86400))).astimezone(VN).isoformat(),
        "eventID": f"urn:uuid:{uuid.UUID(int=rng.getrandbits(128), version=4)}",
        "readPoint": {"id": rp_id, "name": rp_name, "province": "Lâm Đồng", "commune": commune},
        "quantityList": [{"lot": lot, "quantity": qty, "uom": "KGM"}],
    }
    if step == "inspecting":
        event["ocop:documents"] = [
            {
                "type": "lab_report",
                "sha256": hashlib.sha256(rng.randbytes(16)).hexdigest(),
                "name": "Phiếu kết quả thử nghiệm dư lượng thuốc BVTV",
            }
        ]
    return event


def make_batches(lots: Sequence[str], n_batches: int, size: int, fractional: bool) -> list[list[dict[str, Any]]]:
    rng = random.Random(20261122)
    now = datetime.now(UTC)
    out, k = [], 0
    for _ in range(n_batches):
        batch = []
        for _ in range(size):
            lot = lots[rng.randrange(len(lots))]
            batch.append({"lot": lot, "event": make_event(rng, lot, k, now, fractional)})
            k += 1
        out.append(batch)
    return out


# --- figures, tables, temporary databases ------------------------------------------------------


class Skip(Exception):
    """A benchmark section cannot run here (e.g. PostgreSQL is unreachable)."""


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


@dataclass
class Figure:
    """One measured figure, with an optional target (``value >= target`` or ``value <= target``)."""

    section: str
    name: str
    value: float | None
    unit: str
    target: float | None = None
    better: str = "higher"  # "higher": value >= target passes; "lower": value <= target passes
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        if self.value is None:
            return "SKIP"
        if self.target is None:
            return ""
        ok = self.value >= self.target if self.better == "higher" else self.value <= self.target
        return "PASS" if ok else "MISS"

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["verdict"] = self.verdict or None
        return out


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit in ("ms", "x"):
        return f"{value:.3f} {unit}" if value < 10 else f"{value:,.1f} {unit}"
    if unit == "s":
        return f"{value:.2f} s"
    return f"{value:,.0f} {unit}"


def print_table(title: str, figures: Sequence[Figure], notes: Sequence[str] = ()) -> None:
    rows = []
    for f in figures:
        target = "" if f.target is None else ("≥ " if f.better == "higher" else "≤ ") + fmt(f.target, f.unit)
        rows.append((f.section, f.name, fmt(f.value, f.unit), target, f.verdict, f.note))
    head = ("section", "figure", "value", "target", "", "note")
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    line = "  ".join("-" * w for w in widths)
    print(title)
    print(line)
    print("  ".join(str(h).ljust(w) for h, w in zip(head, widths, strict=True)).rstrip())
    print(line)
    last = None
    for r in rows:
        cells = list(r)
        if cells[0] == last:
            cells[0] = ""
        else:
            last = cells[0]
        print(
            "  ".join(
                str(c).rjust(w) if i == 2 else str(c).ljust(w)
                for i, (c, w) in enumerate(zip(cells, widths, strict=True))
            ).rstrip()
        )
    print(line)
    for n in notes:
        print(f"* {n}")


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0..100) by nearest rank on sorted values."""
    if not values:
        raise ValueError("percentile of no values")
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(p / 100 * len(s) + 0.5)) - 1))
    return s[k]


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load_avg_1m_at_start": round(os.getloadavg()[0], 2),
    }


@contextmanager
def temp_dir(prefix: str = "ocop-bench-") -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix=prefix) as d:
        yield Path(d)


@contextmanager
def temp_pg_database(admin_url: str, prefix: str = "bench_") -> Iterator[str]:
    """Create a dedicated PostgreSQL database, yield its SQLAlchemy URL, drop it afterwards.

    ``admin_url`` is any database on the server the user may connect to (it must be allowed to
    CREATE DATABASE). Raises ``Skip`` if the server is unreachable.
    """
    import psycopg
    from sqlalchemy.engine import make_url

    u = make_url(admin_url)
    conninfo = u.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"{prefix}{secrets.token_hex(6)}"
    try:
        admin = psycopg.connect(conninfo, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        where = u.render_as_string(hide_password=True)
        log(f"  PostgreSQL at {where}: {' '.join(str(exc).split())}")
        raise Skip(f"PostgreSQL unreachable at {where}") from exc
    try:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield u.set(drivername="postgresql+psycopg", database=name).render_as_string(hide_password=False)
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.close()
