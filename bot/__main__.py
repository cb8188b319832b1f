"""The ``fpbot`` command line: ``serve``, ``serve --socket``, ``check``, ``sandbox``, ``run``."""

from __future__ import annotations

import argparse
import sys

from bot.settings import SettingsError, load_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fpbot", description=__doc__)
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
    print(
        f"fpbot {args.command}: not available yet in this build "
        f"(settings read: API {settings.fp_management_api_url}).",
        file=sys.stderr,
    )
    return 1


if __name__ == "__main__":
    sys.exit(main())
