"""Liveness and readiness over HTTP: `GET /healthz` and `GET /readyz`, for load balancers and
orchestrators. Served beside `/slack/events` in Slack's HTTP mode, and on `KNEEBOT_HEALTH_PORT` in
the modes that otherwise listen on nothing (Slack Socket Mode, Discord)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web

from bot.errors import KneebotError
from bot.stores import Store

__all__ = ["add_health_routes", "health_server", "listening"]

_log = logging.getLogger(__name__)
READY_WITHIN = 2.0
"""Seconds the store has to answer before the process is reported not ready."""


def add_health_routes(app: web.Application, store: Store) -> None:
    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "alive"})

    async def readyz(_: web.Request) -> web.Response:
        try:
            await asyncio.wait_for(store.check(), READY_WITHIN)
        except (KneebotError, TimeoutError, OSError) as exc:
            _log.warning("not ready: the store is unreachable (%s)", type(exc).__name__)
            return web.json_response({"status": "not ready", "store": "unreachable"}, status=503)
        return web.json_response({"status": "ready", "store": "ok"})

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)


@asynccontextmanager
async def listening(app: web.Application, host: str, port: int, purpose: str = "") -> AsyncIterator[None]:
    """Serve `app` on host:port while the block runs; a port that cannot be used is one
    KneebotError naming it (and `purpose`), never a traceback."""
    runner = web.AppRunner(app, access_log=None)  # requests are not logged: paths are enough noise
    await runner.setup()
    try:
        try:
            await web.TCPSite(runner, host, port).start()
        except OSError as exc:
            raise KneebotError(f"cannot listen on {host}:{port}{purpose}: {exc.strerror}") from None
        yield
    finally:
        await runner.cleanup()


@asynccontextmanager
async def health_server(store: Store, host: str, port: int | None) -> AsyncIterator[None]:
    """Serve the two routes on their own port while the block runs; nothing when `port` is None."""
    if port is None:
        yield
        return
    app = web.Application()
    add_health_routes(app, store)
    async with listening(app, host, port, " for health checks"):
        yield
