"""What the API needs to know about storage failures, without importing the database driver:
``StorageError`` is the database's error class; ``storage_fault`` says whether it is the storage
being full or unavailable (the transaction was rolled back either way), or something else."""

from __future__ import annotations

from typing import Literal

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

StorageError = DBAPIError


def storage_fault(exc: DBAPIError) -> Literal["full", "unavailable"] | None:
    """``full`` (disk or size limit), ``unavailable`` (unreachable, dropped connection), or None."""
    if not isinstance(exc, (OperationalError, InterfaceError)) and not exc.connection_invalidated:
        return None
    orig = exc.orig
    if getattr(orig, "sqlite_errorcode", None) == 13:  # SQLITE_FULL: disk or max_page_count reached
        return "full"
    if getattr(orig, "sqlstate", None) == "53100" or "disk is full" in str(orig):  # PostgreSQL disk_full
        return "full"
    return "unavailable"
