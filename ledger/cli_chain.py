"""Chain commands of the CLI (devchain, deploy, anchor-worker, up) — being written (issue B)."""

from __future__ import annotations

from typing import Any

import typer


def register(app: typer.Typer) -> None:
    """Add the chain commands to the main CLI app."""


def anchor_check_for(ledger: Any) -> Any:
    """The anchor check for verification, or None when no chain is configured."""
    return None
