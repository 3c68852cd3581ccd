"""The FastAPI application factory. Nothing heavy happens at import: the lifespan builds the state."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from bci_stream import __version__
from bci_stream.api import errors, host_guard
from bci_stream.api.error_docs import errors as errors_doc
from bci_stream.api.boot_decoders import start_configured
from bci_stream.api.guards import BodyLimit, HeadLimit, http_error, validation_error
from bci_stream.api.log_redact import redact_request_logs
from bci_stream.api.startup_log import log_startup
from bci_stream.api.routers import control, dashboard, decoders, health, metrics, models, outputs, recordings
from bci_stream.api.ws_flow import TransportScope
from bci_stream.core.registry import ModelRegistry
from bci_stream.service.caps import ClientSlots
from bci_stream.service.record_paths import recordings_dir_problem
from bci_stream.service.recordings import Recordings
from bci_stream.service.supervisor import Supervisor
from bci_stream.core.settings import Settings

log = logging.getLogger("bci_stream.api")


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; the supervisor and registry are created when the server starts."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        redact_request_logs(settings.token)  # the token (``?token=``, or wherever a client put it) is never logged
        app.state.settings = settings
        app.state.registry = ModelRegistry(settings.models_dir)
        app.state.supervisor = Supervisor(
            str(settings.models_dir),
            status_interval=settings.status_interval,
            max_restarts=settings.max_restarts,
            restart_backoff=settings.restart_backoff,
            restart_reset_s=settings.restart_reset_s,
            max_decoders=settings.max_decoders,
            log_level=settings.log_level,
            recordings_dir=str(settings.recordings_dir),
            shared_workers=settings.shared_workers,
            default_worker=settings.worker,
            backend=settings.backend,
            backend_options=None if settings.backend == "local" else {
                "address": settings.ray_address, "listen_host": settings.ray_listen_host,
                "start_timeout": settings.ray_start_timeout},
        )
        app.state.supervisor.hung_kill_s = settings.hung_kill_s
        app.state.recordings = Recordings(str(settings.recordings_dir), settings.max_recordings,  # POST /recordings
                                          settings.max_record_channels)
        app.state.ws_slots = ClientSlots(settings.max_ws_clients)  # the WebSocket output clients open now
        try:  # the summary; models_dir without a model; an open API: said, never a reason not to start
            log_startup(settings, app.state.registry)
        except Exception:  # noqa: BLE001
            log.exception("the start-up summary could not be made (the service starts anyway)")
        if (why := recordings_dir_problem(settings.recordings_dir)) is not None:  # a request to record gets 422
            log.warning("%s: a decoder or recording asking to record is refused until it is fixed", why)
        start_configured(settings, app.state)  # the decoders of the `decoders` setting; a refused one is logged
        app.state.started = time.monotonic()
        try:
            yield
        finally:
            app.state.recordings.shutdown()  # every recording's file finished
            app.state.supervisor.shutdown()

    app = FastAPI(
        title="bci-stream",
        version=__version__,
        description="Real-time streaming decoder service for brain-computer interfaces.",
        lifespan=lifespan,
        docs_url=None,  # served below, with a line for offline networks
        responses=errors_doc(413, 421, 431),  # BodyLimit, LoopbackHosts and HeadLimit answer them on every route
    )

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        """FastAPI's Swagger page, which loads its JS and CSS from a CDN, headed by a line that names the offline
        schema (no bundled assets: blank on a network without internet, apart from that line)."""
        page = get_swagger_ui_html(openapi_url=app.openapi_url, title=f"{app.title} - API docs").body.decode()
        hint = (f'<p style="font:14px sans-serif;margin:8px">This page loads Swagger UI from cdn.jsdelivr.net '
                f'(internet needed). Offline, the same schema is <a href="{app.openapi_url}">{app.openapi_url}</a>'
                '.</p>')
        return HTMLResponse(page.replace("<body>", "<body>" + hint, 1))

    app.add_middleware(BodyLimit, limit=settings.max_request_bytes)
    if host_guard.applies(settings.host, settings.token):  # no token, loopback only: DNS rebinding, foreign origins
        app.add_middleware(host_guard.LoopbackHosts)
    app.add_middleware(TransportScope)  # the WebSocket outputs' flow control needs the connection's transport
    app.add_middleware(HeadLimit)  # outermost: a head over MAX_HEAD_BYTES goes no further
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    errors.install(app)

    app.include_router(health.router)
    app.include_router(models.router)
    app.include_router(decoders.router)
    app.include_router(control.router)
    app.include_router(outputs.router)
    app.include_router(recordings.router)
    app.include_router(metrics.router)
    app.include_router(dashboard.router)
    return app
