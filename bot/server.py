"""Serving fpbot: HTTP (``POST /slack/events``, ``GET /healthz``, ``GET /metrics``) or Socket
Mode.

`BotServer` is used by ``fpbot serve``, the sandbox and the tests alike, so what is tested is
what runs. Shutdown: stop taking requests, finish in-flight work within ten seconds, exit 0.

Whoever can reach the port can open connections, so the web server holds them to account: a request
has `REQUEST_DEADLINE` seconds for its headers and body to arrive, and at most ``max_connections``
are open at once (`ConnectionGate`) — a few hundred sockets dribbling a header line now and then
must not take every file descriptor the bot needs to reach Slack, Fingerprint and its store.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import errno
import gc
import hmac
import resource
import signal
import socket
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine
from types import TracebackType
from typing import Any, Protocol, Self, TypeVar, cast

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.errors import SlackApiError

from bot.app import build_app
from bot.log import Throttle, get_logger
from bot.metrics import Metrics
from bot.policy import Policy
from bot.services import Services
from bot.settings import Settings, SettingsError
from bot.tasks import Foreground
from handlers.guard import REFUSAL_LOG_INTERVAL, Refusals, SignatureCheck, Workspace

log = get_logger(__name__)

T = TypeVar("T")

EVENTS_PATH = "/slack/events"
SHUTDOWN_GRACE = 10.0
#: How long closing the web server waits for a request being answered (an ack or /healthz).
HTTP_CLOSE_TIMEOUT = 3.0
#: Seconds a request has for its headers and body to arrive in full, from its first byte (from
#: the connection's opening, for a connection's first request).
REQUEST_DEADLINE = 10.0
#: Seconds an idle keep-alive connection is kept. aiohttp's default in a runner is an hour; this
#: is longer than common load balancers' idle timeout (60 s), so that they close the connections
#: they pool, not fpbot — the other way round, a request sent as fpbot closes one fails.
KEEPALIVE_TIMEOUT = 75.0
#: The most connections open at once by default, and the share of the process's
#: file-descriptor limit they may take at most: the rest are for the store, Redis and the calls
#: to Slack and Fingerprint.
MAX_CONNECTIONS = 256
FD_SHARE = 4
#: Connections accepted per turn of the event loop, at most: each is admitted (or refused) by
#: the gate before the next is accepted, and those it closes to make room are let go within a
#: turn, so a burst holds at most this many descriptors beyond the cap.
ACCEPT_BATCH = 16
#: Seconds accepting pauses when the process is out of file descriptors.
ACCEPT_RETRY_DELAY = 0.2


def default_max_connections() -> int:
    """`MAX_CONNECTIONS`, or a quarter of the file-descriptor limit when that is lower."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return MAX_CONNECTIONS
    return max(1, min(MAX_CONNECTIONS, soft // FD_SHARE))


class _Health(Protocol):
    async def report(self) -> tuple[int, dict[str, Any]]: ...


def make_web_app(
    bolt: AsyncApp | None,
    health: _Health,
    foreground: Foreground | None = None,
    *,
    signature: SignatureCheck | None = None,
    refusals: Refusals | None = None,
    metrics: Metrics | None = None,
    metrics_token: str | None = None,
) -> web.Application:
    """The aiohttp application: Slack's endpoint (HTTP mode only), the health check and, with
    ``metrics``, ``GET /metrics`` (Prometheus' text format; the time to acknowledge each Slack
    request is one of them). The port is public wherever Slack must reach it, so with
    ``metrics_token`` the metrics are shown only to a scraper that sends it as a bearer token.

    With ``signature``, every request to Slack's endpoint proves it comes from Slack before its
    body is parsed: a bad or missing signature, or a timestamp that is not a number within five
    minutes of now, is answered 401, and a signed body that cannot be read 400, each with one
    throttled warning (``refusals``). Bolt's own check is then off (`bot.app.build_app`): one
    HMAC per request, not two. Without it, ``bolt`` must verify requests itself (the ack
    benchmark's bare Bolt app does).

    A Slack request counts as ``foreground`` from the moment it has arrived until it is
    answered (over `BotServer`'s connections, a slow body is bounded by `REQUEST_DEADLINE`
    and does not hold background work up meanwhile), so after-ack work waits for the answer.
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
            except ConnectionError:  # the client left, or was too slow (already logged)
                return _closing(web.Response(status=400))
            else:
                arrived(request)
                problem = signature.problem(stamp, signed, body)
        if problem is not None:
            refusals.refused(problem, status=401)
            return _closing(web.Response(status=401))
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
            return _closing(web.Response(status=400))

    async def events(request: web.Request) -> web.Response:
        assert bolt is not None
        arrived_at = time.perf_counter()
        if signature is None:
            with serving():
                bolt_request = await to_bolt_request(request)
                response = await to_aiohttp_response(await bolt.async_dispatch(bolt_request))
        else:
            checked = await verified(request)
            if isinstance(checked, web.Response):
                return checked
            with serving():
                response = await to_aiohttp_response(await bolt.async_dispatch(checked))
        if metrics is not None:
            metrics.ack_seconds.observe(time.perf_counter() - arrived_at)
        return response

    async def healthz(_: web.Request) -> web.Response:
        status, body = await health.report()
        return web.json_response(body, status=status)

    metrics_refused = Throttle(REFUSAL_LOG_INTERVAL)

    async def exposition(request: web.Request) -> web.Response:
        assert metrics is not None
        if metrics_token is not None and not _bearer_is(request, metrics_token):
            metrics_refused.warning(log, "metrics_refused", key="token", status=401)
            return web.Response(status=401, headers={"WWW-Authenticate": "Bearer"})
        body, content_type = metrics.exposition()
        return web.Response(body=body, headers={"Content-Type": content_type})

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    if metrics is not None:
        app.router.add_get("/metrics", exposition)
    if bolt is not None:
        app.router.add_post(EVENTS_PATH, events)
    return app


def _bearer_is(request: web.Request, token: str) -> bool:
    """Whether ``request`` carries ``Authorization: Bearer <token>`` (compared in constant time)."""
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip(), token)


def _closing(response: web.Response) -> web.Response:
    """``response``, after which the connection is closed: its client misbehaved."""
    response.force_close()
    return response


# ── connections: a deadline for every request, a cap on how many are open ──────────────────


class _Stage(enum.Enum):
    RECEIVING = "receiving a request"  # its headers or body are on their way (deadline runs)
    ANSWERING = "answering"  # the request is in; fpbot is answering it
    IDLE = "idle"  # kept alive, waiting for the next request
    CLOSED = "closed"  # dropped or lost: no longer counted, whatever its handler still does


class ConnectionGate:
    """The open connections, by stage: at most ``max_connections``, and none receiving a
    request for longer than ``deadline`` seconds.

    A connection beyond the cap is made room for by closing the one that has been receiving a
    request the longest (a healthy client sends a request in milliseconds; one receiving for
    long is dribbling), else the longest idle one; only when every connection is being
    answered is the new one refused. Either way it takes a moment, and the file descriptors in
    use stay under the cap. What happens is logged, throttled (`bot.log.Throttle`).
    """

    def __init__(self, max_connections: int, deadline: float = REQUEST_DEADLINE) -> None:
        self.max_connections = max_connections
        self.deadline = deadline
        self._receiving: OrderedDict[_Connection, None] = OrderedDict()  # longest first
        self._idle: OrderedDict[_Connection, None] = OrderedDict()
        self._answering: set[_Connection] = set()
        self._log = Throttle(REFUSAL_LOG_INTERVAL)

    @property
    def open(self) -> int:
        """How many connections are open."""
        return len(self._receiving) + len(self._idle) + len(self._answering)

    def admit(self, connection: _Connection) -> bool:
        """Take a new connection in (receiving its first request), making room if needed;
        ``False``: refused, every open connection is being answered."""
        if self.open >= self.max_connections:
            oldest = next(iter(self._receiving), None) or next(iter(self._idle), None)
            action = (
                "refused a new connection"
                if oldest is None
                else f"closed the connection {oldest.stage.value} the longest"
            )
            self._log.warning(
                log,
                "connections_at_capacity",
                key=action,
                limit=self.max_connections,
                action=action,
            )
            if oldest is None:
                return False
            oldest.drop()
        self.move(connection, _Stage.RECEIVING)
        return True

    def move(self, connection: _Connection, stage: _Stage) -> None:
        """Record that ``connection`` is now at ``stage`` (the newest there)."""
        self.release(connection)
        connection.stage = stage
        if stage is _Stage.RECEIVING:
            self._receiving[connection] = None
        elif stage is _Stage.IDLE:
            self._idle[connection] = None
        else:
            self._answering.add(connection)

    def release(self, connection: _Connection) -> None:
        """Forget ``connection`` (closed, or closing); harmless if already forgotten."""
        self._receiving.pop(connection, None)
        self._idle.pop(connection, None)
        self._answering.discard(connection)

    def too_slow(self) -> None:
        """A request missed the deadline (its connection is being closed)."""
        self._log.warning(log, "request_too_slow", key="deadline", deadline=self.deadline)


class _Connection(asyncio.Protocol):
    """One client connection: aiohttp's protocol inside, the gate's deadline and cap around it.

    The request handlers tell it when a request has fully arrived (`arrived`) and when it has
    been answered (`answered`); the deadline runs from the connection's opening, or from the
    first byte of the next request, until the request has arrived.
    """

    def __init__(self, gate: ConnectionGate, inner: asyncio.Protocol) -> None:
        self.stage = _Stage.RECEIVING
        self._gate = gate
        self._inner = inner
        self._transport: asyncio.Transport | None = None
        self._made = False  # aiohttp's protocol has seen it open
        self._timer: asyncio.TimerHandle | None = None
        self._next_request_started = False  # bytes came in while one was being answered

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        if self.stage is _Stage.CLOSED:  # dropped between its accept and now
            self._transport.abort()
            return
        self._arm()
        self._made = True
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self.stage is _Stage.IDLE:
            self._gate.move(self, _Stage.RECEIVING)
            self._arm()
        elif self.stage is _Stage.ANSWERING:
            self._next_request_started = True
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self._gate.release(self)
        self.stage = _Stage.CLOSED
        if self._made:  # aiohttp's protocol saw it open
            self._inner.connection_lost(exc)

    def arrived(self) -> None:
        """The request's headers and body are all in: the deadline no longer runs."""
        if self.stage is _Stage.RECEIVING:
            self._disarm()
            self._gate.move(self, _Stage.ANSWERING)

    def answered(self) -> None:
        """The request has been answered: the connection waits for the next (kept alive)."""
        if self.stage is _Stage.ANSWERING:
            if self._next_request_started:
                self._next_request_started = False
                self._gate.move(self, _Stage.RECEIVING)
                self._arm()
            else:
                self._gate.move(self, _Stage.IDLE)

    def drop(self) -> None:
        """Close the connection now, without a word: its client is too slow or too many."""
        self._disarm()
        self._gate.release(self)
        self.stage = _Stage.CLOSED
        if self._transport is not None:
            self._transport.abort()

    def _arm(self) -> None:
        self._disarm()
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self._gate.deadline, self._expire)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expire(self) -> None:
        self._timer = None
        self._gate.too_slow()
        self.drop()


def _connection_of(request: web.BaseRequest) -> _Connection | None:
    transport = request.transport
    protocol = transport.get_protocol() if transport is not None else None
    return protocol if isinstance(protocol, _Connection) else None


def arrived(request: web.BaseRequest) -> None:
    """Tell the connection that ``request``'s body is all in (a handler that reads one)."""
    connection = _connection_of(request)
    if connection is not None:
        connection.arrived()


@web.middleware
async def _connection_stages(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """A request without a body has arrived with its headers; once answered, the connection
    is idle. A handler reading a body says when it is in (`arrived`); a body no handler reads
    (a wrong route, a refused request) keeps the deadline running while aiohttp drains it.
    """
    connection = _connection_of(request)
    if connection is None:
        return await handler(request)
    if not request.body_exists:
        connection.arrived()
    try:
        return await handler(request)
    finally:
        connection.answered()


class _GuardedSite(web.BaseSite):
    """aiohttp's TCP site, accepting connections itself so that each is counted by the
    `ConnectionGate` the moment it is accepted.

    asyncio's own accept loop takes up to the whole listen backlog in one go and only then
    lets the protocols see their connections: a burst queued behind a busy event loop would
    hold a hundred descriptors before the gate could close a single one, and a process with a
    small limit would run out ("Too many open files", logged once per refused accept). Here a
    connection is admitted (or refused, its socket closed at once) as it is accepted, at most
    `ACCEPT_BATCH` per turn of the loop, so the descriptors in use stay near the cap.
    """

    def __init__(self, runner: web.BaseRunner, host: str, port: int, gate: ConnectionGate):
        super().__init__(runner)
        self._host = host
        self._port = port
        self._gate = gate
        self._log = Throttle(REFUSAL_LOG_INTERVAL)

    @property
    def name(self) -> str:
        return f"http://{self._host}:{self._port}"

    async def start(self) -> None:
        await super().start()
        loop = asyncio.get_running_loop()
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        sock = socket.create_server((self._host, self._port), family=family, backlog=self._backlog)
        sock.setblocking(False)
        # An asyncio server that never serves by itself: aiohttp's runner reads its address
        # and closes it, which stops the reader below and closes the socket.
        self._server = await loop.create_server(asyncio.Protocol, sock=sock, start_serving=False)
        self._listen(loop, sock)

    def _listen(self, loop: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
        loop.add_reader(sock.fileno(), self._accept, loop, sock)

    def _accept(self, loop: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
        factory = self._runner.server
        assert factory is not None
        for _ in range(ACCEPT_BATCH):
            try:
                conn, _ = sock.accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return  # none left waiting
            except OSError as exc:
                if exc.errno not in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    raise
                # Out of descriptors all the same (the store's, Slack's, Fingerprint's
                # sockets count too): the queued connections wait in the kernel a moment.
                self._log.warning(log, "accept_paused", key="accept", reason=exc.strerror)
                loop.remove_reader(sock.fileno())
                loop.call_later(ACCEPT_RETRY_DELAY, self._resume, loop, sock)
                return
            connection = _Connection(self._gate, factory())
            if not self._gate.admit(connection):
                conn.close()
                continue
            conn.setblocking(False)
            loop.create_task(self._connect(loop, conn, connection))

    def _resume(self, loop: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
        if self._server is not None and sock.fileno() != -1:  # not closed meanwhile
            self._listen(loop, sock)

    @staticmethod
    async def _connect(
        loop: asyncio.AbstractEventLoop, conn: socket.socket, connection: _Connection
    ) -> None:
        try:
            await loop.connect_accepted_socket(lambda: connection, sock=conn)
        except OSError:  # the peer went away before the transport was made
            connection.drop()
            conn.close()


class BotServer:
    """fpbot running: services, the Bolt app, the web server, the sweeper.

    Args:
        settings: what to connect to, where to listen.
        policy: the policy, if not the file the settings name.
        socket: Socket Mode instead of HTTP (the web server then serves ``/healthz`` only).
        max_connections: connections open at once (default: `default_max_connections`).
        request_deadline: seconds a request has to arrive in full (`REQUEST_DEADLINE`).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        policy: Policy | None = None,
        socket: bool = False,
        max_connections: int | None = None,
        request_deadline: float = REQUEST_DEADLINE,
    ):
        self.settings = settings
        self._policy = policy
        self._socket = socket
        self.connections = ConnectionGate(
            max_connections or default_max_connections(), request_deadline
        )
        self.services: Services | None = None
        self._runner: web.AppRunner | None = None
        self._site: web.BaseSite | None = None
        self._socket_handler: AsyncSocketModeHandler | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._sweep_stop = asyncio.Event()
        #: The account watch and the daily digest, stopped with the sweeper.
        self._background: list[asyncio.Task[None]] = []
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
        web_app = make_web_app(
            None if self._socket else bolt,
            services.health,
            services.tasks.foreground,
            signature=signature,
            refusals=refusals,
            metrics=services.metrics,
            metrics_token=(
                settings.metrics_token.get_secret_value() if settings.metrics_token else None
            ),
        )
        web_app.middlewares.append(_connection_stages)
        self._runner = web.AppRunner(
            web_app, shutdown_timeout=HTTP_CLOSE_TIMEOUT, keepalive_timeout=KEEPALIVE_TIMEOUT
        )
        await self._runner.setup()
        self._site = _GuardedSite(self._runner, settings.host, settings.port, self.connections)
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
        if services.watch is not None:
            self._background.append(
                asyncio.create_task(services.watch.run(self._sweep_stop), name="watch")
            )
        self._background.append(
            asyncio.create_task(services.digest.run(self._sweep_stop), name="digest")
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
        """Let the sweeper (and the watch, and the digest) finish the pass they are in (a
        change being run included) within ``grace``; cancel what has not by then."""
        sweeper, self._sweeper = self._sweeper, None
        background, self._background = self._background, []
        running = [task for task in (sweeper, *background) if task is not None]
        if not running:
            return
        self._sweep_stop.set()
        _, late = await asyncio.wait(running, timeout=grace)
        for task in late:
            log.warning("background_cancelled", task=task.get_name(), grace=grace)
            task.cancel()
        for task in running:
            try:
                await task
            except asyncio.CancelledError:
                pass
            except Exception:  # each catches its own; never let shutdown fail on one
                log.exception("background_failed", task=task.get_name())

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
