"""Change requests approved by concurrent clicks on two replicas: each change runs once.

Two phases in one run, with the same requests and the same clicks:

- baseline: one fpbot replica with a SQLite store and no Redis (rate budget in-process);
- replicas: two fpbot replicas (two processes) on one fresh PostgreSQL database and one Redis.

Each replica is ``python -m bot serve`` — the production entry point — reading its settings
from the environment: a copy of the sample policy with ``required: 1`` and no channel
restriction, the fake Slack of this process as its Web API, and a stand-in Management API in
a child process of its own (fresh per phase, 201 environments, no added latency, 5 requests/s
per key with a burst of 5, like the real one). The stand-in's API key is new on every run,
and fpbot's Redis keys are named after a hash of the key (``fpbot:fp:<hash>:…``), so the
replicas share a fresh Redis namespace; it is deleted afterwards, as is the database.

Per phase: the operator types ``/fp envs rename <env> <new name>`` for 200 environments
(spread over the replicas); once the 200 approval messages are in the fake Slack, each of four
approvers clicks Approve on every request, on a random replica, and one click in four is
clicked a second time (on a random replica), all shuffled and sent 50 at a time. The
messages clicked are snapshots taken before any click, as a person's Slack would show them.

Printed per phase:

- writes: ``POST /environments/<id>`` seen by the stand-in: total, distinct environments,
  environments written twice or more (target 200, 200, 0), and requests that ended succeeded;
- total time: first click → the last write reached the stand-in; the floor the rate limit
  sets is (200 ÷ 5 - 1) seconds plus the limiter's margin, since a request holds its slot
  until answered and for the window after that;
- max requests the stand-in saw in any 1-second window over the whole phase, and 429s
  (target ≤ 5 and 0);
- click → ack: the HTTP answer time of each click as the driver saw it, p50 / p99 / max.

Run: ``python -m bench.approvals`` (about two minutes). Needs PostgreSQL on 127.0.0.1:5432
(user postgres, trust) and Redis on 127.0.0.1:6379.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import json
import math
import random
import secrets
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bench import harness
from bench.harness import (
    FPBOT,
    ServerProcess,
    load_average,
    ms,
    percentile,
    print_table,
    wait_until,
)
from sandbox.run import BOT_TOKEN, PERSONAS, SIGNING_SECRET, sample_policy_path
from sandbox.slack import DriverResponse, FakeSlack, RecordedMessage, SlackDriver

REQUESTS = 200
APPROVERS = ("U0APPROVER1", "U0APPROVER2", "U0APPROVER3", "U0APPROVER4")
DUPLICATE_SHARE = 0.25
CLICKS_IN_FLIGHT = 50
RATE = 5
REQUESTER = "U0OPERATOR"
COMMANDS_CHANNEL = "C0OPS"
APPROVALS_CHANNEL = "C0APPROVALS"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
PG_URL = "postgresql://postgres@127.0.0.1:5432/{database}"
REDIS_URL = "redis://127.0.0.1:6379/0"
SEED = 2024

USERS = {
    **PERSONAS,
    "U0APPROVER3": {"name": "ann", "real_name": "Ann (approver)", "tz": "UTC"},
    "U0APPROVER4": {"name": "art", "real_name": "Art (approver)", "tz": "UTC"},
}
USERGROUPS = {"S0APPROVERS": list(APPROVERS)}
CHANNELS = {COMMANDS_CHANNEL: "ops", APPROVALS_CHANNEL: "approvals", "C0ALERTS": "alerts"}


# ── the stand-in, in its own process (``--api-server``) ────────────────────────────────


def serve_api(environments: int, key: str, latency: float) -> None:
    """The stand-in API plus ``GET /_bench/requests`` (the request log, for per-path counts)
    and ``GET /_bench/environments``; prints its URL, then serves until SIGTERM."""
    from aiohttp import web

    from sandbox.fingerprint import FakeFingerprint, create_app

    fake = FakeFingerprint(api_keys=(key,), environments=environments, rate_limit=RATE, burst=5)
    fake.faults.latency = latency

    @web.middleware
    async def bench_routes(request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path == "/_bench/requests":
            return web.json_response([[r.at, r.method, r.path, r.status] for r in fake.requests])
        if request.path == "/_bench/environments":
            return web.json_response(
                [[e.id, e.name, e.is_default] for e in fake.workspace.environments.values()]
            )
        response: web.StreamResponse = await handler(request)
        return response

    async def main() -> None:
        app = create_app(fake)
        app.middlewares.append(bench_routes)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        async with harness.serving(runner, "127.0.0.1", 0) as url:
            print(url, flush=True)  # what `harness.StandIn` reads
            await harness.until_terminated()
            fake.closing = True

    asyncio.run(main())


@dataclass(frozen=True)
class Arrival:
    at: float  # time.monotonic() of the stand-in process: CLOCK_MONOTONIC, the same as ours
    method: str
    path: str
    status: int


class StandIn(harness.StandIn):
    """The stand-in above, as a child process."""

    def __init__(self, environments: int, key: str, latency: float) -> None:
        argv = [sys.executable, "-m", "bench.approvals", "--api-server"]
        argv += ["--environments", str(environments), "--key", key, "--latency", str(latency)]
        super().__init__(argv, key=key)

    async def requests(self) -> list[Arrival]:
        return [Arrival(*row) for row in await self.get_json("/_bench/requests")]

    async def environments(self) -> list[tuple[str, str, bool]]:
        return [
            (env_id, name, default)
            for env_id, name, default in await self.get_json("/_bench/environments")
        ]


def max_in_window(times: list[float], seconds: float = 1.0) -> int:
    """The most arrivals within any window ``[t, t + seconds)`` (as `FakeFingerprint` counts)."""
    times = sorted(times)
    best, first = 0, 0
    for last, at in enumerate(times):
        while at - times[first] >= seconds:
            first += 1
        best = max(best, last - first + 1)
    return best


# ── PostgreSQL, Redis, policy ──────────────────────────────────────────────────────────


async def _pg_admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def fresh_database() -> Any:
    name = f"fpbot_bench_{secrets.token_hex(4)}"
    await _pg_admin(f'CREATE DATABASE "{name}"')
    try:
        yield PG_URL.format(database=name)
    finally:
        await _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def delete_redis_namespace(key: str) -> int:
    """Delete every Redis key fpbot made for the API key ``key``; how many there were."""
    import redis.asyncio as aioredis

    from bot.fingerprint.ratelimit import key_fingerprint

    client = aioredis.from_url(REDIS_URL)
    try:
        names = [n async for n in client.scan_iter(match=f"fpbot:fp:{key_fingerprint(key)}*")]
        if names:
            await client.delete(*names)
        return len(names)
    finally:
        await client.aclose()


def write_policy(directory: Path) -> Path:
    """The sample policy, adapted: one approval for everything, commands in any channel."""
    policy = yaml.safe_load(sample_policy_path().read_text())
    policy["channels"].pop("commands", None)
    policy["channels"]["approvals"] = APPROVALS_CHANNEL
    policy["approvals"]["required"] = 1
    policy["approvals"].pop("required_for", None)
    path = directory / "fpbot.yml"
    path.write_text(yaml.safe_dump(policy, sort_keys=False))
    return path


# ── one phase ──────────────────────────────────────────────────────────────────────────


@dataclass
class Phase:
    name: str
    replicas: int
    created_in: float = 0.0
    clicks: list[DriverResponse] = field(default_factory=list)
    duplicates: int = 0
    to_first_write: float = 0.0
    to_last_write: float = 0.0
    to_all_final: float = 0.0
    writes: Counter[str] = field(default_factory=Counter)
    renamed: set[str] = field(default_factory=set)
    states: Counter[str] = field(default_factory=Counter)
    upstream: int = 0
    max_in_1s: int = 0
    rejected_429: int = 0
    messages_final: int = 0
    violations: list[str] = field(default_factory=list)
    errors_logged: int = 0
    notes: list[str] = field(default_factory=list)
    redis_keys_deleted: int = 0

    @property
    def latencies(self) -> list[float]:
        return [c.elapsed for c in self.clicks]

    @property
    def click_failures(self) -> int:
        return sum(1 for c in self.clicks if c.status != 200)


def approval_value(message: RecordedMessage) -> str | None:
    button = FakeSlack.find_button(message, "approve_request")
    return None if button is None else str(button.get("value"))


async def run_phase(
    phase: Phase, *, database_url: str, redis_url: str | None, workdir: Path, args: Any
) -> Phase:
    from bot.domain import State
    from bot.store import Store
    from bot.store.url import sqlalchemy_url

    key = f"fp_mgmt_bench_{secrets.token_hex(6)}"
    rng = random.Random(SEED)
    fake = FakeSlack(bot_token=BOT_TOKEN, users=USERS, usergroups=USERGROUPS, channels=CHANNELS)
    await fake.start()
    drivers: list[SlackDriver] = []
    store: Store | None = None
    try:
        async with StandIn(args.requests + 1, key, args.latency) as api:
            settings = {
                "SLACK_BOT_TOKEN": BOT_TOKEN,
                "SLACK_SIGNING_SECRET": SIGNING_SECRET,
                "SLACK_API_URL": fake.api_url,
                "FP_MANAGEMENT_API_KEY": key,
                "FP_MANAGEMENT_API_URL": api.url,
                "FP_RATE_LIMIT": str(RATE),
                "FPBOT_POLICY": str(write_policy(workdir)),
                "DATABASE_URL": database_url,
                "HOST": "127.0.0.1",
                "LOG_LEVEL": "INFO",
                "LOG_FORMAT": "json",
            }
            if redis_url:
                settings["REDIS_URL"] = redis_url
            servers = [
                ServerProcess(f"{phase.name}-{index}", FPBOT, settings, workdir)
                for index in range(phase.replicas)
            ]
            try:
                # Start one first, so it creates the schema while nobody else is migrating.
                await servers[0].start()
                await asyncio.gather(*(s.start() for s in servers[1:]))
                drivers = [
                    SlackDriver(fake, s.url + "/slack/events", SIGNING_SECRET) for s in servers
                ]
                store = await Store.connect(sqlalchemy_url(database_url))

                # ── 200 pending requests, typed by the operator ──
                targets = [env_id for env_id, _, default in await api.environments() if not default]
                targets = targets[: args.requests]
                gate = asyncio.Semaphore(20)

                async def ask(index: int, env_id: str) -> DriverResponse:
                    async with gate:
                        return await drivers[index % len(drivers)].command(
                            f"envs rename {env_id} Bench {phase.name} {index:03d}",
                            user=REQUESTER,
                            channel=COMMANDS_CHANNEL,
                        )

                started = time.monotonic()
                asked = await asyncio.gather(*(ask(i, e) for i, e in enumerate(targets)))
                bad = [r for r in asked if r.status != 200]
                if bad:
                    phase.notes.append(f"{len(bad)} /fp commands not acked: {bad[0]}")

                async def all_posted() -> bool:
                    assert store is not None
                    pending = await store.list_requests(states=[State.PENDING], limit=10_000)
                    return sum(1 for r in pending if r.approval_ts) >= len(targets)

                if not await wait_until(all_posted, within=60):
                    phase.notes.append("not every request was posted for approval within 60 s")
                phase.created_in = time.monotonic() - started
                await asyncio.sleep(0.5)  # let the requesters' confirmations land

                messages = {
                    value: copy.deepcopy(m)
                    for m in fake.channel_messages(APPROVALS_CHANNEL)
                    if (value := approval_value(m)) is not None
                }

                # ── the clicks ──
                clicks: list[tuple[str, str, int]] = []
                for request_id in sorted(messages):
                    for approver in APPROVERS:
                        clicks.append((request_id, approver, rng.randrange(len(drivers))))
                        if rng.random() < DUPLICATE_SHARE:
                            clicks.append((request_id, approver, rng.randrange(len(drivers))))
                            phase.duplicates += 1
                rng.shuffle(clicks)
                in_flight = asyncio.Semaphore(CLICKS_IN_FLIGHT)

                async def click(request_id: str, approver: str, replica: int) -> DriverResponse:
                    async with in_flight:
                        return await drivers[replica].click(
                            messages[request_id], "approve_request", user=approver
                        )

                first_click = time.monotonic()
                phase.clicks = list(await asyncio.gather(*(click(*c) for c in clicks)))

                async def all_final() -> bool:
                    assert store is not None
                    rows = await store.list_requests(limit=10_000)
                    return all(r.state.is_final for r in rows)

                if not await wait_until(all_final, within=args.timeout, interval=0.05):
                    phase.notes.append(f"not every request finished within {args.timeout:g} s")
                phase.to_all_final = time.monotonic() - first_click
                rows = await store.list_requests(limit=10_000)
                phase.states = Counter(str(r.state) for r in rows)

                async def messages_final() -> bool:
                    done = 0
                    for request_id in messages:
                        current = fake.message(APPROVALS_CHANNEL, messages[request_id].ts)
                        done += current is not None and approval_value(current) is None
                    phase.messages_final = done
                    return done == len(messages)

                await wait_until(messages_final, within=20)
                await asyncio.sleep(1.0)  # the thread replies and DMs that follow the last edit

                # ── what the stand-in saw ──
                arrivals = await api.requests()
                if args.logs:
                    log_rows = [[a.at - first_click, a.method, a.path, a.status] for a in arrivals]
                    (workdir / "arrivals.json").write_text(json.dumps(log_rows))
                phase.upstream = len(arrivals)
                phase.rejected_429 = sum(1 for a in arrivals if a.status == 429)
                phase.max_in_1s = max_in_window([a.at for a in arrivals if a.status != 429])
                writes = [
                    a for a in arrivals if a.method != "GET" and a.path.startswith("/environments/")
                ]
                phase.writes = Counter(a.path.removeprefix("/environments/") for a in writes)
                if writes:
                    phase.to_first_write = min(a.at for a in writes) - first_click
                    phase.to_last_write = max(a.at for a in writes) - first_click
                names = {env_id: name for env_id, name, _ in await api.environments()}
                phase.renamed = {
                    env_id
                    for index, env_id in enumerate(targets)
                    if names.get(env_id) == f"Bench {phase.name} {index:03d}"
                }
                phase.violations = list(fake.violations)
            finally:
                for driver in drivers:
                    await driver.aclose()
                if store is not None:
                    await store.close()
                # Before the stand-in goes: SIGTERM, and each replica drains its work.
                codes = await asyncio.gather(*(s.stop() for s in servers))
                for server, code in zip(servers, codes, strict=True):
                    phase.errors_logged += server.count_in_log('"level": "error"')
                    if code not in (0, None):
                        phase.notes.append(f"{server.name} exited with {code}")
    finally:
        await fake.stop()
        if redis_url:
            # The key is new this run, so its namespace holds only these replicas' keys.
            phase.redis_keys_deleted = await delete_redis_namespace(key)
    return phase


# ── report ─────────────────────────────────────────────────────────────────────────────


def report(phases: list[Phase], args: Any) -> None:
    base, twins = phases
    floor = (args.requests / RATE - 1) * (1.02 + args.latency) + args.latency

    def steady(p: Phase) -> str:
        span = p.to_last_write - p.to_first_write
        count = sum(p.writes.values())
        return f"{(count - 1) / span:.2f}" if span > 0 and count > 1 else "-"

    def writes_line(p: Phase) -> str:
        twice = sum(1 for n in p.writes.values() if n > 1)
        return f"{sum(p.writes.values())} / {len(p.writes)} / {twice}"

    rows: list[tuple[str, str, str]] = [
        ("", f"{base.name}: 1 replica, SQLite", f"{twins.name}: 2 replicas, PostgreSQL+Redis"),
        ("requests created and posted", f"{base.created_in:.1f} s", f"{twins.created_in:.1f} s"),
        (
            "clicks (duplicates)",
            f"{len(base.clicks)} ({base.duplicates})",
            f"{len(twins.clicks)} ({twins.duplicates})",
        ),
        (
            "clicks acked 200",
            f"{len(base.clicks) - base.click_failures}",
            f"{len(twins.clicks) - twins.click_failures}",
        ),
        (
            "click → ack p50",
            ms(percentile(base.latencies, 50)),
            ms(percentile(twins.latencies, 50)),
        ),
        (
            "click → ack p99",
            ms(percentile(base.latencies, 99)),
            ms(percentile(twins.latencies, 99)),
        ),
        ("click → ack max", ms(max(base.latencies)), ms(max(twins.latencies))),
        ("writes / distinct envs / twice", writes_line(base), writes_line(twins)),
        ("envs renamed as asked", str(len(base.renamed)), str(len(twins.renamed))),
        (
            "requests by final state",
            ", ".join(f"{k} {v}" for k, v in sorted(base.states.items())),
            ", ".join(f"{k} {v}" for k, v in sorted(twins.states.items())),
        ),
        ("approval messages edited", str(base.messages_final), str(twins.messages_final)),
        (
            "first click → first write",
            f"{base.to_first_write:.1f} s",
            f"{twins.to_first_write:.1f} s",
        ),
        ("first click → last write", f"{base.to_last_write:.1f} s", f"{twins.to_last_write:.1f} s"),
        ("writes/s, first → last write", steady(base), steady(twins)),
        ("first click → all final", f"{base.to_all_final:.1f} s", f"{twins.to_all_final:.1f} s"),
        ("upstream requests (all)", str(base.upstream), str(twins.upstream)),
        (
            "max in any 1 s / 429s",
            f"{base.max_in_1s} / {base.rejected_429}",
            f"{twins.max_in_1s} / {twins.rejected_429}",
        ),
        ("Slack violations", str(len(base.violations)), str(len(twins.violations))),
        ("error log lines", str(base.errors_logged), str(twins.errors_logged)),
    ]
    print(
        f"(machine load average {load_average()} at the end)\n"
        f"{args.requests} change requests (envs rename), {len(APPROVERS)} approvers clicking "
        f"every one on a random replica, {DUPLICATE_SHARE:.0%} clicked twice, "
        f"{CLICKS_IN_FLIGHT} clicks in flight;\nstand-in API: {RATE} requests/s per key, "
        f"{args.latency:g} s added latency; rate floor for {args.requests} writes ≈ {floor:.1f} s"
    )
    print_table(rows)
    for p in phases:
        if p.redis_keys_deleted:
            print(f"  ({p.name}: {p.redis_keys_deleted} Redis keys of this run deleted)")
        for note in p.notes:
            print(f"  note ({p.name}): {note}")
        for violation in p.violations[:3]:
            print(f"  violation ({p.name}): {violation}")

    n = args.requests
    checks = []
    for p in phases:
        once = (
            sum(p.writes.values()) == n
            and len(p.writes) == n
            and len(p.renamed) == n
            and p.states.get("succeeded", 0) == n
        )
        checks += [
            (f"{p.name}: every change executed exactly once ({writes_line(p)})", once),
            (
                f"{p.name}: upstream ≤ {RATE} in any 1 s and no 429 "
                f"({p.max_in_1s}, {p.rejected_429})",
                p.max_in_1s <= RATE and p.rejected_429 == 0,
            ),
            (
                f"{p.name}: every click acked within 3 s "
                f"({len(p.clicks) - p.click_failures}/{len(p.clicks)})",
                p.click_failures == 0,
            ),
        ]
    ratio = twins.to_last_write / base.to_last_write if base.to_last_write else math.inf
    p99_ratio = percentile(twins.latencies, 99) / percentile(base.latencies, 99)
    print(
        f"  replicas ÷ baseline: total time {ratio:.2f} x, click ack p99 {p99_ratio:.2f} x; "
        f"total time ÷ rate floor: {base.to_last_write / floor:.2f} x and "
        f"{twins.to_last_write / floor:.2f} x"
    )
    for text, ok in checks:
        print(f"  {'PASS' if ok else 'MISS'}  {text}")


async def run(args: Any, root: Path) -> list[Phase]:
    phases = [Phase("baseline", 1), Phase("replicas", 2)]
    base_dir, twin_dir = root / "baseline", root / "replicas"
    await run_phase(
        phases[0],
        database_url=f"sqlite:///{base_dir / 'fpbot.sqlite3'}",
        redis_url=None,
        workdir=base_dir,
        args=args,
    )
    async with fresh_database() as database_url:
        await run_phase(
            phases[1],
            database_url=database_url,
            redis_url=REDIS_URL,
            workdir=twin_dir,
            args=args,
        )
    return phases


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.approvals", description=__doc__)
    parser.add_argument("--requests", type=int, default=REQUESTS)
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds for the clicks' work")
    parser.add_argument(
        "--latency", type=float, default=0.0, help="seconds the stand-in adds to every answer"
    )
    parser.add_argument("--logs", help="keep the replicas' logs (and the SQLite store) here")
    parser.add_argument("--api-server", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--environments", type=int, default=REQUESTS + 1, help=argparse.SUPPRESS)
    parser.add_argument("--key", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.api_server:
        serve_api(args.environments, args.key, args.latency)
        return
    from bot.log import configure_logging

    configure_logging("WARNING", "console", stream=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="fpbot-bench-approvals-") as tmp:
        root = Path(args.logs or tmp)
        for phase in ("baseline", "replicas"):
            (root / phase).mkdir(parents=True, exist_ok=True)
        phases = asyncio.run(run(args, root))
    report(phases, args)


if __name__ == "__main__":
    main()
