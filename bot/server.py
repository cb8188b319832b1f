"""Serving fpbot: HTTP (``POST /slack/events``, ``GET /healthz``) or Socket Mode.

`BotServer` is used by ``fpbot serve``, the sandbox and the tests alike, so what is tested is
what runs. Shutdown follows interface.md §1: stop taking requests, finish in-flight work within
ten seconds, exit 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from types import TracebackType
from typing import Self

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError

from bot.app import build_app
from bot.log import get_logger
from bot.policy import Policy
from bot.services import Services
from bot.settings import Settings, SettingsError

log = get_logger(__name__)

EVENTS_PATH = "/slack/events"
SHUTDOWN_GRACE = 10.0


def make_web_app(bolt: AsyncApp | None, services: Services) -> web.Application:
    """The aiohttp application: Slack's endpoint (HTTP mode only) and the health check."""

    async def events(request: web.Request) -> web.Response:
        assert bolt is not None
        return await to_aiohttp_response(await bolt.async_dispatch(await to_bolt_request(request)))

    async def healthz(_: web.Request) -> web.Response:
        status, body = await services.health.report()
        return web.json_response(body, status=status)

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    if bolt is not None:
        app.router.add_post(EVENTS_PATH, events)
    return app


class BotServer:
    """fpbot running: services, the Bolt app, the web server, the sweeper."""

    def __init__(self, settings: Settings, *, policy: Policy | None = None, socket: bool = False):
        self.settings = settings
        self._policy = policy
        self._socket = socket
        self.services: Services | None = None
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._socket_handler: AsyncSocketModeHandler | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._services_closed = False
        self.url = ""

    async def start(self) -> None:
        settings = self.settings
        settings.require_for_serving(socket=self._socket)
        self.services = services = await Services.start(settings, self._policy)
        bolt = build_app(services, socket_mode=self._socket)
        self._runner = web.AppRunner(make_web_app(None if self._socket else bolt, services))
        await self._runner.setup()
        self._site = web.TCPSite(self._runner, settings.host, settings.port)
        await self._site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"  # noqa: S104
        if self._socket:
            assert settings.slack_app_token is not None
            self._socket_handler = handler = AsyncSocketModeHandler(
                bolt, settings.slack_app_token.get_secret_value()
            )
            # slack_sdk's connect() retries a refused apps.connections.open forever (start-up
            # would hang, logging errors): ask for the URL once here, so a bad token fails now.
            try:
                handler.client.wss_uri = await handler.client.issue_new_wss_url()
            except SlackApiError as exc:
                await self.stop()
                error = exc.response.get("error") if isinstance(exc.response.data, dict) else None
                raise SettingsError(
                    f"SLACK_APP_TOKEN was refused by Slack: apps.connections.open answered"
                    f" {error or exc.response.status_code}"
                ) from None
            await handler.connect_async()  # type: ignore[no-untyped-call]
        self._sweeper = asyncio.create_task(services.changes.run_sweeper(), name="sweeper")
        log.info("serving", mode="socket" if self._socket else "http", url=self.url)

    async def stop(self, grace: float = SHUTDOWN_GRACE) -> None:
        """Stop taking requests, finish what is in flight within ``grace`` seconds.

        Stopping twice is harmless: what is already stopped is skipped.
        """
        if self._socket_handler is not None:
            await self._socket_handler.close_async()  # type: ignore[no-untyped-call]
            self._socket_handler = None
        if self._site is not None:
            await self._site.stop()
            self._site = None
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
        if self.services is not None and not self._services_closed:
            self._services_closed = True
            await self.services.health.close()
            await self.services.close(grace)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
            log.info("stopped")

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()


async def serve(settings: Settings, *, socket: bool) -> int:
    """Run until SIGTERM or SIGINT, then shut down gracefully; the process exit code."""
    server = BotServer(settings, socket=socket)
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("shutting_down")
    await server.stop()
    return 0
