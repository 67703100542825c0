"""The app's route table, flattened: (method, path, route, needs an API key).

FastAPI keeps included routers as nested entries; this walks them, so routes added to any
router later are found without a list to maintain.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

from api import deps


@dataclass(frozen=True)
class RouteInfo:
    method: str
    path: str
    needs_key: bool
    route: Any


def _walk(routes: list[Any], prefix: str = "") -> Iterator[tuple[str, APIRoute]]:
    for r in routes:
        if isinstance(r, APIRoute):
            yield prefix + r.path, r
        elif hasattr(r, "original_router"):  # fastapi's _IncludedRouter
            inner = getattr(getattr(r, "include_context", None), "prefix", "") or ""
            yield from _walk(list(r.original_router.routes), prefix + inner)


def _calls(dep: Any) -> set[Any]:
    out: set[Any] = set()
    for d in dep.dependencies:
        out.add(d.call)
        out |= _calls(d)
    return out


def route_table(app: FastAPI) -> list[RouteInfo]:
    out = []
    for path, r in _walk(list(app.routes)):
        needs = bool({deps.principal, deps.writer} & _calls(r.dependant))  # writer: the append routes
        for m in sorted(r.methods or ()):
            if m not in ("HEAD", "OPTIONS"):
                out.append(RouteInfo(m, path, needs, r))
    return out
