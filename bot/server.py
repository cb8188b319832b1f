"""Serving fpbot: HTTP (``POST /slack/events``, ``GET /healthz``) or Socket Mode.

`BotServer` is used by ``fpbot serve``, the sandbox and the tests alike, so what is tested is
what runs. Shutdown follows interface.md §1: stop taking requests, finish in-flight work within
ten seconds, exit 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
from collections.abc import Coroutine
from types import TracebackType
from typing import Any, Protocol, Self, TypeVar

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.errors import SlackApiError

from bot.app import build_app
from bot.log import get_logger
from bot.policy import Policy
from bot.services import Services
from bot.settings import Settings, SettingsError
from bot.tasks import Foreground
from handlers.guard import Refusals, SignatureCheck, Workspace

log = get_logger(__name__)

T = TypeVar("T")

EVENTS_PATH = "/slack/events"
SHUTDOWN_GRACE = 10.0
#: How long closing the web server waits for a request being answered (an ack or /healthz).
HTTP_CLOSE_TIMEOUT = 3.0


class _Health(Protocol):
    async def report(self) -> tuple[int, dict[str, Any]]: ...


def make_web_app(
    bolt: AsyncApp | None,
    health: _Health,
    foreground: Foreground | None = None,
    *,
    signature: SignatureCheck | None = None,
    refusals: Refusals | None = None,
) -> web.Application:
    """The aiohttp application: Slack's endpoint (HTTP mode only) and the health check.

    With ``signature``, every request to Slack's endpoint proves it comes from Slack before its
    body is parsed: a bad or missing signature, or a timestamp that is not a number within five
    minutes of now, is answered 401, and a signed body that cannot be read 400, each with one
    throttled warning (``refusals``). Bolt's own check is then off (`bot.app.build_app`): one
    HMAC per request, not two. Without it, ``bolt`` must verify requests itself (the ack
    benchmark's bare Bolt app does).

    A Slack request counts as ``foreground`` from its arrival (body, signature, ack), so
    after-ack work waits until it is answered.
    """
    serving = foreground.serving if foreground is not None else contextlib.nullcontext
    refusals = refusals or Refusals()

    async def verified(request: web.Request) -> AsyncBoltRequest | web.Response:
        headers = request.headers
        assert signature is not None
        stamp, signed = headers.get("X-Slack-Request-Timestamp"), headers.get("X-Slack-Signature")
        problem = signature.problem(stamp, signed)
        if problem is None:
            try:
                body = await request.read()
            except web.HTTPRequestEntityTooLarge:
                problem = "body too large to verify"
            else:
                problem = signature.problem(stamp, signed, body)
        if problem is not None:
            refusals.refused(problem, status=401)
            return web.Response(status=401)
        try:
            return AsyncBoltRequest(
                body=body.decode("utf-8"),
                query=request.query_string,
                headers=headers,  # type: ignore[arg-type]  # a multidict, as Bolt's adapter
            )
        except (ValueError, TypeError, AttributeError, KeyError, IndexError) as exc:
            # Bolt's parser on a body Slack signed: not UTF-8, not a form, a payload that is
            # not a JSON object. Nothing can be done with it, and nothing more was read.
            refusals.refused("signed body unreadable", status=400, error=type(exc).__name__)
            return web.Response(status=400)

    async def events(request: web.Request) -> web.Response:
        assert bolt is not None
        with serving():
            if signature is None:
                bolt_request = await to_bolt_request(request)
            else:
                checked = await verified(request)
                if isinstance(checked, web.Response):
                    return checked
                bolt_request = checked
            return await to_aiohttp_response(await bolt.async_dispatch(bolt_request))

    async def healthz(_: web.Request) -> web.Response:
        status, body = await health.report()
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
        self._sweep_stop = asyncio.Event()
        self._services_closed = False
        self.url = ""

    async def start(self) -> None:
        """Connect everything and start serving; on any failure (or cancellation, e.g. SIGTERM
        during a slow migration) what was started is stopped again before the error goes on."""
        try:
            await self._start()
        except BaseException:
            await self.stop(grace=1.0)
            raise

    async def _start(self) -> None:
        settings = self.settings
        settings.require_for_serving(socket=self._socket)
        self.services = services = await Services.start(settings, self._policy)
        workspace = await Workspace.of_token(services.messenger)
        refusals = Refusals()
        bolt = build_app(services, workspace, socket_mode=self._socket, refusals=refusals)
        signature = None
        if not self._socket:
            assert settings.slack_signing_secret is not None  # require_for_serving
            signature = SignatureCheck(settings.slack_signing_secret.get_secret_value())
        self._runner = web.AppRunner(
            make_web_app(
                None if self._socket else bolt,
                services.health,
                services.tasks.foreground,
                signature=signature,
                refusals=refusals,
            ),
            shutdown_timeout=HTTP_CLOSE_TIMEOUT,
        )
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
        self._sweeper = asyncio.create_task(
            services.sweeper.run(stop=self._sweep_stop), name="sweeper"
        )
        # Everything built so far lives as long as the process: keep it out of the collector's
        # way, so a full collection scans only what requests create (tens of milliseconds of
        # pause otherwise, in the middle of a burst of acknowledgements).
        gc.collect()
        gc.freeze()
        log.info("serving", mode="socket" if self._socket else "http", url=self.url)

    async def stop(self, grace: float = SHUTDOWN_GRACE) -> None:
        """Stop taking requests, finish what is in flight within ``grace`` seconds.

        In order: no new connections; then, together and within ``grace``, the sweeper
        finishes the pass it is in (it starts nothing new) and in-flight commands and clicks
        finish — anything still arriving on an open connection meanwhile is answered
        "restarting"; then the web server closes its connections, and the services close.
        Stopping twice is harmless: what is already stopped is skipped.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        if self._socket_handler is not None:
            await self._socket_handler.close_async()  # type: ignore[no-untyped-call]
            self._socket_handler = None
        if self._site is not None:
            await self._site.stop()
            self._site = None
        services = None if self._services_closed else self.services
        await asyncio.gather(
            self._stop_sweeper(grace),
            services.tasks.drain(grace) if services is not None else asyncio.sleep(0),
        )
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if services is not None:
            self._services_closed = True
            await services.health.close()
            # Work that came in while the web server closed is waited for in what is left.
            await services.close(max(0.0, deadline - loop.time()))
            log.info("stopped")

    async def _stop_sweeper(self, grace: float) -> None:
        """Let the sweeper finish its pass (a change it is running included) within ``grace``;
        cancel it only if it has not by then."""
        sweeper, self._sweeper = self._sweeper, None
        if sweeper is None:
            return
        self._sweep_stop.set()
        done, _ = await asyncio.wait([sweeper], timeout=grace)
        if not done:
            log.warning("sweeper_cancelled", grace=grace)
            sweeper.cancel()
        try:
            await sweeper
        except asyncio.CancelledError:
            pass
        except Exception:  # run_sweeper catches its own; never let shutdown fail on it
            log.exception("sweeper_failed")

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()


def run_loop(main: Coroutine[Any, Any, T]) -> T:
    """Run ``main`` on the event loop fpbot serves on (the ack benchmark's baseline does too)."""
    return asyncio.run(main)


async def serve(settings: Settings, *, socket: bool) -> int:
    """Run until SIGTERM or SIGINT, then shut down gracefully; the process exit code.

    The signal handlers are installed before anything starts, so a SIGTERM during a slow
    start (a migration waiting on the database, say) stops what was started and exits 0.
    """
    server = BotServer(settings, socket=socket)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGTERM, signal.SIGINT)
    for sig in signals:
        loop.add_signal_handler(sig, stop.set)
    starting = asyncio.create_task(server.start(), name="start")
    stopping = asyncio.create_task(stop.wait(), name="stop-signal")
    try:
        await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if not starting.done():
            log.info("shutting_down", during="start-up")
            starting.cancel()  # start() stops what it had started before it ends
            with contextlib.suppress(asyncio.CancelledError):
                await starting
            await server.stop()
            return 0
        starting.result()  # a start-up error goes to the caller, as before
        await stopping
        log.info("shutting_down")
        await server.stop()
        return 0
    finally:
        stopping.cancel()
        for sig in signals:
            loop.remove_signal_handler(sig)
