"""The web console (issue 14): server-rendered pages for cooperatives and exporters under ``/console``.

Vietnamese by default (``?lang=en`` or the ``ocop_lang`` cookie for English), every task works with
JavaScript off; ``api/static/console/console.js`` only adds the offline queue, camera and GPS.
Routes reach the ledger only through ``ledger.service.console.Console`` and the API's services.
"""

from __future__ import annotations

from fastapi import APIRouter

from api.console import assets, auth, authority, exporter, producer

router = APIRouter()
for _r in (assets.router, auth.router, producer.router, exporter.router, authority.router):
    router.include_router(_r)
