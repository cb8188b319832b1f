"""Who may do what, and where: the policy file and the one function that decides.

The policy file (interface.md §3) is read once at start-up. It is checked against the YAML node
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
from datetime import timedelta
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

_SLACK_ID = re.compile(r"[A-Z][A-Z0-9]+")
_ROLE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_DURATION = re.compile(r"(?:\d+[mhd])+")
_DURATION_PART = re.compile(r"(\d+)([mhd])")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}
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
    """Where fpbot listens and posts. An empty ``commands`` means any channel."""

    commands: frozenset[str] = frozenset()
    approvals: str | None = None
    notifications: str | None = None


@dataclass(frozen=True, slots=True)
class ApprovalRules:
    """How many distinct approvers a change needs, and for how long a request stays open."""

    required: int = 1
    required_for: Mapping[str, int] = field(default_factory=dict)
    allow_self_approval: bool = False
    expires_after: timedelta = DEFAULT_EXPIRES_AFTER


@dataclass(frozen=True)
class Policy:
    """The parsed policy file.

    Attributes:
        roles: role name → permissions as written (wildcards ``envs.*`` and ``*`` kept).
        grants: Slack user or user-group id → role names.
        channels: where commands are allowed and where fpbot posts.
        approvals: the approval rules.
    """

    roles: Mapping[str, frozenset[str]]
    grants: Mapping[str, frozenset[str]]
    channels: Channels = Channels()
    approvals: ApprovalRules = ApprovalRules()
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
        """The user groups that hold grants: the only ones worth asking Slack about."""
        return frozenset(grantee for grantee in self.grants if grantee.startswith("S"))


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
        permission, guarded = action, command_is_channel_guarded
    else:
        permission, guarded = action.permission, action.channel_guarded
    if permission is not None and permission not in PERMISSIONS:
        raise ValueError(f"unknown permission {permission!r}")
    if permission is None and not guarded:
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


def required_approvals(policy: Policy, permission: str) -> int:
    """How many distinct approvals a change needing ``permission`` waits for.

    The most specific rule wins: ``keys.delete``, then ``keys.*``, then ``*``, then
    ``approvals.required``.
    """
    rules = policy.approvals.required_for
    area = permission.split(".", 1)[0]
    for key in (permission, f"{area}.*", "*"):
        if key in rules:
            return rules[key]
    return policy.approvals.required


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
        for name, key in keys.items():
            if name not in {"roles", "grants", "channels", "approvals"}:
                self.fail(
                    key,
                    f"unknown top-level key {name} (known: roles, grants, channels, approvals)",
                )
        for required in ("roles", "grants"):
            if required not in sections:
                self.fail(root, f"the policy has no {required} section")
        roles = self.roles(sections["roles"])
        grants = self.grants(sections["grants"], roles)
        channels = self.channels(sections["channels"]) if "channels" in sections else Channels()
        approvals = (
            self.approvals(sections["approvals"]) if "approvals" in sections else ApprovalRules()
        )
        return Policy(roles=roles, grants=grants, channels=channels, approvals=approvals)

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
            else:
                self.unknown_key(key, "channels", "commands, approvals, notifications")
        return channels

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

    def duration(self, node: Node, what: str) -> timedelta:
        text = node.value.strip() if isinstance(node, ScalarNode) else ""
        if not _DURATION.fullmatch(text):
            self.fail(node, f"{what} should be a duration like 30m, 24h or 7d")
        if any(len(number) > 6 for number, _ in _DURATION_PART.findall(text)):
            self.fail(node, f"{what} is longer than {MAX_EXPIRES_AFTER.days}d")
        parts = {_UNITS[unit]: 0 for unit in _UNITS}
        for number, unit in _DURATION_PART.findall(text):
            parts[_UNITS[unit]] += int(number)
        duration = timedelta(**parts)
        if duration <= timedelta(0):
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
            else:
                self.unknown_key(
                    key, "approvals", "required, required_for, allow_self_approval, expires_after"
                )
        return rules
