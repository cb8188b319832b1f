"""What one fpbot process counts for Prometheus (``GET /metrics``), every name ``fpbot_…``.

Each `Metrics` has a registry of its own rather than the library's global one: every process
(and every replica a test runs side by side in one process) is scraped on its own and
Prometheus sums them, so nothing is shared between workers and no multiprocess directory is
needed. Counters only go up; a restart starts them again at zero, which ``rate()`` expects.

The Management API client reports through the two `Observer` methods below (it imports
nothing of fpbot's upper layers); everything else calls the counters directly.
"""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)

#: A Slack acknowledgement must leave within 3 s; the buckets resolve the part under 100 ms.
ACK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0)
WAIT_BUCKETS = (0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0)
PASS_BUCKETS = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
#: A wait for the rate budget shorter than this is the budget's bookkeeping, not a wait.
NOTICEABLE_WAIT = 0.01


class Metrics:
    """The counters and histograms of one process, and their text exposition."""

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        self.commands = Counter(
            "fpbot_commands",
            "/fp commands run, by command and outcome.",
            ["command", "outcome"],
            registry=registry,
        )
        self.ack_seconds = Histogram(
            "fpbot_ack_seconds",
            "Time from a Slack request's arrival to its acknowledgement.",
            buckets=ACK_BUCKETS,
            registry=registry,
        )
        self.api_requests = Counter(
            "fpbot_api_requests",
            "Management API attempts, by operation and HTTP status (or timeout, transport, "
            "held_back).",
            ["operation", "status"],
            registry=registry,
        )
        self.budget_waits = Counter(
            "fpbot_rate_budget_waits",
            "Management API calls that waited for the rate budget, by priority.",
            ["priority"],
            registry=registry,
        )
        self.budget_wait_seconds = Histogram(
            "fpbot_rate_budget_wait_seconds",
            "Time calls waited for the rate budget, by priority.",
            ["priority"],
            buckets=WAIT_BUCKETS,
            registry=registry,
        )
        self.change_requests = Counter(
            "fpbot_change_requests",
            "Change requests entering each state, in this process.",
            ["state"],
            registry=registry,
        )
        self.outside_changes = Counter(
            "fpbot_outside_changes",
            "Changes to the account made outside fpbot, found by the watch, by resource.",
            ["resource"],
            registry=registry,
        )
        self.notifications = Counter(
            "fpbot_notifications_posted",
            "Messages posted to the notifications channel, by kind.",
            ["kind"],
            registry=registry,
        )
        self.watch_pass_seconds = Histogram(
            "fpbot_watch_pass_seconds",
            "Duration of the account watch's passes, by outcome.",
            ["outcome"],
            buckets=PASS_BUCKETS,
            registry=registry,
        )

    # ── the Management API client's observer ───────────────────────────────────────────

    def requested(self, operation: str, status: str) -> None:
        self.api_requests.labels(operation=operation, status=status).inc()

    def budget_waited(self, seconds: float, *, background: bool) -> None:
        priority = "background" if background else "foreground"
        self.budget_wait_seconds.labels(priority=priority).observe(seconds)
        if seconds >= NOTICEABLE_WAIT:
            self.budget_waits.labels(priority=priority).inc()

    # ── exposition ──────────────────────────────────────────────────────────────────────

    def exposition(self) -> tuple[bytes, str]:
        """The text format Prometheus scrapes, and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
