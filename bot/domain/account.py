"""The account as the watch sees it, what changed between two looks, and who changed it.

Fingerprint keeps no audit log, so fpbot compares what it reads with what it read last time
(a `Snapshot`): `diff` lists what was created, updated (field by field, before → after) or
deleted. fpbot's own change requests say what fpbot wrote (`own_writes`); `outside` keeps
only the changes none of them explains — made in Fingerprint's dashboard, or by another tool.

All of it is pure data and pure functions, so the rules are tested as tables and the store
keeps snapshots and the change log without knowing the watch.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from bot.domain.requests import ChangeRequest


class Resource(StrEnum):
    ENVIRONMENT = "environment"
    API_KEY = "api_key"
    WEBHOOK = "webhook"
    FILTERING_RULE = "filtering_rule"
    ENCRYPTION_KEY = "encryption_key"
    SUBDOMAIN = "subdomain"


class ChangeKind(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    DELETED = "deleted"


class Source(StrEnum):
    """Who made a change in the log: fpbot (an approved request) or someone outside it."""

    FPBOT = "fpbot"
    OUTSIDE = "outside"


class Decision(StrEnum):
    """What someone decided about an outside change (its buttons)."""

    ACKNOWLEDGED = "acknowledged"
    KEPT = "kept"
    REVERT_REQUESTED = "revert_requested"


#: The fields the watch compares, per resource; values are kept as text (``None``: unset).
#: Only what people change is compared: a webhook's ``verified`` and a subdomain's status are
#: Fingerprint's (a verification moves them), and a filtering rule's position is left out
#: because adding, moving or removing one rule renumbers the others of its environment — so a
#: reorder made outside fpbot goes unreported. An encryption key's tokens are secrets and never
#: read; ``last_rotated`` says a rotation happened.
WATCHED: Mapping[Resource, tuple[str, ...]] = {
    Resource.ENVIRONMENT: ("name", "description", "limit_mode", "limit_value"),
    Resource.API_KEY: ("name", "description", "status", "rate_limit", "environment"),
    Resource.WEBHOOK: ("url", "description", "status", "environment"),
    Resource.FILTERING_RULE: ("name", "expression", "action", "status", "environment"),
    Resource.ENCRYPTION_KEY: ("name", "status", "last_rotated"),
    Resource.SUBDOMAIN: ("hostname",),
}
#: What a snapshot covers when it does not say: every snapshot stored before the watch read
#: filtering rules, encryption keys and subdomains (which only ``2025-11-20`` has).
BASE: frozenset[Resource] = frozenset({Resource.ENVIRONMENT, Resource.API_KEY, Resource.WEBHOOK})


@dataclass(frozen=True, slots=True)
class Item:
    """One resource as read: its id, what a person calls it (a webhook: its URL), the
    environment it belongs to (an environment: itself), and its watched fields."""

    resource: Resource
    id: str
    name: str
    environment: str | None
    fields: Mapping[str, str | None]


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The account as read, by resource and id, and which resources were read (``watched``):
    a resource read once and not the other time has not changed, it was not looked at."""

    items: Mapping[tuple[Resource, str], Item] = field(default_factory=dict)
    watched: frozenset[Resource] = BASE

    @classmethod
    def of(cls, items: Iterable[Item], watched: Iterable[Resource] = BASE) -> Snapshot:
        return cls({(item.resource, item.id): item for item in items}, frozenset(watched))

    def count(self, resource: Resource) -> int:
        return sum(1 for kind, _ in self.items if kind is resource)

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe form for the store (`from_json` reads it back)."""
        return {
            "watched": sorted(r.value for r in self.watched),
            "items": [
                {
                    "resource": item.resource.value,
                    "id": item.id,
                    "name": item.name,
                    "environment": item.environment,
                    "fields": dict(item.fields),
                }
                for item in self.items.values()
            ],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> Snapshot:
        """The snapshot `to_json` stored; one without ``watched`` covers `BASE`. A resource
        this fpbot does not know (one a later version stored) is left out, items and all."""
        if not data:
            return cls()
        known = {r.value for r in Resource}
        watched = [Resource(r) for r in data.get("watched", BASE) if r in known]
        return cls.of(
            (
                Item(
                    resource=Resource(raw["resource"]),
                    id=str(raw["id"]),
                    name=str(raw.get("name") or ""),
                    environment=raw.get("environment"),
                    fields=dict(raw.get("fields") or {}),
                )
                for raw in data.get("items", ())
                if raw.get("resource") in known
            ),
            watched,
        )


@dataclass(frozen=True, slots=True)
class FieldChange:
    field: str
    before: str | None
    after: str | None


@dataclass(frozen=True, slots=True)
class AccountChange:
    """One resource created, updated or deleted; ``fields`` before → after."""

    resource: Resource
    id: str
    name: str
    environment: str | None
    kind: ChangeKind
    fields: tuple[FieldChange, ...]


def diff(before: Snapshot, after: Snapshot) -> list[AccountChange]:
    """What changed from ``before`` to ``after``, ordered by resource, then id.

    Only the resources both snapshots cover are compared: after ``FP_API_VERSION`` changes,
    the resources one version has and the other lacks neither appear nor vanish.
    """
    both = before.watched & after.watched
    changes: list[AccountChange] = []
    for key in sorted(k for k in set(before.items) | set(after.items) if k[0] in both):
        old, new = before.items.get(key), after.items.get(key)
        if old is None and new is not None:
            fields = tuple(FieldChange(f, None, v) for f, v in new.fields.items() if v is not None)
            changes.append(_change(new, ChangeKind.CREATED, fields))
        elif new is None and old is not None:
            fields = tuple(FieldChange(f, v, None) for f, v in old.fields.items() if v is not None)
            changes.append(_change(old, ChangeKind.DELETED, fields))
        elif old is not None and new is not None:
            names = list(dict.fromkeys([*old.fields, *new.fields]))
            fields = tuple(
                FieldChange(f, old.fields.get(f), new.fields.get(f))
                for f in names
                if old.fields.get(f) != new.fields.get(f)
            )
            if fields:
                changes.append(_change(new, ChangeKind.UPDATED, fields))
    return changes


def _change(item: Item, kind: ChangeKind, fields: tuple[FieldChange, ...]) -> AccountChange:
    return AccountChange(item.resource, item.id, item.name, item.environment, kind, fields)


# ── what fpbot wrote ────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True, slots=True)
class OwnWrite:
    """What one of fpbot's requests may have written to the account.

    Attributes:
        id: the resource's id; ``None`` for a create still running (the id is not known yet:
            ``name``, or a name starting with ``name_prefix``, recognises what it creates).
        fields: for an update, each field and the value written; for a create, what the
            change log shows when the request's own ``after`` does not say it field by field.
        touched: for an update, the fields written with a value fpbot cannot know (the time
            of a rotation): whatever they now hold is fpbot's.
    """

    resource: Resource
    kind: ChangeKind
    id: str | None
    name: str | None = None
    name_prefix: str | None = None
    fields: Mapping[str, str | None] = field(default_factory=dict)
    touched: frozenset[str] = frozenset()

    def created(self, change: AccountChange) -> bool:
        """Whether this write is what created ``change``'s resource."""
        if self.kind is not ChangeKind.CREATED or self.resource is not change.resource:
            return False
        if self.id is not None:
            return self.id == change.id
        if self.name is not None and change.name == self.name:
            return True
        return self.name_prefix is not None and change.name.startswith(self.name_prefix)


#: Which resource each change action writes, and how; an action of several kinds (its
#: ``params["op"]``, or none for the first kind it had) is keyed ``action:op``.
_ACTIONS: Mapping[str, tuple[Resource, ChangeKind, str]] = {
    "envs.create": (Resource.ENVIRONMENT, ChangeKind.CREATED, "env_id"),
    "envs.update": (Resource.ENVIRONMENT, ChangeKind.UPDATED, "env_id"),
    "envs.delete": (Resource.ENVIRONMENT, ChangeKind.DELETED, "env_id"),
    "keys.create": (Resource.API_KEY, ChangeKind.CREATED, "key_id"),
    "keys.update": (Resource.API_KEY, ChangeKind.UPDATED, "key_id"),
    "keys.delete": (Resource.API_KEY, ChangeKind.DELETED, "key_id"),
    "keys.rotate": (Resource.API_KEY, ChangeKind.UPDATED, "key_id"),
    "webhooks.create": (Resource.WEBHOOK, ChangeKind.CREATED, "webhook_id"),
    "webhooks.update": (Resource.WEBHOOK, ChangeKind.UPDATED, "webhook_id"),
    "webhooks.delete": (Resource.WEBHOOK, ChangeKind.DELETED, "webhook_id"),
    # Expression rules; the origin lists of 2024-05-20 (``origin_add``, ``origin_remove``)
    # and a rule's move (its position) write nothing the watch compares.
    "rules.create:add": (Resource.FILTERING_RULE, ChangeKind.CREATED, "rule_id"),
    "rules.update:change": (Resource.FILTERING_RULE, ChangeKind.UPDATED, "rule_id"),
    "rules.delete:remove": (Resource.FILTERING_RULE, ChangeKind.DELETED, "rule_id"),
    "enckeys.update": (Resource.ENCRYPTION_KEY, ChangeKind.UPDATED, "key_id"),
    "enckeys.rotate:rotate": (Resource.ENCRYPTION_KEY, ChangeKind.UPDATED, "key_id"),
    "enckeys.rotate:revert": (Resource.ENCRYPTION_KEY, ChangeKind.UPDATED, "key_id"),
    # A verification moves only the subdomain's status, which the watch leaves to Fingerprint.
    "subdomains.create": (Resource.SUBDOMAIN, ChangeKind.CREATED, "subdomain_id"),
    "subdomains.delete": (Resource.SUBDOMAIN, ChangeKind.DELETED, "subdomain_id"),
}
#: The first kind of each action of several: what a request without an ``op`` is.
_FIRST_OP: Mapping[str, str] = {
    "rules.create": "add",
    "rules.update": "change",
    "rules.delete": "remove",
    "enckeys.rotate": "rotate",
}
#: The fields each update may write, per resource (an encryption key's request also carries
#: its current name, which it does not write).
_WRITTEN: Mapping[Resource, tuple[str, ...]] = {
    Resource.FILTERING_RULE: ("name", "expression", "action", "status"),
    Resource.ENCRYPTION_KEY: ("status",),
}
#: The name a rotation gives the replacement key starts with the old key's name and this.
ROTATED = " (rotated "


def _known(request: ChangeRequest) -> tuple[Resource, ChangeKind, str] | None:
    first = _FIRST_OP.get(request.action)
    if first is None:
        return _ACTIONS.get(request.action)
    return _ACTIONS.get(f"{request.action}:{request.params.get('op', first)}")


def own_writes(request: ChangeRequest) -> list[OwnWrite]:
    """What ``request`` wrote, or may have written, to what the watch compares (nothing for
    other changes)."""
    known = _known(request)
    if known is None:
        return []
    resource, kind, id_param = known
    params, result = request.params, request.result or {}
    if kind is ChangeKind.CREATED:
        if resource is Resource.WEBHOOK:
            name = params.get("url")
        elif resource is Resource.SUBDOMAIN:
            name = params.get("hostname")
        else:
            name = params.get("name")
        created: dict[str, str | None] = {}
        if resource is Resource.FILTERING_RULE:
            created = {
                "name": text_of(name),
                "expression": text_of(params.get("expression")),
                "action": text_of(params.get("action")),
                "environment": text_of(params.get("env_id")),
            }
        elif resource is Resource.SUBDOMAIN:
            created = {"hostname": text_of(name)}
        return [
            OwnWrite(
                resource, kind, text_of(result.get(id_param)), name=text_of(name), fields=created
            )
        ]
    resource_id = text_of(params.get(id_param))
    if resource_id is None:
        return []
    if kind is ChangeKind.DELETED:
        return [OwnWrite(resource, kind, resource_id, name=text_of(params.get("name")))]
    if request.action == "enckeys.rotate":
        # A revert may or may not move the time of the last rotation: either is fpbot's.
        return [OwnWrite(resource, kind, resource_id, touched=frozenset({"last_rotated"}))]
    if request.action == "keys.rotate" and params.get("op") == "revert":
        # The Revert of a rotation in its grace period: the old key works again, the
        # replacement no longer does.
        replacement = text_of(params.get("replacement_id"))
        back = [OwnWrite(resource, kind, resource_id, fields={"status": "enabled"})]
        if replacement is not None:
            back.append(OwnWrite(resource, kind, replacement, fields={"status": "disabled"}))
        return back
    if request.action == "keys.rotate":
        old = OwnWrite(resource, kind, resource_id, fields={"status": "disabled"})
        replacement = text_of(result.get("replacement_id"))
        old_name = str(params.get("name") or "")
        # A long name is cut to make room for the suffix: then its start is what is known.
        prefix = old_name.rstrip() + ROTATED if len(old_name) <= 200 else old_name[:200]
        new = OwnWrite(resource, ChangeKind.CREATED, replacement, name_prefix=prefix)
        return [old, new]
    names = _WRITTEN.get(resource, ("name", "status", "url"))
    written: dict[str, str | None] = {f: text_of(params[f]) for f in names if f in params}
    return [OwnWrite(resource, kind, resource_id, fields=written)]


def outside(changes: Sequence[AccountChange], writes: Iterable[OwnWrite]) -> list[AccountChange]:
    """The part of ``changes`` that fpbot's ``writes`` do not explain.

    A creation or a deletion is fpbot's when one of its writes created or deleted that
    resource; an update is fpbot's field by field, when a write set that field to the value
    now there (or touched it with a value it cannot know). A field fpbot set and someone
    changed again afterwards is outside, and shown from the value fpbot wrote; one fpbot
    touched is fpbot's whatever it holds (an encryption key rotated by fpbot and again in the
    dashboard within one interval is not reported).
    """
    writes = list(writes)
    found: list[AccountChange] = []
    for change in changes:
        if change.kind is ChangeKind.CREATED:
            if not any(w.created(change) for w in writes):
                found.append(change)
            continue
        same = [w for w in writes if w.resource is change.resource and w.id == change.id]
        if change.kind is ChangeKind.DELETED:
            if not any(w.kind is ChangeKind.DELETED for w in same):
                found.append(change)
            continue
        updates = [w for w in same if w.kind is ChangeKind.UPDATED]
        left = []
        for fc in change.fields:
            if any(fc.field in w.touched for w in updates):
                continue
            written = [w.fields[fc.field] for w in updates if fc.field in w.fields]
            if fc.after in written:
                continue
            left.append(replace(fc, before=written[-1]) if written else fc)
        if left:
            found.append(replace(change, fields=tuple(left)))
    return found


# ── the change log ──────────────────────────────────────────────────────────────────────────


def own_changes(request: ChangeRequest) -> list[AccountChange]:
    """What a succeeded request changed, for the change log (before → after as requested).

    A request whose ``before`` and ``after`` are not the resource's fields (a filtering rule's
    are its environment's rules in order) is logged with the fields it wrote; a value it does
    not know before is ``None``.
    """
    before = _scalars(request.before)
    after = _scalars(request.after)
    result = request.result or {}
    changes = []
    for write in own_writes(request):
        resource_id = write.id or text_of(
            result.get("replacement_id") if write.name_prefix else None
        )
        if resource_id is None:
            continue
        if write.name_prefix is not None:  # a rotation's replacement
            name = str(result.get("replacement_name") or "")
            fields: tuple[FieldChange, ...] = (FieldChange("name", None, name),)
            changes.append(
                AccountChange(
                    write.resource,
                    resource_id,
                    name,
                    request.environment,
                    ChangeKind.CREATED,
                    fields,
                )
            )
            continue
        if write.kind is ChangeKind.CREATED:
            values = write.fields or after
            fields = tuple(FieldChange(k, None, text_of(v)) for k, v in values.items() if v)
        elif write.kind is ChangeKind.DELETED:
            fields = tuple(FieldChange(k, text_of(v), None) for k, v in before.items() if v)
        else:
            keys = [k for k in after if k in write.fields] or list(write.fields)
            fields = tuple(
                FieldChange(k, text_of(before.get(k)), text_of(after.get(k, write.fields[k])))
                for k in keys
                if before.get(k) != after.get(k, write.fields[k])
            )
        name = str(
            after.get("name")
            or before.get("name")
            or after.get("url")
            or before.get("url")
            or after.get("subdomain")
            or before.get("subdomain")
            or result.get("name")
            or write.name
            or ""
        )
        environment = resource_id if write.resource is Resource.ENVIRONMENT else request.environment
        changes.append(
            AccountChange(write.resource, resource_id, name, environment, write.kind, fields)
        )
    return changes


def _scalars(values: Mapping[str, Any] | None) -> dict[str, Any]:
    """A request's ``before`` or ``after`` without lists (a rule's environment's rules)."""
    return {k: v for k, v in (values or {}).items() if not isinstance(v, list | dict)}


@dataclass(frozen=True, slots=True)
class LoggedChange:
    """One entry of the change log, as the store keeps it.

    Attributes:
        source: fpbot (``request_id`` and ``actor``, the requester, say which request) or
            outside (found by the watch pass numbered ``found_in``).
        report_channel, report_ts: the message in the notifications channel that reported
            an outside change, once posted.
        decision, decided_by, decided_at: what someone decided about an outside change;
            ``revert_request`` is the change request that undoes it.
    """

    id: int
    at: datetime
    source: Source
    change: AccountChange
    request_id: str | None = None
    actor: str | None = None
    found_in: int | None = None
    report_channel: str | None = None
    report_ts: str | None = None
    decision: Decision | None = None
    decided_by: str | None = None
    decided_at: datetime | None = None
    revert_request: str | None = None


def text_of(value: Any) -> str | None:
    """A field's value as the watch compares it: text, numbers without a needless ``.0``."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
