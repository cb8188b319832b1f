"""How the benchmarks run their servers and print their figures; none of it is measured.

Every server a benchmark measures runs in a child process of its own, so it never shares an
event loop with the load generator and its memory figures are its own. This module holds
what that takes — the child's environment, starting it and knowing when it is ready,
stopping it the way a deployment would, reading its log and memory — and the small helpers
the reports share: nearest-rank percentiles, the aligned table, the machine's load average.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import re
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import aiohttp
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
FPBOT = (sys.executable, "-m", "bot", "serve")  # the production entry point

# Variables a child must not inherit from this shell: each child gets exactly the settings
# the benchmark means it to have.
_OWN_VARIABLES = re.compile(
    r"^(SLACK_|FP_|FPBOT_|DATABASE_URL$|REDIS_URL$|HOST$|PORT$|LOG_LEVEL$|LOG_FORMAT$)"
)


# ── child processes ────────────────────────────────────────────────────────────────────


def free_port() -> int:
    """A port nothing listens on right now (the child binds it a moment later)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def child_env(settings: Mapping[str, str]) -> dict[str, str]:
    """This environment minus fpbot's variables, plus ``settings``; bench importable."""
    env = {k: v for k, v in os.environ.items() if not _OWN_VARIABLES.match(k)}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.update(settings)
    return env


async def terminate(proc: asyncio.subprocess.Process, grace: float) -> int:
    """SIGTERM, so the child drains its work as it would in a deployment; SIGKILL after
    ``grace`` seconds, so a hung child cannot hang the benchmark. Its exit code."""
    if proc.returncode is not None:
        return proc.returncode
    proc.send_signal(signal.SIGTERM)
    try:
        return await asyncio.wait_for(proc.wait(), grace)
    except TimeoutError:
        proc.kill()
        return await proc.wait()


@dataclass(frozen=True)
class Memory:
    """Resident set size now and at its peak, in MiB."""

    rss: float
    peak: float

    @classmethod
    def of(cls, pid: int) -> Memory:
        fields: dict[str, float] = {}
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                fields[name] = int(value.split()[0]) / 1024
        return cls(rss=fields["VmRSS"], peak=fields["VmHWM"])


class ServerProcess:
    """A server in a child process on a free port, ready once ``GET /healthz`` answers 200.

    Its output goes to ``<workdir>/<name>.log``, so a failure can show the log's tail and a
    benchmark can count what the server logged (``--logs`` keeps the directory).
    """

    def __init__(
        self, name: str, argv: Sequence[str], settings: Mapping[str, str], workdir: Path
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = child_env({**settings, "PORT": str(free_port())})
        self.workdir = workdir
        self.log_path = workdir / f"{name}.log"
        self.url = f"http://127.0.0.1:{self.env['PORT']}"
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def start(self, within: float = 30.0) -> None:
        with self.log_path.open("wb") as log:
            self.proc = await asyncio.create_subprocess_exec(
                *self.argv,
                env=self.env,
                cwd=self.workdir,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
            )
        deadline = time.monotonic() + within
        async with aiohttp.ClientSession() as session:
            while True:
                if self.proc.returncode is not None:
                    raise RuntimeError(f"{self.name} exited at start-up:\n{self.log_tail()}")
                with contextlib.suppress(aiohttp.ClientError, OSError):
                    async with session.get(self.url + "/healthz") as response:
                        if response.status == 200:
                            return
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{self.name} not ready in {within} s:\n{self.log_tail()}")
                await asyncio.sleep(0.05)

    def memory(self) -> Memory:
        return Memory.of(self.pid)

    async def stop(self, grace: float = 15.0) -> int | None:
        """Its exit code, or None if it never started (see `terminate`)."""
        return None if self.proc is None else await terminate(self.proc, grace)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def count_in_log(self, word: str) -> int:
        try:
            return self.log_path.read_text(errors="replace").count(word)
        except OSError:
            return 0


class StandIn:
    """A stand-in Management API in a child process that prints its URL on its first line.

    The child picks its own port and says which, so nothing can take the port between
    choosing and binding it. Subclasses name the command and the figures they read.
    """

    def __init__(self, argv: Sequence[str], *, key: str) -> None:
        self.argv = list(argv)
        self.key = key
        self.url = ""
        self.proc: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> Self:
        self.proc = await asyncio.create_subprocess_exec(
            *self.argv,
            env=child_env({}),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
        )
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), 20)
        self.url = line.decode().strip()
        if not self.url.startswith("http"):
            raise RuntimeError(f"the stand-in did not start: {line!r}")
        return self

    async def get_json(self, path: str) -> Any:
        async with aiohttp.ClientSession() as session, session.get(self.url + path) as response:
            response.raise_for_status()
            return await response.json()

    async def post(self, path: str) -> None:
        async with aiohttp.ClientSession() as session, session.post(self.url + path) as response:
            response.raise_for_status()

    async def __aexit__(self, *exc_info: object) -> None:
        if self.proc is not None:
            await terminate(self.proc, 10)


# ── the child's side ───────────────────────────────────────────────────────────────────


@contextlib.asynccontextmanager
async def serving(runner: web.AppRunner, host: str, port: int) -> AsyncIterator[str]:
    """Serve ``runner``'s app on ``host:port`` (0: any free port); yields its URL."""
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        yield f"http://{host}:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


async def until_terminated() -> None:
    """Return on SIGTERM (what `terminate` sends) or SIGINT (Ctrl-C)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


# ── waiting ────────────────────────────────────────────────────────────────────────────


async def wait_until(
    predicate: Callable[[], Awaitable[bool]], within: float, interval: float = 0.1
) -> bool:
    """Poll ``predicate`` until it holds (True) or ``within`` seconds have passed (False)."""
    deadline = time.monotonic() + within
    while not await predicate():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(interval)
    return True


# ── figures ────────────────────────────────────────────────────────────────────────────


def percentile(samples: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (p99 of 500 samples is the 495th smallest)."""
    ordered = sorted(samples)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def load_average() -> str:
    """The 1- and 5-minute load average: other work on the same cores moves latency figures
    by tens of milliseconds, so a report says under what load it was made."""
    load1, load5, _ = os.getloadavg()
    return f"{load1:.1f} / {load5:.1f}"


def print_table(rows: Sequence[Sequence[str]], *, indent: str = "  ", numbers: bool = True) -> None:
    """``rows`` in aligned columns: labels on the left, figures right-aligned (``numbers``)
    so their digits line up, or every column left-aligned."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print(
            indent
            + "  ".join(
                cell.rjust(width) if numbers and i else cell.ljust(width)
                for i, (cell, width) in enumerate(zip(row, widths, strict=True))
            )
        )
