"""``papers-bot run``: one asyncio process with the enabled adapters, the scheduler and the HTTP
server, stopped cleanly by SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, runtime_checkable

from aiohttp import web

from bot.app import App
from bot.config import Secrets, Settings

log = logging.getLogger(__name__)


@runtime_checkable
class ServesHTTP(Protocol):
    """An adapter with HTTP endpoints of its own (Slack's /slack/events, OAuth pages)."""

    def mount(self, web_app: web.Application) -> None: ...


class Service(Protocol):
    """Anything the runner starts and stops: adapters, the scheduler."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class Runner:
    """Owns the process: its services, the HTTP server and shutdown."""

    def __init__(self, settings: Settings, secrets: Secrets, app: App) -> None:
        self.settings = settings
        self.secrets = secrets
        self.app = app
        self.services: list[Service] = []
        self.web = web.Application()
        self.web.router.add_get("/healthz", self._healthz)
        self._runner: web.AppRunner | None = None
        self._stopping = asyncio.Event()
        self.ready_checks: list[Callable[[], Awaitable[tuple[str, bool]]]] = []
        self.port: int | None = None

    def add(self, service: Any) -> None:
        """Start ``service`` with the process; mount its HTTP routes if it has any."""
        if isinstance(service, ServesHTTP):
            service.mount(self.web)
        self.services.append(service)

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def start(self) -> None:
        self._runner = web.AppRunner(self.web, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.settings.server.host, self.settings.server.port)
        await site.start()
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else self.settings.server.port
        log.info("HTTP server listening on %s:%s", self.settings.server.host, self.port)
        for service in self.services:
            await service.start()

    async def stop(self) -> None:
        # Services first (they stop taking work and let deliveries in flight finish), then HTTP.
        for service in reversed(self.services):
            try:
                await service.stop()
            except Exception:
                log.exception("error while stopping %s", type(service).__name__)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def request_stop(self) -> None:
        self._stopping.set()

    async def serve(self) -> None:
        """Run until SIGTERM or SIGINT, then stop cleanly."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, self.request_stop)
        try:
            # Inside the try: a service that fails to start still gets the others stopped.
            await self.start()
            log.info("papers-bot is running; SIGTERM or Ctrl-C stops it")
            await self._stopping.wait()
        finally:
            log.info("stopping")
            await self.stop()
