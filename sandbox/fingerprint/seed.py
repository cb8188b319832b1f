"""Deterministic seed data: the same ``(environments, seed)`` always gives the same workspace.

The first environment, "Production", is the default one. Keys of every type and status sit in
the first few environments, plus workspace-wide secret and proxy keys (``environment: null``);
environments past the first handful have no keys, so they can be deleted. There are enough
environments for pagination with the default limit of 10 to take several pages (and as many
encryption keys, one per environment). Production has a deny list of origins and two
expression rules, Staging an allow list, QA one rule; two custom subdomains exist, one active.
Plan limits are raised to "what the seed holds + the plan's default allowance", so the seed
fits and creating things still works until the allowance is spent (subdomains keep the plan's
50: the seed holds two).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sandbox.fingerprint.state import (
    ApiKey,
    Environment,
    ExpressionRule,
    OriginLists,
    PlanLimits,
    Webhook,
    Workspace,
)
from sandbox.fingerprint.subdomains import create_subdomain, verify_subdomain

EPOCH = datetime(2024, 1, 15, 9, 0, tzinfo=UTC)

_NAMED = ("Production", "Staging", "Development", "QA")
_REGIONS = ("EU", "US", "APAC", "LATAM")
_TEAMS = ("Checkout", "Login", "Signup", "Payments", "Marketing", "Mobile", "Partners")


def _environment_name(index: int) -> str:
    if index < len(_NAMED):
        return _NAMED[index]
    return f"{_TEAMS[index % len(_TEAMS)]} {_REGIONS[index % len(_REGIONS)]} {index:04d}"


def seed_workspace(workspace: Workspace, *, environments: int) -> None:
    """Fill an empty ``workspace`` with ``environments`` environments (at least 4) and the
    keys, webhooks and filtering rules described in the module docstring."""
    count = max(environments, len(_NAMED))
    envs: list[Environment] = []
    for index in range(count):
        mode = ("none", "none", "restrict", "notify")[index % 4] if index else "none"
        env = Environment(
            id=workspace.new_id("ae_", workspace.environments),
            name=_environment_name(index),
            description=None if index % 3 else f"Seeded environment number {index}",
            limit_mode=mode,
            limit_value=None if mode == "none" else 1000 * (index % 7 + 1),
            created_at=EPOCH + timedelta(hours=index, milliseconds=index * 7),
            is_default=index == 0,
            seq=workspace.next_seq(),
        )
        if index % 11 == 5:
            env.is_restricted = True
            env.restricted_at = env.created_at + timedelta(days=3)
            env.updated_at = env.restricted_at
        workspace.environments[env.id] = env
        envs.append(env)
    prod, staging, dev, qa = envs[:4]

    key_specs: list[tuple[str, str, str | None, str, float]] = [
        ("Website", "public", prod.id, "enabled", 5),
        ("Backend events", "secret", prod.id, "enabled", 10),
        ("Proxy integration", "proxy", prod.id, "enabled", 5),
        ("Old website", "public", prod.id, "disabled", 5),
        ("Staging website", "public", staging.id, "enabled", 5),
        ("Staging backend", "secret", staging.id, "disabled", 5),
        ("Dev website", "public", dev.id, "enabled", 2.5),
        ("Dev backend", "secret", dev.id, "enabled", 5),
        ("QA retired", "public", qa.id, "disabled", 5),
        ("Workspace reporting", "secret", None, "enabled", 20),
        ("Workspace proxy", "proxy", None, "disabled", 5),
        ("Legacy export", "secret", None, "disabled", 1),
    ]
    for number, (name, key_type, env_id, status, rate) in enumerate(key_specs):
        created = EPOCH + timedelta(days=number, minutes=number, milliseconds=180 + number)
        key = ApiKey(
            id=workspace.new_id("tok_", workspace.api_keys),
            name=name,
            description=f"Seeded {key_type} key" if number % 2 == 0 else None,
            type=key_type,
            token=workspace.new_secret(),
            status=status,
            environment=env_id,
            rate_limit=rate,
            created_at=created,
            disabled_at=created + timedelta(days=30) if status == "disabled" else None,
            seq=workspace.next_seq(),
        )
        workspace.api_keys[key.id] = key

    hook_specs = [
        ("https://hooks.example.com/fingerprint", prod.id, "enabled", True),
        ("https://staging.example.com/webhooks/fp", staging.id, "enabled", False),
        ("https://audit.example.org/events", None, "disabled", True),
    ]
    for number, (url, env_id, status, verified) in enumerate(hook_specs):
        hook = Webhook(
            id=workspace.new_id("wh_", workspace.webhooks),
            url=url,
            description=f"Seeded webhook {number + 1}",
            status=status,
            verified=verified,
            environment=env_id,
            signing_key="whsec_" + workspace.new_secret(32),
            created_at=EPOCH + timedelta(days=2 * number, milliseconds=number),
            seq=workspace.next_seq(),
        )
        workspace.webhooks[hook.id] = hook

    workspace.origin_rules[prod.id] = OriginLists(
        prod.id, allow=["*"], deny=["https://evil.example", "*.scraper.example"]
    )
    workspace.origin_rules[staging.id] = OriginLists(
        staging.id, allow=["https://staging.example.com"], deny=["*"]
    )

    rule_specs = [
        (
            "Allow the office",
            "http.request.ip in cidr('192.0.2.0/24')",
            "allow",
            prod.id,
        ),
        (
            "Deny crawlers",
            "http.user_agent.is_crawler_bot || http.user_agent.is_ai_bot",
            "deny",
            prod.id,
        ),
        ("Allow the QA app", 'sdk.platform.app_package_name == "com.example.qa"', "allow", qa.id),
    ]
    for number, (name, expression, action, env_id) in enumerate(rule_specs):
        rule = ExpressionRule(
            id=workspace.new_id("tr_", workspace.expression_rules),
            name=name,
            environment=env_id,
            expression=expression,
            action=action,
            deny_with="Forbidden" if action == "deny" else None,
            created_at=EPOCH + timedelta(days=5 + number),
        )
        workspace.expression_rules[rule.id] = rule
        workspace.rule_order.setdefault(env_id, []).append(rule.id)

    allowance = PlanLimits()
    origins = sum(len(lists) for lists in workspace.origin_rules.values())
    workspace.limits = PlanLimits(
        api_keys=len(workspace.api_keys) + allowance.api_keys,
        webhooks=len(workspace.webhooks) + allowance.webhooks,
        filtering_rules=max(origins, len(workspace.expression_rules)) + allowance.filtering_rules,
    )
    _seed_newer_resources(workspace, envs)


def _seed_newer_resources(workspace: Workspace, envs: list[Environment]) -> None:
    """Encryption keys (one per environment; the first two active, Production's rotated
    once), two subdomains and the identification requests a rule test can name. Drawn after
    everything else, so the ids and tokens above stay what they always were."""
    for index, env in enumerate(envs):
        key = workspace.add_encryption_key(env)
        key.created_at = env.created_at
        if index < 2:
            key.status = "enabled"
            key.last_activated_at = env.created_at + timedelta(days=1)
        if index == 0:
            key.rotations.append(None)
            key.previous_token = workspace.new_secret(44)
            key.last_rotated_at = env.created_at + timedelta(days=40)
    for number, (host, active) in enumerate(
        (("metrics.example.com", True), ("fp.shop.example.com", False))
    ):
        subdomain = create_subdomain(workspace, {"subdomain": host})
        subdomain.created_at = subdomain.updated_at = EPOCH + timedelta(days=10 + number)
        subdomain.webhook_secret = None  # shown once, long ago
        if active:
            verify_subdomain(workspace, subdomain.id)
            subdomain.updated_at = subdomain.created_at + timedelta(hours=2)
    workspace.identifications.update(IDENTIFICATIONS)


#: Identification requests a rule test may name by ``test_request_id``.
IDENTIFICATIONS: dict[str, dict[str, Any]] = {
    "1708102555327.NLOjmg": {
        "ip": "66.249.66.1",
        "user_agent": "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "headers": {"origin": ["https://www.example.com"]},
        "sdk_platform": "js",
        "sdk_version": "3.11.2",
    },
    "1708102555328.Xb2kQp": {
        "ip": "192.0.2.10",
        "user_agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0 Safari/537.36",
        "headers": {"origin": ["https://www.example.com"]},
        "sdk_platform": "js",
        "sdk_version": "3.11.2",
    },
    "1708102555329.aNdr01": {
        "ip": "203.0.113.7",
        "user_agent": "okhttp/4.12.0",
        "sdk_platform": "android",
        "sdk_version": "2.7.0",
        "app_package_name": "com.example.qa",
    },
}
