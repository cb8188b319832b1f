"""Who may do what, and where: the policy file and the one function that decides.

The policy file is read once at start-up. It is checked against the YAML node
tree rather than the loaded data so that every refusal names the line of the offending key or
value: a platform engineer fixing a deployment should never have to bisect a file.

``decide`` is the only authorization check in fpbot. It is pure and cheap (a few set look-ups
on data prepared at load time) because it runs for every command, every button click and, as a
dry run, for every line of help. Unknown users get nothing (default deny).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import time, timedelta
from enum import StrEnum
from os import PathLike
from pathlib import Path
from typing import NoReturn, Protocol

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

PERMISSIONS: frozenset[str] = frozenset(
    {
        "envs.list",
        "envs.create",
        "envs.update",
        "envs.delete",
        "keys.list",
        "keys.create",
        "keys.update",
        "keys.delete",
        "keys.rotate",
        "webhooks.list",
        "webhooks.create",
        "webhooks.update",
        "webhooks.delete",
        "rules.list",
        "rules.create",
        "rules.update",
        "rules.delete",
        "enckeys.list",
        "enckeys.update",
        "enckeys.rotate",
        "subdomains.list",
        "subdomains.create",
        "subdomains.update",
        "subdomains.delete",
        "requests.approve",
        "audit.read",
    }
)
# Permissions that make a change request, and so may need more than one approval.
CHANGE_PERMISSIONS: frozenset[str] = frozenset(
    p for p in PERMISSIONS if p.split(".")[1] in {"create", "update", "delete", "rotate"}
)
_AREAS: frozenset[str] = frozenset(p.split(".")[0] for p in PERMISSIONS)

DEFAULT_EXPIRES_AFTER = timedelta(hours=24)
MAX_EXPIRES_AFTER = timedelta(days=365)
DEFAULT_MAX_PENDING = 20
DEFAULT_WATCH_INTERVAL = timedelta(minutes=5)
#: The longest ``approvals.rotation_grace`` (and ``--grace``) may be.
MAX_ROTATION_GRACE = timedelta(days=30)
#: Reminders stop after this many, whatever ``remind_after`` says.
MAX_REMINDERS = 3

_SLACK_ID = re.compile(r"[A-Z][A-Z0-9]+")
_ROLE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_DURATION = re.compile(r"(?:\d+[smhd])+")
_DURATION_PART = re.compile(r"(\d+)([smhd])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
_ENV_ID = re.compile(r"(ae|env)_[A-Za-z0-9_-]{1,64}")
_CLOCK = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")
_TAG_INT = "tag:yaml.org,2002:int"
_TAG_BOOL = "tag:yaml.org,2002:bool"
_TAG_NULL = "tag:yaml.org,2002:null"


class PolicyError(ValueError):
    """A policy that cannot be used; ``str()`` is one line: file, line number, problem."""

    def __init__(self, source: str, line: int | None, problem: str) -> None:
        self.source = source
        self.line = line
        self.problem = problem
        where = source if line is None else f"{source}, line {line}"
        super().__init__(f"{where}: {problem}")


# --------------------------------------------------------------------------------------------
# The policy


@dataclass(frozen=True, slots=True)
class Channels:
    """Where fpbot listens and posts. An empty ``commands`` means any channel.

    ``oncall`` (a user or a user group) is mentioned on incident cards.
    """

    commands: frozenset[str] = frozenset()
    approvals: str | None = None
    notifications: str | None = None
    oncall: str | None = None


@dataclass(frozen=True, slots=True)
class Route:
    """Who approves changes to some environments, how many of them, and where.

    Attributes:
        environments: the environment ids it covers (a key or webhook: the environment it
            belongs to).
        approvers: the users and user groups who alone may approve these (they also need
            ``requests.approve``); empty means every holder of it.
        required: approvals needed (``None``: the general rules decide).
        channel: where these requests are posted (``None``: ``channels.approvals``).
    """

    environments: frozenset[str]
    approvers: frozenset[str] = frozenset()
    required: int | None = None
    channel: str | None = None


@dataclass(frozen=True, slots=True)
class ApprovalRules:
    """How many distinct approvers a change needs, who, where, and for how long it waits."""

    required: int = 1
    required_for: Mapping[str, int] = field(default_factory=dict)
    allow_self_approval: bool = False
    expires_after: timedelta = DEFAULT_EXPIRES_AFTER
    reason_required: bool = False
    remind_after: timedelta | None = None
    routes: tuple[Route, ...] = ()
    max_pending_per_person: int = DEFAULT_MAX_PENDING
    #: How long a rotated key (or encryption key) stays usable when ``--grace`` is not given;
    #: ``None``: the old key is disabled at once.
    rotation_grace: timedelta | None = None


@dataclass(frozen=True, slots=True)
class Watch:
    """The account watch: how often to look for outside changes (``None``: never), and when
    the daily digest goes out (``None``: no digest), as hours and minutes UTC."""

    interval: timedelta | None = DEFAULT_WATCH_INTERVAL
    digest: time | None = None


@dataclass(frozen=True)
class Policy:
    """The parsed policy file.

    Attributes:
        roles: role name → permissions as written (wildcards ``envs.*`` and ``*`` kept).
        grants: Slack user or user-group id → role names.
        channels: where commands are allowed and where fpbot posts.
        approvals: the approval rules.
        watch: the account watch and the digest.
        admins: who changes the policy (named by help and whoami).
    """

    roles: Mapping[str, frozenset[str]]
    grants: Mapping[str, frozenset[str]]
    channels: Channels = Channels()
    approvals: ApprovalRules = ApprovalRules()
    watch: Watch = Watch()
    admins: tuple[str, ...] = ()
    # Wildcards expanded once, so that a decision is only set look-ups.
    _expanded: Mapping[str, frozenset[str]] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        expanded = {name: expand(perms) for name, perms in self.roles.items()}
        object.__setattr__(self, "_expanded", expanded)

    def permissions_of_role(self, role: str) -> frozenset[str]:
        """The concrete permissions a role gives (empty for an unknown role)."""
        return self._expanded.get(role, frozenset())

    @property
    def group_ids(self) -> frozenset[str]:
        """The user groups the policy names (grants and routes): the only ones worth asking
        Slack about."""
        named = set(self.grants)
        for route in self.approvals.routes:
            named.update(route.approvers)
        return frozenset(grantee for grantee in named if grantee.startswith("S"))


def expand(permissions: frozenset[str]) -> frozenset[str]:
    """Concrete permissions named by ``permissions``, wildcards (``envs.*``, ``*``) expanded."""
    result: set[str] = set()
    for permission in permissions:
        if permission == "*":
            return PERMISSIONS
        if permission.endswith(".*"):
            area = permission[:-2]
            result.update(p for p in PERMISSIONS if p.startswith(area + "."))
        elif permission in PERMISSIONS:
            result.add(permission)
    return frozenset(result)


# --------------------------------------------------------------------------------------------
# Deciding


@dataclass(frozen=True, slots=True)
class Actor:
    """A person as the policy sees them: their Slack id and the user groups they are in."""

    user_id: str
    groups: frozenset[str] = frozenset()


class Action(Protocol):
    """What ``decide`` needs from a command: ``bot.commands`` classes and instances fit."""

    @property
    def permission(self) -> str | None: ...

    @property
    def channel_guarded(self) -> bool: ...

    @property
    def open_to_anyone(self) -> bool: ...


class Reason(StrEnum):
    """Why `decide` answered as it did; `bot.render.replies.denial` says it in words."""

    GRANTED = "granted"
    NOT_NEEDED = "not_needed"
    UNKNOWN_USER = "unknown_user"
    MISSING_PERMISSION = "missing_permission"
    CHANNEL_NOT_ALLOWED = "channel_not_allowed"


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer to "may this actor do this here?", with what a refusal should say.

    Attributes:
        allowed: whether to go ahead.
        reason: why, as an enum the reply (and the audit trail) can rely on.
        permission: the permission that was checked, if any.
        allowed_channels: for ``CHANNEL_NOT_ALLOWED``, where the command can be used.
    """

    allowed: bool
    reason: Reason
    permission: str | None
    allowed_channels: frozenset[str] = frozenset()


class Membership(Protocol):
    """Who is in which Slack user group (`bot.slack.GroupDirectory`)."""

    async def groups_of(self, user_id: str, group_ids: Iterable[str]) -> frozenset[str]: ...

    async def members(self, group_id: str) -> frozenset[str]: ...


async def actor_of(policy: Policy, membership: Membership, user_id: str) -> Actor:
    """The person as the policy sees them: only the groups it grants anything to are looked
    up (a policy without group grants asks Slack nothing)."""
    return Actor(user_id, await membership.groups_of(user_id, sorted(policy.group_ids)))


def roles_of(policy: Policy, actor: Actor) -> frozenset[str]:
    """The roles granted to the actor directly and through their user groups."""
    roles = set(policy.grants.get(actor.user_id, ()))
    for group in actor.groups:
        roles.update(policy.grants.get(group, ()))
    return frozenset(roles)


def permissions_of(policy: Policy, actor: Actor) -> frozenset[str]:
    """Every concrete permission the actor holds, wildcards expanded."""
    permissions: set[str] = set()
    for role in roles_of(policy, actor):
        permissions.update(policy.permissions_of_role(role))
    return frozenset(permissions)


def decide(
    policy: Policy,
    actor: Actor,
    action: Action | str | None,
    channel_id: str | None = None,
    *,
    command_is_channel_guarded: bool = True,
) -> Decision:
    """Whether ``actor`` may do ``action`` in ``channel_id`` — the one authorization check.

    Pass the command (instance or class) whenever there is one: its ``permission`` and
    ``channel_guarded`` then come from the command class, so help and whoami work everywhere
    and nothing else escapes the channel allowlist, whatever the caller remembers. A bare
    permission string (a button click checks ``"requests.approve"``) is channel-guarded unless
    ``command_is_channel_guarded=False``.

    Help and whoami are allowed to anyone, so that an unknown user learns how to get access.
    Everything else is denied to a user without roles.

    Args:
        policy: the policy in force.
        actor: who is asking.
        action: a command, or a permission, or ``None`` for a command needing none.
        channel_id: where the command was typed; ``None`` when not in a channel context (the
            allowlist is then not applied).
        command_is_channel_guarded: only read when ``action`` is a string or ``None``.

    Raises:
        ValueError: ``action`` names a permission that does not exist (a programming error).
    """
    if action is None or isinstance(action, str):
        permission, guarded, anyone = action, command_is_channel_guarded, False
    else:
        permission, guarded = action.permission, action.channel_guarded
        anyone = action.open_to_anyone
    if permission is not None and permission not in PERMISSIONS:
        raise ValueError(f"unknown permission {permission!r}")
    if anyone:
        return Decision(True, Reason.NOT_NEEDED, None)
    roles = roles_of(policy, actor)
    if not roles:
        return Decision(False, Reason.UNKNOWN_USER, permission)
    allowed_channels = policy.channels.commands
    if (
        guarded
        and allowed_channels
        and channel_id is not None
        and channel_id not in allowed_channels
    ):
        return Decision(False, Reason.CHANNEL_NOT_ALLOWED, permission, allowed_channels)
    if permission is None:
        return Decision(True, Reason.NOT_NEEDED, None)
    if any(permission in policy.permissions_of_role(role) for role in roles):
        return Decision(True, Reason.GRANTED, permission)
    return Decision(False, Reason.MISSING_PERMISSION, permission)


def route_for(policy: Policy, environment: str | None) -> Route | None:
    """The route for changes touching ``environment``: the first that lists it."""
    if environment is None:
        return None
    return next((r for r in policy.approvals.routes if environment in r.environments), None)


def required_approvals(policy: Policy, permission: str, environment: str | None = None) -> int:
    """How many distinct approvals a change needing ``permission`` waits for.

    The most specific rule of ``required_for`` wins (``keys.delete``, then ``keys.*``, then
    ``*``), else ``approvals.required``; the environment's route, when it names a count, raises
    that to its own (a production route asking for two is never lowered by a general rule).
    """
    rules = policy.approvals.required_for
    area = permission.split(".", 1)[0]
    count = next(
        (rules[key] for key in (permission, f"{area}.*", "*") if key in rules),
        policy.approvals.required,
    )
    route = route_for(policy, environment)
    if route is not None and route.required is not None:
        count = max(count, route.required)
    return count


def may_approve(policy: Policy, actor: Actor, environment: str | None = None) -> bool:
    """Whether ``actor`` may approve (or deny) a change touching ``environment``: they hold
    ``requests.approve``, and, when the environment's route names approvers, are one of them
    or in one of their groups."""
    if not decide(policy, actor, "requests.approve", command_is_channel_guarded=False).allowed:
        return False
    route = route_for(policy, environment)
    if route is None or not route.approvers:
        return True
    return actor.user_id in route.approvers or bool(actor.groups & route.approvers)


def approvers_of(policy: Policy, environment: str | None = None) -> tuple[str, ...]:
    """The users and groups who may approve a change touching ``environment``, as the policy
    names them (a route's approvers, else every grantee holding ``requests.approve``)."""
    route = route_for(policy, environment)
    if route is not None and route.approvers:
        return tuple(sorted(route.approvers))
    return tuple(
        sorted(
            grantee
            for grantee, roles in policy.grants.items()
            if any("requests.approve" in policy.permissions_of_role(role) for role in roles)
        )
    )


# --------------------------------------------------------------------------------------------
# Reading the file


def load_policy(path: str | PathLike[str]) -> Policy:
    """Read and check the policy file.

    Raises:
        PolicyError: the file is missing, unreadable or malformed; the message says where.
    """
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PolicyError(source, None, "file not found") from None
    except IsADirectoryError:
        raise PolicyError(source, None, "is a directory, not a policy file") from None
    except PermissionError:
        raise PolicyError(source, None, "cannot be read (permission denied)") from None
    except UnicodeDecodeError:
        raise PolicyError(source, None, "is not UTF-8 text") from None
    except OSError as error:
        raise PolicyError(source, None, f"cannot be read ({error.strerror})") from None
    return parse_policy(text, source)


def parse_policy(text: str, source: str = "fpbot.yml") -> Policy:
    """Check the policy text and build a ``Policy``.

    Args:
        text: the YAML text.
        source: how to name the file in errors.

    Raises:
        PolicyError: the first problem found, with its line number.
    """
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = error.problem or error.context or "not valid YAML"
        raise PolicyError(source, line, f"not valid YAML: {problem}") from None
    except yaml.YAMLError as error:
        raise PolicyError(source, None, f"not valid YAML: {error}") from None
    return _Reader(source).policy(root)


@dataclass(frozen=True, slots=True)
class _Reader:
    """Walks the node tree; every method names the node it is unhappy with."""

    source: str

    def fail(self, node: Node | None, problem: str) -> NoReturn:
        line = node.start_mark.line + 1 if node is not None else None
        raise PolicyError(self.source, line, problem)

    def items(self, node: Node, what: str) -> Iterator[tuple[ScalarNode, Node]]:
        if not isinstance(node, MappingNode):
            self.fail(node, f"{what} should be a mapping of keys to values")
        seen: set[str] = set()
        for key, value in node.value:
            if not isinstance(key, ScalarNode):
                self.fail(key, f"{what} has a key that is not a plain word")
            if key.value in seen:
                self.fail(key, f"{key.value} appears twice in {what}")
            seen.add(key.value)
            yield key, value

    def is_null(self, node: Node) -> bool:
        return isinstance(node, ScalarNode) and node.tag == _TAG_NULL

    def scalars(self, node: Node, what: str) -> list[ScalarNode]:
        if self.is_null(node):
            return []
        if not isinstance(node, SequenceNode):
            self.fail(node, f"{what} should be a list, like [a, b]")
        for item in node.value:
            if not isinstance(item, ScalarNode):
                self.fail(item, f"{what} should hold plain words, not nested lists or maps")
        return list(node.value)

    def slack_id(self, node: ScalarNode, kinds: str, what: str) -> str:
        value: str = node.value
        if not _SLACK_ID.fullmatch(value):
            self.fail(
                node,
                f"“{value}” is not a Slack id (an upper-case letter, then upper-case letters "
                "and digits)",
            )
        if value[0] not in kinds:
            wanted = " or ".join(f"{k}…" for k in kinds)
            self.fail(node, f"“{value}” is not {what} ({wanted})")
        return value

    def positive_int(self, node: Node, what: str) -> int:
        if not (isinstance(node, ScalarNode) and node.tag == _TAG_INT):
            self.fail(node, f"{what} should be a whole number")
        text = node.value.replace("_", "")
        if not text.isdigit():
            self.fail(node, f"{what} should be a whole number of at least 1, not {node.value}")
        number = int(text)
        if number < 1:
            self.fail(node, f"{what} should be at least 1, not {number}")
        return number

    def unknown_key(self, key: ScalarNode, where: str, known: str) -> NoReturn:
        self.fail(key, f"unknown key {key.value} in {where} (known: {known})")

    # -- the sections --------------------------------------------------------------------

    def policy(self, root: Node | None) -> Policy:
        if root is None:
            raise PolicyError(self.source, 1, "the file is empty; it needs roles and grants")
        if not isinstance(root, MappingNode):
            self.fail(
                root, "the policy should be a mapping with roles, grants, channels, approvals"
            )
        keys = {key.value: key for key, _ in self.items(root, "the policy")}
        sections = {key.value: value for key, value in root.value}
        known = ("roles", "grants", "channels", "approvals", "watch", "admins")
        for name, key in keys.items():
            if name not in known:
                self.fail(key, f"unknown top-level key {name} (known: {', '.join(known)})")
        for required in ("roles", "grants"):
            if required not in sections:
                self.fail(root, f"the policy has no {required} section")
        roles = self.roles(sections["roles"])
        grants = self.grants(sections["grants"], roles)
        channels = self.channels(sections["channels"]) if "channels" in sections else Channels()
        approvals = (
            self.approvals(sections["approvals"]) if "approvals" in sections else ApprovalRules()
        )
        watch = self.watch(sections["watch"]) if "watch" in sections else Watch()
        admins = self.admins(sections["admins"]) if "admins" in sections else ()
        return Policy(
            roles=roles,
            grants=grants,
            channels=channels,
            approvals=approvals,
            watch=watch,
            admins=admins,
        )

    def permission(self, node: ScalarNode, *, concrete_changes_only: bool = False) -> str:
        value: str = node.value
        if value == "*":
            return value
        if value.endswith(".*"):
            if value[:-2] not in _AREAS:
                known = ", ".join(sorted(_AREAS))
                self.fail(node, f"unknown permission {value} (wildcards: {known} with .*, or *)")
            return value
        if value not in PERMISSIONS:
            self.fail(node, f"unknown permission {value}")
        if concrete_changes_only and value not in CHANGE_PERMISSIONS:
            self.fail(node, f"{value} makes no change, so it needs no approvals")
        return value

    def roles(self, node: Node) -> dict[str, frozenset[str]]:
        roles: dict[str, frozenset[str]] = {}
        for key, value in self.items(node, "roles"):
            if not _ROLE_NAME.fullmatch(key.value):
                self.fail(key, f"“{key.value}” is not a usable role name")
            items = self.scalars(value, f"the permissions of role {key.value}")
            roles[key.value] = frozenset(self.permission(item) for item in items)
        return roles

    def grants(self, node: Node, roles: Mapping[str, frozenset[str]]) -> dict[str, frozenset[str]]:
        grants: dict[str, frozenset[str]] = {}
        for key, value in self.items(node, "grants"):
            grantee = self.slack_id(key, "UWS", "a user or a user group")
            names: set[str] = set()
            for item in self.scalars(value, f"the roles of {grantee}"):
                if item.value not in roles:
                    self.fail(item, f"{grantee} is granted role {item.value}, which is not defined")
                names.add(item.value)
            grants[grantee] = frozenset(names)
        return grants

    def channel(self, node: Node, what: str) -> str | None:
        if self.is_null(node):
            return None
        if not isinstance(node, ScalarNode):
            self.fail(node, f"{what} should be one channel id")
        return self.slack_id(node, "CGD", "a channel")

    def channels(self, node: Node) -> Channels:
        if self.is_null(node):
            return Channels()
        channels = Channels()
        for key, value in self.items(node, "channels"):
            if key.value == "commands":
                items = self.scalars(value, "channels.commands")
                ids = frozenset(self.slack_id(i, "CGD", "a channel") for i in items)
                channels = replace(channels, commands=ids)
            elif key.value == "approvals":
                channels = replace(channels, approvals=self.channel(value, "channels.approvals"))
            elif key.value == "notifications":
                notifications = self.channel(value, "channels.notifications")
                channels = replace(channels, notifications=notifications)
            elif key.value == "oncall":
                oncall = None
                if not self.is_null(value):
                    if not isinstance(value, ScalarNode):
                        self.fail(value, "channels.oncall should be one user or user group id")
                    oncall = self.slack_id(value, "UWS", "a user or a user group")
                channels = replace(channels, oncall=oncall)
            else:
                self.unknown_key(key, "channels", "commands, approvals, notifications, oncall")
        return channels

    def admins(self, node: Node) -> tuple[str, ...]:
        items = self.scalars(node, "admins")
        return tuple(self.slack_id(item, "UWS", "a user or a user group") for item in items)

    def watch(self, node: Node) -> Watch:
        if self.is_null(node):
            return Watch()
        watch = Watch()
        for key, value in self.items(node, "watch"):
            if key.value == "interval":
                interval = self.duration(value, "watch.interval", allow_zero=True)
                watch = replace(watch, interval=interval or None)
            elif key.value == "digest":
                watch = replace(watch, digest=None if self.is_null(value) else self.clock(value))
            else:
                self.unknown_key(key, "watch", "interval, digest")
        return watch

    def clock(self, node: Node) -> time:
        text = node.value.strip() if isinstance(node, ScalarNode) else ""
        match = _CLOCK.fullmatch(text)
        if match is None:
            self.fail(node, 'watch.digest should be a time of day in UTC, like "09:00"')
        return time(int(match.group(1)), int(match.group(2)))

    def routes(self, node: Node) -> tuple[Route, ...]:
        if self.is_null(node):
            return ()
        if not isinstance(node, SequenceNode):
            self.fail(node, "approvals.routes should be a list of routes")
        return tuple(self.route(item, number) for number, item in enumerate(node.value, 1))

    def route(self, node: Node, number: int) -> Route:
        where = f"approvals.routes[{number}]"
        fields = dict(self.items(node, where))
        found = {key.value: value for key, value in fields.items()}
        for key in fields:
            if key.value not in {"environments", "approvers", "required", "channel"}:
                self.unknown_key(key, where, "environments, approvers, required, channel")
        if "environments" not in found:
            self.fail(node, f"{where} needs environments: the environment ids it covers")
        environments = []
        for item in self.scalars(found["environments"], f"{where}.environments"):
            if not _ENV_ID.fullmatch(item.value):
                self.fail(item, f"“{item.value}” is not an environment id (ae_… or env_…)")
            environments.append(item.value)
        if not environments:
            self.fail(found["environments"], f"{where}.environments is empty")
        approvers = frozenset(
            self.slack_id(item, "UWS", "a user or a user group")
            for item in self.scalars(found.get("approvers", _null()), f"{where}.approvers")
        )
        required = (
            self.positive_int(found["required"], f"{where}.required")
            if "required" in found
            else None
        )
        channel = self.channel(found["channel"], f"{where}.channel") if "channel" in found else None
        return Route(frozenset(environments), approvers, required, channel)

    def required_for(self, node: Node) -> dict[str, int]:
        if self.is_null(node):
            return {}
        rules: dict[str, int] = {}
        for key, value in self.items(node, "approvals.required_for"):
            permission = self.permission(key, concrete_changes_only=True)
            rules[permission] = self.positive_int(value, f"approvals.required_for.{permission}")
        return rules

    def boolean(self, node: Node, what: str) -> bool:
        if not (isinstance(node, ScalarNode) and node.tag == _TAG_BOOL):
            self.fail(node, f"{what} should be true or false")
        return node.value.lower() in {"true", "yes", "on", "y"}

    def duration(self, node: Node, what: str, *, allow_zero: bool = False) -> timedelta:
        text = node.value.strip() if isinstance(node, ScalarNode) else ""
        if allow_zero and text == "0":
            return timedelta(0)
        if not _DURATION.fullmatch(text):
            self.fail(node, f"{what} should be a duration like 30s, 5m, 24h or 7d")
        if any(len(number) > 6 for number, _ in _DURATION_PART.findall(text)):
            self.fail(node, f"{what} is longer than {MAX_EXPIRES_AFTER.days}d")
        parts = {_UNITS[unit]: 0 for unit in _UNITS}
        for number, unit in _DURATION_PART.findall(text):
            parts[_UNITS[unit]] += int(number)
        duration = timedelta(**parts)
        if duration <= timedelta(0) and not allow_zero:
            self.fail(node, f"{what} should be longer than zero")
        if duration > MAX_EXPIRES_AFTER:
            self.fail(node, f"{what} is longer than {MAX_EXPIRES_AFTER.days}d")
        return duration

    def approvals(self, node: Node) -> ApprovalRules:
        if self.is_null(node):
            return ApprovalRules()
        rules = ApprovalRules()
        for key, value in self.items(node, "approvals"):
            name = f"approvals.{key.value}"
            if key.value == "required":
                rules = replace(rules, required=self.positive_int(value, name))
            elif key.value == "required_for":
                rules = replace(rules, required_for=self.required_for(value))
            elif key.value == "allow_self_approval":
                rules = replace(rules, allow_self_approval=self.boolean(value, name))
            elif key.value == "expires_after":
                rules = replace(rules, expires_after=self.duration(value, name))
            elif key.value == "reason_required":
                rules = replace(rules, reason_required=self.boolean(value, name))
            elif key.value == "remind_after":
                rules = replace(rules, remind_after=self.duration(value, name))
            elif key.value == "routes":
                rules = replace(rules, routes=self.routes(value))
            elif key.value == "max_pending_per_person":
                rules = replace(rules, max_pending_per_person=self.positive_int(value, name))
            elif key.value == "rotation_grace":
                grace = self.duration(value, name, allow_zero=True)
                if grace > MAX_ROTATION_GRACE:
                    self.fail(value, f"{name} is longer than {MAX_ROTATION_GRACE.days}d")
                rules = replace(rules, rotation_grace=grace or None)
            else:
                self.unknown_key(
                    key,
                    "approvals",
                    "required, required_for, allow_self_approval, expires_after, "
                    "reason_required, remind_after, routes, max_pending_per_person, "
                    "rotation_grace",
                )
        return rules


def _null() -> ScalarNode:
    """An empty YAML value, for an optional key left out."""
    return ScalarNode(_TAG_NULL, "")
