"""`/docs` is FastAPI's Swagger page, whose JS and CSS come from a CDN: on a lab network without internet it shows
only its first line, which names `/openapi.json`, the same schema served by the service itself."""

from __future__ import annotations

import asyncio

import httpx

from bci_stream.api.app import create_app


async def _get(*paths: str) -> list[httpx.Response]:
    transport = httpx.ASGITransport(app=create_app())  # no lifespan: these pages need no supervisor
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:  # loopback
        return [await client.get(p) for p in paths]


def test_docs_page_names_the_offline_schema() -> None:
    page, schema = asyncio.run(_get("/docs", "/openapi.json"))
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    hint = page.text.index('Offline, the same schema is <a href="/openapi.json">/openapi.json</a>')
    assert hint < page.text.index('<div id="swagger-ui">') and "cdn.jsdelivr.net (internet needed)" in page.text
    assert schema.status_code == 200 and "/docs" not in schema.json()["paths"]
