"""``fpbot sandbox``: the real bot, a stand-in Management API and a local Slack, one command.

Nothing here is a mock of fpbot itself: the bot runs in HTTP mode exactly as in production,
verifying signatures, and talks to the stand-ins over loopback HTTP. The personas and channels
match ``sandbox/fpbot.yml``, the sample policy.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import tempfile
from importlib import resources
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import yaml

from bot.log import get_logger
from bot.policy import Actor, Policy, load_policy, roles_of
from bot.server import BotServer
from bot.settings import Settings, load_settings
from sandbox.fingerprint import FakeFingerprint, StandInServer
from sandbox.slack import FakeSlack

log = get_logger(__name__)

SIGNING_SECRET = "sandbox-signing-secret"
BOT_TOKEN = "xoxb-sandbox-token"

PERSONAS: dict[str, dict[str, str]] = {
    "U0VIEWER": {"name": "vera", "real_name": "Vera (viewer)", "tz": "Europe/Paris"},
    "U0OPERATOR": {"name": "omar", "real_name": "Omar (operator)", "tz": "America/New_York"},
    "U0APPROVER1": {"name": "ada", "real_name": "Ada (approver)", "tz": "Europe/London"},
    "U0APPROVER2": {"name": "abe", "real_name": "Abe (approver)", "tz": "Asia/Tokyo"},
    "U0AUDITOR": {"name": "audrey", "real_name": "Audrey (auditor)", "tz": "UTC"},
}
USERGROUPS = {"S0APPROVERS": ["U0APPROVER1", "U0APPROVER2"]}
CHANNELS = {"C0OPS": "ops", "C0APPROVALS": "approvals", "C0ALERTS": "alerts"}


def sample_policy_path() -> Path:
    """The sample policy shipped inside the package (works after ``pip install .``)."""
    return Path(str(resources.files("sandbox") / "fpbot.yml"))


MANIFEST = Path(__file__).resolve().parents[1] / "manifest.yml"


def manifest_shortcuts() -> list[dict[str, str]] | None:
    """The app manifest's global shortcuts, for the console's ⚡ menu (``None`` outside a
    checkout, where the fake's own list stands in)."""
    if not MANIFEST.is_file():
        return None
    manifest = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    return [dict(s) for s in manifest.get("features", {}).get("shortcuts", [])]


def console_info(policy: Policy) -> dict[str, Any]:
    """What the console shows besides messages: each persona's roles, what channels are for."""
    roles = {user: sorted(roles_of(policy, Actor(user, _groups_of(user)))) for user in PERSONAS}
    purposes = {channel: "where /fp commands work" for channel in policy.channels.commands}
    if policy.channels.approvals:
        purposes[policy.channels.approvals] = "change requests wait here for approval"
    if policy.channels.notifications:
        purposes[policy.channels.notifications] = "fpbot reports failures here"
    return {"roles": roles, "purposes": purposes}


def _groups_of(user: str) -> frozenset[str]:
    return frozenset(group for group, members in USERGROUPS.items() if user in members)


class Sandbox:
    """The three processes of the sandbox, in one event loop.

    Tests build the same thing with their own policy, database and settings.

    Args:
        console_port: where the Slack console listens (0 = any free port).
        environments: how many environments the stand-in API is seeded with.
        api_latency: seconds the stand-in adds to every answer.
        database_url: the store (default: a SQLite file in a temporary directory).
        redis_url: share the rate budget and caches through this Redis.
        policy_path: the policy file (default: the sample policy, ``sandbox/fpbot.yml``).
        settings: any other `Settings` field, e.g. ``fp_retry_budget=1``.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        console_port: int = 0,
        environments: int = 32,
        api_latency: float = 0.0,
        database_url: str | None = None,
        redis_url: str | None = None,
        policy_path: str | Path | None = None,
        log_level: str = "INFO",
        **settings: Any,
    ) -> None:
        self._host = host
        self._console_port = console_port
        self.fingerprint = FakeFingerprint(environments=environments)
        self.fingerprint.faults.latency = api_latency
        self.api = StandInServer(self.fingerprint)
        self.slack = FakeSlack(
            bot_token=BOT_TOKEN,
            users=PERSONAS,
            usergroups=USERGROUPS,
            channels=CHANNELS,
            shortcuts=manifest_shortcuts(),
        )
        self._tmp = tempfile.TemporaryDirectory(prefix="fpbot-sandbox-")
        self._database_url = database_url or f"sqlite:///{self._tmp.name}/fpbot.sqlite3"
        self._redis_url = redis_url
        self._policy_path = str(policy_path or sample_policy_path())
        self._log_level = log_level
        self._settings = settings
        self.bot: BotServer | None = None
        self._api_started = False
        self._slack_started = False

    @property
    def console_url(self) -> str:
        return self.slack.url + "/"

    async def __aenter__(self) -> Self:
        """Start the stand-ins, then the bot; if anything fails (or start-up is cancelled),
        what was already started is stopped again and the temporary directory removed."""
        try:
            await self._start()
        except BaseException as exc:
            await self.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        return self

    async def _start(self) -> None:
        await self.api.__aenter__()
        self._api_started = True
        await self.slack.start(self._host, self._console_port)
        self._slack_started = True
        settings = load_settings(
            slack_bot_token=BOT_TOKEN,
            slack_signing_secret=SIGNING_SECRET,
            slack_app_token=None,
            slack_api_url=self.slack.api_url,
            fp_management_api_key=self.api.key,
            fp_management_api_url=self.api.url,
            fpbot_policy=self._policy_path,
            database_url=self._database_url,
            redis_url=self._redis_url,
            host="127.0.0.1",
            port=0,
            log_level=self._log_level,
            **self._settings,
        )
        self.bot = BotServer(settings)
        await self.bot.start()
        self.slack.connect_bot(self.bot.url + "/slack/events", SIGNING_SECRET)
        self.slack.connect_api(self.api.url)
        self.slack.console_info = console_info(load_policy(self._policy_path))

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if self.bot is not None:
                await self.bot.stop()
        finally:
            try:
                if self._slack_started:
                    self._slack_started = False
                    await self.slack.stop()
            finally:
                try:
                    if self._api_started:
                        self._api_started = False
                        await self.api.__aexit__(et, e, tb)
                finally:
                    self._tmp.cleanup()


async def run_sandbox(settings: Settings) -> int:
    """Run the sandbox on ``$PORT`` until Ctrl-C or SIGTERM; print the URL to open."""
    async with Sandbox(console_port=settings.port, log_level=settings.log_level) as sandbox:
        print(
            f"\n  fpbot sandbox is running — open {sandbox.console_url}\n"
            f"  (stand-in Management API at {sandbox.api.url}; Ctrl-C stops everything)\n",
            flush=True,
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        with contextlib.suppress(asyncio.CancelledError):
            await stop.wait()
    return 0
