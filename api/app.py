"""The FastAPI application factory. Nothing is built at import time.

The composition root builds the settings, the ``Ledger`` facade and the chain reader and hands them
in: ``ocop-ledger serve`` and ``up``, and for uvicorn's import-string factory
``uvicorn --factory ledger.cli.wiring:create_app_from_env``; tests pass in their own.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from api import console, errors, sequenced
from api.config import ApiSettings
from api.deps import anchor_check_dep, ledger_dep, role_dependency
from api.fastpath import AppendFastPath
from api.middleware import LimitMiddleware, Metrics, ObserveMiddleware, PathMiddleware
from api.page import Pages
from api.routes import (
    admin,
    attest,
    epcis_rest,
    exports,
    gs1_resolver,
    products,
    public,
    resolver,
    shipment,
    shipment_move,
    trust,
    write,
)
from api.services import LRU, Services
from ledger.core.ports import ChainReader
from ledger.runtime import settle_recursion_limit
from ledger.service import Ledger
from ledger.settings import Settings

DESCRIPTION = """
Provenance ledger for Vietnamese OCOP goods. Every event is signed (Ed25519), chained to its lot's
previous event, appended to an RFC 9162 Merkle log, and the log's root is anchored on an EVM chain.

* Public: the GS1 Digital Link resolver `/01/{gtin}/10/{lot}`, lots, verdicts, proof bundles, QR codes,
  the log for auditors (checkpoint, entries, consistency proofs) and anchors.
* Authenticated with `Authorization: Bearer <api key>` (per organization, role producer, inspector,
  exporter or admin): products, lots, events, batches, EPCIS 2.0 capture, admin.
* Errors: `{"error": {"code", "message", "details"?}}` with a 4xx status for every bad input.

Lot ids are `<GTIN-14>.<lot code>`; a `/` inside a lot code is sent as `%2F`.
"""


class JsonFormatter(logging.Formatter):
    """Log records as one JSON object per line (request lines are JSON already)."""

    def format(self, record: logging.LogRecord) -> str:
        msg = record.getMessage()
        if msg.startswith("{"):
            data: dict[str, Any] = {"ts": self.formatTime(record), "level": record.levelname, **json.loads(msg)}
        else:
            data = {"ts": self.formatTime(record), "level": record.levelname, "logger": record.name, "msg": msg}
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False)


def configure_logging(level: int = logging.INFO) -> None:
    """JSON lines on stderr for the ``ocop`` loggers (called by ``serve``, not by the factory)."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("ocop")
    logger.handlers[:] = [handler]
    logger.setLevel(level)
    logger.propagate = False


def _include_exporter_routes(app: FastAPI) -> None:
    """Shipments, lineage, exports and imports (``api.routes.exports``)."""
    app.include_router(exports.make_router(ledger_dep, role_dependency, anchor_check_dep))


def _install_docs(app: FastAPI) -> None:
    """Swagger UI at ``/docs`` from the assets of the ``swagger-ui-bundle-v2`` package, not a CDN."""
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.responses import HTMLResponse
    from fastapi.staticfiles import StaticFiles
    from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]

    app.mount("/static/swagger-ui", StaticFiles(directory=str(swagger_ui_path)), name="swagger-ui")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="OCOP Ledger API",
            swagger_js_url="/static/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url="/static/swagger-ui/swagger-ui.css",
            swagger_favicon_url="/static/swagger-ui/favicon-32x32.png",
        )


def _document_input_errors(app: FastAPI) -> None:
    """What ``LimitMiddleware`` and the error handlers answer before a route runs, in OpenAPI, in one
    place: 400 for malformed or too deeply nested JSON (and 413) on every operation with a body, and
    400 for a control character in a path or query parameter on every operation with parameters."""
    build = app.openapi
    body_answers = {"400": "malformed or too deeply nested JSON, or a bad parameter", "413": "request body too large"}
    param_answers = {"400": "a bad parameter (e.g. a control character in the path or query)"}

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = build()
        error = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
        for ops in schema.get("paths", {}).values():
            for op in ops.values():
                if not isinstance(op, dict):
                    continue
                answers = {
                    **(param_answers if op.get("parameters") else {}),
                    **(body_answers if "requestBody" in op else {}),
                }
                for status, text in answers.items():
                    op.setdefault("responses", {}).setdefault(status, {"description": text, "content": error})
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Connect a lazy chain reader in the background at start, so the first verification does not wait."""
    threading.Thread(target=app.state.services.chain, name="chain-connect", daemon=True).start()
    yield
    sequenced.close(app)  # waits for the batch in flight; new writes are refused


def create_app(
    settings: Settings,
    *,
    ledger: Ledger | None = None,
    chain: ChainReader | None = None,
    api_settings: ApiSettings | None = None,
    connect_chain: bool = True,
) -> FastAPI:
    """Build the app. ``chain`` is the read-only ``ChainReader`` verdicts trust, built by the composition
    root (a lazily connecting one, ``ledger.chain.lazy.LazyChainReader``, when the chain may be down);
    without it every verdict stays ``pending`` with ``anchor.status`` ``not_configured``.
    ``connect_chain`` is kept for callers of the old signature: the app never connects by itself."""
    del connect_chain
    settle_recursion_limit()
    api_settings = api_settings or ApiSettings()
    ledger = ledger or Ledger.open(settings)
    app = FastAPI(
        title="OCOP Ledger",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=_lifespan,
        # metrics are Prometheus at /metrics; FastAPI's OpenTelemetry hooks cost every request three
        # provider lookups (~10% of an append's time on the event loop) unless turned off here
        telemetry=None if api_settings.opentelemetry else {"tracing": False, "metrics": False, "logs": False},
        docs_url=None,  # served from local assets by _install_docs: this machine may be offline
        redoc_url=None,
        openapi_tags=[
            {"name": "digital link", "description": "GS1 Digital Link resolver and consumer page"},
            {"name": "lots", "description": "lots, verdicts and proof bundles"},
            {"name": "log", "description": "the Merkle log and its anchors, for auditors"},
            {"name": "write", "description": "authenticated writes"},
            {"name": "admin", "description": "organizations, API keys, anchoring (role admin)"},
            {"name": "attestations", "description": "an authority's own attestations (role authority)"},
        ],
    )
    metrics = Metrics()
    app.state.services = Services(ledger, settings, api_settings, chain)
    ledger.use_photos(app.state.services.photos)  # product images live in the app's one photo store
    app.state.pages = Pages()
    app.state.page_cache = LRU[tuple[Any, ...], str](api_settings.verdict_cache_size, api_settings.verdict_cache_ttl)
    app.state.metrics = metrics
    sequenced.install(app, metrics.registry)
    errors.install(app)
    app.include_router(write.ingest_router)  # first: the append routes carry the write load
    app.include_router(resolver.router)
    app.include_router(gs1_resolver.router)
    app.include_router(shipment_move.router)
    app.include_router(epcis_rest.router)
    app.include_router(shipment.router)  # /00/{sscc} negotiates; before exporter routes' JSON-only one
    _include_exporter_routes(app)  # before the lot routes, whose {lot_id:path} would shadow /lineage
    app.include_router(trust.router)
    app.include_router(products.router)
    app.include_router(attest.router)
    app.include_router(attest.own)
    app.include_router(products.images)
    for router in (public.router, write.router, admin.router):
        app.include_router(router)
    app.include_router(console.router)  # the web console (issue 14)
    _install_docs(app)
    _document_input_errors(app)
    app.add_middleware(AppendFastPath, fastapi_app=app)  # innermost of ours: after the limits, before routing
    app.add_middleware(
        LimitMiddleware,
        max_body=api_settings.max_body_bytes,
        rate=api_settings.rate_limit,
        burst=api_settings.rate_burst,
    )
    app.add_middleware(ObserveMiddleware, metrics=metrics, log_requests=api_settings.log_requests)
    app.add_middleware(PathMiddleware)
    return app
