"""The ``/fp`` grammar: what a person may type, turned into typed commands.

This is the only place that knows how the text after ``/fp`` is read. ``parse`` is pure and
total: any string either becomes one of the frozen command objects below or raises
``UsageError`` with a sentence saying what was wrong and the usage to show. Nothing here talks
to Slack or the Management API, so an id that has the right *form* may still not exist;
`bot.changes.actions.plan` checks it against the account before a change request is made.

Reading rules:

* Slack's HTML escapes (``&amp; &lt; &gt;``) are undone first; non-breaking and other Unicode
  spaces count as spaces.
* The last positional argument takes the rest of the line, so quotes are needed only when an
  option follows: ``envs create Staging EU`` names "Staging EU". That rest is kept as typed,
  quotes included (``Rock 'n' Roll``, ``The "best" key``); only a rest that is one quoted
  whole (``"Staging EU"``) loses its surrounding quotes.
* Straight and typographic quotes (“…” and their single counterparts) group words. A quote
  opens only at the start of a word and closes only at the end of one, so apostrophes inside
  names ("Bob's env") need no care. A single quote that is never closed is an apostrophe
  (``'90s env``); a double quote that is never closed is refused.
* Options are ``--name value`` or ``--name=value``; the dashes may also be the em or en dash
  that macOS substitutes for ``--``. ``--description`` takes words up to the next option; the
  others take one word.
* Ids may arrive auto-linked by Slack (``<ae_123|ae_123>``), in backticks or padded with spaces.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from enum import Enum
from typing import ClassVar, NoReturn, TypeAlias
from urllib.parse import urlsplit

from bot.domain.secrets import SecretRefused, refuse_secrets
from bot.fingerprint.models import KeyType, LimitMode, RuleAction, Status

SLASH_COMMAND = "/fp"
MAX_TEXT_LENGTH = 4000
NAME_MIN, NAME_MAX = 3, 255
ENV_DESCRIPTION_MAX = 256
WEBHOOK_DESCRIPTION_MAX = 256
URL_MAX = 2048
AUDIT_DEFAULT, AUDIT_MIN, AUDIT_MAX = 20, 1, 100
CHANGES_DEFAULT = 20
#: The longest ``--since`` a log is read back over.
SINCE_MAX = timedelta(days=366)
REASON_MAX = 500
EXPRESSION_MAX = 4096
HOSTNAME_MAX = 253
#: A rule's place in its environment's order, as people count (1 = evaluated first).
POSITION_MIN, POSITION_MAX = 1, 1000
#: Requests per second an API key may be given (the API's minimum; no maximum is documented).
RATE_LIMIT_MIN, RATE_LIMIT_MAX = 0.1, 1_000_000.0
LIMIT_VALUE_MAX = 10**12
#: The longest grace period a rotation may keep the old key enabled.
GRACE_MAX = timedelta(days=30)
#: The Management API versions, as ``X-API-Version`` names them (`bot.fingerprint.client`).
API_2024 = "2024-05-20"
API_2025 = "2025-11-20"


class UsageError(ValueError):
    """Wrong input, explained: the reply shows ``problem`` and then ``usage``.

    Attributes:
        problem: one sentence, without a trailing period, saying what was wrong.
        usage: the correct usage (without ``/fp``); several lines when a whole group applies.
    """

    def __init__(self, problem: str, usage: str) -> None:
        super().__init__(problem, usage)
        self.problem = problem
        self.usage = usage

    def __str__(self) -> str:
        lines = "\n".join(f"{SLASH_COMMAND} {line}" for line in self.usage.splitlines())
        return f"{self.problem}.\nUsage:\n{lines}"


# --------------------------------------------------------------------------------------------
# The commands


class _Spec:
    """Class-level facts every command carries; the policy and help read them, not the handler.

    ``channel_guarded`` is a property of the command, not of the call site, so the channel
    allowlist cannot be forgotten or misapplied by a listener.
    """

    __slots__ = ()
    permission: ClassVar[str | None]
    usage: ClassVar[str]
    summary: ClassVar[str]
    channel_guarded: ClassVar[bool] = True
    #: Help and whoami answer even a stranger, who learns from them how to get access.
    open_to_anyone: ClassVar[bool] = False
    makes_change: ClassVar[bool] = False
    #: The one Management API version the command exists in (``None``: both).
    api_version: ClassVar[str | None] = None


@dataclass(frozen=True, slots=True)
class Help(_Spec):
    permission = None
    open_to_anyone = True
    usage = "help [topic]"
    summary = "The commands you may use"
    channel_guarded = False
    topic: str | None = None


@dataclass(frozen=True, slots=True)
class WhoAmI(_Spec):
    permission = None
    open_to_anyone = True
    usage = "whoami"
    summary = "Your roles and permissions, and who runs fpbot"
    channel_guarded = False


@dataclass(frozen=True, slots=True)
class ListEnvs(_Spec):
    permission = "envs.list"
    usage = "envs"
    summary = "List every environment, in the channel"


@dataclass(frozen=True, slots=True)
class CreateEnv(_Spec):
    permission = "envs.create"
    usage = "envs create <name> [--description <text>]"
    summary = "Ask to create an environment"
    makes_change = True
    name: str
    description: str | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class RenameEnv(_Spec):
    permission = "envs.update"
    usage = "envs rename <env_id> <new name>"
    summary = "Ask to rename an environment (by id or exact name)"
    makes_change = True
    env: str
    name: str
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class DeleteEnv(_Spec):
    permission = "envs.delete"
    usage = "envs delete <env_id>"
    summary = "Ask to delete an environment (by id or exact name)"
    makes_change = True
    env: str
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class SetEnvLimit(_Spec):
    permission = "envs.update"
    usage = "envs limit <env_id> <none|notify|restrict> [<requests_per_month>]"
    summary = "Ask to set an environment's monthly usage limit (notify by email, or restrict)"
    makes_change = True
    env: str
    mode: LimitMode
    value: int | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class ListKeys(_Spec):
    permission = "keys.list"
    usage = "keys [--env <env_id>] [--type public|secret|proxy] [--status enabled|disabled]"
    summary = "List API keys, in the channel (secret tokens are never shown)"
    environment: str | None = None
    type: KeyType | None = None
    status: Status | None = None


@dataclass(frozen=True, slots=True)
class CreateKey(_Spec):
    permission = "keys.create"
    usage = "keys create <public|secret|proxy> <name> [--env <env_id>] [--description <text>]"
    summary = "Ask to create an API key"
    makes_change = True
    type: KeyType
    name: str
    environment: str | None = None
    reason: str | None = None
    description: str | None = None


@dataclass(frozen=True, slots=True)
class RenameKey(_Spec):
    permission = "keys.update"
    usage = "keys rename <key_id> <new name>"
    summary = "Ask to rename an API key (by id or exact name)"
    makes_change = True
    key: str
    name: str
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class SetKeyStatus(_Spec):
    permission = "keys.update"
    usage = "keys enable|disable <key_id>"
    summary = "Ask to enable or disable an API key"
    makes_change = True
    key: str
    status: Status
    reason: str | None = None
    #: The rotation whose grace period this ends ("Disable old key now"), if any.
    grace_of: str | None = None


@dataclass(frozen=True, slots=True)
class DeleteKey(_Spec):
    permission = "keys.delete"
    usage = "keys delete <key_id>"
    summary = "Ask to delete an API key"
    makes_change = True
    key: str
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class RotateKey(_Spec):
    permission = "keys.rotate"
    usage = "keys rotate <key_id> [--grace <duration>]"
    summary = (
        "Ask to replace an API key with a new one of the same type, then disable it "
        "(after the grace period, e.g. --grace 24h)"
    )
    makes_change = True
    key: str
    reason: str | None = None
    #: How long the old key stays enabled (``None``: the policy's default; zero: none).
    grace: timedelta | None = None


@dataclass(frozen=True, slots=True)
class SetKeyRateLimit(_Spec):
    permission = "keys.update"
    usage = "keys rate-limit <key_id> <requests_per_second>"
    summary = "Ask to change how many requests per second an API key may make"
    makes_change = True
    key: str
    rate_limit: float
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class DescribeKey(_Spec):
    permission = "keys.update"
    usage = "keys describe <key_id> <description>"
    summary = "Ask to change an API key's description"
    makes_change = True
    key: str
    description: str
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class RevertKeyRotation(_Spec):
    """The Revert button of a rotation in its grace period: enable the old key again and
    disable its replacement. Made from the rotation's request, never typed."""

    permission = "keys.rotate"
    usage = "keys rotate <key_id> --grace <duration>, then Revert on its card"
    summary = "Ask to undo a rotation during its grace period"
    makes_change = True
    rotation: str
    key: str
    replacement: str
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class ListWebhooks(_Spec):
    permission = "webhooks.list"
    usage = "webhooks [--status enabled|disabled] [--env <env_id>]"
    summary = "List webhooks, in the channel"
    status: Status | None = None
    environment: str | None = None


@dataclass(frozen=True, slots=True)
class CreateWebhook(_Spec):
    permission = "webhooks.create"
    usage = (
        "webhooks create <https url> [--description <text>] [--env <env_id>] "
        "[--status enabled|disabled]"
    )
    summary = "Ask to create a webhook"
    makes_change = True
    url: str
    description: str | None = None
    environment: str | None = None
    reason: str | None = None
    status: Status | None = None


@dataclass(frozen=True, slots=True)
class SetWebhookStatus(_Spec):
    permission = "webhooks.update"
    usage = "webhooks enable|disable <webhook_id>"
    summary = "Ask to enable or disable a webhook (by id or URL)"
    makes_change = True
    webhook: str
    status: Status
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class DeleteWebhook(_Spec):
    permission = "webhooks.delete"
    usage = "webhooks delete <webhook_id>"
    summary = "Ask to delete a webhook (by id or URL)"
    makes_change = True
    webhook: str
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class UpdateWebhook(_Spec):
    permission = "webhooks.update"
    usage = (
        "webhooks update <webhook_id> [--url <https url>] [--description <text>] [--env <env_id>]"
    )
    summary = "Ask to change a webhook's URL, description or environment"
    makes_change = True
    webhook: str
    url: str | None = None
    description: str | None = None
    environment: str | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class VerifyWebhook(_Spec):
    permission = "webhooks.update"
    usage = "webhooks verify <webhook_id>"
    summary = "Ask Fingerprint to call a webhook's URL and mark it verified if it answers"
    makes_change = True
    webhook: str
    reason: str | None = None


# Filtering rules: origin lists under 2024-05-20, ordered expression rules under 2025-11-20.


@dataclass(frozen=True, slots=True)
class ListRules(_Spec):
    permission = "rules.list"
    usage = "rules [--env <env_id>]"
    summary = "List filtering rules, in the channel (origin lists or expression rules)"
    environment: str | None = None


@dataclass(frozen=True, slots=True)
class AddOrigin(_Spec):
    permission = "rules.create"
    api_version = API_2024
    usage = "rules add <env_id> allow|deny <origin>"
    summary = "Ask to add an origin to an environment's allow or deny list"
    makes_change = True
    env: str
    kind: RuleAction
    origin: str
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class RemoveOrigin(_Spec):
    permission = "rules.delete"
    api_version = API_2024
    usage = "rules remove <env_id> allow|deny <origin>"
    summary = "Ask to remove an origin from an environment's allow or deny list"
    makes_change = True
    env: str
    kind: RuleAction
    origin: str
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class AddRule(_Spec):
    permission = "rules.create"
    api_version = API_2025
    usage = (
        "rules add <env_id> <expression> [--action block|allow] [--position N] "
        "[--name <name>] [--test <request_id>]"
    )
    summary = "Ask to add an expression rule (evaluated in order; the first match decides)"
    makes_change = True
    env: str
    expression: str
    action: RuleAction = RuleAction.DENY
    position: int | None = None
    name: str | None = None
    test: str | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class ChangeRule(_Spec):
    permission = "rules.update"
    api_version = API_2025
    usage = (
        "rules change <rule_id> [<expression>] [--action block|allow] [--name <name>] "
        "[--status enabled|disabled] [--test <request_id>]"
    )
    summary = "Ask to change an expression rule"
    makes_change = True
    rule: str
    expression: str | None = None
    action: RuleAction | None = None
    name: str | None = None
    status: Status | None = None
    test: str | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class MoveRule(_Spec):
    permission = "rules.update"
    api_version = API_2025
    usage = "rules move <rule_id> <position> [--test <request_id>]"
    summary = "Ask to move an expression rule in its environment's order (1 = first)"
    makes_change = True
    rule: str
    position: int
    test: str | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class RemoveRule(_Spec):
    permission = "rules.delete"
    api_version = API_2025
    usage = "rules remove <rule_id> [--test <request_id>]"
    summary = "Ask to delete an expression rule"
    makes_change = True
    rule: str
    test: str | None = None
    reason: str | None = None


# Encryption keys for Sealed Results (2025-11-20): one per environment.


@dataclass(frozen=True, slots=True)
class ListEncKeys(_Spec):
    permission = "enckeys.list"
    api_version = API_2025
    usage = "enckeys [--env <env_id>] [--status enabled|disabled]"
    summary = "List encryption keys, in the channel (their tokens are never shown)"
    environment: str | None = None
    status: Status | None = None


@dataclass(frozen=True, slots=True)
class RotateEncKey(_Spec):
    permission = "enckeys.rotate"
    api_version = API_2025
    usage = "enckeys rotate <key_id> [--grace <duration>]"
    summary = (
        "Ask to rotate an encryption key (by id, name or environment); Revert stays "
        "possible during the grace period"
    )
    makes_change = True
    key: str
    reason: str | None = None
    grace: timedelta | None = None


@dataclass(frozen=True, slots=True)
class RevertEncKey(_Spec):
    permission = "enckeys.rotate"
    api_version = API_2025
    usage = "enckeys revert <key_id>"
    summary = "Ask to undo an encryption key's last rotation"
    makes_change = True
    key: str
    reason: str | None = None
    #: The rotation whose grace period this Revert ends, if any.
    grace_of: str | None = None


@dataclass(frozen=True, slots=True)
class SetEncKeyStatus(_Spec):
    permission = "enckeys.update"
    api_version = API_2025
    usage = "enckeys enable|disable <key_id>"
    summary = "Ask to activate or deactivate an encryption key"
    makes_change = True
    key: str
    status: Status
    reason: str | None = None


# Custom subdomains (2025-11-20).


@dataclass(frozen=True, slots=True)
class ListSubdomains(_Spec):
    permission = "subdomains.list"
    api_version = API_2025
    usage = "subdomains"
    summary = "List custom subdomains and their status, in the channel"


@dataclass(frozen=True, slots=True)
class CreateSubdomain(_Spec):
    permission = "subdomains.create"
    api_version = API_2025
    usage = "subdomains create <hostname>"
    summary = "Ask to serve Fingerprint from a subdomain of yours (you get its DNS records)"
    makes_change = True
    hostname: str
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class VerifySubdomain(_Spec):
    permission = "subdomains.update"
    api_version = API_2025
    usage = "subdomains verify <subdomain_id>"
    summary = "Ask Fingerprint to check a subdomain's DNS records now"
    makes_change = True
    subdomain: str
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class DeleteSubdomain(_Spec):
    permission = "subdomains.delete"
    api_version = API_2025
    usage = "subdomains delete <subdomain_id>"
    summary = "Ask to stop serving from a subdomain and revoke its certificate"
    makes_change = True
    subdomain: str
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class ListRequests(_Spec):
    permission = None
    usage = "requests"
    summary = "Pending change requests you made or may act on, with links to their cards"
    channel_guarded = False


@dataclass(frozen=True, slots=True)
class WithdrawRequest(_Spec):
    permission = None
    usage = "requests cancel <request_id>"
    summary = "Withdraw a pending request of yours"
    channel_guarded = False
    request_id: str


@dataclass(frozen=True, slots=True)
class NewRequest(_Spec):
    permission = None
    usage = "new"
    summary = "A form for any change you may ask for"


@dataclass(frozen=True, slots=True)
class Audit(_Spec):
    permission = "audit.read"
    usage = "audit [N] [--request <request_id>] [--user <@person>] [--since 7d]"
    summary = (
        f"The last N change requests' stories, one line each ({AUDIT_MIN} to {AUDIT_MAX}, "
        f"default {AUDIT_DEFAULT})"
    )
    limit: int = AUDIT_DEFAULT
    request_id: str | None = None
    user: str | None = None
    since: timedelta | None = None


@dataclass(frozen=True, slots=True)
class Changes(_Spec):
    permission = "audit.read"
    usage = "changes [N] [--env <env_id>] [--since 7d]"
    summary = "The account's change log, newest first: fpbot's changes and those made outside it"
    limit: int = CHANGES_DEFAULT
    environment: str | None = None
    since: timedelta | None = None


@dataclass(frozen=True, slots=True)
class Digest(_Spec):
    permission = "audit.read"
    usage = "digest"
    summary = (
        "The account at a glance: counts against the plan's limits, what waits, "
        "the last day's changes"
    )


ChangeCommand: TypeAlias = (
    CreateEnv
    | RenameEnv
    | DeleteEnv
    | SetEnvLimit
    | CreateKey
    | RenameKey
    | SetKeyStatus
    | SetKeyRateLimit
    | DescribeKey
    | DeleteKey
    | RotateKey
    | RevertKeyRotation
    | CreateWebhook
    | SetWebhookStatus
    | UpdateWebhook
    | VerifyWebhook
    | DeleteWebhook
    | AddOrigin
    | RemoveOrigin
    | AddRule
    | ChangeRule
    | MoveRule
    | RemoveRule
    | RotateEncKey
    | RevertEncKey
    | SetEncKeyStatus
    | CreateSubdomain
    | VerifySubdomain
    | DeleteSubdomain
)


@dataclass(frozen=True, slots=True)
class OpenForm(_Spec):
    """A change command typed without its arguments: fill them in a form instead.

    Its permission is the change's, so a form is only offered to who may ask for it.
    """

    permission = None
    usage = ""
    summary = ""
    change: type[ChangeCommand]


Command: TypeAlias = (
    Help
    | WhoAmI
    | ListEnvs
    | ListKeys
    | ListWebhooks
    | ListRules
    | ListEncKeys
    | ListSubdomains
    | ChangeCommand
    | ListRequests
    | WithdrawRequest
    | NewRequest
    | OpenForm
    | Audit
    | Changes
    | Digest
)

# The order help shows them in.
COMMANDS: tuple[type[Command], ...] = (
    Help,
    WhoAmI,
    ListEnvs,
    CreateEnv,
    RenameEnv,
    DeleteEnv,
    SetEnvLimit,
    ListKeys,
    CreateKey,
    RenameKey,
    SetKeyStatus,
    SetKeyRateLimit,
    DescribeKey,
    DeleteKey,
    RotateKey,
    ListWebhooks,
    CreateWebhook,
    SetWebhookStatus,
    UpdateWebhook,
    VerifyWebhook,
    DeleteWebhook,
    ListRules,
    AddOrigin,
    RemoveOrigin,
    AddRule,
    ChangeRule,
    MoveRule,
    RemoveRule,
    ListEncKeys,
    RotateEncKey,
    RevertEncKey,
    SetEncKeyStatus,
    ListSubdomains,
    CreateSubdomain,
    VerifySubdomain,
    DeleteSubdomain,
    NewRequest,
    ListRequests,
    WithdrawRequest,
    Audit,
    Changes,
    Digest,
)


@dataclass(frozen=True, slots=True)
class UsageLine:
    """One line of help: what to type, what it does, and what it needs."""

    usage: str
    summary: str
    permission: str | None
    channel_guarded: bool
    command: type[Command]


def usage_lines(topic: str | None = None) -> tuple[UsageLine, ...]:
    """The help entries, in order, optionally only those of one topic.

    Args:
        topic: a ``Help.topic`` as ``parse`` returns it (e.g. ``"keys"`` or ``"keys create"``);
            ``None`` for all.
    """
    lines = tuple(
        UsageLine(c.usage, c.summary, c.permission, c.channel_guarded, c) for c in COMMANDS
    )
    if topic is None:
        return lines
    return tuple(line for line in lines if topic in _topics_of(line.command))


# --------------------------------------------------------------------------------------------
# Reading the text

_DOUBLE_QUOTES = frozenset('"“”„')
_SINGLE_QUOTES = frozenset("'\u2018\u2019\u201a")
_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u2060\ufeff"))
_OPTION = re.compile("(?:--|\u2014|\u2013)([A-Za-z][A-Za-z0-9-]*)(?:=(.*))?", re.DOTALL)
_SLACK_LINK = re.compile(r"<((?:https?://|mailto:|[@#!])[^<>|]*)(?:\|([^<>]*))?>")


@dataclass(frozen=True, slots=True)
class _Word:
    """A word of the line; ``start``/``end`` keep the spacing between words of a rest-of-line."""

    value: str
    quoted: bool
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class _Option:
    name: str
    value: _Word | None
    start: int
    end: int


_Token: TypeAlias = _Word | _Option


def _normalize(text: str) -> str:
    """Undo Slack's escaping and make every kind of space a plain one."""
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    text = text.translate(_ZERO_WIDTH)
    return "".join(" " if unicodedata.category(c) == "Zs" else c for c in text)


def _closing_quote(text: str, opening: int) -> int:
    """Index of the quote that closes the one at ``opening``, or -1.

    A closing quote is one of the same family (double or single, straight or typographic —
    macOS sometimes produces “…“) that ends a word.
    """
    family = _DOUBLE_QUOTES if text[opening] in _DOUBLE_QUOTES else _SINGLE_QUOTES
    for j in range(opening + 1, len(text)):
        if text[j] in family and (j + 1 == len(text) or text[j + 1].isspace()):
            return j
    return -1


def _quoted_word(text: str, start: int, usage: str) -> _Word | None:
    """The quotation opened at ``start``; ``None`` when that quote is a lone single quote,
    which is read as an apostrophe (``'90s``), a letter of an unquoted word."""
    end = _closing_quote(text, start)
    if end < 0:
        if text[start] in _SINGLE_QUOTES:
            return None
        after = _excerpt(text[start + 1 :])
        _fail(
            f"the quote before “{after}” is never closed" if after else "a quote is never closed",
            usage,
        )
    return _Word(text[start + 1 : end], True, start, end + 1)


def _lex(text: str, usage: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        quoted = _opening_quote(text, i, usage)
        if quoted is not None:
            tokens.append(quoted)
            i = quoted.end
            continue
        j = i
        while j < n and not text[j].isspace():
            j += 1
        option = _OPTION.fullmatch(text, i, j)
        if option is None:
            tokens.append(_Word(text[i:j], False, i, j))
            i = j
            continue
        value_at = option.start(2)
        if value_at < 0:
            tokens.append(_Option(option.group(1).lower(), None, i, j))
            i = j
        elif value_at < n and (quoted := _opening_quote(text, value_at, usage)) is not None:
            tokens.append(_Option(option.group(1).lower(), quoted, i, quoted.end))
            i = quoted.end
        else:
            value = _Word(text[value_at:j], False, value_at, j)
            tokens.append(_Option(option.group(1).lower(), value, i, j))
            i = j
    return tokens


def _opening_quote(text: str, at: int, usage: str) -> _Word | None:
    """The quotation that starts at ``at``, if a quote there opens one."""
    if text[at] in _DOUBLE_QUOTES or text[at] in _SINGLE_QUOTES:
        return _quoted_word(text, at, usage)
    return None


def _excerpt(text: str, limit: int = 40) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _fail(problem: str, usage: str) -> NoReturn:
    raise UsageError(problem, usage)


# --------------------------------------------------------------------------------------------
# Arguments of one command


class _Takes(Enum):
    """How much of the line an option's value takes."""

    WORD = "one word"
    TEXT = "words up to the next option"


@dataclass(frozen=True, slots=True)
class _Args:
    """The words after the sub-command, split into positionals and options."""

    text: str
    usage: str
    positionals: tuple[_Word, ...]
    options: Mapping[str, str]

    def word(self, index: int, what: str) -> str:
        if index >= len(self.positionals):
            _fail(f"missing {what}", self.usage)
        return self.positionals[index].value

    def rest(self, index: int, what: str) -> str:
        """The positionals from ``index`` on, as typed: quotes inside are part of the text
        (``Rock 'n' Roll``); a rest that is a single quoted word loses its quotes."""
        if index >= len(self.positionals):
            _fail(f"missing {what}", self.usage)
        return _as_typed(self.text, self.positionals[index:])

    def end(self, index: int) -> None:
        if index < len(self.positionals):
            extra = _as_typed(self.text, self.positionals[index:])
            _fail(f"unexpected “{_excerpt(extra)}” at the end", self.usage)


def _as_typed(text: str, words: Sequence[_Word]) -> str:
    """Several words exactly as typed, quotes and spacing included; a single quoted word
    without its quotes (``"Staging EU"`` is the name Staging EU)."""
    if len(words) == 1:
        return words[0].value
    return text[words[0].start : words[-1].end]


def _split(text: str, tokens: Sequence[_Token], allowed: Mapping[str, _Takes], usage: str) -> _Args:
    """Separate positionals from options, enforcing one unbroken run of positionals.

    Options may come before or after the arguments but not between them: in
    ``keys create public My --env ae_1 key`` the intent is unclear, so it is refused.
    """
    positionals: list[_Word] = []
    options: dict[str, str] = {}
    closed_by: str | None = None
    i = 0
    while i < len(tokens):
        token = tokens[i]
        i += 1
        if isinstance(token, _Word):
            if closed_by is not None:
                _fail(
                    f"“{_excerpt(token.value)}” comes after --{closed_by}; put options "
                    "last, or quote a value that has spaces",
                    usage,
                )
            positionals.append(token)
            continue
        if token.name not in allowed:
            _fail(f"unknown option --{token.name}{_options_hint(allowed)}", usage)
        if token.name in options:
            _fail(f"--{token.name} is given twice", usage)
        words = [token.value] if token.value is not None else []
        # A text option runs to the next option unless its value was quoted; any other
        # option takes exactly one word.
        greedy = allowed[token.name] is _Takes.TEXT and not (words and words[0].quoted)
        while i < len(tokens):
            following = tokens[i]
            if not isinstance(following, _Word) or (words and not greedy):
                break
            words.append(following)
            i += 1
            greedy = greedy and not words[0].quoted
        value = _as_typed(text, words).strip() if words else ""
        if not value:
            _fail(f"--{token.name} needs a value", usage)
        options[token.name] = value
        if positionals:
            closed_by = token.name
    return _Args(text, usage, tuple(positionals), options)


def _options_hint(allowed: Mapping[str, _Takes]) -> str:
    if not allowed:
        return "; this command takes no options"
    return "; this command takes " + ", ".join(f"--{name}" for name in allowed)


# --------------------------------------------------------------------------------------------
# Checking values


@dataclass(frozen=True, slots=True)
class _IdKind:
    what: str
    noun: str
    prefixes: tuple[str, ...]


_ENV_ID = _IdKind("an environment id", "environment", ("ae_", "env_"))
_KEY_ID = _IdKind("a key id", "key", ("tok_",))
_WEBHOOK_ID = _IdKind("a webhook id", "webhook", ("wh_",))
_REQUEST_ID = _IdKind("a change request id", "change request", ("CR-",))
_RULE_ID = _IdKind("a filtering rule id", "rule", ("tr_",))
_SUBDOMAIN_ID = _IdKind("a subdomain id", "subdomain", ("certv2_",))
_ID_KINDS = (_ENV_ID, _KEY_ID, _WEBHOOK_ID, _RULE_ID, _SUBDOMAIN_ID)
_ID_BODY = re.compile(r"[A-Za-z0-9_-]{1,64}")
_LINK = re.compile(r"<([^<>|]*)(?:\|[^<>]*)?>")
_STRIP = " \t\r\n`"
#: Characters that reorder what follows them (U+202A to U+202E, U+2066 to U+2069): a name that
#: holds one can read as something else than what it is.
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")


def _unlinked(value: str) -> str:
    """The target of a Slack link (``<x|label>`` or ``<x>``), else the value, trimmed."""
    value = value.strip(_STRIP)
    link = _LINK.fullmatch(value)
    return link.group(1).strip(_STRIP) if link else value


def _check_id(value: str, kind: _IdKind, usage: str) -> str:
    value = _unlinked(value)
    for prefix in kind.prefixes:
        if value.startswith(prefix) and _ID_BODY.fullmatch(value, len(prefix)):
            return value
    shown = _excerpt(value) or "(nothing)"
    for other in _ID_KINDS:
        if other is not kind and value.startswith(other.prefixes):
            _fail(f"“{shown}” is {other.what}, but {kind.what} belongs here", usage)
    forms = " or ".join(f"{p}…" for p in kind.prefixes)
    _fail(f"“{shown}” is not {kind.what} ({forms})", usage)


def _check_ref(value: str, kind: _IdKind, usage: str) -> str:
    """An id, or the exact name of one (resolved against the account when the request is
    planned). A word shaped like an id — of this kind or another — must be a well-formed id of
    this kind; anything else is taken for a name and checked like one."""
    value = _unlinked(value)
    if not value.strip():
        _fail(f"missing the {kind.noun}", usage)
    if any(value.startswith(p) for k in _ID_KINDS for p in k.prefixes):
        return _check_id(value, kind, usage)
    return _check_name(value, usage, f"the {kind.noun} name", minimum=1)


def _has_control(value: str) -> bool:
    return any(unicodedata.category(c) == "Cc" for c in value)


_SECRET_AFTER = "; fpbot would keep it in the change request and show it in Slack, so it is refused"


def _secret_kind(value: str) -> str:
    lowered = value.lower()
    if "hooks.slack.com" in lowered:
        return "a Slack webhook URL"
    if "://" in lowered and "@" in lowered:
        return "a URL with a user name and password in it"
    return "a Slack token"


def _refuse_secret(value: str, what: str, usage: str) -> None:
    """Refuse, up front, a value the store would refuse to keep (`bot.domain.secrets`: Slack
    tokens, Slack webhook and ``response_url`` URLs, URLs with a password), so the person
    gets a usage error instead of a failure inside fpbot. The value is not repeated."""
    try:
        refuse_secrets(what, value)
    except SecretRefused:
        _fail(f"{what} contains {_secret_kind(value)}{_SECRET_AFTER}", usage)


def _plain_text(value: str, what: str, usage: str) -> str:
    """Text that ends up in the account as typed: no control or direction-changing
    characters, no Slack markup (a link or a mention would not be what was typed), nothing
    secret."""
    value = value.strip()
    if _SLACK_LINK.search(value):
        _fail(
            f"{what} contains Slack formatting (a link or a mention), which would not be kept "
            "as typed; type it as plain text",
            usage,
        )
    if _BIDI.search(value):
        _fail(
            f"{what} contains a character that changes the direction of the text, so it "
            "would not read as what it is",
            usage,
        )
    _refuse_secret(value, what, usage)
    if _has_control(value):
        _fail(f"{what} contains a control character (a tab or a line break?)", usage)
    return value


def _check_name(value: str, usage: str, what: str = "the name", *, minimum: int = NAME_MIN) -> str:
    value = _plain_text(value, what, usage)
    if not minimum <= len(value) <= NAME_MAX:
        _fail(
            f"{what} must be {minimum} to {NAME_MAX} characters long; "
            f"“{_excerpt(value)}” has {len(value)}",
            usage,
        )
    return value


def _check_description(value: str, limit: int, usage: str) -> str:
    value = _plain_text(value, "the description", usage)
    if len(value) > limit:
        _fail(f"the description is {len(value)} characters long; at most {limit}", usage)
    return value


def _check_reason(value: str, usage: str) -> str:
    """Why the change is asked for: shown as typed (links stay text); no control or
    direction-changing characters, nothing secret."""
    value = value.strip()
    if _BIDI.search(value):
        _fail("the reason contains a character that changes the direction of the text", usage)
    _refuse_secret(value, "the reason", usage)
    if _has_control(value):
        _fail("the reason contains a control character (a tab or a line break?)", usage)
    if len(value) > REASON_MAX:
        _fail(f"the reason is {len(value)} characters long; at most {REASON_MAX}", usage)
    return value


def _check_url(value: str, usage: str) -> str:
    value = _unlinked(value)
    shown = _excerpt(value)
    if len(value) > URL_MAX:
        _fail(f"the URL is {len(value)} characters long; at most {URL_MAX}", usage)
    if _has_control(value) or any(c.isspace() for c in value):
        _fail(f"“{shown}” is not a URL", usage)
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:
        _fail(f"“{shown}” is not a URL", usage)
    if parts.scheme.lower() != "https":
        _fail(f"“{shown}” is not an https:// URL", usage)
    if not host:
        _fail(f"“{shown}” has no host", usage)
    # A webhook URL is stored in the request and shown in Slack: it must not be a credential.
    if host == "hooks.slack.com":
        _fail(f"the URL is a Slack webhook URL, itself a secret{_SECRET_AFTER}", usage)
    if "@" in parts.netloc:
        _fail(
            f"the URL has credentials in it (user name or password before “@”){_SECRET_AFTER}",
            usage,
        )
    _refuse_secret(value, "the URL", usage)
    if _BIDI.search(value):
        _fail(f"“{shown}” contains a character that changes the direction of the text", usage)
    return value


def _check_webhook_ref(value: str, usage: str) -> str:
    """A webhook id, or the exact URL of one."""
    unlinked = _unlinked(value)
    if unlinked.lower().startswith(("https://", "http://")):
        return _check_url(unlinked, usage)
    return _check_id(unlinked, _WEBHOOK_ID, usage)


def _check_choice(value: str, enum: type[KeyType] | type[Status], what: str, usage: str) -> str:
    choice = value.strip().lower()
    choices = [member.value for member in enum]
    if choice not in choices:
        _fail(f"“{_excerpt(value)}” is not a {what} ({'|'.join(choices)})", usage)
    return choice


def _key_type(value: str, usage: str) -> KeyType:
    return KeyType(_check_choice(value, KeyType, "key type", usage))


def _status(value: str, usage: str) -> Status:
    return Status(_check_choice(value, Status, "status", usage))


def _optional_env(args: _Args) -> str | None:
    value = args.options.get("env")
    return None if value is None else _check_ref(value, _ENV_ID, args.usage)


def _reason(args: _Args) -> str | None:
    value = args.options.get("reason")
    return None if value is None else _check_reason(value, args.usage)


_ORIGIN_FORM = re.compile(r"(https?://)?(\*\.)?[A-Za-z0-9.\-]+(:\d+)?")
_HOSTNAME_FORM = re.compile(r"(?=.{4,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")
_TEST_REQUEST_FORM = re.compile(r"[A-Za-z0-9._-]{1,64}")
_NUMBER_FORM = re.compile(r"\d{1,13}(\.\d{1,6})?")
_DURATION_FORM = re.compile(r"(?:\d{1,6}[smhd])+")
_DURATION_PART = re.compile(r"(\d+)([smhd])")
_DURATION_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_duration(value: str) -> timedelta:
    """``30s``, ``5m``, ``24h``, ``7d`` (or sums such as ``1h30m``) as a timedelta; ``0`` is
    zero.

    Raises:
        ValueError: not a duration of that form.
    """
    text = value.strip().lower()
    if text == "0":
        return timedelta(0)
    if not _DURATION_FORM.fullmatch(text):
        raise ValueError(f"{value!r} is not a duration")
    parts = dict.fromkeys(_DURATION_UNITS.values(), 0)
    for number, unit in _DURATION_PART.findall(text):
        parts[_DURATION_UNITS[unit]] += int(number)
    return timedelta(**parts)


def _check_grace(value: str, usage: str) -> timedelta:
    try:
        grace = parse_duration(value)
    except ValueError:
        _fail(f"“{_excerpt(value)}” is not a duration like 30m, 24h or 7d (or 0 for none)", usage)
    if grace > GRACE_MAX:
        _fail(f"the grace period may be at most {GRACE_MAX.days}d", usage)
    return grace


def _check_origin(value: str, usage: str) -> str:
    """An origin as the origin lists hold it: ``https://shop.example``, ``*.example.com``."""
    origin = _unlinked(value)
    if origin == "*":
        _fail("“*” is not an origin: fpbot keeps the other list's “*” by itself", usage)
    if len(origin) > HOSTNAME_MAX or not _ORIGIN_FORM.fullmatch(origin):
        _fail(
            f"“{_excerpt(origin)}” is not an origin (e.g. https://shop.example or *.example.com)",
            usage,
        )
    return origin


def _check_hostname(value: str, usage: str) -> str:
    hostname = _unlinked(value).lower().rstrip(".")
    if not _HOSTNAME_FORM.fullmatch(hostname):
        _fail(f"“{_excerpt(hostname)}” is not a hostname such as metrics.example.com", usage)
    return hostname


def _check_expression(value: str, usage: str) -> str:
    expression = _plain_text(value, "the expression", usage)
    if not expression:
        _fail("missing the expression", usage)
    if len(expression) > EXPRESSION_MAX:
        _fail(
            f"the expression is {len(expression)} characters long; at most {EXPRESSION_MAX}",
            usage,
        )
    return expression


def _check_test_request(value: str, usage: str) -> str:
    request_id = _unlinked(value)
    if not _TEST_REQUEST_FORM.fullmatch(request_id):
        _fail(f"“{_excerpt(request_id)}” is not an identification request id", usage)
    return request_id


def _check_position(value: str, usage: str) -> int:
    text = value.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 4:
        _fail(f"“{_excerpt(value)}” is not a position (1 = evaluated first)", usage)
    position = int(text)
    if not POSITION_MIN <= position <= POSITION_MAX:
        _fail(f"the position must be {POSITION_MIN} to {POSITION_MAX}, not {position}", usage)
    return position


def _check_rate_limit(value: str, usage: str) -> float:
    text = value.strip()
    if not _NUMBER_FORM.fullmatch(text):
        _fail(f"“{_excerpt(value)}” is not a number of requests per second", usage)
    rate = float(text)
    if not RATE_LIMIT_MIN <= rate <= RATE_LIMIT_MAX:
        _fail(f"the rate limit must be {RATE_LIMIT_MIN:g} to {RATE_LIMIT_MAX:,.0f}", usage)
    return rate


def _check_limit_value(value: str, usage: str) -> int:
    text = value.strip().replace(",", "").replace("_", "")
    if not (text.isascii() and text.isdigit()) or len(text) > 13:
        _fail(f"“{_excerpt(value)}” is not a whole number of requests", usage)
    number = int(text)
    if not 1 <= number <= LIMIT_VALUE_MAX:
        _fail(f"the limit must be 1 to {LIMIT_VALUE_MAX:,}", usage)
    return number


def _limit_mode(value: str, usage: str) -> LimitMode:
    mode = value.strip().lower()
    choices = [m.value for m in LimitMode]
    if mode not in choices:
        _fail(f"“{_excerpt(value)}” is not a limit mode ({'|'.join(choices)})", usage)
    return LimitMode(mode)


def _origin_list(value: str, usage: str) -> RuleAction:
    kind = value.strip().lower()
    if kind not in ("allow", "deny"):
        _fail(f"“{_excerpt(value)}” is not a list (allow|deny)", usage)
    return RuleAction(kind)


def _rule_action(value: str, usage: str) -> RuleAction:
    """``block`` (or ``deny``, the API's word) or ``allow``."""
    action = value.strip().lower()
    if action in ("block", "deny"):
        return RuleAction.DENY
    if action == "allow":
        return RuleAction.ALLOW
    _fail(f"“{_excerpt(value)}” is not a rule action (block|allow)", usage)


def _check_enckey_ref(value: str, usage: str) -> str:
    """An encryption key: its id, its name, or its environment (id or name) — an environment
    has exactly one."""
    value = _unlinked(value)
    if value.startswith(_ENV_ID.prefixes):
        return _check_id(value, _ENV_ID, usage)
    return _check_ref(value, _KEY_ID, usage)


def _check_subdomain_ref(value: str, usage: str) -> str:
    """A subdomain: its id (``certv2_…``) or its hostname."""
    value = _unlinked(value)
    if value.startswith(_SUBDOMAIN_ID.prefixes):
        return _check_id(value, _SUBDOMAIN_ID, usage)
    return _check_hostname(value, usage)


# --------------------------------------------------------------------------------------------
# The grammar: sub-command words → (options, builder)

_Builder: TypeAlias = Callable[[_Args], Command]


@dataclass(frozen=True, slots=True)
class _Rule:
    """One sub-command: the command it makes, the options it takes, how it is built, and
    the commands it makes instead when its words say so (``rules add <env> allow <origin>``
    is an origin list's, ``rules add <env> <expression>`` an expression rule's)."""

    command: type[Command]
    options: Mapping[str, _Takes]
    build: _Builder
    also: tuple[type[Command], ...] = ()

    @property
    def usage(self) -> str:
        return "\n".join(c.usage for c in (*self.also, self.command))


def _help(a: _Args) -> Help:
    if not a.positionals:
        return Help(None)
    topic = " ".join(a.rest(0, "a topic").lower().split())
    if topic not in _TOPICS:
        _fail(f"there is no help on “{_excerpt(topic)}”; try {', '.join(_GROUPS)}", a.usage)
    return Help(topic)


def _whoami(a: _Args) -> WhoAmI:
    a.end(0)
    return WhoAmI()


def _list_envs(a: _Args) -> ListEnvs:
    a.end(0)
    return ListEnvs()


def _create_env(a: _Args) -> CreateEnv:
    name = _check_name(a.rest(0, "the name of the environment"), a.usage)
    description = a.options.get("description")
    if description is not None:
        description = _check_description(description, ENV_DESCRIPTION_MAX, a.usage)
    return CreateEnv(name, description, _reason(a))


def _rename_env(a: _Args) -> RenameEnv:
    env = _check_ref(a.word(0, "the environment"), _ENV_ID, a.usage)
    name = _check_name(a.rest(1, "the new name"), a.usage, "the new name")
    return RenameEnv(env, name, _reason(a))


def _delete_env(a: _Args) -> DeleteEnv:
    env = _check_ref(a.word(0, "the environment"), _ENV_ID, a.usage)
    a.end(1)
    return DeleteEnv(env, _reason(a))


def _list_keys(a: _Args) -> ListKeys:
    a.end(0)
    key_type = a.options.get("type")
    status = a.options.get("status")
    return ListKeys(
        _optional_env(a),
        None if key_type is None else _key_type(key_type, a.usage),
        None if status is None else _status(status, a.usage),
    )


def _create_key(a: _Args) -> CreateKey:
    key_type = _key_type(a.word(0, "the key type (public, secret or proxy)"), a.usage)
    name = _check_name(a.rest(1, "the name of the key"), a.usage)
    description = a.options.get("description")
    if description is not None:
        description = _check_name(description, a.usage, "the description")
    return CreateKey(key_type, name, _optional_env(a), _reason(a), description)


def _key_ref(a: _Args) -> str:
    key = _check_ref(a.word(0, "the key"), _KEY_ID, a.usage)
    a.end(1)
    return key


def _rename_key(a: _Args) -> RenameKey:
    key = _check_ref(a.word(0, "the key"), _KEY_ID, a.usage)
    name = _check_name(a.rest(1, "the new name"), a.usage, "the new name")
    return RenameKey(key, name, _reason(a))


def _list_webhooks(a: _Args) -> ListWebhooks:
    a.end(0)
    status = a.options.get("status")
    return ListWebhooks(None if status is None else _status(status, a.usage), _optional_env(a))


def _create_webhook(a: _Args) -> CreateWebhook:
    url = _check_url(a.word(0, "the URL"), a.usage)
    a.end(1)
    description = a.options.get("description")
    if description is not None:
        description = _check_description(description, WEBHOOK_DESCRIPTION_MAX, a.usage)
    status = a.options.get("status")
    return CreateWebhook(
        url,
        description,
        _optional_env(a),
        _reason(a),
        None if status is None else _status(status, a.usage),
    )


def _webhook_ref(a: _Args) -> str:
    webhook = _check_webhook_ref(a.word(0, "the webhook"), a.usage)
    a.end(1)
    return webhook


def _env_limit(a: _Args) -> SetEnvLimit:
    env = _check_ref(a.word(0, "the environment"), _ENV_ID, a.usage)
    mode = _limit_mode(a.word(1, "the limit mode (none, notify or restrict)"), a.usage)
    value = None
    if len(a.positionals) > 2:
        value = _check_limit_value(a.word(2, "the limit"), a.usage)
        a.end(3)
    if mode is not LimitMode.NONE and value is None:
        _fail(f"a {mode} limit needs the number of requests per month", a.usage)
    if mode is LimitMode.NONE and value is not None:
        _fail("the mode none takes no number", a.usage)
    return SetEnvLimit(env, mode, value, _reason(a))


def _key_rate_limit(a: _Args) -> SetKeyRateLimit:
    key = _check_ref(a.word(0, "the key"), _KEY_ID, a.usage)
    rate = _check_rate_limit(a.word(1, "the requests per second"), a.usage)
    a.end(2)
    return SetKeyRateLimit(key, rate, _reason(a))


def _describe_key(a: _Args) -> DescribeKey:
    key = _check_ref(a.word(0, "the key"), _KEY_ID, a.usage)
    description = _check_name(a.rest(1, "the description"), a.usage, "the description")
    return DescribeKey(key, description, _reason(a))


def _rotate_key(a: _Args) -> RotateKey:
    grace = a.options.get("grace")
    return RotateKey(
        _key_ref(a), _reason(a), None if grace is None else _check_grace(grace, a.usage)
    )


def _update_webhook(a: _Args) -> UpdateWebhook:
    webhook = _webhook_ref(a)
    url = a.options.get("url")
    description = a.options.get("description")
    if url is None and description is None and "env" not in a.options:
        _fail("say what to change: --url, --description or --env", a.usage)
    return UpdateWebhook(
        webhook,
        None if url is None else _check_url(url, a.usage),
        None
        if description is None
        else _check_description(description, WEBHOOK_DESCRIPTION_MAX, a.usage),
        _optional_env(a),
        _reason(a),
    )


def _list_rules(a: _Args) -> ListRules:
    a.end(0)
    return ListRules(_optional_env(a))


#: The options only expression rules (2025-11-20) take.
_EXPRESSION_OPTIONS = ("action", "position", "name", "test")


def _is_origin_form(a: _Args) -> bool:
    """``<env> allow|deny <origin>``: the words of an origin list (2024-05-20)."""
    return (
        len(a.positionals) == 3
        and not a.positionals[1].quoted
        and a.positionals[1].value.lower() in ("allow", "deny")
    )


def _origin_args(a: _Args) -> tuple[str, RuleAction, str]:
    given = [f"--{o}" for o in _EXPRESSION_OPTIONS if o in a.options]
    if given:
        _fail(
            f"{', '.join(given)} is for expression rules (Management API {API_2025}), "
            "not origin lists",
            a.usage,
        )
    env = _check_ref(a.word(0, "the environment"), _ENV_ID, a.usage)
    return (
        env,
        _origin_list(a.word(1, "allow or deny"), a.usage),
        _check_origin(a.word(2, ""), a.usage),
    )


def _optional_test(a: _Args) -> str | None:
    test = a.options.get("test")
    return None if test is None else _check_test_request(test, a.usage)


def _add_rule(a: _Args) -> AddOrigin | AddRule:
    if _is_origin_form(a):
        env, kind, origin = _origin_args(a)
        return AddOrigin(env, kind, origin, _reason(a))
    env = _check_ref(a.word(0, "the environment"), _ENV_ID, a.usage)
    expression = _check_expression(a.rest(1, "the expression (or allow|deny <origin>)"), a.usage)
    action = a.options.get("action")
    position = a.options.get("position")
    name = a.options.get("name")
    return AddRule(
        env,
        expression,
        RuleAction.DENY if action is None else _rule_action(action, a.usage),
        None if position is None else _check_position(position, a.usage),
        None if name is None else _check_name(name, a.usage),
        _optional_test(a),
        _reason(a),
    )


def _change_rule(a: _Args) -> ChangeRule:
    rule = _check_ref(a.word(0, "the rule"), _RULE_ID, a.usage)
    expression = (
        _check_expression(a.rest(1, "the expression"), a.usage) if len(a.positionals) > 1 else None
    )
    action, name, status = (a.options.get(o) for o in ("action", "name", "status"))
    if expression is None and action is None and name is None and status is None:
        _fail("say what to change: a new expression, --action, --name or --status", a.usage)
    return ChangeRule(
        rule,
        expression,
        None if action is None else _rule_action(action, a.usage),
        None if name is None else _check_name(name, a.usage),
        None if status is None else _status(status, a.usage),
        _optional_test(a),
        _reason(a),
    )


def _move_rule(a: _Args) -> MoveRule:
    rule = _check_ref(a.word(0, "the rule"), _RULE_ID, a.usage)
    position = _check_position(a.word(1, "the new position (1 = first)"), a.usage)
    a.end(2)
    return MoveRule(rule, position, _optional_test(a), _reason(a))


def _remove_rule(a: _Args) -> RemoveOrigin | RemoveRule:
    if _is_origin_form(a):
        env, kind, origin = _origin_args(a)
        return RemoveOrigin(env, kind, origin, _reason(a))
    rule = _check_ref(a.rest(0, "the rule"), _RULE_ID, a.usage)
    return RemoveRule(rule, _optional_test(a), _reason(a))


def _list_enckeys(a: _Args) -> ListEncKeys:
    a.end(0)
    status = a.options.get("status")
    return ListEncKeys(_optional_env(a), None if status is None else _status(status, a.usage))


def _enckey_ref(a: _Args) -> str:
    key = _check_enckey_ref(a.word(0, "the encryption key"), a.usage)
    a.end(1)
    return key


def _rotate_enckey(a: _Args) -> RotateEncKey:
    grace = a.options.get("grace")
    return RotateEncKey(
        _enckey_ref(a), _reason(a), None if grace is None else _check_grace(grace, a.usage)
    )


def _list_subdomains(a: _Args) -> ListSubdomains:
    a.end(0)
    return ListSubdomains()


def _create_subdomain(a: _Args) -> CreateSubdomain:
    hostname = _check_hostname(a.word(0, "the hostname"), a.usage)
    a.end(1)
    return CreateSubdomain(hostname, _reason(a))


def _subdomain_ref(a: _Args) -> str:
    subdomain = _check_subdomain_ref(a.word(0, "the subdomain"), a.usage)
    a.end(1)
    return subdomain


def _list_requests(a: _Args) -> ListRequests:
    a.end(0)
    return ListRequests()


def _withdraw(a: _Args) -> WithdrawRequest:
    raw = _unlinked(a.word(0, "the request id"))
    a.end(1)
    request_id = raw.upper()
    if not _REQUEST_ID_FORM.fullmatch(request_id):
        _fail(f"“{_excerpt(raw)}” is not a change request id (CR-…)", a.usage)
    return WithdrawRequest(request_id)


def _new(a: _Args) -> NewRequest:
    a.end(0)
    return NewRequest()


def _count(a: _Args, default: int) -> int:
    """The optional N of ``audit`` and ``changes``."""
    if not a.positionals:
        return default
    raw = a.word(0, "N")
    a.end(1)
    number = raw.strip()
    if not (number.isascii() and number.isdigit()) or len(number) > 4:
        _fail(f"“{_excerpt(raw)}” is not a number", a.usage)
    limit = int(number)
    if not AUDIT_MIN <= limit <= AUDIT_MAX:
        _fail(f"N must be between {AUDIT_MIN} and {AUDIT_MAX}, not {limit}", a.usage)
    return limit


_SINCE = re.compile(r"(?:(\d{1,6})([smhdw]))+")
_SINCE_PART = re.compile(r"(\d{1,6})([smhdw])")
_SINCE_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def _since(a: _Args) -> timedelta | None:
    """``--since 7d`` (or ``12h``, ``30m``, ``2w``, ``1d12h``): how far back to look."""
    raw = a.options.get("since")
    if raw is None:
        return None
    value = raw.strip().lower()
    if not _SINCE.fullmatch(value):
        _fail(f"“{_excerpt(raw)}” is not a duration like 30m, 12h or 7d", a.usage)
    span = timedelta()
    for amount, unit in _SINCE_PART.findall(value):
        span += timedelta(**{_SINCE_UNITS[unit]: int(amount)})
    if not timedelta(0) < span <= SINCE_MAX:
        _fail(f"--since must be more than nothing and at most {SINCE_MAX.days} days", a.usage)
    return span


_USER_REF = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^<>]*)?>|@?([UW][A-Z0-9]{2,})")


def _user(a: _Args) -> str | None:
    """``--user @person`` as Slack sends a mention (``<@U…|name>``), or a user id."""
    raw = a.options.get("user")
    if raw is None:
        return None
    found = _USER_REF.fullmatch(raw.strip())
    if found is None:
        _fail(f"“{_excerpt(raw)}” is not a person: mention them (@name) or give their id", a.usage)
    return found.group(1) or found.group(2)


def _audit(a: _Args) -> Audit:
    limit = _count(a, AUDIT_DEFAULT)
    request_id = a.options.get("request")
    if request_id is not None:
        request_id = _unlinked(request_id).upper()
        if not _REQUEST_ID_FORM.fullmatch(request_id):
            _fail(f"“{_excerpt(request_id)}” is not a change request id (CR-…)", a.usage)
    return Audit(limit, request_id, _user(a), _since(a))


def _changes(a: _Args) -> Changes:
    return Changes(_count(a, CHANGES_DEFAULT), _optional_env(a), _since(a))


def _digest(a: _Args) -> Digest:
    a.end(0)
    return Digest()


_REQUEST_ID_FORM = re.compile(r"CR-[0-9A-Z]{6}")
_NO_OPTIONS: Mapping[str, _Takes] = {}
_REASON = {"reason": _Takes.TEXT}
_ENV_OPTION = {"env": _Takes.WORD}
_KEY_FILTERS = {"env": _Takes.WORD, "type": _Takes.WORD, "status": _Takes.WORD}
_WEBHOOK_FILTERS = {"status": _Takes.WORD, "env": _Takes.WORD}
_GRACE = {"grace": _Takes.WORD}
_TEST = {"test": _Takes.WORD}
_RULE_OPTIONS = {
    "action": _Takes.WORD,
    "position": _Takes.WORD,
    "name": _Takes.TEXT,
    **_TEST,
    **_REASON,
}
_ENCKEY_FILTERS = {"env": _Takes.WORD, "status": _Takes.WORD}

_GRAMMAR: Mapping[tuple[str, ...], _Rule] = {
    ("help",): _Rule(Help, _NO_OPTIONS, _help),
    ("whoami",): _Rule(WhoAmI, _NO_OPTIONS, _whoami),
    ("envs",): _Rule(ListEnvs, _NO_OPTIONS, _list_envs),
    ("envs", "list"): _Rule(ListEnvs, _NO_OPTIONS, _list_envs),
    ("envs", "create"): _Rule(CreateEnv, {"description": _Takes.TEXT, **_REASON}, _create_env),
    ("envs", "rename"): _Rule(RenameEnv, _REASON, _rename_env),
    ("envs", "delete"): _Rule(DeleteEnv, _REASON, _delete_env),
    ("envs", "limit"): _Rule(SetEnvLimit, _REASON, _env_limit),
    ("keys",): _Rule(ListKeys, _KEY_FILTERS, _list_keys),
    ("keys", "list"): _Rule(ListKeys, _KEY_FILTERS, _list_keys),
    ("keys", "create"): _Rule(
        CreateKey, {**_ENV_OPTION, "description": _Takes.TEXT, **_REASON}, _create_key
    ),
    ("keys", "rename"): _Rule(RenameKey, _REASON, _rename_key),
    ("keys", "enable"): _Rule(
        SetKeyStatus, _REASON, lambda a: SetKeyStatus(_key_ref(a), Status.ENABLED, _reason(a))
    ),
    ("keys", "disable"): _Rule(
        SetKeyStatus, _REASON, lambda a: SetKeyStatus(_key_ref(a), Status.DISABLED, _reason(a))
    ),
    ("keys", "delete"): _Rule(DeleteKey, _REASON, lambda a: DeleteKey(_key_ref(a), _reason(a))),
    ("keys", "rotate"): _Rule(RotateKey, {**_GRACE, **_REASON}, _rotate_key),
    ("keys", "rate-limit"): _Rule(SetKeyRateLimit, _REASON, _key_rate_limit),
    ("keys", "describe"): _Rule(DescribeKey, _REASON, _describe_key),
    ("webhooks",): _Rule(ListWebhooks, _WEBHOOK_FILTERS, _list_webhooks),
    ("webhooks", "list"): _Rule(ListWebhooks, _WEBHOOK_FILTERS, _list_webhooks),
    ("webhooks", "create"): _Rule(
        CreateWebhook,
        {"description": _Takes.TEXT, **_ENV_OPTION, "status": _Takes.WORD, **_REASON},
        _create_webhook,
    ),
    ("webhooks", "update"): _Rule(
        UpdateWebhook,
        {"url": _Takes.WORD, "description": _Takes.TEXT, **_ENV_OPTION, **_REASON},
        _update_webhook,
    ),
    ("webhooks", "verify"): _Rule(
        VerifyWebhook, _REASON, lambda a: VerifyWebhook(_webhook_ref(a), _reason(a))
    ),
    ("webhooks", "enable"): _Rule(
        SetWebhookStatus,
        _REASON,
        lambda a: SetWebhookStatus(_webhook_ref(a), Status.ENABLED, _reason(a)),
    ),
    ("webhooks", "disable"): _Rule(
        SetWebhookStatus,
        _REASON,
        lambda a: SetWebhookStatus(_webhook_ref(a), Status.DISABLED, _reason(a)),
    ),
    ("webhooks", "delete"): _Rule(
        DeleteWebhook, _REASON, lambda a: DeleteWebhook(_webhook_ref(a), _reason(a))
    ),
    ("rules",): _Rule(ListRules, _ENV_OPTION, _list_rules),
    ("rules", "list"): _Rule(ListRules, _ENV_OPTION, _list_rules),
    ("rules", "add"): _Rule(AddRule, _RULE_OPTIONS, _add_rule, also=(AddOrigin,)),
    ("rules", "change"): _Rule(
        ChangeRule,
        {"action": _Takes.WORD, "name": _Takes.TEXT, "status": _Takes.WORD, **_TEST, **_REASON},
        _change_rule,
    ),
    ("rules", "move"): _Rule(MoveRule, {**_TEST, **_REASON}, _move_rule),
    ("rules", "remove"): _Rule(
        RemoveRule, {**_TEST, **_REASON}, _remove_rule, also=(RemoveOrigin,)
    ),
    ("enckeys",): _Rule(ListEncKeys, _ENCKEY_FILTERS, _list_enckeys),
    ("enckeys", "list"): _Rule(ListEncKeys, _ENCKEY_FILTERS, _list_enckeys),
    ("enckeys", "rotate"): _Rule(RotateEncKey, {**_GRACE, **_REASON}, _rotate_enckey),
    ("enckeys", "revert"): _Rule(
        RevertEncKey, _REASON, lambda a: RevertEncKey(_enckey_ref(a), _reason(a))
    ),
    ("enckeys", "enable"): _Rule(
        SetEncKeyStatus,
        _REASON,
        lambda a: SetEncKeyStatus(_enckey_ref(a), Status.ENABLED, _reason(a)),
    ),
    ("enckeys", "disable"): _Rule(
        SetEncKeyStatus,
        _REASON,
        lambda a: SetEncKeyStatus(_enckey_ref(a), Status.DISABLED, _reason(a)),
    ),
    ("subdomains",): _Rule(ListSubdomains, _NO_OPTIONS, _list_subdomains),
    ("subdomains", "list"): _Rule(ListSubdomains, _NO_OPTIONS, _list_subdomains),
    ("subdomains", "create"): _Rule(CreateSubdomain, _REASON, _create_subdomain),
    ("subdomains", "verify"): _Rule(
        VerifySubdomain, _REASON, lambda a: VerifySubdomain(_subdomain_ref(a), _reason(a))
    ),
    ("subdomains", "delete"): _Rule(
        DeleteSubdomain, _REASON, lambda a: DeleteSubdomain(_subdomain_ref(a), _reason(a))
    ),
    ("new",): _Rule(NewRequest, _NO_OPTIONS, _new),
    ("requests",): _Rule(ListRequests, _NO_OPTIONS, _list_requests),
    ("requests", "cancel"): _Rule(WithdrawRequest, _NO_OPTIONS, _withdraw),
    ("requests", "withdraw"): _Rule(WithdrawRequest, _NO_OPTIONS, _withdraw),
    ("audit",): _Rule(
        Audit, {"request": _Takes.WORD, "user": _Takes.WORD, "since": _Takes.WORD}, _audit
    ),
    ("changes",): _Rule(Changes, {"env": _Takes.WORD, "since": _Takes.WORD}, _changes),
    ("digest",): _Rule(Digest, _NO_OPTIONS, _digest),
}

_GROUPS: tuple[str, ...] = tuple(dict.fromkeys(words[0] for words in _GRAMMAR))
_TOPICS: frozenset[str] = frozenset(
    " ".join(words[:n]) for words in _GRAMMAR for n in range(1, len(words) + 1)
)


def _topics_of(command: type[Command]) -> frozenset[str]:
    """Every help topic that shows ``command`` ("keys" and "keys rename" for RenameKey)."""
    return frozenset(
        " ".join(words[:n])
        for words, rule in _GRAMMAR.items()
        if rule.command is command or command in rule.also
        for n in range(1, len(words) + 1)
    )


def _group_usage(group: str) -> str:
    return "\n".join(line.usage for line in usage_lines(group))


_GENERAL_USAGE = Help.usage


def _usage_guess(line: str) -> str:
    """The usage to show when the line could not even be split into words."""
    words = tuple(word.lower() for word in line.split()[:2])
    if words in _GRAMMAR:
        return _GRAMMAR[words].usage
    if words[:1] in _GRAMMAR:
        return _group_usage(words[0])
    return _GENERAL_USAGE


def _did_you_mean(word: str, choices: Sequence[str]) -> str:
    """ "; did you mean `envs`?" when a typo is one close to a known word."""
    close = difflib.get_close_matches(word.lower(), choices, n=1, cutoff=0.6)
    return f"; did you mean “{close[0]}”?" if close else ""


# --------------------------------------------------------------------------------------------
# Forms: the same commands, field by field


class FieldKind(Enum):
    """What a form field holds, which decides how it is asked for and checked."""

    TEXT = "text"  # a name: one line, 3..255
    LONG_TEXT = "long_text"  # a description: one paragraph
    URL = "url"
    ENV = "env"  # picked from the account's environments
    KEY = "key"  # picked from its API keys
    WEBHOOK = "webhook"  # picked from its webhooks
    KEY_TYPE = "key_type"
    STATUS = "status"
    REASON = "reason"
    RULE = "rule"  # picked from its filtering rules (2025-11-20)
    ENCKEY = "enckey"  # picked from its encryption keys
    SUBDOMAIN = "subdomain"  # picked from its custom subdomains
    ORIGIN_LIST = "origin_list"  # allow or deny
    RULE_ACTION = "rule_action"  # block or allow
    LIMIT_MODE = "limit_mode"
    EXPRESSION = "expression"
    ORIGIN = "origin"
    HOSTNAME = "hostname"
    POSITION = "position"
    RATE = "rate"  # requests per second
    COUNT = "count"  # requests per month
    DURATION = "duration"
    TEST_REQUEST = "test_request"  # an identification request id


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    kind: FieldKind
    optional: bool = False


#: The fields of each change's form, in order; every form also asks for a reason.
FORMS: Mapping[type[ChangeCommand], tuple[Field, ...]] = {
    CreateEnv: (Field("name", FieldKind.TEXT), Field("description", FieldKind.LONG_TEXT, True)),
    RenameEnv: (Field("env", FieldKind.ENV), Field("name", FieldKind.TEXT)),
    DeleteEnv: (Field("env", FieldKind.ENV),),
    SetEnvLimit: (
        Field("env", FieldKind.ENV),
        Field("mode", FieldKind.LIMIT_MODE),
        Field("value", FieldKind.COUNT, True),
    ),
    CreateKey: (
        Field("type", FieldKind.KEY_TYPE),
        Field("name", FieldKind.TEXT),
        Field("environment", FieldKind.ENV, True),
        Field("description", FieldKind.TEXT, True),
    ),
    RenameKey: (Field("key", FieldKind.KEY), Field("name", FieldKind.TEXT)),
    SetKeyStatus: (Field("key", FieldKind.KEY), Field("status", FieldKind.STATUS)),
    SetKeyRateLimit: (Field("key", FieldKind.KEY), Field("rate_limit", FieldKind.RATE)),
    DescribeKey: (Field("key", FieldKind.KEY), Field("description", FieldKind.TEXT)),
    DeleteKey: (Field("key", FieldKind.KEY),),
    RotateKey: (Field("key", FieldKind.KEY), Field("grace", FieldKind.DURATION, True)),
    CreateWebhook: (
        Field("url", FieldKind.URL),
        Field("description", FieldKind.LONG_TEXT, True),
        Field("environment", FieldKind.ENV, True),
        Field("status", FieldKind.STATUS, True),
    ),
    SetWebhookStatus: (Field("webhook", FieldKind.WEBHOOK), Field("status", FieldKind.STATUS)),
    UpdateWebhook: (
        Field("webhook", FieldKind.WEBHOOK),
        Field("url", FieldKind.URL, True),
        Field("description", FieldKind.LONG_TEXT, True),
        Field("environment", FieldKind.ENV, True),
    ),
    VerifyWebhook: (Field("webhook", FieldKind.WEBHOOK),),
    DeleteWebhook: (Field("webhook", FieldKind.WEBHOOK),),
    AddOrigin: (
        Field("env", FieldKind.ENV),
        Field("kind", FieldKind.ORIGIN_LIST),
        Field("origin", FieldKind.ORIGIN),
    ),
    RemoveOrigin: (
        Field("env", FieldKind.ENV),
        Field("kind", FieldKind.ORIGIN_LIST),
        Field("origin", FieldKind.ORIGIN),
    ),
    AddRule: (
        Field("env", FieldKind.ENV),
        Field("expression", FieldKind.EXPRESSION),
        Field("action", FieldKind.RULE_ACTION, True),
        Field("position", FieldKind.POSITION, True),
        Field("name", FieldKind.TEXT, True),
        Field("test", FieldKind.TEST_REQUEST, True),
    ),
    ChangeRule: (
        Field("rule", FieldKind.RULE),
        Field("expression", FieldKind.EXPRESSION, True),
        Field("action", FieldKind.RULE_ACTION, True),
        Field("name", FieldKind.TEXT, True),
        Field("status", FieldKind.STATUS, True),
        Field("test", FieldKind.TEST_REQUEST, True),
    ),
    MoveRule: (
        Field("rule", FieldKind.RULE),
        Field("position", FieldKind.POSITION),
        Field("test", FieldKind.TEST_REQUEST, True),
    ),
    RemoveRule: (Field("rule", FieldKind.RULE), Field("test", FieldKind.TEST_REQUEST, True)),
    RotateEncKey: (Field("key", FieldKind.ENCKEY), Field("grace", FieldKind.DURATION, True)),
    RevertEncKey: (Field("key", FieldKind.ENCKEY),),
    SetEncKeyStatus: (Field("key", FieldKind.ENCKEY), Field("status", FieldKind.STATUS)),
    CreateSubdomain: (Field("hostname", FieldKind.HOSTNAME),),
    VerifySubdomain: (Field("subdomain", FieldKind.SUBDOMAIN),),
    DeleteSubdomain: (Field("subdomain", FieldKind.SUBDOMAIN),),
}

#: The same change in the other API version: a form opened for one is shown as its twin
#: when fpbot speaks the other version (``rules add`` is an origin list's in 2024-05-20).
VERSION_TWINS: Mapping[type[ChangeCommand], type[ChangeCommand]] = {
    AddRule: AddOrigin,
    AddOrigin: AddRule,
    RemoveRule: RemoveOrigin,
    RemoveOrigin: RemoveRule,
}


def for_version(change: type[ChangeCommand], api_version: str) -> type[ChangeCommand]:
    """``change``, or its twin when ``change`` exists only in the other API version."""
    if change.api_version in (None, api_version):
        return change
    return VERSION_TWINS.get(change, change)


def needs_other_version(command: Command | type[Command], api_version: str) -> str | None:
    """The API version ``command`` needs, when fpbot speaks another one; else ``None``."""
    needed = command.api_version
    return needed if needed is not None and needed != api_version else None


REASON_FIELD = Field("reason", FieldKind.REASON, optional=True)


class FormErrors(ValueError):
    """A form that does not make a command: what is wrong, by field name."""

    def __init__(self, problems: Mapping[str, str]) -> None:
        super().__init__(problems)
        self.problems = dict(problems)


def _field_value(field: Field, raw: str, usage: str, descriptions: int) -> object:
    match field.kind:
        case FieldKind.TEXT:
            return _check_name(raw, usage, f"the {field.name}")
        case FieldKind.LONG_TEXT:
            return _check_description(raw, descriptions, usage)
        case FieldKind.URL:
            return _check_url(raw, usage)
        case FieldKind.ENV:
            return _check_ref(raw, _ENV_ID, usage)
        case FieldKind.KEY:
            return _check_ref(raw, _KEY_ID, usage)
        case FieldKind.WEBHOOK:
            return _check_webhook_ref(raw, usage)
        case FieldKind.KEY_TYPE:
            return _key_type(raw, usage)
        case FieldKind.STATUS:
            return _status(raw, usage)
        case FieldKind.REASON:
            return _check_reason(raw, usage)
        case FieldKind.RULE:
            return _check_ref(raw, _RULE_ID, usage)
        case FieldKind.ENCKEY:
            return _check_enckey_ref(raw, usage)
        case FieldKind.SUBDOMAIN:
            return _check_subdomain_ref(raw, usage)
        case FieldKind.ORIGIN_LIST:
            return _origin_list(raw, usage)
        case FieldKind.RULE_ACTION:
            return _rule_action(raw, usage)
        case FieldKind.LIMIT_MODE:
            return _limit_mode(raw, usage)
        case FieldKind.EXPRESSION:
            return _check_expression(raw, usage)
        case FieldKind.ORIGIN:
            return _check_origin(raw, usage)
        case FieldKind.HOSTNAME:
            return _check_hostname(raw, usage)
        case FieldKind.POSITION:
            return _check_position(raw, usage)
        case FieldKind.RATE:
            return _check_rate_limit(raw, usage)
        case FieldKind.COUNT:
            return _check_limit_value(raw, usage)
        case FieldKind.DURATION:
            return _check_grace(raw, usage)
        case FieldKind.TEST_REQUEST:
            return _check_test_request(raw, usage)
    raise AssertionError(f"unhandled field kind {field.kind}")  # pragma: no cover


def check_reason(value: str) -> str:
    """A reason typed into a form of its own (the Deny form's), by the rules of ``--reason``.

    Raises:
        UsageError: what is wrong with it.
    """
    return _check_reason(value, "") if value.strip() else ""


def as_field_error(error: UsageError) -> str:
    """A usage error's problem as the text under a form field: one capitalised sentence."""
    return error.problem[:1].upper() + error.problem[1:] + "."


def from_form(change: type[ChangeCommand], values: Mapping[str, str | None]) -> ChangeCommand:
    """The command a submitted form stands for: the very one the typed command would make,
    checked by the same rules.

    Args:
        change: the form's command.
        values: what was entered or picked, by field name (``None`` or blank: left empty).

    Raises:
        FormErrors: every field that is missing or wrong, with what is wrong with it.
    """
    problems: dict[str, str] = {}
    checked: dict[str, object] = {}
    limit = ENV_DESCRIPTION_MAX if change is CreateEnv else WEBHOOK_DESCRIPTION_MAX
    for field in (*FORMS[change], REASON_FIELD):
        raw = (values.get(field.name) or "").strip()
        if not raw:
            if not field.optional:
                problems[field.name] = "Required."
            continue  # an optional field left empty keeps the command's default
        try:
            checked[field.name] = _field_value(field, raw, change.usage, limit)
        except UsageError as error:
            problems[field.name] = as_field_error(error)
    if not problems and change is SetEnvLimit:
        mode, value = checked.get("mode"), checked.get("value")
        if mode is not LimitMode.NONE and value is None:
            problems["value"] = f"A {mode} limit needs the number of requests per month."
    if problems:
        raise FormErrors(problems)
    return change(**checked)  # type: ignore[arg-type]  # the fields are the command's


# --------------------------------------------------------------------------------------------
# The entry point


def parse(text: str) -> Command:
    """Read the text after ``/fp`` into a command, or say precisely what is wrong with it.

    Args:
        text: the slash command's ``text`` as Slack sends it (HTML-escaped, maybe auto-linked).

    Returns:
        The command; ``Help(None)`` for an empty line; `OpenForm` for a change command typed
        without anything after it (``envs rename``), whose arguments a form asks for.

    Raises:
        UsageError: for any input that is not a well-formed command. Nothing else is raised.
    """
    if len(text) > MAX_TEXT_LENGTH:
        _fail(
            f"the command is {len(text)} characters long; at most {MAX_TEXT_LENGTH}",
            _GENERAL_USAGE,
        )
    line = _normalize(text)
    try:
        tokens = _lex(line, _GENERAL_USAGE)
    except UsageError as error:
        raise UsageError(error.problem, _usage_guess(line)) from None
    if not tokens:
        return Help(None)
    first = tokens[0]
    if not isinstance(first, _Word) or first.quoted:
        _fail("a command starts with a word such as envs, keys or help", _GENERAL_USAGE)
    group = first.value.lower()
    if (group,) not in _GRAMMAR:
        hint = _did_you_mean(group, _GROUPS)
        _fail(f"there is no command “{_excerpt(first.value)}”{hint}", _GENERAL_USAGE)
    words: tuple[str, ...] = (group,)
    rest = tokens[1:]
    second = rest[0] if rest else None
    if isinstance(second, _Word) and not second.quoted:
        candidate = (group, second.value.lower())
        if candidate in _GRAMMAR:
            words, rest = candidate, rest[1:]
        elif any(len(key) > 1 and key[0] == group for key in _GRAMMAR):
            subs = [key[1] for key in _GRAMMAR if len(key) > 1 and key[0] == group]
            hint = _did_you_mean(second.value, subs)
            _fail(
                f"there is no command “{group} {_excerpt(second.value)}”{hint}",
                _group_usage(group),
            )
    rule = _GRAMMAR[words]
    if not rest and rule.command.makes_change:
        return OpenForm(rule.command)  # type: ignore[arg-type]  # makes_change ⇒ a change
    args = _split(line, rest, rule.options, rule.usage)
    return rule.build(args)
