"""The composition root of the API: settings, the ``Ledger`` facade and the chain reader, built here
and handed to ``api.app.create_app``.

``uvicorn --factory ledger.cli.wiring:create_app_from_env`` (what ``ocop-ledger serve`` runs, once per
worker process) builds everything from ``LEDGER_*`` and ``LEDGER_API_*`` settings; ``up`` builds its
app with ``create_app`` directly, around the chain it started.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ledger.chain.lazy import LazyChainReader
from ledger.settings import Settings

if TYPE_CHECKING:
    from fastapi import FastAPI


def lazy_chain(settings: Settings) -> LazyChainReader:
    """A read-only chain reader for the configured chain, connected on first use and retried every
    30 s while the chain cannot be reached (the API answers ``pending`` meanwhile)."""
    from ledger.chain.devchain import connect

    return LazyChainReader(lambda: connect(settings, signer=False, timeout=5.0))


def create_app_from_env() -> FastAPI:
    """The API app from ``LEDGER_*`` settings: the uvicorn factory of ``ocop-ledger serve``."""
    from api.app import create_app
    from api.config import ApiSettings
    from ledger.service import Ledger

    settings = Settings()
    ledger = Ledger.open(settings)
    from ledger.runtime import tune_gc_for_serving

    app = create_app(settings, ledger=ledger, chain=lazy_chain(settings), api_settings=ApiSettings())
    tune_gc_for_serving()  # a long-running worker: see ledger.runtime
    return app
