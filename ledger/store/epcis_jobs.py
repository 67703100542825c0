"""EPCIS 2.0 capture jobs (``/epcis/capture/{captureID}``): what one capture did, kept for its caller.

A capture here is all or nothing (``GS1-Capture-Error-Behaviour: rollback``) and runs before the
answer is sent, so a job is stored finished: ``running`` false, ``success`` true with every event
captured, or false with the errors (RFC 7807 problem objects) and nothing captured.
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import Connection, insert, select

from ledger.errors import NoSuchResource
from ledger.store.models import EpcisCaptureJob

_job = EpcisCaptureJob.__table__  # type: ignore[attr-defined]


def save(
    conn: Connection, org_id: int, created: str, finished: str, captured: int, errors: list[dict[str, Any]]
) -> str:
    capture_id = "cap" + secrets.token_hex(12)
    row = {"capture_id": capture_id, "org_id": org_id, "created_at": created, "finished_at": finished}
    conn.execute(insert(_job), [row | {"success": not errors, "captured": captured, "errors": errors}])
    return capture_id


def load(conn: Connection, capture_id: str, org_id: int) -> dict[str, Any]:
    """The job document; another organization's job is as unknown as a missing one."""
    row = conn.execute(select(_job).where(_job.c.capture_id == capture_id, _job.c.org_id == org_id)).first()
    if row is None:
        raise NoSuchResource(f"no capture job {capture_id!r} of this organization")
    return {
        "captureID": row.capture_id,
        "createdAt": row.created_at,
        "finishedAt": row.finished_at,
        "running": False,
        "success": bool(row.success),
        "captureErrorBehaviour": "rollback",
        "errors": list(row.errors),
        "ocop:captured": int(row.captured),
    }
