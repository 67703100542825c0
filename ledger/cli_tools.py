"""Exporter and auditor commands of the CLI (export, import, audit, monitor) — being written (issue D)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the exporter and auditor commands to the main CLI app."""
