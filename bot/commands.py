"""The ``/fp`` grammar: what a person may type, turned into typed commands.

This is the only place that knows how the text after ``/fp`` is read. ``parse`` is pure and
total: any string either becomes one of the frozen command objects below or raises
``UsageError`` with a sentence saying what was wrong and the usage to show. Nothing here talks
to Slack or the Management API, so an id that has the right *form* may still not exist;
`bot.changes.actions.plan` checks it against the account before a change request is made.

Reading rules (interface.md §4 and §8, "Grammar"):

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

import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import ClassVar, NoReturn, TypeAlias
from urllib.parse import urlsplit

from bot.domain.secrets import SecretRefused, refuse_secrets
from bot.fingerprint.models import KeyType, Status

SLASH_COMMAND = "/fp"
MAX_TEXT_LENGTH = 4000
NAME_MIN, NAME_MAX = 3, 255
ENV_DESCRIPTION_MAX = 256
WEBHOOK_DESCRIPTION_MAX = 256
URL_MAX = 2048
AUDIT_DEFAULT, AUDIT_MIN, AUDIT_MAX = 20, 1, 100


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
    makes_change: ClassVar[bool] = False


@dataclass(frozen=True, slots=True)
class Help(_Spec):
    permission = None
    usage = "help [topic]"
    summary = "The commands you may use"
    channel_guarded = False
    topic: str | None = None


@dataclass(frozen=True, slots=True)
class WhoAmI(_Spec):
    permission = None
    usage = "whoami"
    summary = "Your roles and permissions"
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


@dataclass(frozen=True, slots=True)
class RenameEnv(_Spec):
    permission = "envs.update"
    usage = "envs rename <env_id> <new name>"
    summary = "Ask to rename an environment"
    makes_change = True
    env_id: str
    name: str


@dataclass(frozen=True, slots=True)
class DeleteEnv(_Spec):
    permission = "envs.delete"
    usage = "envs delete <env_id>"
    summary = "Ask to delete an environment"
    makes_change = True
    env_id: str


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
    usage = "keys create <public|secret|proxy> <name> [--env <env_id>]"
    summary = "Ask to create an API key"
    makes_change = True
    type: KeyType
    name: str
    environment: str | None = None


@dataclass(frozen=True, slots=True)
class RenameKey(_Spec):
    permission = "keys.update"
    usage = "keys rename <key_id> <new name>"
    summary = "Ask to rename an API key"
    makes_change = True
    key_id: str
    name: str


@dataclass(frozen=True, slots=True)
class SetKeyStatus(_Spec):
    permission = "keys.update"
    usage = "keys enable|disable <key_id>"
    summary = "Ask to enable or disable an API key"
    makes_change = True
    key_id: str
    status: Status


@dataclass(frozen=True, slots=True)
class DeleteKey(_Spec):
    permission = "keys.delete"
    usage = "keys delete <key_id>"
    summary = "Ask to delete an API key"
    makes_change = True
    key_id: str


@dataclass(frozen=True, slots=True)
class RotateKey(_Spec):
    permission = "keys.rotate"
    usage = "keys rotate <key_id>"
    summary = "Ask to replace an API key with a new one of the same type, then disable it"
    makes_change = True
    key_id: str


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
    usage = "webhooks create <https url> [--description <text>] [--env <env_id>]"
    summary = "Ask to create a webhook"
    makes_change = True
    url: str
    description: str | None = None
    environment: str | None = None


@dataclass(frozen=True, slots=True)
class SetWebhookStatus(_Spec):
    permission = "webhooks.update"
    usage = "webhooks enable|disable <webhook_id>"
    summary = "Ask to enable or disable a webhook"
    makes_change = True
    webhook_id: str
    status: Status


@dataclass(frozen=True, slots=True)
class DeleteWebhook(_Spec):
    permission = "webhooks.delete"
    usage = "webhooks delete <webhook_id>"
    summary = "Ask to delete a webhook"
    makes_change = True
    webhook_id: str


@dataclass(frozen=True, slots=True)
class ListRequests(_Spec):
    permission = None
    usage = "requests"
    summary = "Pending change requests you made or may approve"


@dataclass(frozen=True, slots=True)
class Audit(_Spec):
    permission = "audit.read"
    usage = "audit [N]"
    summary = f"The last N audit events ({AUDIT_MIN} to {AUDIT_MAX}, default {AUDIT_DEFAULT})"
    limit: int = AUDIT_DEFAULT


Command: TypeAlias = (
    Help
    | WhoAmI
    | ListEnvs
    | CreateEnv
    | RenameEnv
    | DeleteEnv
    | ListKeys
    | CreateKey
    | RenameKey
    | SetKeyStatus
    | DeleteKey
    | RotateKey
    | ListWebhooks
    | CreateWebhook
    | SetWebhookStatus
    | DeleteWebhook
    | ListRequests
    | Audit
)

# The order help shows them in.
COMMANDS: tuple[type[Command], ...] = (
    Help,
    WhoAmI,
    ListEnvs,
    CreateEnv,
    RenameEnv,
    DeleteEnv,
    ListKeys,
    CreateKey,
    RenameKey,
    SetKeyStatus,
    DeleteKey,
    RotateKey,
    ListWebhooks,
    CreateWebhook,
    SetWebhookStatus,
    DeleteWebhook,
    ListRequests,
    Audit,
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
    prefixes: tuple[str, ...]


_ENV_ID = _IdKind("an environment id", ("ae_", "env_"))
_KEY_ID = _IdKind("a key id", ("tok_",))
_WEBHOOK_ID = _IdKind("a webhook id", ("wh_",))
_ID_KINDS = (_ENV_ID, _KEY_ID, _WEBHOOK_ID)
_ID_BODY = re.compile(r"[A-Za-z0-9_-]{1,64}")
_LINK = re.compile(r"<([^<>|]*)(?:\|[^<>]*)?>")
_STRIP = " \t\r\n`"


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


def _has_control(value: str) -> bool:
    return any(unicodedata.category(c) == "Cc" for c in value)


def _delinked_text(value: str) -> str:
    """Free text with Slack's link markup turned back into what the person typed."""
    return _SLACK_LINK.sub(lambda m: m.group(2) or m.group(1), value).strip()


_SECRET_AFTER = "; fpbot would keep it in the change request and show it in Slack, so it is refused"


def _secret_kind(value: str) -> str:
    lowered = value.lower()
    if "hooks.slack.com" in lowered:
        return "a Slack webhook URL"
    if "://" in lowered and "@" in lowered:
        return "a URL with a user name and password in it"
    return "a Slack token"


def _refuse_secret(value: str, what: str, usage: str) -> None:
    """Refuse, up front, a value the store would refuse to keep (`bot.store.guard`: Slack
    tokens, Slack webhook and ``response_url`` URLs, URLs with a password), so the person
    gets a usage error instead of a failure inside fpbot. The value is not repeated."""
    try:
        refuse_secrets(what, value)
    except SecretRefused:
        _fail(f"{what} contains {_secret_kind(value)}{_SECRET_AFTER}", usage)


def _check_name(value: str, usage: str, what: str = "the name") -> str:
    value = _delinked_text(value)
    _refuse_secret(value, what, usage)
    if _has_control(value):
        _fail(f"{what} contains a control character (a tab or a line break?)", usage)
    if not NAME_MIN <= len(value) <= NAME_MAX:
        _fail(
            f"{what} must be {NAME_MIN} to {NAME_MAX} characters long; "
            f"“{_excerpt(value)}” has {len(value)}",
            usage,
        )
    return value


def _check_description(value: str, limit: int, usage: str) -> str:
    value = _delinked_text(value)
    _refuse_secret(value, "the description", usage)
    if _has_control(value):
        _fail("the description contains a control character (a tab or a line break?)", usage)
    if len(value) > limit:
        _fail(f"the description is {len(value)} characters long; at most {limit}", usage)
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
    return value


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
    return None if value is None else _check_id(value, _ENV_ID, args.usage)


# --------------------------------------------------------------------------------------------
# The grammar: sub-command words → (options, builder)

_Builder: TypeAlias = Callable[[_Args], Command]


@dataclass(frozen=True, slots=True)
class _Rule:
    command: type[Command]
    options: Mapping[str, _Takes]
    build: _Builder


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
    return CreateEnv(name, description)


def _rename_env(a: _Args) -> RenameEnv:
    env_id = _check_id(a.word(0, "the environment id"), _ENV_ID, a.usage)
    return RenameEnv(env_id, _check_name(a.rest(1, "the new name"), a.usage, "the new name"))


def _delete_env(a: _Args) -> DeleteEnv:
    env_id = _check_id(a.word(0, "the environment id"), _ENV_ID, a.usage)
    a.end(1)
    return DeleteEnv(env_id)


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
    return CreateKey(key_type, name, _optional_env(a))


def _key_id(a: _Args) -> str:
    key_id = _check_id(a.word(0, "the key id"), _KEY_ID, a.usage)
    a.end(1)
    return key_id


def _rename_key(a: _Args) -> RenameKey:
    key_id = _check_id(a.word(0, "the key id"), _KEY_ID, a.usage)
    return RenameKey(key_id, _check_name(a.rest(1, "the new name"), a.usage, "the new name"))


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
    return CreateWebhook(url, description, _optional_env(a))


def _webhook_id(a: _Args) -> str:
    webhook_id = _check_id(a.word(0, "the webhook id"), _WEBHOOK_ID, a.usage)
    a.end(1)
    return webhook_id


def _list_requests(a: _Args) -> ListRequests:
    a.end(0)
    return ListRequests()


def _audit(a: _Args) -> Audit:
    if not a.positionals:
        return Audit()
    raw = a.word(0, "N")
    a.end(1)
    number = raw.strip()
    if not (number.isascii() and number.isdigit()) or len(number) > 4:
        _fail(f"“{_excerpt(raw)}” is not a number", a.usage)
    limit = int(number)
    if not AUDIT_MIN <= limit <= AUDIT_MAX:
        _fail(f"N must be between {AUDIT_MIN} and {AUDIT_MAX}, not {limit}", a.usage)
    return Audit(limit)


_NO_OPTIONS: Mapping[str, _Takes] = {}
_ENV_OPTION = {"env": _Takes.WORD}

_GRAMMAR: Mapping[tuple[str, ...], _Rule] = {
    ("help",): _Rule(Help, _NO_OPTIONS, _help),
    ("whoami",): _Rule(WhoAmI, _NO_OPTIONS, _whoami),
    ("envs",): _Rule(ListEnvs, _NO_OPTIONS, _list_envs),
    ("envs", "list"): _Rule(ListEnvs, _NO_OPTIONS, _list_envs),
    ("envs", "create"): _Rule(CreateEnv, {"description": _Takes.TEXT}, _create_env),
    ("envs", "rename"): _Rule(RenameEnv, _NO_OPTIONS, _rename_env),
    ("envs", "delete"): _Rule(DeleteEnv, _NO_OPTIONS, _delete_env),
    ("keys",): _Rule(
        ListKeys, {"env": _Takes.WORD, "type": _Takes.WORD, "status": _Takes.WORD}, _list_keys
    ),
    ("keys", "list"): _Rule(
        ListKeys, {"env": _Takes.WORD, "type": _Takes.WORD, "status": _Takes.WORD}, _list_keys
    ),
    ("keys", "create"): _Rule(CreateKey, _ENV_OPTION, _create_key),
    ("keys", "rename"): _Rule(RenameKey, _NO_OPTIONS, _rename_key),
    ("keys", "enable"): _Rule(
        SetKeyStatus, _NO_OPTIONS, lambda a: SetKeyStatus(_key_id(a), Status.ENABLED)
    ),
    ("keys", "disable"): _Rule(
        SetKeyStatus, _NO_OPTIONS, lambda a: SetKeyStatus(_key_id(a), Status.DISABLED)
    ),
    ("keys", "delete"): _Rule(DeleteKey, _NO_OPTIONS, lambda a: DeleteKey(_key_id(a))),
    ("keys", "rotate"): _Rule(RotateKey, _NO_OPTIONS, lambda a: RotateKey(_key_id(a))),
    ("webhooks",): _Rule(ListWebhooks, {"status": _Takes.WORD, "env": _Takes.WORD}, _list_webhooks),
    ("webhooks", "list"): _Rule(
        ListWebhooks, {"status": _Takes.WORD, "env": _Takes.WORD}, _list_webhooks
    ),
    ("webhooks", "create"): _Rule(
        CreateWebhook, {"description": _Takes.TEXT, "env": _Takes.WORD}, _create_webhook
    ),
    ("webhooks", "enable"): _Rule(
        SetWebhookStatus,
        _NO_OPTIONS,
        lambda a: SetWebhookStatus(_webhook_id(a), Status.ENABLED),
    ),
    ("webhooks", "disable"): _Rule(
        SetWebhookStatus,
        _NO_OPTIONS,
        lambda a: SetWebhookStatus(_webhook_id(a), Status.DISABLED),
    ),
    ("webhooks", "delete"): _Rule(
        DeleteWebhook, _NO_OPTIONS, lambda a: DeleteWebhook(_webhook_id(a))
    ),
    ("requests",): _Rule(ListRequests, _NO_OPTIONS, _list_requests),
    ("audit",): _Rule(Audit, _NO_OPTIONS, _audit),
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
        if rule.command is command
        for n in range(1, len(words) + 1)
    )


def _group_usage(group: str) -> str:
    return "\n".join(line.usage for line in usage_lines(group))


_GENERAL_USAGE = Help.usage


def _usage_guess(line: str) -> str:
    """The usage to show when the line could not even be split into words."""
    words = tuple(word.lower() for word in line.split()[:2])
    if words in _GRAMMAR:
        return _GRAMMAR[words].command.usage
    if words[:1] in _GRAMMAR:
        return _group_usage(words[0])
    return _GENERAL_USAGE


# --------------------------------------------------------------------------------------------
# The entry point


def parse(text: str) -> Command:
    """Read the text after ``/fp`` into a command, or say precisely what is wrong with it.

    Args:
        text: the slash command's ``text`` as Slack sends it (HTML-escaped, maybe auto-linked).

    Returns:
        The command; ``Help(None)`` for an empty line.

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
        _fail(f"there is no command “{_excerpt(first.value)}”", _GENERAL_USAGE)
    words: tuple[str, ...] = (group,)
    rest = tokens[1:]
    second = rest[0] if rest else None
    if isinstance(second, _Word) and not second.quoted:
        candidate = (group, second.value.lower())
        if candidate in _GRAMMAR:
            words, rest = candidate, rest[1:]
        elif any(len(key) > 1 and key[0] == group for key in _GRAMMAR):
            _fail(f"there is no command “{group} {_excerpt(second.value)}”", _group_usage(group))
    rule = _GRAMMAR[words]
    args = _split(line, rest, rule.options, rule.command.usage)
    return rule.build(args)
