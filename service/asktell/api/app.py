"""create_app(settings): routers under /v1, error mapping, metrics, dashboard, lifespan."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.types import ASGIApp

from asktell import metrics
from asktell.api.context import AppContext
from asktell.api.errors import error_response, install_error_handlers
from asktell.api.fast_lane import FastLane
from asktell.api.routes import artifacts, health, notes, studies, trials, zo
from asktell.config import Settings, get_settings
from asktell.db import repository as repo
from asktell.db.migrate import upgrade
from asktell.db.notify import Hub
from asktell.db.session import Database
from asktell.strategies.registry import available_strategies

log = logging.getLogger("asktell")

WORKER_SHUTDOWN_WAIT_SECONDS = 10.0
"""How long shutdown waits for the embedded worker's job in flight to write its result
(after that the job is abandoned; its lease expires and another worker redoes it)."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _operation_id(route: APIRoute) -> str:
    return f"{route.tags[0]}-{route.name}" if route.tags else route.name


def create_app(settings: Settings | None = None, *, start_worker: bool | None = None) -> FastAPI:
    """Build the app; SQLite is migrated at start, PostgreSQL needs `asktell db upgrade`."""
    settings = settings or get_settings()
    db = Database(settings.database_url)
    hub = Hub()
    ctx = AppContext(
        settings=settings,
        db=db,
        hub=hub,
        open_mode=is_loopback(settings.host) and not settings.require_token,
    )
    run_worker = settings.embedded_worker if start_worker is None else start_worker

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        available_strategies()  # import every strategy now, not in the first request
        if db.is_sqlite:
            upgrade(settings.database_url)
        else:
            hub.start_pg_listener(settings.database_url)
        with db.write() as session:
            ctx.default_project_id = repo.get_or_create_project(session)
        if ctx.open_mode:
            log.warning(
                "asktell: open mode on %s: requests without a token act on the "
                "'default' project (loopback only)",
                settings.host,
            )
        worker = worker_thread = None
        if run_worker:
            from asktell.worker.device import limit_threads
            from asktell.worker.loop import Worker

            limit_threads(1)

            worker = Worker(
                db, hub, device="cpu", lease_seconds=settings.lease_seconds, poll_interval=0.5
            )
            worker_thread = worker.start_thread()
        try:
            yield
        finally:
            if worker is not None and worker_thread is not None:
                worker.stop.set()
                hub.wake_jobs()
                await asyncio.to_thread(worker_thread.join, WORKER_SHUTDOWN_WAIT_SECONDS)
            hub.stop()
            db.dispose()

    app = AsktellAPI(
        max_body_bytes=settings.max_body_bytes,
        title="asktell",
        version="0.1.0",
        summary="Black-box and Bayesian optimization as a service",
        lifespan=lifespan,
        generate_unique_id_function=_operation_id,
    )
    app.state.ctx = ctx
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(studies.router)
    app.include_router(trials.router)
    app.include_router(zo.router)
    app.include_router(notes.router)
    app.include_router(artifacts.router)
    from asktell.dashboard.routes import router as dashboard_router

    app.include_router(dashboard_router)
    return app


def app_from_env() -> FastAPI:
    """The app configured by ASKTELL_* variables (for `uvicorn --factory` and several workers)."""
    return create_app(Settings())


class AsktellAPI(FastAPI):
    """FastAPI with two layers outside its own middleware: the request guard (body limit,
    metrics), then the ask/tell fast lane, which thus skips FastAPI's layers too."""

    def __init__(self, *, max_body_bytes: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.max_body_bytes = max_body_bytes

    def build_middleware_stack(self) -> ASGIApp:
        lane = FastLane(super().build_middleware_stack())
        return RequestGuard(lane, max_body_bytes=self.max_body_bytes)


class RequestGuard:
    """Pure ASGI middleware: refuse oversized bodies, time every request by route."""

    def __init__(self, app, max_body_bytes: int):
        self.app = app
        self.limit = max_body_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length" and (not value.isdigit() or int(value) > self.limit):
                response = error_response(
                    413, "too_large", f"request body over {self.limit} bytes", "body"
                )
                await response(scope, receive, send)
                return
        started = time.perf_counter()
        status = 500

        async def send_and_record(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", "unmatched")
            metrics.REQUEST_SECONDS.labels(scope["method"], path, str(status)).observe(
                time.perf_counter() - started
            )
