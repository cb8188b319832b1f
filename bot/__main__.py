"""The ``fpbot`` command line.

``serve`` (HTTP) and ``serve --socket`` run the bot; ``check`` validates everything an operator
can get wrong before the first Slack request does; ``sandbox`` runs the bot against local
stand-ins; ``run`` is what ``make run`` calls: the real bot when credentials are set, else the
sandbox.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from bot.log import configure_logging, scrub
from bot.policy import PolicyError
from bot.settings import SettingsError, load_settings
from bot.store import StoreUnavailable


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fpbot", description="Fingerprint chat-ops for Slack.")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve Slack over HTTP (or Socket Mode with --socket)")
    serve.add_argument("--socket", action="store_true", help="use Socket Mode (SLACK_APP_TOKEN)")
    sub.add_parser("check", help="validate settings and policy, ping the API and Slack")
    sub.add_parser("sandbox", help="the bot with a local Slack console and stand-in API")
    sub.add_parser("run", help="serve when credentials are set, else the sandbox")
    args = parser.parse_args(argv)

    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"fpbot: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format)

    command = args.command
    socket = bool(getattr(args, "socket", False))
    if command == "run":
        if not settings.has_credentials:
            command = "sandbox"
        else:
            command, socket = "serve", settings.slack_app_token is not None
    try:
        if command == "serve":
            settings.require_for_serving(socket=socket)
            from bot.server import run_loop
            from bot.server import serve as run_server

            return run_loop(run_server(settings, socket=socket))
        if command == "check":
            from bot.check import run_checks

            return asyncio.run(run_checks(settings))
        from sandbox.run import run_sandbox

        return asyncio.run(run_sandbox(settings))
    except (SettingsError, PolicyError, StoreUnavailable) as exc:
        # What an operator must fix, in one line: no traceback.
        print(f"fpbot: {scrub(str(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
