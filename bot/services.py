"""Everything a running fpbot holds, built once from the settings and closed once.

Handlers receive this container and nothing else; it is where the one API client, the store,
the Slack adapter and the workflow are created and wired together, so a reader can see the
whole object graph in one screen.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as aioredis

from bot.changes.sweeper import Sweeper
from bot.changes.workflow import ChangeWorkflow
from bot.domain.incidents import API_CAUSES
from bot.fingerprint.client import ManagementClient
from bot.forms import Forms
from bot.health import Health
from bot.home import HomeTabs
from bot.ledger import Ledger
from bot.log import register_secret
from bot.metrics import Metrics
from bot.notify import Notifier
from bot.policy import Policy, load_policy
from bot.runner import CommandRunner
from bot.settings import Settings
from bot.slack import GroupDirectory, SlackConversation, SlackMessenger
from bot.store import Store
from bot.tasks import TaskSet
from bot.watch import AccountWatch, Digest, OutsideChanges

#: Seconds one Redis command (or connecting) may take. Every Management API call waits on Redis
#: for its rate-limit slot, so a Redis that stops answering must fail the call quickly, well
#: inside the read retry budget, rather than hang it: redis-py's default is
#: no timeout at all (5.x) or 5 s (8.x), depending on the version installed.
REDIS_TIMEOUT = 2.0
#: A pooled connection idle for longer than this is pinged before it is used again, so one
#: dropped silently (a failover, a NAT timeout) is replaced instead of failing a command.
REDIS_HEALTH_CHECK_INTERVAL = 30


def connect_redis(url: str) -> aioredis.Redis:
    """The shared Redis client, with timeouts (connections are opened lazily, on first use)."""
    return aioredis.from_url(
        url,
        socket_timeout=REDIS_TIMEOUT,
        socket_connect_timeout=REDIS_TIMEOUT,
        health_check_interval=REDIS_HEALTH_CHECK_INTERVAL,
    )


class _ApiObserver:
    """What the client reports goes to the metrics; an answer from the API also proves the
    API-related incidents over (the key works, the API answers, the budget is reachable)."""

    def __init__(self, metrics: Metrics, notifier: Notifier) -> None:
        self._metrics = metrics
        self._notifier = notifier

    def requested(self, operation: str, status: str) -> None:
        self._metrics.requested(operation, status)
        if status.startswith("2"):
            self._notifier.proven(API_CAUSES)

    def budget_waited(self, seconds: float, *, background: bool) -> None:
        self._metrics.budget_waited(seconds, background=background)


@dataclass
class Services:
    settings: Settings
    policy: Policy
    client: ManagementClient
    store: Store
    redis: aioredis.Redis | None
    messenger: SlackMessenger
    slack: SlackConversation
    groups: GroupDirectory
    notifier: Notifier
    changes: ChangeWorkflow
    forms: Forms
    home: HomeTabs
    sweeper: Sweeper
    runner: CommandRunner
    health: Health
    tasks: TaskSet
    metrics: Metrics
    ledger: Ledger
    outside: OutsideChanges
    digest: Digest
    #: ``None`` when the policy turns the watch off (``watch.interval: 0``).
    watch: AccountWatch | None

    @classmethod
    async def start(cls, settings: Settings, policy: Policy | None = None) -> Services:
        """Connect to the store (migrating it), Redis and Slack; nothing is contacted twice."""
        if settings.slack_bot_token is None or settings.fp_management_api_key is None:
            raise ValueError("SLACK_BOT_TOKEN and FP_MANAGEMENT_API_KEY are required")
        for secret in (
            settings.slack_bot_token,
            settings.slack_signing_secret,
            settings.slack_app_token,
            settings.fp_management_api_key,
            settings.redis_url,
            settings.metrics_token,
        ):
            register_secret(secret.get_secret_value() if secret else None, permanent=True)
        policy = policy or load_policy(settings.fpbot_policy)
        redis = connect_redis(settings.redis_url.get_secret_value()) if settings.redis_url else None
        store = await Store.connect(settings.sqlalchemy_url)
        tasks = TaskSet()
        messenger = SlackMessenger.connect(
            settings.slack_bot_token.get_secret_value(),
            settings.slack_api_url,
            before_call=tasks.foreground.idle,
        )
        slack = SlackConversation(messenger)
        metrics = Metrics()
        client = ManagementClient.from_settings(settings, redis=redis)
        groups = GroupDirectory(messenger.group_members)
        notifier = Notifier(
            slack,
            store,
            policy.channels.notifications,
            oncall=policy.channels.oncall,
            metrics=metrics,
        )
        client.observer = _ApiObserver(metrics, notifier)
        ledger = Ledger(store)
        changes = ChangeWorkflow(
            store=store,
            client=client,
            slack=slack,
            policy=policy,
            groups=groups,
            notifier=notifier,
            metrics=metrics,
            on_succeeded=ledger.succeeded,
        )
        home = HomeTabs(
            policy=policy,
            groups=groups,
            client=client,
            store=store,
            slack=slack,
            clock=changes.now,
        )
        changes.cards.watch(home.touched)
        forms = Forms(
            policy=policy,
            groups=groups,
            client=client,
            store=store,
            slack=slack,
            changes=changes,
        )
        outside = OutsideChanges(
            store=store, slack=slack, policy=policy, groups=groups, changes=changes
        )
        digest = Digest(
            store=store,
            client=client,
            slack=slack,
            notifier=notifier,
            at=policy.watch.digest,
            channel=policy.channels.notifications,
            metrics=metrics,
        )
        watch = None
        if policy.watch.interval is not None:
            watch = AccountWatch(
                store=store,
                client=client,
                slack=slack,
                outside=outside,
                notifier=notifier,
                interval=policy.watch.interval,
                channel=policy.channels.notifications,
                metrics=metrics,
            )
        runner = CommandRunner(
            policy=policy,
            groups=groups,
            client=client,
            store=store,
            slack=slack,
            notifier=notifier,
            changes=changes,
            forms=forms,
            ledger=ledger,
            digest=digest,
            metrics=metrics,
        )
        return cls(
            settings=settings,
            policy=policy,
            client=client,
            store=store,
            redis=redis,
            messenger=messenger,
            slack=slack,
            groups=groups,
            notifier=notifier,
            changes=changes,
            forms=forms,
            home=home,
            sweeper=Sweeper(changes, store, policy),
            runner=runner,
            health=Health(store, client, redis, slack=messenger, notifier=notifier),
            tasks=tasks,
            metrics=metrics,
            ledger=ledger,
            outside=outside,
            digest=digest,
            watch=watch,
        )

    async def close(self, drain_timeout: float = 10.0) -> None:
        """Finish in-flight work (bounded), then release connections."""
        await self.tasks.drain(drain_timeout)
        await self.home.close()
        await self.notifier.close()
        await self.client.aclose()
        await self.messenger.aclose()
        await self.store.close()
        if self.redis is not None:
            await self.redis.aclose()
