"""Filtering rules as people read them: the listing, the card's rules before → after and its
rule-test preview, and what fpbot says about a change to them.

Two shapes, one per API version: ``2024-05-20`` origin lists (an allow list or a deny list per
environment) and ``2025-11-20`` expression rules, evaluated in order (the first match decides,
no match allows). Sentences are escaped here, once, as in `bot.render.changes`; the card's
lists are raw values from the request, escaped where they are shown.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bot.fingerprint.errors import FingerprintError
from bot.fingerprint.limits import PLAN_LIMITS
from bot.fingerprint.models import FilteringRule, OriginRules, RuleAction, Status
from bot.render.blocks import (
    Block,
    Message,
    bold,
    code,
    context,
    inline,
    section,
)
from bot.render.listings import Menus, empty_listing, row_menu, with_menus

UNREADABLE = "not readable back"
EXPRESSION_SHOWN = 300
CARD_RULES_MAX = 2800

# ── the card ────────────────────────────────────────────────────────────────────────────────


def origin_list(origins: Sequence[str]) -> str:
    """A list as the card shows it: its origins, "*" as "everything else", or "empty"."""
    if not origins:
        return "empty"
    return ", ".join("everything else" if o == "*" else o for o in origins)


def changed(origin: str, add: bool) -> str:
    return f"+ {origin}" if add else f"- {origin}"


def rule_line(number: int, rule: FilteringRule) -> str:
    """``3. deny `http.request.ip in …` — Block bad IPs (disabled)``, raw."""
    action = "block" if rule.action is RuleAction.DENY else str(rule.action or "?")
    expression = rule.expression
    if len(expression) > EXPRESSION_SHOWN:
        expression = expression[: EXPRESSION_SHOWN - 1] + "…"
    off = " (disabled)" if rule.status is Status.DISABLED else ""
    return f"{number}. {action} `{expression}` — {rule.name or rule.id}{off}"


def _numbered(lines: object) -> str:
    if not isinstance(lines, list) or not lines:
        return "_no rules: every request is allowed_"
    text = "\n".join(inline(str(line), EXPRESSION_SHOWN + 300) for line in lines)
    return text if len(text) <= CARD_RULES_MAX else text[: CARD_RULES_MAX - 1] + "…"


def card_blocks(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> list[Block]:
    """The environment's expression rules before → after, in evaluation order."""
    if not (before and "rules" in before) and not (after and "rules" in after):
        return []
    return [
        section(f"*Rules now*\n{_numbered((before or {}).get('rules'))}"),
        section(f"*Rules after the change*\n{_numbered((after or {}).get('rules'))}"),
    ]


def test_block(params: Mapping[str, Any]) -> list[Block]:
    """What the rule test said of the request the requester named, now and after."""
    test = params.get("test")
    if not isinstance(test, dict):
        return []
    return [
        section(
            f":test_tube: *Rule test* of request {code(str(test.get('request_id', '')))}\n"
            f"Now: {inline(str(test.get('now', '')), 500)}\n"
            f"After the change: {inline(str(test.get('after', '')), 500)}"
        )
    ]


def verdict(result: RuleAction | str, deny_with: str | None, triggered: str | None) -> str:
    """A rule test's result in plain words (raw)."""
    action = "blocked" if str(result) == RuleAction.DENY else "allowed"
    answer = f" ({deny_with})" if deny_with and action == "blocked" else ""
    if triggered:
        return f"{action}{answer} by the rule `{triggered}`"
    return f"{action}: no rule matches"


# ── the listing ─────────────────────────────────────────────────────────────────────────────


def _env(env_id: str | None, env_names: Mapping[str, str]) -> str:
    if env_id is None:
        return "_workspace-wide_"
    name = env_names.get(env_id)
    return f"{bold(name, 300)} ({code(env_id)})" if name else code(env_id)


def _origins_menu(env_id: str | None, allowed: Menus) -> dict[str, Any] | None:
    if env_id is None:
        return None
    return row_menu(
        [
            ("Add an origin", "AddOrigin", f"AddOrigin:{env_id}"),
            ("Remove an origin", "RemoveOrigin", f"RemoveOrigin:{env_id}"),
        ],
        allowed,
    )


def _rule_menu(rule: FilteringRule, allowed: Menus) -> dict[str, Any] | None:
    return row_menu(
        [
            ("Change", "ChangeRule", f"ChangeRule:{rule.id}"),
            ("Move", "MoveRule", f"MoveRule:{rule.id}"),
            ("Remove", "RemoveRule", f"RemoveRule:{rule.id}"),
        ],
        allowed,
    )


def render_origin_rules(
    lists: Sequence[OriginRules], env_names: Mapping[str, str], *, menus: Menus = frozenset()
) -> list[Message]:
    """Each environment's origin lists (``2024-05-20``); environments without any are left
    out, and say so.

    Args:
        menus: the changes (command class names) the rows' ⋯ menus may offer.
    """
    having = [r for r in lists if r.allow or r.deny]
    if not having:
        return empty_listing("No environment has origin rules: every origin is allowed.")
    lines = []
    row_menus = []
    for rules in sorted(having, key=lambda r: env_names.get(r.environment or "", "").casefold()):
        allow = [o for o in rules.allow if o != "*"]
        deny = [o for o in rules.deny if o != "*"]
        if allow:
            kind, origins = "allows only", allow
        else:
            kind, origins = "denies", deny
        shown = ", ".join(code(o, 300) for o in origins) or "nothing"
        lines.append(f"• {_env(rules.environment, env_names)} {kind} {shown}")
        row_menus.append(_origins_menu(rules.environment, menus))
    intro = [context("Origin lists (Management API 2024-05-20); changes apply within 5 minutes.")]
    return with_menus(f"Filtering rules ({len(having)} environments)", lines, row_menus, intro)


def render_filtering_rules(
    rules: Sequence[FilteringRule],
    env_names: Mapping[str, str],
    *,
    total: int | None = None,
    menus: Menus = frozenset(),
) -> list[Message]:
    """Expression rules (``2025-11-20``) by environment, each in its evaluation order.

    Args:
        total: how many rules the workspace has, when ``rules`` are one environment's.
        menus: the changes (command class names) the rows' ⋯ menus may offer.
    """
    if not rules:
        return empty_listing("No filtering rules: every request is allowed.")
    by_env: dict[str | None, list[FilteringRule]] = {}
    for rule in rules:
        by_env.setdefault(rule.environment, []).append(rule)
    lines: list[str] = []
    row_menus: list[dict[str, Any] | None] = []
    for env_id in sorted(by_env, key=lambda e: env_names.get(e or "", e or "").casefold()):
        lines.append(f"*{_env(env_id, env_names)}*")
        row_menus.append(None)
        ordered = sorted(by_env[env_id], key=lambda r: r.position if r.position is not None else 0)
        for number, rule in enumerate(ordered, start=1):
            lines.append(f"{inline(rule_line(number, rule), 800)} · {code(rule.id)}")
            row_menus.append(_rule_menu(rule, menus))
    count = total if total is not None else len(rules)
    intro = [
        context(
            f"Evaluated in order: the first match decides, no match allows. "
            f"{count} of {PLAN_LIMITS.filtering_rules} rules the plan allows."
        )
    ]
    return with_menus(f"Filtering rules ({len(rules)})", lines, row_menus, intro)


# ── what fpbot says about a change ──────────────────────────────────────────────────────────


def needs_version(usage: str, needed: str, speaking: str) -> str:
    return (
        f"{code('/fp ' + usage)} is part of Management API version {code(needed)}, but fpbot "
        f"speaks {code(speaking)} (its FP_API_VERSION setting)."
    )


def plan_limit(limit: int) -> str:
    return (
        f"The workspace has {limit} filtering rules, as many as the plan allows: remove one "
        "before adding another."
    )


def _list_name(kind: RuleAction) -> str:
    return f"{kind.value} list"


def origin_already(origin: str, kind: RuleAction, env_name: str) -> str:
    return f"{code(origin)} is already on the {_list_name(kind)} of {bold(env_name)}."


def origin_not_listed(origin: str, kind: RuleAction, env_name: str) -> str:
    return f"{code(origin)} is not on the {_list_name(kind)} of {bold(env_name)}."


def other_list_in_use(env_name: str, other: RuleAction) -> str:
    return (
        f"{bold(env_name)} has a {_list_name(other)}: an environment has one kind of list at "
        f"a time — remove its origins first."
    )


def change_origin(origin: str, kind: RuleAction, env_name: str, env_id: str, *, add: bool) -> str:
    verb = "Add" if add else "Remove"
    where = "to" if add else "from"
    return (
        f"{verb} {code(origin)} {where} the {_list_name(kind)} of environment {bold(env_name)} "
        f"({code(env_id)})"
    )


def changing_origin_failed(origin: str, kind: RuleAction, *, add: bool) -> str:
    verb = "Adding" if add else "Removing"
    return f"{verb} {code(origin)} {'to' if add else 'from'} the {_list_name(kind)} failed"


def origin_changed(origin: str, kind: RuleAction, env_id: str, *, add: bool) -> str:
    verb = "added to" if add else "removed from"
    return (
        f"{code(origin)} {verb} the {_list_name(kind)} of {code(env_id)}; Fingerprint applies "
        "it within 5 minutes."
    )


def check_rules(env_id: str | None) -> str:
    return code("/fp rules" + (f" --env {env_id}" if env_id else ""))


def cannot_tell(env_id: str) -> str:
    return (
        f"Fingerprint cannot show the origin lists of {code(env_id)} back, so fpbot cannot "
        "tell whether the change was made: check the dashboard before asking again."
    )


def no_rule(rule_id: str) -> str:
    return f"No filtering rule {code(rule_id)}."


def rule_name_taken(name: str, env_name: str) -> str:
    return f"{bold(env_name)} already has a rule named {bold(name)}: give another with --name."


def expression_refused(error: FingerprintError) -> str:
    found = "; ".join(f"{v.property}: {v.message}" for v in error.violations) or str(error)
    return f"Fingerprint does not accept the expression: {inline(found, 500)}."


def test_refused(request_id: str, error: FingerprintError) -> str:
    found = "; ".join(v.message for v in error.violations) or str(error)
    return f"Fingerprint could not test request {code(request_id)}: {inline(found, 500)}."


def add_rule(name: str, action: RuleAction, env_name: str, env_id: str, position: int) -> str:
    verb = "allow" if action is RuleAction.ALLOW else "block"
    return (
        f"Add rule {bold(name)} ({verb}) to environment {bold(env_name)} ({code(env_id)}) at "
        f"position {position}"
    )


def adding_rule_failed(name: str) -> str:
    return f"Adding rule {bold(name)} failed"


def rule_added(name: str, rule_id: str, env_id: str) -> str:
    return f"Added rule {bold(name)} ({code(rule_id)}) to {code(env_id)}."


def rule_unchanged(name: str, rule_id: str) -> str:
    return f"Rule {bold(name)} ({code(rule_id)}) already has those values: nothing would change."


def change_rule(name: str, rule_id: str, fields: Sequence[str]) -> str:
    return f"Change rule {bold(name)} ({code(rule_id)}): {inline(', '.join(fields))}"


def changing_rule_failed(rule_id: str) -> str:
    return f"Changing rule {code(rule_id)} failed"


def rule_changed(rule_id: str) -> str:
    return f"Rule {code(rule_id)} changed."


def rule_gone(rule_id: str) -> str:
    return f"Rule {code(rule_id)} no longer exists."


def rule_already_at(name: str, rule_id: str, position: int) -> str:
    return f"Rule {bold(name)} ({code(rule_id)}) is already at position {position}."


def move_rule(name: str, rule_id: str, position: int) -> str:
    return f"Move rule {bold(name)} ({code(rule_id)}) to position {position}"


def moving_rule_failed(rule_id: str) -> str:
    return f"Moving rule {code(rule_id)} failed"


def rule_moved(rule_id: str, position: int) -> str:
    return f"Rule {code(rule_id)} is now at position {position}."


def remove_rule(name: str, rule_id: str) -> str:
    return f"Delete rule {bold(name)} ({code(rule_id)})"


def removing_rule_failed(rule_id: str) -> str:
    return f"Deleting rule {code(rule_id)} failed"


def rule_removed(rule_id: str) -> str:
    return f"Deleted rule {code(rule_id)}."
