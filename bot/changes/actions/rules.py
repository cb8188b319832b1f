"""Changes to filtering rules, in whichever form the API version in use has them.

``2024-05-20`` keeps an environment's *origin lists*: an allow list (everything else denied) or
a deny list (everything else allowed). A change adds one origin to a list or removes one
(``PATCH /filtering-rules``), so nothing else of the lists is sent — and nothing a concurrent
change did is overwritten. The lists may not be readable back (no read is documented): the
change is then planned without a *before*, and an interrupted one cannot be settled from the
account.

``2025-11-20`` keeps ordered *expression rules* per environment: the first rule that matches
decides, no match allows. A change adds, changes, moves or removes one rule; the card shows the
environment's rules before → after, and, when the requester names an identification request
(``--test``), what ``POST /filtering-rules/test`` says the rules do to it now and after.

The plan limit (15 rules per workspace by default, `PLAN_LIMITS`) is checked before a request
to add one is made; Fingerprint refuses past its own limit anyway.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from bot import commands
from bot.changes.actions.base import (
    Action,
    Composite,
    DeliverSecret,
    Execution,
    Plan,
    PlanError,
    Reconciliation,
    by_name,
    created_since,
    expect,
    failed,
    find_env,
    never_reached,
    started,
    succeeded,
    write,
)
from bot.domain import ChangeRequest
from bot.fingerprint.errors import FingerprintError, NotFound, OriginRulesUnreadable
from bot.fingerprint.limits import PLAN_LIMITS
from bot.fingerprint.models import (
    DENY_WITH_FORBIDDEN,
    FilteringRule,
    OriginRules,
    Placement,
    RuleAction,
    RuleSpec,
    RuleTestResult,
    SampleRequest,
    Status,
)
from bot.ports import Account
from bot.render import rules as said

RULE_ID_PREFIX = "tr_"
#: A made-up request that checks an expression parses (`check_expression`).
_PROBE = SampleRequest(ip="192.0.2.1", user_agent="fpbot", sdk_platform="js")


def require_version(client: Account, command: commands.Command) -> None:
    """Refuse a command of the API version fpbot does not speak, saying which it needs."""
    needed = commands.needs_other_version(command, client.api_version)
    if needed is not None:
        raise PlanError(said.needs_version(command.usage, needed, client.api_version))


# ── 2024-05-20: origin lists ────────────────────────────────────────────────────────────────


async def readable_lists(client: Account, env_id: str) -> OriginRules | None:
    """The environment's origin lists, or ``None`` when the API cannot give them back."""
    try:
        return await client.origin_rules(env_id)
    except OriginRulesUnreadable:
        return None


def named(origins: Sequence[str]) -> list[str]:
    """The origins of a list, without the ``*`` that stands for "everything else"."""
    return [o for o in origins if o != "*"]


def list_fields(lists: OriginRules | None) -> dict[str, Any]:
    if lists is None:
        return {"allow list": said.UNREADABLE, "deny list": said.UNREADABLE}
    return {
        "allow list": said.origin_list(lists.allow),
        "deny list": said.origin_list(lists.deny),
    }


def _with(lists: OriginRules, kind: RuleAction, origin: str, *, add: bool) -> OriginRules:
    """The lists after adding ``origin`` to (or removing it from) the ``kind`` list, as the
    API keeps them: a list of origins goes with ``["*"]`` in the other one."""
    own = named(getattr(lists, kind.value))
    own = [*own, origin] if add else [o for o in own if o != origin]
    other = "deny" if kind is RuleAction.ALLOW else "allow"
    if not own:
        return OriginRules(type="origin", environment=lists.environment)
    return OriginRules.model_validate(
        {"type": "origin", "environment": lists.environment, kind.value: own, other: ["*"]}
    )


class ChangeOrigin(Action):
    """``rules add|remove <env> allow|deny <origin>``: one origin into or out of a list."""

    permission = "rules.create"
    add = True
    shape: type[commands.AddOrigin] | type[commands.RemoveOrigin] = commands.AddOrigin

    async def plan(self, client: Account, command: commands.Command) -> Plan:
        require_version(client, command)
        cmd = expect(command, self.shape, self.permission)
        kind = RuleAction(cmd.kind)
        env = find_env(await client.list_environments(), cmd.env)
        lists = await readable_lists(client, env.id)
        after: dict[str, Any] | None = None
        if lists is not None:
            present = cmd.origin in named(getattr(lists, kind.value))
            if self.add and present:
                raise PlanError(said.origin_already(cmd.origin, kind, env.name))
            if not self.add and not present:
                raise PlanError(said.origin_not_listed(cmd.origin, kind, env.name))
            other = RuleAction.DENY if kind is RuleAction.ALLOW else RuleAction.ALLOW
            if self.add and named(getattr(lists, other.value)):
                raise PlanError(said.other_list_in_use(env.name, other))
            count = len(named(lists.allow)) + len(named(lists.deny))
            if self.add and count >= PLAN_LIMITS.filtering_rules:
                raise PlanError(said.plan_limit(PLAN_LIMITS.filtering_rules))
            after = list_fields(_with(lists, kind, cmd.origin, add=self.add))
        op = "origin_add" if self.add else "origin_remove"
        return Plan(
            action=self.permission,
            params={"op": op, "env_id": env.id, "list": kind.value, "origin": cmd.origin},
            summary=said.change_origin(cmd.origin, kind, env.name, env.id, add=self.add),
            before=list_fields(lists),
            after=after
            or {**list_fields(None), f"{kind.value} list": said.changed(cmd.origin, self.add)},
            environment=env.id,
            target=f"origin:{env.id}:{kind.value}:{cmd.origin.casefold()}",
        )

    async def execute(
        self, client: Account, request: ChangeRequest, deliver_secret: DeliverSecret
    ) -> Execution:
        env_id, origin = request.params["env_id"], request.params["origin"]
        kind = RuleAction(request.params["list"])
        op: Literal["add", "remove"] = "add" if self.add else "remove"
        lists = await write(
            client.patch_origin_rules(env_id, permission=kind.value, op=op, items=[origin]),
            failed=said.changing_origin_failed(origin, kind, add=self.add),
            check=said.check_rules(env_id),
        )
        return Execution(
            result={
                "env_id": env_id,
                f"{kind.value} list": said.origin_list(getattr(lists, kind.value)),
            },
            message=said.origin_changed(origin, kind, env_id, add=self.add),
        )

    async def reconcile(
        self, client: Account, request: ChangeRequest, delivered: frozenset[str] = frozenset()
    ) -> Reconciliation:
        env_id, origin = request.params["env_id"], request.params["origin"]
        kind = RuleAction(request.params["list"])
        lists = await readable_lists(client, env_id)
        if lists is None:
            return failed(said.cannot_tell(env_id))
        if (origin in named(getattr(lists, kind.value))) == self.add:
            return succeeded(said.origin_changed(origin, kind, env_id, add=self.add))
        return never_reached()


class RemoveOrigin(ChangeOrigin):
    permission = "rules.delete"
    add = False
    shape = commands.RemoveOrigin


# ── 2025-11-20: expression rules ────────────────────────────────────────────────────────────


async def environment_rules(client: Account, env_id: str) -> list[FilteringRule]:
    """An environment's rules in evaluation order."""
    rules = await client.list_filtering_rules(environment=env_id)
    return sorted(
        (r for r in rules if r.environment in (None, env_id)),
        key=lambda r: r.position if r.position is not None else len(rules),
    )


async def existing_rule(client: Account, ref: str) -> FilteringRule:
    """The rule ``ref`` names: its id, or its exact name."""
    if ref.startswith(RULE_ID_PREFIX):
        try:
            return await client.get_filtering_rule(ref)
        except NotFound:
            raise PlanError(said.no_rule(ref)) from None
    return by_name("rule", ref, await client.list_filtering_rules(), lambda r: r.name)


def spec_of(rule: FilteringRule) -> RuleSpec:
    return RuleSpec(
        name=rule.name or rule.id,
        expression=rule.expression,
        action=rule.action or RuleAction.DENY,
        deny_with=rule.deny_with,
    )


def rule_lines(rules: Sequence[FilteringRule]) -> list[str]:
    """The rules as the card lists them, in order (raw text; escaped where shown)."""
    return [said.rule_line(n, r) for n, r in enumerate(rules, start=1)]


def default_name(expression: str) -> str:
    """A new rule's name when none is given: its expression, shortened."""
    name = " ".join(expression.split())
    name = name if len(name) <= 80 else name[:79] + "…"
    return name if len(name) >= 3 else f"Rule {name}"


async def check_expression(client: Account, expression: str, action: RuleAction) -> None:
    """Ask Fingerprint whether it reads the expression (a rule test of a made-up request),
    so an approver never approves a rule that cannot be created."""
    spec = RuleSpec(name="probe", expression=expression, action=action)
    try:
        await client.test_filtering_rules(rules=[spec], request=_PROBE)
    except FingerprintError as e:
        if e.status is not None and 400 <= e.status < 500 and e.status != 429:
            raise PlanError(said.expression_refused(e)) from e
        raise


async def test_preview(
    client: Account,
    request_id: str,
    now: Sequence[FilteringRule],
    after: Sequence[FilteringRule | RuleSpec],
) -> dict[str, str]:
    """What the environment's enabled rules do to the request now and after the change."""

    def specs(rules: Sequence[FilteringRule | RuleSpec]) -> list[RuleSpec]:
        return [
            r if isinstance(r, RuleSpec) else spec_of(r)
            for r in rules
            if isinstance(r, RuleSpec) or r.status is not Status.DISABLED
        ]

    try:
        before = await client.test_filtering_rules(rules=specs(now), test_request_id=request_id)
        later = await client.test_filtering_rules(rules=specs(after), test_request_id=request_id)
    except FingerprintError as e:
        if e.status is not None and 400 <= e.status < 500 and e.status != 429:
            raise PlanError(said.test_refused(request_id, e)) from e
        raise
    return {"request_id": request_id, "now": verdict(before), "after": verdict(later)}


def verdict(result: RuleTestResult) -> str:
    """A test's result in a few raw words: "deny (Forbidden) by `…`" or "allow: no rule
    matched"."""
    return said.verdict(result.result, result.deny_with, result.triggered_rule)


def _proposed(rule: FilteringRule, **changes: Any) -> FilteringRule:
    return rule.model_copy(update=changes)


class AddRule(Action):
    """``rules add <env> <expression> [--action] [--position] [--name] [--test]``."""

    permission = "rules.create"

    async def plan(self, client: Account, command: commands.Command) -> Plan:
        require_version(client, command)
        cmd = expect(command, commands.AddRule, self.permission)
        env = find_env(await client.list_environments(), cmd.env)
        action = RuleAction(cmd.action or RuleAction.DENY)
        if len(await client.list_filtering_rules()) >= PLAN_LIMITS.filtering_rules:
            raise PlanError(said.plan_limit(PLAN_LIMITS.filtering_rules))
        rules = await environment_rules(client, env.id)
        name = cmd.name or default_name(cmd.expression)
        if any(r.name.casefold() == name.casefold() for r in rules):
            raise PlanError(said.rule_name_taken(name, env.name))
        await check_expression(client, cmd.expression, action)
        new = FilteringRule(
            id="(new)",
            name=name,
            environment=env.id,
            expression=cmd.expression,
            action=action,
            status=Status.ENABLED,
            deny_with=DENY_WITH_FORBIDDEN if action is RuleAction.DENY else None,
        )
        index = len(rules) if cmd.position is None else min(cmd.position - 1, len(rules))
        after = [*rules[:index], new, *rules[index:]]
        params: dict[str, Any] = {
            "op": "add",
            "env_id": env.id,
            "name": name,
            "expression": cmd.expression,
            "action": action.value,
        }
        if cmd.position is not None:
            params["position"] = index
        if cmd.test:
            params["test"] = await test_preview(client, cmd.test, rules, after)
        return Plan(
            action=self.permission,
            params=params,
            summary=said.add_rule(name, action, env.name, env.id, index + 1),
            before={"rules": rule_lines(rules)},
            after={"rules": rule_lines(after)},
            environment=env.id,
            target=f"rule-name:{env.id}:{name.casefold()}",
        )

    async def execute(
        self, client: Account, request: ChangeRequest, deliver_secret: DeliverSecret
    ) -> Execution:
        p = request.params
        action = RuleAction(p["action"])
        position = p.get("position")
        rule = await write(
            client.create_filtering_rule(
                name=p["name"],
                environment=p["env_id"],
                expression=p["expression"],
                action=action,
                deny_with=DENY_WITH_FORBIDDEN if action is RuleAction.DENY else None,
                placement=None if position is None else Placement(position=int(position)),
            ),
            failed=said.adding_rule_failed(p["name"]),
            check=said.check_rules(p["env_id"]),
        )
        return Execution(
            result={"rule_id": rule.id, "name": rule.name or p["name"]},
            message=said.rule_added(rule.name or p["name"], rule.id, p["env_id"]),
        )

    async def reconcile(
        self, client: Account, request: ChangeRequest, delivered: frozenset[str] = frozenset()
    ) -> Reconciliation:
        p = request.params
        for rule in await environment_rules(client, p["env_id"]):
            if (
                rule.name == p["name"]
                and rule.expression == p["expression"]
                and created_since(rule.created_at, started(request))
            ):
                return succeeded(said.rule_added(rule.name, rule.id, p["env_id"]))
        return never_reached()


class ChangeRule(Action):
    """``rules change <rule> [<expression>] [--action] [--name] [--status] [--test]``: only
    what differs is sent."""

    permission = "rules.update"

    async def plan(self, client: Account, command: commands.Command) -> Plan:
        require_version(client, command)
        cmd = expect(command, commands.ChangeRule, self.permission)
        rule = await existing_rule(client, cmd.rule)
        changes: dict[str, Any] = {}
        if cmd.expression is not None and cmd.expression != rule.expression:
            changes["expression"] = cmd.expression
        if cmd.action is not None and cmd.action != rule.action:
            changes["action"] = RuleAction(cmd.action)
        if cmd.name is not None and cmd.name != rule.name:
            changes["name"] = cmd.name
        if cmd.status is not None and cmd.status != rule.status:
            changes["status"] = Status(cmd.status)
        if not changes:
            raise PlanError(said.rule_unchanged(rule.name, rule.id))
        if "expression" in changes or "action" in changes:
            await check_expression(
                client,
                changes.get("expression", rule.expression),
                changes.get("action", rule.action or RuleAction.DENY),
            )
        env_id = rule.environment or ""
        rules = await environment_rules(client, env_id) if env_id else [rule]
        after = [_proposed(r, **changes) if r.id == rule.id else r for r in rules]
        params: dict[str, Any] = {
            "op": "change",
            "rule_id": rule.id,
            **{k: str(v) for k, v in changes.items()},
        }
        if cmd.test:
            params["test"] = await test_preview(client, cmd.test, rules, after)
        return Plan(
            action=self.permission,
            params=params,
            summary=said.change_rule(rule.name, rule.id, sorted(changes)),
            before={"rules": rule_lines(rules)},
            after={"rules": rule_lines(after)},
            environment=rule.environment,
            target=f"rule:{rule.id}",
        )

    async def execute(
        self, client: Account, request: ChangeRequest, deliver_secret: DeliverSecret
    ) -> Execution:
        p = request.params
        action = RuleAction(p["action"]) if "action" in p else None
        rule = await write(
            client.update_filtering_rule(
                p["rule_id"],
                name=p.get("name"),
                expression=p.get("expression"),
                action=action,
                status=Status(p["status"]) if "status" in p else None,
                deny_with=DENY_WITH_FORBIDDEN if action is RuleAction.DENY else None,
            ),
            failed=said.changing_rule_failed(p["rule_id"]),
            check=said.check_rules(None),
        )
        return Execution(
            result={"rule_id": rule.id, "name": rule.name},
            message=said.rule_changed(rule.id),
        )

    async def reconcile(
        self, client: Account, request: ChangeRequest, delivered: frozenset[str] = frozenset()
    ) -> Reconciliation:
        p = request.params
        try:
            rule = await client.get_filtering_rule(p["rule_id"])
        except NotFound:
            return failed(said.rule_gone(p["rule_id"]))
        for field in ("name", "expression", "action", "status"):
            if field in p and str(getattr(rule, field)) != p[field]:
                return never_reached()
        return succeeded(said.rule_changed(rule.id))


class MoveRule(Action):
    """``rules move <rule> <position>``: a new place in its environment's order."""

    permission = "rules.update"

    async def plan(self, client: Account, command: commands.Command) -> Plan:
        require_version(client, command)
        cmd = expect(command, commands.MoveRule, self.permission)
        rule = await existing_rule(client, cmd.rule)
        rules = await environment_rules(client, rule.environment or "")
        others = [r for r in rules if r.id != rule.id]
        index = min(cmd.position - 1, len(others))
        if [r.id for r in rules][index : index + 1] == [rule.id]:
            raise PlanError(said.rule_already_at(rule.name, rule.id, index + 1))
        after = [*others[:index], rule, *others[index:]]
        params: dict[str, Any] = {"op": "move", "rule_id": rule.id, "position": index}
        if cmd.test:
            params["test"] = await test_preview(client, cmd.test, rules, after)
        return Plan(
            action=self.permission,
            params=params,
            summary=said.move_rule(rule.name, rule.id, index + 1),
            before={"rules": rule_lines(rules)},
            after={"rules": rule_lines(after)},
            environment=rule.environment,
            target=f"rule:{rule.id}:position",
        )

    async def execute(
        self, client: Account, request: ChangeRequest, deliver_secret: DeliverSecret
    ) -> Execution:
        rule_id, position = request.params["rule_id"], int(request.params["position"])
        await write(
            client.update_filtering_rule(rule_id, placement=Placement(position=position)),
            failed=said.moving_rule_failed(rule_id),
            check=said.check_rules(None),
        )
        return Execution(
            result={"rule_id": rule_id, "position": position + 1},
            message=said.rule_moved(rule_id, position + 1),
        )

    async def reconcile(
        self, client: Account, request: ChangeRequest, delivered: frozenset[str] = frozenset()
    ) -> Reconciliation:
        rule_id, position = request.params["rule_id"], int(request.params["position"])
        try:
            rule = await client.get_filtering_rule(rule_id)
        except NotFound:
            return failed(said.rule_gone(rule_id))
        rules = await environment_rules(client, rule.environment or "")
        if [r.id for r in rules][position : position + 1] == [rule_id]:
            return succeeded(said.rule_moved(rule_id, position + 1))
        return never_reached()


class RemoveRule(Action):
    """``rules remove <rule> [--test]``: irreversible."""

    permission = "rules.delete"

    async def plan(self, client: Account, command: commands.Command) -> Plan:
        require_version(client, command)
        cmd = expect(command, commands.RemoveRule, self.permission)
        rule = await existing_rule(client, cmd.rule)
        rules = (
            await environment_rules(client, rule.environment or "") if rule.environment else [rule]
        )
        after = [r for r in rules if r.id != rule.id]
        params: dict[str, Any] = {"op": "remove", "rule_id": rule.id, "name": rule.name}
        if cmd.test:
            params["test"] = await test_preview(client, cmd.test, rules, after)
        return Plan(
            action=self.permission,
            params=params,
            summary=said.remove_rule(rule.name, rule.id),
            before={"rules": rule_lines(rules)},
            after={"rules": rule_lines(after)},
            environment=rule.environment,
            target=f"rule:{rule.id}",
        )

    async def execute(
        self, client: Account, request: ChangeRequest, deliver_secret: DeliverSecret
    ) -> Execution:
        rule_id = request.params["rule_id"]
        await write(
            client.delete_filtering_rule(rule_id),
            failed=said.removing_rule_failed(rule_id),
            check=said.check_rules(None),
        )
        return Execution(result={"rule_id": rule_id}, message=said.rule_removed(rule_id))

    async def reconcile(
        self, client: Account, request: ChangeRequest, delivered: frozenset[str] = frozenset()
    ) -> Reconciliation:
        rule_id = request.params["rule_id"]
        try:
            await client.get_filtering_rule(rule_id)
        except NotFound:
            return succeeded(said.rule_removed(rule_id))
        return never_reached()


class RuleCreations(Composite):
    """``rules.create``: an origin into a list (2024-05-20) or a new expression rule."""

    permission = "rules.create"
    default = "add"
    variants = {
        "add": ((commands.AddRule,), AddRule()),
        "origin_add": ((commands.AddOrigin,), ChangeOrigin()),
    }


class RuleUpdates(Composite):
    """``rules.update``: a rule's fields, or its place in the order."""

    permission = "rules.update"
    default = "change"
    variants = {
        "change": ((commands.ChangeRule,), ChangeRule()),
        "move": ((commands.MoveRule,), MoveRule()),
    }


class RuleRemovals(Composite):
    """``rules.delete``: an origin out of a list (2024-05-20), or an expression rule."""

    permission = "rules.delete"
    default = "remove"
    variants = {
        "remove": ((commands.RemoveRule,), RemoveRule()),
        "origin_remove": ((commands.RemoveOrigin,), RemoveOrigin()),
    }
