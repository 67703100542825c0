"""Content negotiation shared by the resolver routes: HTML for browsers, JSON when preferred."""

from __future__ import annotations


def wants_json(accept: str | None) -> bool:
    """True when the client prefers JSON to HTML (by q-value; ties and */* go to HTML)."""
    if not accept:
        return False
    best = {"json": 0.0, "html": 0.0}
    for part in accept.split(","):
        media, _, params = part.strip().partition(";")
        media = media.strip().lower()
        q = 1.0
        for p in params.split(";"):
            k, _, v = p.strip().partition("=")
            if k == "q":
                try:
                    q = float(v)
                except ValueError:
                    q = 0.0
        if media == "application/json" or media.endswith("+json"):
            best["json"] = max(best["json"], q)
        elif media in ("text/html", "application/xhtml+xml"):
            best["html"] = max(best["html"], q)
    return best["json"] > best["html"]
