"""``python -m sandbox.fingerprint``: serve the stand-in Management API until Ctrl-C/SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal

from sandbox.fingerprint.fake import FakeFingerprint
from sandbox.fingerprint.server import StandInServer


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m sandbox.fingerprint",
        description="Stand-in for Fingerprint's Management API (seeded, with fault knobs).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--environments", type=int, default=32)
    parser.add_argument("--rate-limit", type=float, default=5.0, help="requests/second per key")
    parser.add_argument("--burst", type=int, default=5)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added per answer")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--key",
        action="append",
        help="accepted management API key (repeatable; default fp_mgmt_sandbox_key)",
    )
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    fake = FakeFingerprint(
        api_keys=args.key or ("fp_mgmt_sandbox_key",),
        rate_limit=args.rate_limit,
        burst=args.burst,
        environments=args.environments,
        seed=args.seed,
    )
    fake.faults.latency = args.latency
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    async with StandInServer(fake, host=args.host, port=args.port) as server:
        print(server.url, flush=True)
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(parse_args(argv)))


if __name__ == "__main__":
    main()
