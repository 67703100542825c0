"""The console's static files, its service worker and web manifest, and photos served by hash."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from api.console.web import PREFIX, web
from api.errors import error_body
from ledger.errors import InputError, NotFound, Unavailable
from ledger.service.console import PhotoTampered

STATIC = Path(__file__).resolve().parents[1] / "static" / "console"
_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}
_FILES = {"console.css", "console.js"}
router = APIRouter(include_in_schema=False)


def _static(name: str, extra: dict[str, str] | None = None) -> Response:
    body = (STATIC / name).read_bytes()
    headers = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff", **(extra or {})}
    return Response(body, media_type=_TYPES[Path(name).suffix], headers=headers)


@router.get(PREFIX + "/static/{name}")
def static(name: str) -> Response:
    if name not in _FILES:
        return JSONResponse(error_body("not_found", f"no console file {name[:80]!r}"), status_code=404)
    return _static(name)


@router.get(PREFIX + "/sw.js")
def service_worker() -> Response:
    """The service worker, served from /console so that its scope is the console."""
    # The worker's own CSP governs its fetches (the default 'none' would stop it caching pages).
    csp = "default-src 'none'; connect-src 'self'"
    return _static("sw.js", {"Service-Worker-Allowed": PREFIX + "/", "Content-Security-Policy": csp})


@router.get(PREFIX + "/manifest.webmanifest")
def manifest() -> Response:
    body = (STATIC / "manifest.webmanifest").read_bytes()
    return Response(body, media_type="application/manifest+json", headers={"Cache-Control": "no-cache"})


@router.get("/photos/{sha256}")
def photo(request: Request, sha256: str) -> Response:
    """A photo by the SHA-256 signed in its event; 409 when the stored bytes no longer match it, 503 when the
    photo store cannot be reached."""
    try:
        data, media_type = web(request).console.photo(sha256)
    except PhotoTampered as exc:
        return JSONResponse(error_body("photo_tampered", str(exc)), status_code=409)
    except NotFound as exc:
        return JSONResponse(error_body(exc.code, str(exc)), status_code=404)
    except InputError as exc:
        return JSONResponse(error_body(exc.code, str(exc)), status_code=422)
    except Unavailable as exc:  # the S3 bucket cannot be reached: say so, never as tampered or missing
        return JSONResponse(error_body(exc.code, str(exc)), status_code=503, headers={"Retry-After": "5"})
    headers = {
        "Cache-Control": "public, max-age=31536000, immutable",
        "Content-Security-Policy": "default-src 'none'",
        "X-Content-Type-Options": "nosniff",
        "ETag": f'"{sha256.lower()}"',
    }
    return Response(data, media_type=media_type, headers=headers)
