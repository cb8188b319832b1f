"""What a Fingerprint plan allows a workspace to hold, by default.

The API has no endpoint for plan limits or usage: it refuses a create past a limit (400 or
409, `PlanLimitReached`). These defaults, from Fingerprint's account-limits page, let the bot
show counts against them ("API keys 7/10") from the listings it reads anyway; an account on a
larger plan may be allowed more.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PlanLimits:
    """How many of each resource a workspace may hold."""

    api_keys: int = 10
    webhooks: int = 5
    filtering_rules: int = 15
    subdomains: int = 50


#: The default plan's limits.
PLAN_LIMITS = PlanLimits()
