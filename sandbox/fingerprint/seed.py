"""Deterministic seed data: the same ``(environments, seed)`` always gives the same workspace.

The first environment, "Production", is the default one. Keys of every type and status sit in
the first few environments, plus workspace-wide secret and proxy keys (``environment: null``);
environments past the first handful have no keys, so they can be deleted. There are enough
environments for pagination with the default limit of 10 to take several pages. Plan limits
are raised to "what the seed holds + the plan's default allowance", so the seed fits and
creating things still works until the allowance is spent.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sandbox.fingerprint.state import (
    ApiKey,
    Environment,
    ExpressionRule,
    OriginLists,
    PlanLimits,
    Webhook,
    Workspace,
)

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
        prod.id, ["https://example.com", "https://www.example.com"], ["https://evil.example"]
    )
    workspace.origin_rules[staging.id] = OriginLists(staging.id, ["https://staging.example.com"])

    rule_specs = [
        ("Block known bad origin", 'origin == "https://evil.example"', "block", prod.id),
        (
            "Allow QA bots",
            'user_agent == "qa-bot" and origin == "https://qa.example"',
            "allow",
            qa.id,
        ),
        ("Block test traffic", 'country == "ZZ" or ip == "203.0.113.7"', "block", None),
    ]
    for number, (name, expression, action, env_id) in enumerate(rule_specs):
        rule = ExpressionRule(
            id=workspace.new_id("fr_", workspace.expression_rules),
            name=name,
            expression=expression,
            action=action,
            environment=env_id,
            created_at=EPOCH + timedelta(days=5 + number),
        )
        workspace.expression_rules[rule.id] = rule

    allowance = PlanLimits()
    origins = sum(len(lists) for lists in workspace.origin_rules.values())
    workspace.limits = PlanLimits(
        api_keys=len(workspace.api_keys) + allowance.api_keys,
        webhooks=len(workspace.webhooks) + allowance.webhooks,
        filtering_rules=max(origins, len(workspace.expression_rules)) + allowance.filtering_rules,
    )
