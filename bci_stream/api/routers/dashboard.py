"""The web dashboard: ``GET /`` serves one page that reads the API (``/status``, ``/decoders/{id}/latency``,
``WS /decoders/{id}/outputs``) and draws the live outputs and latency histograms on ``<canvas>``.

The page, its script and its style sheet ship inside the package (``bci_stream/api/static/``): no CDN,
no JavaScript library, it works offline. The routes are left out of the OpenAPI schema: they serve a
page, not the API.
"""

from __future__ import annotations

from importlib.resources import files

from fastapi import APIRouter, HTTPException, Response

router = APIRouter(include_in_schema=False)

#: The files the dashboard serves, with their media types (nothing else of the folder is reachable).
ASSETS = {
    "index.html": "text/html; charset=utf-8",
    "dashboard.js": "text/javascript; charset=utf-8",
    "dashboard.css": "text/css; charset=utf-8",
}

#: Same-origin only: the page loads nothing from elsewhere and talks only to this service.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def asset(name: str) -> Response:
    """One of the dashboard's files, read from the installed package."""
    media_type = ASSETS.get(name)
    if media_type is None:
        raise HTTPException(status_code=404, detail=f"no dashboard file {name!r}")
    body = files("bci_stream.api").joinpath("static", name).read_bytes()
    return Response(body, media_type=media_type, headers=SECURITY_HEADERS)


@router.get("/")
def dashboard() -> Response:
    """The dashboard page."""
    return asset("index.html")


@router.get("/static/{name}")
def static(name: str) -> Response:
    """The dashboard's script and style sheet."""
    return asset(name)
