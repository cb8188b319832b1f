"""The process around the bot: ``fpbot check``, refusing a bad policy, ``/healthz`` and SIGTERM.

``fpbot check`` and ``fpbot serve`` run as real subprocesses, configured only through the
environment, against a fake Slack and a stand-in Management API started by the test.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest

from bot.domain import State
from bot.policy import PolicyError
from bot.server import BotServer
from bot.settings import load_settings
from sandbox.fingerprint import FakeFingerprint, StandInServer
from sandbox.run import (
    BOT_TOKEN,
    CHANNELS,
    PERSONAS,
    SIGNING_SECRET,
    USERGROUPS,
    Sandbox,
    sample_policy_path,
)
from sandbox.slack import FakeSlack, SlackDriver
from tests.scenarios.bot_helpers import (
    OPS,
    VIEWER,
    TcpProxy,
    assert_acked_at_once,
    fp,
    reply_to,
    visible,
)
from tests.scenarios.change_helpers import (
    APPROVER_1,
    FAST_SETTINGS,
    Desk,
    button_ids,
    restart,
    status_of,
)
from tests.scenarios.conftest import PG_DSN, StackFactory

BAD_POLICIES = {
    "an unknown permission": (
        "roles:\n  viewer: [envs.list, keys.explode]\ngrants:\n  U0VIEWER: [viewer]\n",
        "line 2: unknown permission keys.explode",
    ),
    "a user name instead of an id": (
        "roles:\n  viewer: [envs.list]\ngrants:\n  U0VIEWER: [viewer]\n  alice: [viewer]\n",
        "line 5: “alice” is not a Slack id",
    ),
    "broken YAML": (
        "roles:\n  viewer: [envs.list\ngrants: {}\n",
        "line 3: not valid YAML",
    ),
}


@pytest.fixture
async def stand_ins() -> AsyncIterator[tuple[FakeSlack, StandInServer]]:
    """A fake Slack and a stand-in Management API, for a bot in another process."""
    slack = FakeSlack(bot_token=BOT_TOKEN, users=PERSONAS, usergroups=USERGROUPS, channels=CHANNELS)
    await slack.start()
    async with StandInServer(FakeFingerprint()) as api:
        yield slack, api
    await slack.stop()


def fpbot_env(slack: FakeSlack, api: StandInServer, tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of an ``fpbot`` process wired to the stand-ins; nothing inherited
    but what Python needs to start."""
    env = {key: os.environ[key] for key in ("PATH", "HOME", "LANG") if key in os.environ}
    env.update(
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=slack.api_url,
        FP_MANAGEMENT_API_KEY=api.key,
        FP_MANAGEMENT_API_URL=api.url,
        FPBOT_POLICY=str(sample_policy_path()),
        DATABASE_URL=f"sqlite:///{tmp_path / 'fpbot.sqlite3'}",
        LOG_FORMAT="json",
        HOST="127.0.0.1",
    )
    env.update(extra)
    return env


async def fpbot(*args: str, env: dict[str, str], cwd: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        env=env,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ── fpbot check and start-up ───────────────────────────────────────────────────────────────


@pytest.mark.parametrize("case", list(BAD_POLICIES))
async def test_fpbot_check_names_the_file_line_and_problem_of_a_malformed_policy_and_fails(
    stand_ins: tuple[FakeSlack, StandInServer], tmp_path: Path, case: str
) -> None:
    text, problem = BAD_POLICIES[case]
    policy = tmp_path / "fpbot.yml"
    policy.write_text(text)
    slack, api = stand_ins

    process = await fpbot(
        "check", env=fpbot_env(slack, api, tmp_path, FPBOT_POLICY=str(policy)), cwd=tmp_path
    )
    output, _ = await asyncio.wait_for(process.communicate(), 30)

    printed = output.decode()
    assert process.returncode != 0, printed
    assert f"{policy}, {problem}" in printed
    assert "key accepted" in printed and "bot token works" in printed, "every check still ran"
    assert "1 problem(s) found" in printed


async def test_fpbot_check_passes_with_a_good_policy_and_working_credentials(
    stand_ins: tuple[FakeSlack, StandInServer], tmp_path: Path
) -> None:
    slack, api = stand_ins

    process = await fpbot("check", env=fpbot_env(slack, api, tmp_path), cwd=tmp_path)
    output, _ = await asyncio.wait_for(process.communicate(), 30)

    assert process.returncode == 0, output.decode()
    assert "all checks passed" in output.decode()
    assert [c.method for c in slack.calls()] == ["auth.test"]
    assert api.fake.count("GET", "/hello") == 1


async def test_fpbot_check_reports_a_rejected_key_and_a_wrong_token_without_showing_either(
    stand_ins: tuple[FakeSlack, StandInServer], tmp_path: Path
) -> None:
    slack, api = stand_ins
    api.fake.faults.revoked = True
    wrong_token = "xoxb-not-the-right-token"

    process = await fpbot(
        "check", env=fpbot_env(slack, api, tmp_path, SLACK_BOT_TOKEN=wrong_token), cwd=tmp_path
    )
    output, _ = await asyncio.wait_for(process.communicate(), 30)

    printed = output.decode()
    assert process.returncode == 1
    assert "FAIL Management API" in printed and "rejected" in printed
    assert "FAIL Slack: auth.test failed: invalid_auth" in printed
    assert "2 problem(s) found" in printed
    assert api.key not in printed and wrong_token not in printed


async def test_fpbot_serve_with_a_malformed_policy_exits_with_one_line_naming_the_problem(
    stand_ins: tuple[FakeSlack, StandInServer], tmp_path: Path
) -> None:
    text, problem = BAD_POLICIES["an unknown permission"]
    policy = tmp_path / "fpbot.yml"
    policy.write_text(text)
    slack, api = stand_ins

    process = await fpbot(
        "serve",
        env=fpbot_env(slack, api, tmp_path, FPBOT_POLICY=str(policy), PORT=str(free_port())),
        cwd=tmp_path,
    )
    output, _ = await asyncio.wait_for(process.communicate(), 30)

    printed = output.decode()
    assert process.returncode == 2, printed
    assert printed.strip().splitlines()[-1] == f"fpbot: {policy}, {problem}"
    assert "Traceback" not in printed


@pytest.mark.parametrize(
    ("setting", "value", "says"),
    [
        ("SLACK_SIGNING_SECRET", None, "SLACK_SIGNING_SECRET is required to serve in HTTP mode"),
        ("FP_MANAGEMENT_API_KEY", None, "FP_MANAGEMENT_API_KEY is required"),
        ("SLACK_BOT_TOKEN", "xapp-1-wrong-kind", "SLACK_BOT_TOKEN is invalid"),
        ("FP_RATE_LIMIT", "fast", "FP_RATE_LIMIT is invalid"),
    ],
)
async def test_fpbot_serve_with_a_missing_or_malformed_setting_exits_with_one_line_naming_it(
    stand_ins: tuple[FakeSlack, StandInServer],
    tmp_path: Path,
    setting: str,
    value: str | None,
    says: str,
) -> None:
    slack, api = stand_ins
    env = fpbot_env(slack, api, tmp_path, PORT=str(free_port()))
    if value is None:
        del env[setting]
    else:
        env[setting] = value

    process = await fpbot("serve", env=env, cwd=tmp_path)
    output, _ = await asyncio.wait_for(process.communicate(), 30)

    printed = output.decode().strip()
    assert process.returncode == 2, printed
    assert len(printed.splitlines()) == 1 and says in printed
    if value is not None and setting == "SLACK_BOT_TOKEN":
        assert value not in printed, "a secret is not echoed back"


async def test_fpbot_serve_with_a_bot_token_slack_refuses_exits_with_one_line_naming_it(
    stand_ins: tuple[FakeSlack, StandInServer], tmp_path: Path
) -> None:
    """The workspace to serve is the token's (auth.test); without it nothing is served."""
    slack, api = stand_ins
    wrong_token = "xoxb-revoked-or-mistyped"
    port = free_port()
    env = fpbot_env(slack, api, tmp_path, PORT=str(port), SLACK_BOT_TOKEN=wrong_token)

    process = await fpbot("serve", env=env, cwd=tmp_path)
    output, _ = await asyncio.wait_for(process.communicate(), 30)

    printed = output.decode().strip()
    assert process.returncode == 2, printed
    assert printed.splitlines()[-1] == (
        "fpbot: SLACK_BOT_TOKEN could not be checked with Slack: auth.test answered invalid_auth"
    )
    assert wrong_token not in printed and "Traceback" not in printed
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


@pytest.mark.parametrize("case", list(BAD_POLICIES))
async def test_the_bot_refuses_to_start_with_a_malformed_policy(
    stand_ins: tuple[FakeSlack, StandInServer], tmp_path: Path, case: str
) -> None:
    text, problem = BAD_POLICIES[case]
    policy = tmp_path / "fpbot.yml"
    policy.write_text(text)
    slack, api = stand_ins
    settings = load_settings(
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=slack.api_url,
        fp_management_api_key=api.key,
        fp_management_api_url=api.url,
        fpbot_policy=str(policy),
        database_url=f"sqlite:///{tmp_path / 'fpbot.sqlite3'}",
        host="127.0.0.1",
        port=0,
    )
    server = BotServer(settings)

    with pytest.raises(PolicyError) as refused:
        await server.start()

    assert str(refused.value).startswith(f"{policy}, {problem}")
    assert server.url == "", "nothing is listening"
    assert not (tmp_path / "fpbot.sqlite3").exists(), "refused before touching the store"
    assert slack.calls() == [] and api.fake.count() == 0


# ── /healthz ────────────────────────────────────────────────────────────────────────────


#: Load balancers give a health probe a second or a few; /healthz must never be that slow.
PROBE_TIMEOUT = 1.0


async def healthz(stack: Sandbox) -> tuple[int, dict[str, Any]]:
    """``GET /healthz``, as a load balancer's probe that gives up after a second."""
    assert stack.bot is not None
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=PROBE_TIMEOUT)) as session,
        session.get(stack.bot.url + "/healthz") as response,
    ):
        return response.status, await response.json()


async def test_healthz_is_ok_when_everything_answers(stack: Sandbox) -> None:
    status, body = await healthz(stack)

    assert status == 200
    assert body == {
        "status": "ok",
        "checks": {"store": "ok", "fingerprint_api": "ok", "slack": "ok"},
    }


async def test_healthz_is_degraded_not_down_when_the_management_api_is_down(
    stack: Sandbox,
) -> None:
    await stack.api.stop()

    answers = [await healthz(stack)]
    while answers[-1][1]["status"] == "ok" and len(answers) < 40:
        await asyncio.sleep(0.1)
        answers.append(await healthz(stack))

    assert all(status == 200 for status, _ in answers), "an outage must not take replicas out"
    body = answers[-1][1]
    assert body["status"] == "degraded"
    assert body["checks"]["store"] == "ok"
    assert body["checks"]["fingerprint_api"] not in ("ok", "unknown")


async def test_healthz_says_the_key_was_rejected_when_it_was(stack: Sandbox) -> None:
    stack.fingerprint.faults.revoked = True

    status, body = await healthz(stack)

    assert (status, body["status"]) == (200, "degraded")
    assert body["checks"]["fingerprint_api"] == "key rejected"


@pytest.mark.postgres
async def test_healthz_is_503_while_the_database_is_unreachable_and_ok_once_it_is_back(
    make_stack: StackFactory, pg_url: str
) -> None:
    async with (
        TcpProxy("127.0.0.1", 5432) as proxy,
        make_stack(database_url=proxy.url_for(pg_url)) as stack,
    ):
        assert (await healthz(stack))[0] == 200

        await proxy.cut()
        down = await healthz(stack)
        await proxy.start()
        back = await healthz(stack)

    assert down == (503, {"status": "unavailable", "checks": down[1]["checks"]})
    assert down[1]["checks"]["store"] == "unreachable"
    assert back[0] == 200 and back[1]["status"] == "ok"


@pytest.mark.postgres
async def test_healthz_is_503_when_the_database_is_gone(
    make_stack: StackFactory, pg_url: str
) -> None:
    async with make_stack(database_url=pg_url) as stack:
        assert (await healthz(stack))[0] == 200
        name = pg_url.rsplit("/", 1)[1]
        conn = await asyncpg.connect(PG_DSN.format(database="postgres"), timeout=5)
        try:
            await conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        finally:
            await conn.close()

        status, body = await healthz(stack)

        assert status == 503
        assert body["status"] == "unavailable"
        assert body["checks"]["store"] == "unreachable"


# ── SIGTERM ─────────────────────────────────────────────────────────────────────────────


async def wait_until_serving(url: str, process: asyncio.subprocess.Process) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(200):
            if process.returncode is not None:
                output = await process.stdout.read() if process.stdout else b""
                raise AssertionError(f"fpbot serve exited early:\n{output.decode()}")
            try:
                async with session.get(url + "/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.05)
    raise AssertionError("fpbot serve did not start within 10 s")


async def test_sigterm_finishes_the_command_in_flight_and_exits_0(
    stand_ins: tuple[FakeSlack, StandInServer], tmp_path: Path
) -> None:
    slack, api = stand_ins
    api.fake.faults.latency = 2.0
    port = free_port()
    process = await fpbot(
        "serve", env=fpbot_env(slack, api, tmp_path, PORT=str(port)), cwd=tmp_path
    )
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_until_serving(url, process)
        async with SlackDriver(slack, url + "/slack/events", SIGNING_SECRET) as driver:
            assert_acked_at_once(await driver.command("envs", user=VIEWER, channel=OPS))
        await slack.wait_for(lambda: api.fake.count("GET", "/environments") == 1, 5)

        process.send_signal(signal.SIGTERM)
        output, _ = await asyncio.wait_for(process.communicate(), 12)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()

    assert process.returncode == 0, output.decode()
    (listing,) = [m for m in slack.channel_messages(OPS) if m.text.startswith("Environments")]
    assert listing.text == "Environments (32)", "the answer in flight still arrived"
    assert "shutting_down" in output.decode() and "stopped" in output.decode()
    assert slack.violations == []


async def test_a_command_still_running_when_shutdown_runs_out_of_time_is_told_so(
    make_stack: StackFactory,
) -> None:
    async with make_stack(fp_timeout=30, fp_retry_budget=30) as stack:
        assert stack.bot is not None
        stack.fingerprint.faults.hang = True
        await fp(stack, "envs", user=VIEWER)
        await stack.slack.wait_for(lambda: stack.fingerprint.count("GET", "/environments") == 1)

        await stack.bot.stop(grace=0.2)

        reply = visible(await reply_to(stack, VIEWER))
        assert "fpbot restarted before it could finish `/fp envs`" in reply
        assert "try again" in reply


async def test_sigterm_while_the_store_is_still_connecting_stops_cleanly_with_0(
    stand_ins: tuple[FakeSlack, StandInServer], tmp_path: Path
) -> None:
    """A migration waiting on a slow database: SIGTERM must not kill the process mid-way."""
    connected = asyncio.Event()
    held: list[asyncio.StreamWriter] = []

    async def never_answers(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        connected.set()

    database = await asyncio.start_server(never_answers, "127.0.0.1", 0)
    db_port = database.sockets[0].getsockname()[1]
    slack, api = stand_ins
    env = fpbot_env(
        slack,
        api,
        tmp_path,
        PORT=str(free_port()),
        DATABASE_URL=f"postgresql://postgres@127.0.0.1:{db_port}/fpbot",
    )
    process = await fpbot("serve", env=env, cwd=tmp_path)
    try:
        await asyncio.wait_for(connected.wait(), 10)
        process.send_signal(signal.SIGTERM)
        output, _ = await asyncio.wait_for(process.communicate(), 8)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        for writer in held:
            writer.close()
        database.close()

    assert process.returncode == 0, output.decode()
    assert "shutting_down" in output.decode()


async def test_a_sandbox_whose_bot_cannot_start_leaves_nothing_listening(
    tmp_path: Path,
) -> None:
    policy = tmp_path / "broken.yml"
    policy.write_text(BAD_POLICIES["broken YAML"][0])
    sandbox = Sandbox(policy_path=policy)

    with pytest.raises(PolicyError):
        async with sandbox:
            pass

    async with aiohttp.ClientSession() as session:
        for url in (sandbox.slack.url, sandbox.api.url):
            with pytest.raises(aiohttp.ClientConnectionError):
                async with session.get(url + "/", timeout=aiohttp.ClientTimeout(total=2)):
                    pass
    assert not os.path.exists(sandbox._tmp.name)  # noqa: ASYNC240


# ── shutdown: in-flight work and late clicks ────────────────────────────────────────────


async def test_stopping_lets_the_sweeper_finish_the_change_it_is_running(
    make_stack: StackFactory,
) -> None:
    """An approval orphaned by a crash is picked up by the next bot's sweeper; a SIGTERM
    arriving while that change is being made lets it finish instead of cutting it off."""
    async with make_stack(**FAST_SETTINGS) as sandbox:
        desk = Desk.of(sandbox)
        fpapi = desk.fingerprint
        request_id = await desk.request("envs create Swept At Shutdown")
        now = datetime.now(UTC)
        await desk.store.add_approval(request_id, APPROVER_1, now)
        await desk.store.transition(
            request_id,
            State.PENDING,
            State.APPROVED,
            decided_by=APPROVER_1,
            decided_at=now - timedelta(minutes=5),
        )
        fpapi.faults.latency = 1.0

        desk = await restart(sandbox)  # the new bot's sweeper runs the orphan at once
        await desk.slack.wait_for(
            lambda: fpapi.count(method="POST", path="/environments") == 1,
            what="the sweeper's write in flight",
        )
        assert sandbox.bot is not None
        await sandbox.bot.stop(grace=8)

        assert sum(e.name == "Swept At Shutdown" for e in fpapi.workspace.environments.values())
        assert "*Succeeded*" in status_of(desk.approval(request_id))
        assert fpapi.count(method="POST", path="/environments") == 1


async def test_a_click_arriving_while_fpbot_shuts_down_is_told_to_try_again(
    make_stack: StackFactory,
) -> None:
    async with make_stack(**FAST_SETTINGS) as stack:
        assert stack.bot is not None and stack.bot.services is not None
        desk = Desk.of(stack)
        request_id = await desk.request("envs create Clicked At Shutdown")
        # Shutdown has begun: what BotServer.stop does once Slack's connections are closed
        # (a click already on its way through Bolt then still reaches the listener).
        tasks = stack.bot.services.tasks
        await tasks.drain(2)
        assert tasks.closing

        seen = len(stack.slack.ephemerals(APPROVER_1))
        await desk.click(request_id, user=APPROVER_1)
        await stack.slack.wait_for(
            lambda: len(stack.slack.ephemerals(APPROVER_1)) > seen, what="an answer"
        )
        answer = visible(stack.slack.ephemerals(APPROVER_1)[seen])
        pending = await desk.get(request_id)

    assert "fpbot is restarting" in answer and "try again" in answer
    assert pending.state is State.PENDING and pending.approvers == frozenset()
    assert button_ids(desk.approval(request_id)) == ["approve_request", "deny_request"]
    assert stack.fingerprint.count(method="POST", path="/environments") == 0


async def test_fpbot_check_reaches_the_store_and_redis_without_creating_anything(
    stand_ins: tuple[FakeSlack, StandInServer], tmp_path: Path, pg_url: str
) -> None:
    slack, api = stand_ins
    env = fpbot_env(slack, api, tmp_path, REDIS_URL="redis://127.0.0.1:6379/0")

    process = await fpbot("check", env=env, cwd=tmp_path)
    printed = (await asyncio.wait_for(process.communicate(), 30))[0].decode()
    assert process.returncode == 0, printed
    assert "ok   store: SQLite" in printed and "(created on first start)" in printed
    assert "ok   Redis: reachable" in printed
    assert not (tmp_path / "fpbot.sqlite3").exists(), "check must not create the database"

    env = fpbot_env(slack, api, tmp_path, DATABASE_URL=pg_url)
    process = await fpbot("check", env=env, cwd=tmp_path)
    printed = (await asyncio.wait_for(process.communicate(), 30))[0].decode()
    assert process.returncode == 0, printed
    assert "ok   store: PostgreSQL on 127.0.0.1 reachable" in printed


async def test_fpbot_check_reports_an_unreachable_store_and_redis_and_fails(
    stand_ins: tuple[FakeSlack, StandInServer], tmp_path: Path
) -> None:
    slack, api = stand_ins
    env = fpbot_env(
        slack,
        api,
        tmp_path,
        DATABASE_URL="postgresql://fpbot:s3cret-pw@127.0.0.1:1/fpbot",
        REDIS_URL="redis://127.0.0.1:1/0",
    )

    process = await fpbot("check", env=env, cwd=tmp_path)
    printed = (await asyncio.wait_for(process.communicate(), 60))[0].decode()

    assert process.returncode == 1, printed
    assert "FAIL store:" in printed and "FAIL Redis: unreachable" in printed
    assert "key accepted" in printed, "the other checks still ran"
    assert "s3cret-pw" not in printed
