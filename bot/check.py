"""``fpbot check``: every problem an operator can fix, in plain words, before going live.

It does not stop at the first problem: settings, the policy file, the store and Redis (reached,
nothing changed), the Management API key (``GET /hello``) and the Slack token (``auth.test``)
are each checked and reported.
"""

from __future__ import annotations

import sys
from typing import TextIO

from redis.exceptions import RedisError

from bot.fingerprint.client import ManagementClient
from bot.fingerprint.errors import FingerprintError
from bot.log import register_secret
from bot.policy import PolicyError, load_policy
from bot.render.errors import summary_of
from bot.services import connect_redis
from bot.settings import Settings, SettingsError
from bot.slack import SlackDeliveryError, SlackMessenger, make_web_client
from bot.store import Store, StoreUnavailable


async def run_checks(settings: Settings, out: TextIO = sys.stdout) -> int:
    """Print one line per check; return 0 when all pass, 1 otherwise."""
    problems = 0

    def report(ok: bool, line: str) -> None:
        nonlocal problems
        problems += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {line}", file=out)

    for secret in (settings.slack_bot_token, settings.fp_management_api_key):
        register_secret(secret.get_secret_value() if secret else None)
    try:
        settings.require_for_serving(socket=settings.slack_app_token is not None)
        report(True, "settings: every required variable is set")
    except SettingsError as exc:
        report(False, f"settings: {exc}")

    try:
        policy = load_policy(settings.fpbot_policy)
        report(True, f"policy {settings.fpbot_policy}: {len(policy.grants)} grants, valid")
    except PolicyError as exc:
        report(False, f"policy: {exc}")

    try:
        report(True, f"store: {await Store.probe(settings.database_url)} reachable")
    except StoreUnavailable as exc:
        report(False, f"store: {exc}")

    if settings.redis_url is not None:
        redis = connect_redis(settings.redis_url.get_secret_value())
        try:
            await redis.ping()
            report(True, "Redis: reachable (rate budget and caches shared by replicas)")
        except (RedisError, OSError) as exc:
            report(False, f"Redis: unreachable ({type(exc).__name__})")
        finally:
            await redis.aclose()

    if settings.fp_management_api_key is not None:
        client = ManagementClient.from_settings(settings)
        try:
            await client.hello()
            report(True, f"Management API {settings.fp_management_api_url}: key accepted")
        except FingerprintError as exc:
            url = settings.fp_management_api_url
            report(False, f"Management API {url}: {summary_of(exc)} ({exc})")
        finally:
            await client.aclose()
    else:
        report(False, "Management API: FP_MANAGEMENT_API_KEY is not set")

    if settings.slack_bot_token is not None:
        web = make_web_client(settings.slack_bot_token.get_secret_value(), settings.slack_api_url)
        try:
            identity = await SlackMessenger(web).auth_test()
            report(True, f"Slack: bot token works (team {identity.get('team', '?')})")
        except SlackDeliveryError as exc:
            report(False, f"Slack: auth.test failed: {exc.error}")
    else:
        report(False, "Slack: SLACK_BOT_TOKEN is not set")

    print(
        "all checks passed" if not problems else f"{problems} problem(s) found",
        file=out,
    )
    return 1 if problems else 0
