"""Slash-command acknowledgement under load: fpbot against a bare Bolt app, in the same run.

Every server is a child process of its own, serving over loopback HTTP with signature checks
on, and so is the fake Slack that receives what they post, so the load generator (this process)
shares an event loop with neither:

- baseline: a bare Bolt ``AsyncApp`` whose only listener acks ``/fp``, served by
  ``bot.server.make_web_app`` — the way fpbot itself is served;
- fpbot: ``python -m bot serve``, the production entry point, reading its settings from the
  environment: the sample policy, a SQLite store, the fake Slack below as its Web API and the
  stand-in Management API (``python -m sandbox.fingerprint``, a third process) answering
  every request after 2 s.

The fake Slack (``--fake-slack-server``, a fourth process) mints the ``response_url``s and
``trigger_id``s, receives the listings and counts them; this process holds the `SlackDriver`,
which signs each command as Slack does, with ``response_url``s minted in advance for each round
(`RemoteFake`). Each server first gets
``CONCURRENCY`` concurrent ``/fp help`` to open the connections and warm the code paths, then
``ROUNDS`` rounds of ``CONCURRENCY`` concurrent ``/fp envs``, back to back. Printed:

- ack p50 / p99 / max: HTTP answer time of one command as the driver saw it;
- req/s: commands acknowledged per second of round time (a round ends with its last ack);
- upstream requests: what all the ``/fp envs`` caused at the stand-in (target: one page walk,
  i.e. ceil(environments / 100) pages, however many commands joined it);
- RSS after start (idle, before any command) and after the run (listings delivered), and
  the peak, read from ``/proc/<pid>/status`` of the server process;
- ack while fetching and delivering: after the rounds, one ``/fp whoami`` every 100 ms until
  every listing is in the channel — whether fpbot still answers Slack while it is busy.

Targets: fpbot's ack p99 ≤ 1.2 x the baseline's and no ack above 1 s; throughput ≥ 0.8 x the
baseline's; one page walk. The machine is noisy, so the whole comparison runs ``--runs`` times
(3 by default): every run is printed, and the targets are judged on the median of the runs'
ratios.

Run: ``python -m bench.bot_ack`` (about 90 s). ``--runs``, ``--rounds``, ``--concurrency``,
``--environments`` and ``--latency`` change the load.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bench import harness
from bench.harness import FPBOT, Memory, ServerProcess, load_average, ms, percentile, print_table
from sandbox.run import (
    BOT_TOKEN,
    CHANNELS,
    PERSONAS,
    SIGNING_SECRET,
    USERGROUPS,
    sample_policy_path,
)
from sandbox.slack import DriverResponse, FakeSlack, SlackDriver

CONCURRENCY = 100
ROUNDS = 5
RUNS = 3
LATENCY = 2.0
ENVIRONMENTS = 250
PAGE_SIZE = 100
USER = "U0OPERATOR"
CHANNEL = "C0OPS"

P99_TARGET = 1.2
RATE_TARGET = 0.8


# ── the stand-in Management API ────────────────────────────────────────────────────────


class StandIn(harness.StandIn):
    """``python -m sandbox.fingerprint`` in a child process; figures from ``/_sandbox/stats``."""

    def __init__(self, *, environments: int, latency: float, key: str) -> None:
        argv = [sys.executable, "-m", "sandbox.fingerprint", "--port", "0"]
        argv += ["--environments", str(environments), "--latency", str(latency), "--key", key]
        super().__init__(argv, key=key)

    async def stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = await self.get_json("/_sandbox/stats")
        return stats

    async def reset(self) -> None:
        """Forget the requests so far (fpbot's start-up health check pings the API)."""
        await self.post("/_sandbox/reset-stats")


# ── the fake Slack (runs in its own process: ``--fake-slack-server``) ──────────────────


def serve_fake_slack() -> None:
    """The sandbox's fake Slack, plus three routes for this benchmark: mint ``response_url``s
    and ``trigger_id``s in advance, count the listings delivered, count the violations."""
    from aiohttp import web

    async def main() -> None:
        fake = FakeSlack(
            bot_token=BOT_TOKEN, users=PERSONAS, usergroups=USERGROUPS, channels=CHANNELS
        )

        async def mint(request: web.Request) -> web.Response:
            body = await request.json()
            minted = [
                {
                    "response_url": fake.new_response_url(body["channel"], body["user"]),
                    "trigger_id": fake.new_trigger_id(),
                }
                for _ in range(int(body["count"]))
            ]
            return web.json_response(minted)

        async def listings(request: web.Request) -> web.Response:
            texts = [m.text for m in fake.channel_messages(request.query["channel"])]
            complete, parts = listings_delivered(texts, request.query["title"])
            return web.json_response({"complete": complete, "parts": parts})

        async def violations(_: web.Request) -> web.Response:
            return web.json_response({"violations": len(fake.violations)})

        app = fake.web_app()
        app.router.add_post("/_bench/mint", mint)
        app.router.add_get("/_bench/listings", listings)
        app.router.add_get("/_bench/violations", violations)
        runner = web.AppRunner(app, access_log=None)
        async with harness.serving(runner, "127.0.0.1", 0) as url:
            fake.url = url  # the response_urls it mints point here
            print(url, flush=True)
            await harness.until_terminated()

    asyncio.run(main())


class FakeSlackProcess(harness.StandIn):
    """The fake Slack in a child process (this module with ``--fake-slack-server``)."""

    def __init__(self) -> None:
        super().__init__([sys.executable, "-m", "bench.bot_ack", "--fake-slack-server"], key="")

    @property
    def api_url(self) -> str:
        return self.url + "/api/"

    async def post_json(self, path: str, body: dict[str, Any]) -> Any:
        async with (
            aiohttp.ClientSession() as session,
            session.post(self.url + path, json=body) as response,
        ):
            response.raise_for_status()
            return await response.json()


class _Workspace:
    """What `SlackDriver` reads of a fake's state: the people and the channels' names."""

    users = PERSONAS

    def channel_name(self, channel: str) -> str:
        return CHANNELS.get(channel, channel.lower())


class RemoteFake:
    """The parts of `FakeSlack` that `SlackDriver` uses, for a fake in another process:
    ``response_url``s and ``trigger_id``s come from a pool minted before each round, so
    minting never adds to a command's measured time."""

    def __init__(self, process: FakeSlackProcess) -> None:
        self.process = process
        self.state = _Workspace()
        self.violations: list[str] = []
        self._minted: list[dict[str, str]] = []

    async def mint(self, count: int) -> None:
        self._minted += await self.process.post_json(
            "/_bench/mint", {"channel": CHANNEL, "user": USER, "count": count}
        )

    def new_response_url(self, channel: str, user: str) -> str:
        return self._minted[-1]["response_url"]

    def new_trigger_id(self, user: str | None = None) -> str:
        return self._minted.pop()["trigger_id"]

    def record_violation(self, text: str) -> None:
        self.violations.append(text)

    def post_command_reply(self, channel: str, user: str, body: Any) -> None:
        """A command's visible answer; the fake in the other process never sees it."""

    async def listings(self, title: str) -> tuple[int, int]:
        query = f"/_bench/listings?channel={CHANNEL}&title={title}"
        answer = await self.process.get_json(query)
        return int(answer["complete"]), int(answer["parts"])

    async def slack_violations(self) -> int:
        return int((await self.process.get_json("/_bench/violations"))["violations"])


# ── the baseline server (runs in its own process: ``--baseline-server``) ────────────────


def serve_baseline() -> None:
    """A bare Bolt app that acks ``/fp`` and does nothing else, served like fpbot."""
    import logging

    from aiohttp import web
    from slack_bolt.async_app import AsyncApp
    from slack_bolt.context.ack.async_ack import AsyncAck
    from slack_sdk.web.async_client import AsyncWebClient

    from bot.log import configure_logging
    from bot.server import make_web_app, run_loop

    class _Health:
        async def report(self) -> tuple[int, dict[str, Any]]:
            return 200, {"status": "ok", "checks": {}}

    async def main() -> None:
        configure_logging(os.environ.get("LOG_LEVEL", "INFO"), "json")
        bolt = AsyncApp(
            client=AsyncWebClient(
                token=os.environ["SLACK_BOT_TOKEN"], base_url=os.environ["SLACK_API_URL"]
            ),
            signing_secret=os.environ["SLACK_SIGNING_SECRET"],
            logger=logging.getLogger("slack_bolt"),
        )

        @bolt.command("/fp")
        async def fp(ack: AsyncAck) -> None:
            await ack()

        runner = web.AppRunner(make_web_app(bolt, _Health()))
        async with harness.serving(runner, os.environ["HOST"], int(os.environ["PORT"])):
            await harness.until_terminated()

    run_loop(main())  # the event loop fpbot serves on, so only the listeners differ


# ── load ───────────────────────────────────────────────────────────────────────────────


@dataclass
class Load:
    """What the driver saw for a series of concurrent rounds."""

    latencies: list[float] = field(default_factory=list)
    busy: float = 0.0  # seconds from each round's start to its last ack, summed
    failures: list[str] = field(default_factory=list)
    round_p99: list[float] = field(default_factory=list)

    def add(self, responses: Sequence[DriverResponse], wall: float) -> None:
        self.busy += wall
        self.round_p99.append(percentile([r.elapsed for r in responses], 99))
        for response in responses:
            self.latencies.append(response.elapsed)
            if response.timed_out:
                self.failures.append("operation_timeout")
            elif response.status != 200:
                self.failures.append(f"HTTP {response.status}")

    @property
    def count(self) -> int:
        return len(self.latencies)

    @property
    def rate(self) -> float:
        return self.count / self.busy if self.busy else 0.0

    def p(self, q: float) -> float:
        return percentile(self.latencies, q)


async def rounds_of(
    driver: SlackDriver,
    fake: RemoteFake,
    text: str,
    *,
    concurrency: int,
    rounds: int,
    load: Load | None = None,
) -> Load:
    """``rounds`` rounds of ``concurrency`` concurrent ``/fp <text>``, each after the last."""
    load = load or Load()
    for _ in range(rounds):
        await fake.mint(concurrency)
        started = time.perf_counter()
        responses = await asyncio.gather(
            *(driver.command(text, user=USER, channel=CHANNEL) for _ in range(concurrency))
        )
        load.add(responses, time.perf_counter() - started)
    return load


def listings_delivered(texts: Sequence[str], title: str) -> tuple[int, int]:
    """(complete listings, parts per listing) among messages whose text starts with
    ``title``; a listing of several parts is complete when its last part, "(continued, n/n)",
    arrived."""
    parts = 1
    finals = firsts = 0
    for text in texts:
        if not text.startswith(title):
            continue
        marker = text.rsplit("(continued, ", 1)
        if len(marker) == 1:
            firsts += 1
            continue
        number, total = (int(n) for n in marker[1].rstrip(")").split("/"))
        parts = max(parts, total)
        finals += number == total
    return (firsts if parts == 1 else finals), parts


async def wait_for_listings(
    fake: RemoteFake, driver: SlackDriver, title: str, expected: int, within: float
) -> Load:
    """Until ``expected`` complete listings are in the channel (or the timeout), type one
    ``/fp whoami`` every 100 ms: how fast fpbot acks while it fetches and delivers."""
    probes = Load()
    started = time.perf_counter()
    while (await fake.listings(title))[0] < expected:
        if time.perf_counter() - started > within:
            break
        await fake.mint(1)
        sent = time.perf_counter()
        probes.add([await driver.command("whoami", user=USER, channel=CHANNEL)], 0.0)
        await asyncio.sleep(max(0.0, 0.1 - (time.perf_counter() - sent)))
    return probes


# ── one run: the baseline, then fpbot ──────────────────────────────────────────────────


@dataclass
class Result:
    name: str
    load: Load
    memory_start: Memory
    memory_end: Memory
    extra: dict[str, Any] = field(default_factory=dict)


async def measure(
    server: ServerProcess, fake: RemoteFake, api: StandIn, *, concurrency: int, rounds: int
) -> tuple[Load, Memory, float, SlackDriver]:
    """Start ``server``, warm it up, then the rounds of ``/fp envs``; (load, memory after
    start, when the first measured command left, driver)."""
    await server.start()
    memory_start = server.memory()
    driver = SlackDriver(fake, server.url + "/slack/events", SIGNING_SECRET)  # type: ignore[arg-type]
    # Warm-up: open the connections, let Bolt run auth.test once, touch every code path.
    await rounds_of(driver, fake, "help", concurrency=concurrency, rounds=1)
    await asyncio.sleep(1.0)
    await api.reset()
    started = time.perf_counter()
    load = await rounds_of(driver, fake, "envs", concurrency=concurrency, rounds=rounds)
    return load, memory_start, started, driver


async def run_once(args: argparse.Namespace, workdir: Path) -> list[Result]:
    results: list[Result] = []
    key = f"fp_mgmt_bench_{os.getpid()}"
    async with (
        FakeSlackProcess() as slack,
        StandIn(environments=args.environments, latency=args.latency, key=key) as api,
    ):
        fake = RemoteFake(slack)
        common = {
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": slack.api_url,
            "HOST": "127.0.0.1",
            "LOG_LEVEL": args.log_level,
            "LOG_FORMAT": "json",
        }

        baseline = ServerProcess(
            "baseline",
            [sys.executable, "-m", "bench.bot_ack", "--baseline-server"],
            common,
            workdir,
        )
        try:
            load, mem0, _, driver = await measure(
                baseline, fake, api, concurrency=args.concurrency, rounds=args.rounds
            )
            await driver.aclose()
            results.append(Result("bare Bolt", load, mem0, baseline.memory()))
        finally:
            await baseline.stop()

        fpbot = ServerProcess(
            "fpbot",
            FPBOT,
            {
                **common,
                "FP_MANAGEMENT_API_KEY": key,
                "FP_MANAGEMENT_API_URL": api.url,
                "FPBOT_POLICY": str(sample_policy_path()),
                "DATABASE_URL": f"sqlite:///{workdir / 'fpbot.sqlite3'}",
            },
            workdir,
        )
        try:
            load, mem0, started, driver = await measure(
                fpbot, fake, api, concurrency=args.concurrency, rounds=args.rounds
            )
            title = f"Environments ({args.environments})"
            probes = await wait_for_listings(fake, driver, title, load.count, within=90)
            delivered, parts = await fake.listings(title)
            all_done = time.perf_counter() - started
            await driver.aclose()
            stats = await api.stats()
            results.append(
                Result(
                    "fpbot",
                    load,
                    mem0,
                    fpbot.memory(),
                    {
                        "probes": probes,
                        "upstream": stats["requests"],
                        "upstream_429": stats["rejected_429"],
                        "max_in_window": stats["max_in_window"],
                        "pages": math.ceil(args.environments / PAGE_SIZE),
                        "delivered": delivered,
                        "parts": parts,
                        "until_delivered": all_done,
                        "violations": len(fake.violations) + await fake.slack_violations(),
                        "errors_logged": fpbot.count_in_log('"level": "error"'),
                    },
                )
            )
        finally:
            code = await fpbot.stop()
            if code not in (0, None):
                print(f"fpbot exited with {code}; log tail:\n{fpbot.log_tail()}")
    return results


# ── report ─────────────────────────────────────────────────────────────────────────────


def ratios(results: list[Result]) -> tuple[float, float]:
    """(fpbot's ack p99 ÷ the baseline's, fpbot's throughput ÷ the baseline's)."""
    base, bot = results
    rate = bot.load.rate / base.load.rate if base.load.rate else 0.0
    return bot.load.p(99) / base.load.p(99), rate


def report_run(number: int, results: list[Result], args: argparse.Namespace) -> None:
    base, bot = results
    rows: list[tuple[str, str, str]] = [("", base.name, bot.name)]
    figures: tuple[tuple[str, Callable[[Result], str]], ...] = (
        ("commands acked", lambda r: f"{r.load.count - len(r.load.failures)}/{r.load.count}"),
        ("ack p50", lambda r: ms(r.load.p(50))),
        ("ack p99", lambda r: ms(r.load.p(99))),
        ("ack max", lambda r: ms(max(r.load.latencies))),
        ("requests/second", lambda r: f"{r.load.rate:.0f}"),
        ("RSS after start", lambda r: f"{r.memory_start.rss:.1f} MiB"),
        ("RSS after run", lambda r: f"{r.memory_end.rss:.1f} MiB"),
        ("RSS peak", lambda r: f"{r.memory_end.peak:.1f} MiB"),
    )
    for label, fn in figures:
        rows.append((label, fn(base), fn(bot)))
    p99_ratio, rate_ratio = ratios(results)
    print(
        f"run {number}: machine load average {load_average()} at the end; "
        f"ack p99 {p99_ratio:.2f} x, throughput {rate_ratio:.2f} x the baseline"
    )
    print_table(rows)
    x = bot.extra
    for result in results:
        print(
            f"  {result.name} ack p99 per round: "
            + ", ".join(f"{p * 1000:.0f}" for p in result.load.round_p99)
            + " ms"
        )
    probes: Load = x["probes"]
    if probes.count:
        print(
            f"  fpbot ack while fetching and delivering those listings (one /fp whoami every "
            f"100 ms, {probes.count} probes): p50 {ms(probes.p(50))}, "
            f"max {ms(max(probes.latencies))}, failed {len(probes.failures)}"
        )
    print(
        f"  fpbot: {x['delivered']}/{bot.load.count} listings delivered ({x['parts']} message(s) "
        f"each) {x['until_delivered']:.1f} s after the first command; upstream requests "
        f"{x['upstream']}, 429s {x['upstream_429']}, max in any 1 s {x['max_in_window']}; "
        f"Slack violations (probe timeouts included) {x['violations']}; "
        f"error log lines {x['errors_logged']}"
    )


def report(runs: list[list[Result]], args: argparse.Namespace) -> None:
    p99s = [ratios(results)[0] for results in runs]
    rates = [ratios(results)[1] for results in runs]
    p99, rate = statistics.median(p99s), statistics.median(rates)
    worst = max(max(results[1].load.latencies) for results in runs)
    failures = sum(len(results[1].load.failures) for results in runs)
    last = runs[-1][1].extra
    print(
        f"\n/fp ack under load, {len(runs)} runs: {args.rounds} rounds x {args.concurrency} "
        f"concurrent signed commands over loopback HTTP; fpbot's stand-in API answers after "
        f"{args.latency:g} s and holds {args.environments} environments "
        f"({last['pages']} pages of {PAGE_SIZE})"
    )
    print(f"  ack p99 ratio per run: {', '.join(f'{r:.2f}' for r in p99s)} (median {p99:.2f})")
    print(f"  throughput ratio per run: {', '.join(f'{r:.2f}' for r in rates)} (median {rate:.2f})")
    upstream_ok = all(
        r[1].extra["upstream"] == r[1].extra["pages"] and r[1].extra["upstream_429"] == 0
        for r in runs
    )
    delivered_ok = all(r[1].extra["delivered"] == r[1].load.count for r in runs)
    checks = [
        (f"ack p99 ≤ {P99_TARGET} x baseline (median of runs): {p99:.2f} x", p99 <= P99_TARGET),
        (f"no ack above 1 s: max {ms(worst)}", worst <= 1.0 and not failures),
        (
            f"throughput ≥ {RATE_TARGET} x baseline (median of runs): {rate:.2f} x",
            rate >= RATE_TARGET,
        ),
        ("one page walk per run, no 429", upstream_ok),
        ("every listing delivered in every run", delivered_ok),
    ]
    for text, ok in checks:
        print(f"  {'PASS' if ok else 'MISS'}  {text}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.bot_ack", description=__doc__)
    parser.add_argument("--runs", type=int, default=RUNS)
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--latency", type=float, default=LATENCY)
    parser.add_argument("--environments", type=int, default=ENVIRONMENTS)
    parser.add_argument(
        "--log-level", default="INFO", help="the servers' LOG_LEVEL (fpbot's default: INFO)"
    )
    parser.add_argument("--logs", help="keep the servers' logs (and fpbot's store) here")
    parser.add_argument("--baseline-server", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--fake-slack-server", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.baseline_server:
        serve_baseline()
        return
    if args.fake_slack_server:
        serve_fake_slack()
        return
    from bot.log import configure_logging

    configure_logging("WARNING", "console", stream=sys.stderr)
    runs: list[list[Result]] = []
    for number in range(1, args.runs + 1):
        with tempfile.TemporaryDirectory(prefix="fpbot-bench-ack-") as tmp:
            workdir = Path(args.logs or tmp) / f"run-{number}"
            workdir.mkdir(parents=True, exist_ok=True)
            runs.append(asyncio.run(run_once(args, workdir)))
        report_run(number, runs[-1], args)
    report(runs, args)


if __name__ == "__main__":
    main()
