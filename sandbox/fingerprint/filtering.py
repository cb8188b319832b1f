"""Filtering rules of both API versions, as rules over the `Workspace`.

``2024-05-20`` — origin lists. ``POST /filtering-rules`` replaces an environment's
``allow``/``deny`` lists (an allow list goes with ``deny: ["*"]``, a deny list with
``allow: ["*"]``, both empty removes the rules); ``PATCH`` adds or removes items of one list.
Both answer ``{"data": [{"type": "origin", "environment", "allow", "deny"}]}``. No read is
documented: the stand-in answers ``GET /filtering-rules?environment=`` in the same shape
(inferred), and a fault knob can make it 404 as the real API may. Inferred too: a ``PATCH``
that adds to one list sets the other to ``["*"]``, refuses to add to an allow list while the
environment has a deny list (and the reverse), and a list emptied by ``remove`` takes the
``["*"]`` away with it.

``2025-11-20`` — expression rules, evaluated in their environment's order: the first rule
that matches decides, no match allows. A ``placement`` (``position`` index, or ``after`` /
``before`` a rule id) puts a rule in the order on create or update; without one a new rule
goes last. ``/bulk`` (inferred semantics): ``merge`` updates the environment's rules that have
the same name and adds the others; ``overwrite`` replaces the environment's rules with the
list, in its order, ignoring placements. ``/test`` evaluates the rules given (or the
environment's enabled rules) against a request named by ``test_request_id`` (one of
`Workspace.identifications`) or described by ``test_request_payload``.

Plan limit: the workspace's expression rules, and the origins named across its origin lists,
each count against ``limits.filtering_rules``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sandbox.fingerprint.expressions import check_expression, evaluate, facts_of
from sandbox.fingerprint.state import (
    STATUSES,
    Checker,
    ExpressionRule,
    OriginLists,
    PlanLimitError,
    Workspace,
    bad_request,
    normalize_keys,
    not_found,
)

RULE_ACTIONS = ("allow", "deny")
DENY_WITH = ("Forbidden",)
BULK_MODES = ("merge", "overwrite")
PERMISSIONS = ("allow", "deny")
OPS = ("add", "remove")

_ORIGIN = re.compile(r"(https?://)?(\*\.)?[A-Za-z0-9.\-]+(:\d+)?")


def _rule_limit(workspace: Workspace) -> PlanLimitError:
    return PlanLimitError(
        f"Max limit for filtering rules reached: {workspace.limits.filtering_rules}"
    )


# --------------------------------------------------------------------------------------------
# 2024-05-20: origin lists


def _origins(check: Checker, prop: str, *, star: bool) -> list[str]:
    """The origins of ``prop`` (required), deduplicated; ``*`` only where ``star`` allows."""
    if prop not in check.body:
        check.fail(prop, "is required")
        return []
    value = check.body[prop]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        check.fail(prop, "must be a list of origins")
        return []
    origins: list[str] = []
    for item in value:
        if item == "*" and not star:
            check.fail(prop, "'*' is not an origin")
        elif item != "*" and not _ORIGIN.fullmatch(item):
            check.fail(prop, f"{item!r} is not a valid origin")
        elif item not in origins:
            origins.append(item)
    return origins


def _check_lists(check: Checker, allow: list[str], deny: list[str]) -> None:
    """An allow list needs ``deny: ["*"]`` and a deny list ``allow: ["*"]``."""
    for prop, own, other in (("allow", allow, deny), ("deny", deny, allow)):
        named = [o for o in own if o != "*"]
        if "*" in own and named:
            check.fail(prop, "'*' must be the list's only item")
        elif named and other != ["*"]:
            check.fail("deny" if prop == "allow" else "allow", f'an {prop} list needs ["*"] here')
        elif own == ["*"] and not [o for o in other if o != "*"]:
            check.fail(prop, '["*"] goes with origins in the other list')


def _store_lists(workspace: Workspace, lists: OriginLists) -> OriginLists:
    others = sum(len(v) for env, v in workspace.origin_rules.items() if env != lists.environment)
    if others + len(lists) > workspace.limits.filtering_rules:
        raise _rule_limit(workspace)
    if lists.allow or lists.deny:
        workspace.origin_rules[lists.environment] = lists
    else:
        workspace.origin_rules.pop(lists.environment, None)
    return lists


def _required_environment(workspace: Workspace, check: Checker) -> str | None:
    if check.body.get("environment") is None:
        check.fail("environment", "is required")
        return None
    return workspace.environment_ref(check)


def origin_lists(workspace: Workspace, environment: str | None) -> list[OriginLists]:
    """The read the API does not document: one environment's lists, or every environment's
    that has some. An unknown environment is a validation failure, not a 404, so that a
    client can tell a missing route from a wrong id."""
    if environment is None:
        return list(workspace.origin_rules.values())
    check = Checker({"environment": environment})
    workspace.environment_ref(check)
    check.done()
    return [workspace.origin_rules.get(environment, OriginLists(environment))]


def replace_origin_lists(workspace: Workspace, body: Mapping[str, Any]) -> OriginLists:
    check = Checker(body)
    environment = _required_environment(workspace, check)
    allow = _origins(check, "allow", star=True)
    deny = _origins(check, "deny", star=True)
    if not check.violations:
        _check_lists(check, allow, deny)
    check.done()
    assert environment is not None
    return _store_lists(workspace, OriginLists(environment, allow, deny))


def patch_origin_lists(workspace: Workspace, body: Mapping[str, Any]) -> OriginLists:
    check = Checker(body)
    environment = _required_environment(workspace, check)
    permission = check.choice("permission", PERMISSIONS, required=True)
    op = check.choice("op", OPS, required=True)
    items = _origins(check, "items", star=False)
    current = workspace.origin_rules.get(environment or "", OriginLists(environment or ""))
    other = "deny" if permission == "allow" else "allow"
    if op == "add" and [o for o in getattr(current, other) if o != "*"]:
        check.fail(
            "permission",
            f"the environment has a {other} list: replace the rules to switch to {permission}",
        )
    check.done()
    assert environment is not None and permission is not None
    named = [o for o in getattr(current, permission) if o != "*"]
    if op == "add":
        named += [o for o in items if o not in named]
    else:
        named = [o for o in named if o not in items]
    lists = OriginLists(environment)
    if named:
        setattr(lists, permission, named)
        setattr(lists, other, ["*"])
    return _store_lists(workspace, lists)


# --------------------------------------------------------------------------------------------
# 2025-11-20: expression rules


def ordered_rules(workspace: Workspace, environment: str) -> list[ExpressionRule]:
    """An environment's rules in evaluation order."""
    return [workspace.expression_rules[i] for i in workspace.rule_order.get(environment, [])]


def list_rules(
    workspace: Workspace, *, environment: str | None, status: str | None, name: str | None
) -> list[ExpressionRule]:
    """Environment by environment (in creation order), each in evaluation order."""
    if status is not None and status not in STATUSES:
        raise bad_request(f"Query parameter status must be one of: {', '.join(STATUSES)}")
    environments = list(workspace.environments) if environment is None else [environment]
    return [
        rule
        for env in environments
        for rule in ordered_rules(workspace, env)
        if (status is None or rule.status == status)
        and (name is None or name.lower() in rule.name.lower())
    ]


def get_rule(workspace: Workspace, rule_id: str) -> ExpressionRule:
    rule = workspace.expression_rules.get(rule_id)
    if rule is None:
        raise not_found(f"Filtering rule {rule_id} not found")
    return rule


def _check_placement(
    workspace: Workspace, check: Checker, environment: str | None, moving: str | None
) -> None:
    placement = check.body.get("placement")
    if placement is None:
        return
    if not isinstance(placement, Mapping):
        check.fail("placement", "must be an object")
        return
    given = [k for k in ("position", "after", "before") if placement.get(k) is not None]
    if len(given) != 1:
        check.fail("placement", "give exactly one of position, after, before")
        return
    value = placement[given[0]]
    if given[0] == "position":
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            check.fail("placement.position", "must be an integer ≥ 0")
    elif value == moving or value not in workspace.rule_order.get(environment or "", []):
        check.fail(f"placement.{given[0]}", f"{value!r} is not another rule of the environment")


def _check_rule(
    workspace: Workspace,
    body: Mapping[str, Any],
    *,
    rule: ExpressionRule | None = None,
    environment: str | None = None,
) -> Checker:
    """The checks of a create (no ``rule``), an update or a bulk item (``environment``
    given: the bulk body's, not the item's)."""
    creating = rule is None
    check = Checker(body)
    check.text("name", required=creating, low=3, high=255, nullable=False)
    expression = check.text("expression", required=creating, low=1, high=4096, nullable=False)
    if expression is not None and (why := check_expression(expression)):
        check.fail("expression", why)
    check.choice("action", RULE_ACTIONS, required=creating)
    check.choice("status", STATUSES, required=False)
    if body.get("deny_with") is not None:
        check.choice("deny_with", DENY_WITH, required=False)
    if environment is None:
        if creating:
            environment = _required_environment(workspace, check)
        elif "environment" in body:
            environment = workspace.environment_ref(check)
        else:
            environment = rule.environment if rule else None
    if rule is not None and body.get("id") not in (None, rule.id):
        check.fail("id", "does not match the rule of the path")
    _check_placement(workspace, check, environment, rule.id if rule else None)
    return check


def _place(workspace: Workspace, rule: ExpressionRule, placement: Any) -> None:
    """Put ``rule`` in its environment's order, where ``placement`` says (else last)."""
    for order in workspace.rule_order.values():
        if rule.id in order:
            order.remove(rule.id)
    order = workspace.rule_order.setdefault(rule.environment, [])
    index = len(order)
    if isinstance(placement, Mapping):
        if placement.get("position") is not None:
            index = min(int(placement["position"]), len(order))
        elif placement.get("after") is not None:
            index = order.index(placement["after"]) + 1
        elif placement.get("before") is not None:
            index = order.index(placement["before"])
    order.insert(index, rule.id)


def _deny_with(action: str, given: Any) -> str | None:
    return (given or "Forbidden") if action == "deny" else None


def _new_rule(workspace: Workspace, body: Mapping[str, Any], environment: str) -> ExpressionRule:
    rule = ExpressionRule(
        id=workspace.new_id("tr_", workspace.expression_rules),
        name=body["name"],
        environment=environment,
        expression=body["expression"],
        action=body["action"],
        status=body.get("status") or "enabled",
        deny_with=_deny_with(body["action"], body.get("deny_with")),
        created_at=workspace.clock(),
    )
    workspace.expression_rules[rule.id] = rule
    _place(workspace, rule, body.get("placement"))
    return rule


def _apply(workspace: Workspace, rule: ExpressionRule, body: Mapping[str, Any]) -> None:
    for name in ("name", "expression", "action", "status", "environment"):
        if body.get(name) is not None:
            setattr(rule, name, body[name])
    rule.deny_with = _deny_with(rule.action, body.get("deny_with", rule.deny_with))
    rule.updated_at = workspace.clock()
    if "environment" in body or body.get("placement") is not None:
        _place(workspace, rule, body.get("placement"))


def create_rule(workspace: Workspace, body: Mapping[str, Any]) -> ExpressionRule:
    _check_rule(workspace, body).done()
    if len(workspace.expression_rules) >= workspace.limits.filtering_rules:
        raise _rule_limit(workspace)
    return _new_rule(workspace, body, body["environment"])


def update_rule(workspace: Workspace, rule_id: str, body: Mapping[str, Any]) -> ExpressionRule:
    """A partial update; the body may repeat the rule's ``id`` (the docs require it)."""
    rule = get_rule(workspace, rule_id)
    _check_rule(workspace, body, rule=rule).done()
    _apply(workspace, rule, body)
    return rule


def delete_rule(workspace: Workspace, rule_id: str) -> None:
    rule = get_rule(workspace, rule_id)
    workspace.rule_order[rule.environment].remove(rule_id)
    del workspace.expression_rules[rule_id]


def _bulk_items(workspace: Workspace, body: Mapping[str, Any]) -> tuple[str, str, list[Any]]:
    """The body's environment, mode and items (snake_case, without an ``environment`` of
    their own), every item checked as the create or update it will be."""
    check = Checker(body)
    environment = _required_environment(workspace, check)
    mode = check.choice("mode", BULK_MODES, required=False) or "merge"
    raw_items = body.get("rules")
    if not isinstance(raw_items, list) or (not raw_items and mode == "merge"):
        check.fail("rules", "must be a list of rules")
        raw_items = []
    by_name = {rule.name: rule for rule in ordered_rules(workspace, environment or "")}
    items: list[dict[str, Any]] = []
    for index, raw in enumerate(raw_items):
        where = f"rules[{index}]"
        if not isinstance(raw, Mapping):
            check.fail(where, "must be an object")
            continue
        item = {k: v for k, v in normalize_keys(raw).items() if k != "environment"}
        if mode == "overwrite":
            item["placement"] = None
        existing = by_name.get(item.get("name", "")) if mode == "merge" else None
        inner = _check_rule(workspace, item, rule=existing, environment=environment or "")
        check.include(where, inner)
        if item.get("name") in {i.get("name") for i in items}:
            check.fail(f"{where}.name", "appears twice in the request")
        items.append(item)
    check.done()
    assert environment is not None
    return environment, mode, items


def bulk_rules(workspace: Workspace, body: Mapping[str, Any]) -> list[ExpressionRule]:
    """All of ``rules`` are written, or none (see the module docstring for the modes)."""
    environment, mode, items = _bulk_items(workspace, body)
    current = ordered_rules(workspace, environment)
    by_name = {rule.name: rule for rule in current}
    if mode == "overwrite":
        after = len(workspace.expression_rules) - len(current) + len(items)
    else:
        after = len(workspace.expression_rules) + sum(1 for i in items if i["name"] not in by_name)
    if after > workspace.limits.filtering_rules:
        raise _rule_limit(workspace)
    if mode == "overwrite":
        for rule in current:
            delete_rule(workspace, rule.id)
        return [_new_rule(workspace, item, environment) for item in items]
    written = []
    for item in items:
        existing = by_name.get(item["name"])
        if existing is None:
            written.append(_new_rule(workspace, item, environment))
        else:
            _apply(workspace, existing, item)
            written.append(existing)
    return written


def test_rules(workspace: Workspace, body: Mapping[str, Any]) -> dict[str, Any]:
    """What the rules decide for one request: the first matching rule's action, else allow."""
    check = Checker(body)
    rules: list[tuple[str, str, str | None]] = []
    given = body.get("rules")
    if given is not None:
        if not isinstance(given, list):
            check.fail("rules", "must be a list of rules")
            given = []
        for index, raw in enumerate(given):
            item = Checker(raw if isinstance(raw, Mapping) else {})
            expression = item.text("expression", required=True, low=1, high=4096)
            if expression is not None and (why := check_expression(expression)):
                item.fail("expression", why)
            action = item.choice("action", RULE_ACTIONS, required=True)
            check.include(f"rules[{index}]", item)
            if expression is not None and action is not None:
                rules.append((expression, action, item.body.get("deny_with")))
    else:
        environment = _required_environment(workspace, check)
        rules = [
            (r.expression, r.action, r.deny_with)
            for r in ordered_rules(workspace, environment or "")
            if r.status == "enabled"
        ]
    request = _test_request(workspace, check)
    check.done()
    assert request is not None
    facts = facts_of(request)
    for expression, action, deny_with in rules:
        if evaluate(expression, facts):
            return {
                "result": action,
                "deny_with": _deny_with(action, deny_with),
                "triggered_rule": expression,
            }
    return {"result": "allow", "deny_with": None, "triggered_rule": None}


def _test_request(workspace: Workspace, check: Checker) -> Mapping[str, Any] | None:
    """The request a test is about: a recorded one by id (preferred), or the payload."""
    request_id = check.body.get("test_request_id")
    payload = check.body.get("test_request_payload")
    if request_id is not None:
        recorded = workspace.identifications.get(str(request_id))
        if recorded is None:
            check.fail(
                "test_request_id", f"no identification request {request_id} in the last 3 months"
            )
        return recorded
    if isinstance(payload, Mapping):
        return payload
    check.fail("test_request_payload", "test_request_id or test_request_payload is required")
    return None
