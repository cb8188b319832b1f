"""What the account watch costs: its requests per pass and share of the rate budget, and
whether ``/fp envs`` stays as fast while it reads — against fpbot without the watch, in the
same run.

Every server is a child process of its own: the stand-in Management API (``python -m
sandbox.fingerprint``: 1,000 environments, then shaped to 10 API keys and 5 webhooks through
its outside-change route; 5 requests/s per key, 20 ms per answer), the fake Slack (``python -m
bench.bot_ack --fake-slack-server``, which counts the listings delivered) and fpbot (``python
-m bot serve``, the sample policy with only ``watch.interval`` changed, ``FP_RATE_LIMIT=5``,
``FP_CACHE_TTL=0`` so every ``/fp envs`` walks all ten pages).

Each run:

1. **fpbot without the watch** (``interval: 0``): ``--listings`` ``/fp envs`` one after the
   other, each timed from sending the command until its whole listing is in the channel.
2. **fpbot with the watch** (``interval: 1s``, so a pass follows a pass and the watch is
   always reading): the same listings, then one more pass on its own, whose requests the
   stand-in counts (requests per pass; most in any second, against the budget).

Printed: every run's listing times (median and slowest) and the ratio with / without; the
requests per pass, how long a pass takes, the most requests a pass sent in any one second
(target ≤ a fifth of the budget: 1 of 5), and the share of the key's budget the watch takes at
the default interval (5 minutes). Targets, on the median of the runs: listing latency with the
watch ≤ 1.1 x without.

Run: ``python -m bench.watch_cost`` (about 3 minutes). ``--runs``, ``--listings``,
``--latency``, ``--logs DIR``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from bench.bot_ack import FakeSlackProcess, RemoteFake, StandIn
from bench.harness import FPBOT, ServerProcess, load_average, print_table, wait_until
from sandbox.run import BOT_TOKEN, SIGNING_SECRET, sample_policy_path
from sandbox.slack import SlackDriver

ENVIRONMENTS = 1000
KEYS = 10
WEBHOOKS = 5
RATE = 5.0
LATENCY = 0.02
RUNS = 3
LISTINGS = 6
DEFAULT_INTERVAL = 300.0
USER = "U0OPERATOR"
CHANNEL = "C0OPS"
TARGET = 1.1


def policy(workdir: Path, interval: str) -> Path:
    """The sample policy with ``watch.interval`` set (and no digest)."""
    text = sample_policy_path().read_text().split("\nwatch:")[0]
    path = workdir / f"policy-{interval}.yml"
    path.write_text(f"{text}\nwatch:\n  interval: {interval}\n")
    return path


async def post(url: str, body: Any) -> Any:
    async with aiohttp.ClientSession() as session, session.post(url, json=body) as response:
        response.raise_for_status()
        return await response.json()


async def shape(api: StandIn) -> None:
    """10 API keys and 5 webhooks: the seed's, read through the API, then the extra ones
    deleted and the missing ones created through the stand-in's outside-change route."""
    route = api.url + "/_sandbox/outside-change"
    headers = {"Authorization": f"Bearer {api.key}", "X-API-Version": "2024-05-20"}
    async with aiohttp.ClientSession(headers=headers) as session:
        for path, wanted, make in (
            ("/api-keys", KEYS, lambda n: {"type": "public", "name": f"Bench key {n}"}),
            ("/webhooks", WEBHOOKS, lambda n: {"url": f"https://bench.example/{n}"}),
        ):
            async with session.get(api.url + path, params={"limit": 100}) as response:
                items = (await response.json())["data"]
            resource = path.strip("/")
            for item in items[wanted:]:
                await post(route, {"resource": resource, "op": "delete", "id": item["id"]})
            for n in range(len(items), wanted):
                await post(route, {"resource": resource, "op": "create", "fields": make(n)})
    await api.reset()


async def scrape(url: str) -> dict[str, float]:
    async with aiohttp.ClientSession() as session, session.get(url + "/metrics") as response:
        text = await response.text()
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}"] = sample.value
    return samples


async def passes(url: str) -> tuple[float, float]:
    """(watch passes recorded, seconds they took in all), from fpbot's metrics."""
    samples = await scrape(url)
    return (
        samples.get("fpbot_watch_pass_seconds_count{outcome=ok}", 0.0),
        samples.get("fpbot_watch_pass_seconds_sum{outcome=ok}", 0.0),
    )


async def until_passes(url: str, count: float, within: float = 120.0) -> None:
    deadline = time.monotonic() + within
    while (await passes(url))[0] < count:
        if time.monotonic() > deadline:
            raise RuntimeError("the watch made no pass in time")
        await asyncio.sleep(0.2)


async def listings(server: ServerProcess, fake: RemoteFake, count: int) -> list[float]:
    """``count`` ``/fp envs``, one after the other: seconds from command to whole listing."""
    driver = SlackDriver(fake, server.url + "/slack/events", SIGNING_SECRET)  # type: ignore[arg-type]
    title = f"Environments ({ENVIRONMENTS})"
    times = []
    try:
        await fake.mint(1)
        await driver.command("help", user=USER, channel=CHANNEL)  # warm up
        for _ in range(count):
            before = (await fake.listings(title))[0]
            await fake.mint(1)
            started = time.perf_counter()
            await driver.command("envs", user=USER, channel=CHANNEL)

            async def delivered(before: int = before) -> bool:
                return (await fake.listings(title))[0] > before

            if not await wait_until(delivered, within=60.0, interval=0.01):
                raise RuntimeError("a listing never arrived")
            times.append(time.perf_counter() - started)
    finally:
        await driver.aclose()
    return times


def fpbot(name: str, workdir: Path, env: dict[str, str], interval: str) -> ServerProcess:
    settings = {
        **env,
        "FPBOT_POLICY": str(policy(workdir, interval)),
        "DATABASE_URL": f"sqlite:///{workdir / f'{name}.sqlite3'}",
    }
    return ServerProcess(name, FPBOT, settings, workdir)


async def run_once(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    key = f"fp_mgmt_bench_{os.getpid()}"
    async with (
        FakeSlackProcess() as slack,
        StandIn(environments=ENVIRONMENTS, latency=args.latency, key=key) as api,
    ):
        await shape(api)
        fake = RemoteFake(slack)
        env = {
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": slack.api_url,
            "FP_MANAGEMENT_API_KEY": key,
            "FP_MANAGEMENT_API_URL": api.url,
            "FP_RATE_LIMIT": str(RATE),
            "FP_CACHE_TTL": "0",
            "HOST": "127.0.0.1",
            "LOG_LEVEL": "WARNING",
            "LOG_FORMAT": "json",
        }
        result: dict[str, Any] = {}
        without = fpbot("without-watch", workdir, env, "0")
        try:
            await without.start()
            result["without"] = await listings(without, fake, args.listings)
        finally:
            await without.stop()
        watching = fpbot("with-watch", workdir, env, "1s")
        try:
            await watching.start()
            await until_passes(watching.url, 1)  # the watch is reading from here on
            result["with"] = await listings(watching, fake, args.listings)
            done, _ = await passes(watching.url)
            await until_passes(watching.url, done + 1)  # a pass may be under way: let it end
            await api.reset()
            count, spent = await passes(watching.url)
            await until_passes(watching.url, count + 1)
            stats = await api.get_json("/_sandbox/stats")
            after, spent_after = await passes(watching.url)
            result["per_pass"] = stats["requests"] / (after - count)
            result["max_in_second"] = stats["max_in_window"]
            result["pass_seconds"] = (spent_after - spent) / (after - count)
            result["429"] = stats["rejected_429"]
        finally:
            await watching.stop()
    return result


def report(runs: list[dict[str, Any]]) -> None:
    rows = [["run", "without: median / max", "with: median / max", "ratio (medians)"]]
    ratios = []
    for n, run in enumerate(runs, 1):
        without, with_ = statistics.median(run["without"]), statistics.median(run["with"])
        ratios.append(with_ / without)
        rows.append(
            [
                str(n),
                f"{without:.2f} / {max(run['without']):.2f} s",
                f"{with_:.2f} / {max(run['with']):.2f} s",
                f"{with_ / without:.2f}",
            ]
        )
    print(f"\n/fp envs ({ENVIRONMENTS} environments, 10 pages), command → whole listing:")
    print_table(rows)
    for n, run in enumerate(runs, 1):
        print(
            f"  run {n} listings, without: {', '.join(f'{t:.2f}' for t in run['without'])} s; "
            f"with: {', '.join(f'{t:.2f}' for t in run['with'])} s"
        )
    median = statistics.median(ratios)
    verdict = "PASS" if median <= TARGET else "MISS"
    print(f"  {verdict}: median ratio {median:.2f} (target ≤ {TARGET})")

    print(f"\nThe watch's pass ({ENVIRONMENTS} environments, {KEYS} keys, {WEBHOOKS} webhooks):")
    rows = [["run", "requests/pass", "pass", "most in 1 s", "429s", "share at 5 min"]]
    for n, run in enumerate(runs, 1):
        share = run["per_pass"] / (RATE * DEFAULT_INTERVAL)
        rows.append(
            [
                str(n),
                f"{run['per_pass']:.0f}",
                f"{run['pass_seconds']:.1f} s",
                f"{run['max_in_second']} of {RATE:g}",
                str(run["429"]),
                f"{share:.2%}",
            ]
        )
    print_table(rows)
    peak = max(run["max_in_second"] for run in runs)
    verdict = "PASS" if peak <= RATE / 5 else "MISS"
    print(f"  {verdict}: at most {peak} request(s) in any second of a pass (a fifth: {RATE / 5:g})")


async def main(args: argparse.Namespace) -> None:
    print(f"load average before: {load_average()}")
    runs = []
    with tempfile.TemporaryDirectory(prefix="fpbot-bench-watch-") as tmp:
        workdir = Path(args.logs) if args.logs else Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        for n in range(args.runs):
            print(f"run {n + 1} of {args.runs}…", flush=True)
            # A fresh store per run: the fake Slack of each run mints the same trigger ids,
            # which a store that has seen them would drop as replays.
            run_dir = workdir / f"run-{n + 1}"
            run_dir.mkdir(parents=True, exist_ok=True)
            runs.append(await run_once(args, run_dir))
    report(runs)
    print(f"\nload average after: {load_average()}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.watch_cost", description=__doc__)
    parser.add_argument("--runs", type=int, default=RUNS)
    parser.add_argument("--listings", type=int, default=LISTINGS)
    parser.add_argument("--latency", type=float, default=LATENCY)
    parser.add_argument("--logs", help="keep the servers' logs in this directory")
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse_args(sys.argv[1:])))
