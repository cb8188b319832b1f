"""Run the stand-in on a real socket: an async context manager for tests and benchmarks.

async with StandInServer(FakeFingerprint(environments=120)) as api:
    client = httpx.AsyncClient(base_url=api.url, headers={"Authorization": f"Bearer {api.key}"})
"""

from __future__ import annotations

from types import TracebackType

from aiohttp import web

from sandbox.fingerprint.app import create_app
from sandbox.fingerprint.fake import FakeFingerprint


class StandInServer:
    """The stand-in Management API listening on ``host:port`` (a free port by default)."""

    def __init__(
        self, fake: FakeFingerprint | None = None, *, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.fake = fake if fake is not None else FakeFingerprint()
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321``; valid once started."""
        return f"http://{self.host}:{self.port}"

    @property
    def key(self) -> str:
        """The first accepted management API key."""
        return self.fake.api_keys[0]

    async def start(self) -> None:
        self.fake.closing = False
        # A short shutdown grace: hanging requests are released on stop anyway.
        self._runner = web.AppRunner(create_app(self.fake), shutdown_timeout=1.0, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        for address in self._runner.addresses:
            if isinstance(address, tuple):
                self.port = int(address[1])
                break

    async def stop(self) -> None:
        self.fake.closing = True
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> StandInServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
