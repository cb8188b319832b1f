"""The /fp grammar: what each line a person types becomes, and how wrong lines are refused."""

from __future__ import annotations

import contextlib
import re
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.commands import (
    COMMANDS,
    Audit,
    Command,
    CreateEnv,
    CreateKey,
    CreateWebhook,
    DeleteEnv,
    DeleteKey,
    DeleteWebhook,
    FormErrors,
    Help,
    ListEnvs,
    ListKeys,
    ListRequests,
    ListWebhooks,
    NewRequest,
    OpenForm,
    RenameEnv,
    RenameKey,
    RotateKey,
    SetEnvLimit,
    SetKeyStatus,
    SetWebhookStatus,
    UsageError,
    WhoAmI,
    WithdrawRequest,
    from_form,
    parse,
    usage_lines,
)
from bot.domain.secrets import SecretRefused, refuse_secrets
from bot.fingerprint.models import KeyType, Status

NBSP = "\u00a0"
LSQUO, RSQUO = "\u2018", "\u2019"  # typographic single quotes
EN_DASH = "\u2013"

ACCEPTED: list[tuple[str, str, Command]] = [
    # help, whoami and the read-only commands
    ("an empty line asks for help", "", Help(None)),
    ("a line of spaces asks for help", f"  {NBSP} ", Help(None)),
    ("help alone lists everything", "help", Help(None)),
    ("help on a group", "help keys", Help("keys")),
    ("help on one command, any case and spacing", "help  Keys   CREATE", Help("keys create")),
    ("whoami takes nothing", "whoami", WhoAmI()),
    ("sub-commands are case-insensitive", "ENVS", ListEnvs()),
    ("envs lists environments", "envs", ListEnvs()),
    ("envs list is the same as envs", "envs list", ListEnvs()),
    ("requests takes nothing", "requests", ListRequests()),
    ("audit defaults to 20 events", "audit", Audit(20)),
    ("audit takes a count", "audit 5", Audit(5)),
    ("audit accepts the largest count", "audit 100", Audit(100)),
    ("audit accepts the smallest count", "audit 1", Audit(1)),
    # names and the rest of the line
    ("a name with spaces needs no quotes", "envs create Staging EU", CreateEnv("Staging EU")),
    ("a quoted name loses its quotes", 'envs create "Staging EU"', CreateEnv("Staging EU")),
    (
        "typographic quotes work like straight ones",
        "envs create “Staging EU” --description “Our EU one”",
        CreateEnv("Staging EU", "Our EU one"),
    ),
    (
        "typographic single quotes work like straight ones",
        f"envs create {LSQUO}Staging EU{RSQUO}",
        CreateEnv("Staging EU"),
    ),
    (
        "macOS's mismatched smart quotes still pair",
        "envs create “Staging EU“",
        CreateEnv("Staging EU"),
    ),
    (
        "an apostrophe inside a name is just a letter",
        "envs create Bob's env",
        CreateEnv("Bob's env"),
    ),
    (
        "a typographic apostrophe inside a name is just a letter",
        f"envs create Bob{RSQUO}s env",
        CreateEnv(f"Bob{RSQUO}s env"),
    ),
    (
        "a quoted name keeps an apostrophe inside",
        "envs create 'Bob's env' --description x",
        CreateEnv("Bob's env", "x"),
    ),
    (
        "quote pairs inside a rest-of-line name are kept as typed",
        f"envs create Rock {LSQUO}n{RSQUO} Roll",
        CreateEnv(f"Rock {LSQUO}n{RSQUO} Roll"),
    ),
    (
        "straight quotes inside a new name are kept as typed",
        'keys rename tok_1 The "best" key',
        RenameKey("tok_1", 'The "best" key'),
    ),
    (
        "a name that opens with a quoted word keeps its quotes",
        "keys create public 'Landing' page",
        CreateKey(KeyType.PUBLIC, "'Landing' page"),
    ),
    ("a leading apostrophe is a letter", "envs create '90s env", CreateEnv("'90s env")),
    (
        "a leading typographic apostrophe is a letter too",
        f"envs create {RSQUO}90s env",
        CreateEnv(f"{RSQUO}90s env"),
    ),
    (
        "quotes inside a name stay when an option follows",
        "envs create Rock 'n' Roll --description x",
        CreateEnv("Rock 'n' Roll", "x"),
    ),
    (
        "an apostrophe-led name may be followed by an option",
        "envs create '90s env --description x",
        CreateEnv("'90s env", "x"),
    ),
    (
        "quotes inside an unquoted description are kept",
        "envs create QA1 --description the “real” one",
        CreateEnv("QA1", "the “real” one"),
    ),
    ("the spacing inside a name is kept", "envs create A  B", CreateEnv("A  B")),
    ("a name is trimmed", f"envs create {NBSP} Staging {NBSP}", CreateEnv("Staging")),
    ("a non-breaking space counts as a space", f"envs{NBSP}create{NBSP}Prod", CreateEnv("Prod")),
    ("Slack's HTML escapes are undone", "envs create R&amp;D &lt;eu&gt;", CreateEnv("R&D <eu>")),
    (
        "a name may be followed by an option without quotes",
        "envs create Staging EU --description Our EU staging",
        CreateEnv("Staging EU", "Our EU staging"),
    ),
    (
        "a description may come first",
        'envs create --description "Our EU staging" Staging EU',
        CreateEnv("Staging EU", "Our EU staging"),
    ),
    (
        "the --opt=value form works",
        'envs create Staging --description="Our staging"',
        CreateEnv("Staging", "Our staging"),
    ),
    (
        "macOS's em dash works like a double hyphen",
        "envs create Staging —description Ours",
        CreateEnv("Staging", "Ours"),
    ),
    (
        "an environment may be renamed with spaces and no quotes",
        "envs rename ae_123 Staging EU",
        RenameEnv("ae_123", "Staging EU"),
    ),
    ("an older env_ id is accepted", "envs delete env_abc-DEF_9", DeleteEnv("env_abc-DEF_9")),
    # ids as Slack delivers them
    ("an auto-linked id is accepted", "envs delete <ae_123|ae_123>", DeleteEnv("ae_123")),
    ("a bracketed id is accepted", "envs delete <ae_123>", DeleteEnv("ae_123")),
    ("an id in backticks is accepted", "envs delete `ae_123`", DeleteEnv("ae_123")),
    (
        "an id padded with non-breaking spaces is accepted",
        f"envs delete {NBSP}ae_123{NBSP}",
        DeleteEnv("ae_123"),
    ),
    ("a quoted id is accepted", 'keys delete "tok_1"', DeleteKey("tok_1")),
    # keys
    (
        "keys without options lists every key",
        "keys",
        ListKeys(None, None, None),
    ),
    (
        "keys takes all three filters",
        "keys --env ae_1 --type secret --status disabled",
        ListKeys("ae_1", KeyType.SECRET, Status.DISABLED),
    ),
    (
        "filter values are case-insensitive",
        "keys --type=PUBLIC --status Enabled",
        ListKeys(None, KeyType.PUBLIC, Status.ENABLED),
    ),
    (
        "a key is created with a type and a name",
        "keys create public My site key",
        CreateKey(KeyType.PUBLIC, "My site key"),
    ),
    (
        "a key may be created in an environment",
        "keys create proxy Edge proxy --env <ae_9|ae_9>",
        CreateKey(KeyType.PROXY, "Edge proxy", "ae_9"),
    ),
    (
        "options may come before the arguments",
        "keys create --env ae_9 secret Backend",
        CreateKey(KeyType.SECRET, "Backend", "ae_9"),
    ),
    (
        "a key rename takes the rest of the line",
        "keys rename tok_1 My new name",
        RenameKey("tok_1", "My new name"),
    ),
    ("keys enable", "keys enable tok_1", SetKeyStatus("tok_1", Status.ENABLED)),
    ("keys disable", "keys disable tok_1", SetKeyStatus("tok_1", Status.DISABLED)),
    ("keys delete", "keys delete tok_1", DeleteKey("tok_1")),
    ("keys rotate", "keys rotate tok_1", RotateKey("tok_1")),
    # webhooks
    ("webhooks lists every webhook", "webhooks", ListWebhooks(None, None)),
    (
        "webhooks takes a status and an environment",
        "webhooks --status enabled --env ae_1",
        ListWebhooks(Status.ENABLED, "ae_1"),
    ),
    (
        "an auto-linked URL is accepted",
        "webhooks create <https://example.com/hook|https://example.com/hook>",
        CreateWebhook("https://example.com/hook"),
    ),
    (
        "a webhook takes a description and an environment",
        "webhooks create https://example.com/h?a=1&amp;b=2 --description Fraud alerts --env ae_1",
        CreateWebhook("https://example.com/h?a=1&b=2", "Fraud alerts", "ae_1"),
    ),
    ("webhooks enable", "webhooks enable wh_1", SetWebhookStatus("wh_1", Status.ENABLED)),
    ("webhooks disable", "webhooks disable wh_1", SetWebhookStatus("wh_1", Status.DISABLED)),
    ("webhooks delete", "webhooks delete wh_1", DeleteWebhook("wh_1")),
    # forms, names for ids, reasons, withdrawal
    ("a change typed bare opens its form", "envs rename", OpenForm(RenameEnv)),
    ("keys create typed bare opens its form", "keys create", OpenForm(CreateKey)),
    ("webhooks create typed bare opens its form", "WEBHOOKS create", OpenForm(CreateWebhook)),
    ("a delete typed bare opens its form", "envs delete", OpenForm(DeleteEnv)),
    ("new opens the change picker", "new", NewRequest()),
    (
        "an environment may be named instead of its id",
        "envs delete Production",
        DeleteEnv("Production"),
    ),
    (
        "a quoted name of several words stands for one environment",
        'envs rename "Staging EU" Staging West',
        RenameEnv("Staging EU", "Staging West"),
    ),
    ("a key may be named", 'keys rotate "Backend key"', RotateKey("Backend key")),
    ("an environment filter may be a name", "keys --env Production", ListKeys("Production")),
    (
        "a reason follows any change",
        "envs delete ae_1 --reason no longer used",
        DeleteEnv("ae_1", "no longer used"),
    ),
    (
        "a reason may sit between the arguments' options",
        'keys create --reason "for the shop" public Shop --env ae_1',
        CreateKey(KeyType.PUBLIC, "Shop", "ae_1", "for the shop"),
    ),
    (
        "a reason may hold a link, kept as typed",
        "keys disable tok_1 --reason see <https://status.example.com|status>",
        SetKeyStatus("tok_1", Status.DISABLED, "see <https://status.example.com|status>"),
    ),
    ("requests cancel withdraws", "requests cancel CR-ABC123", WithdrawRequest("CR-ABC123")),
    (
        "requests withdraw is the same, any case",
        "requests withdraw cr-abc123",
        WithdrawRequest("CR-ABC123"),
    ),
]


@pytest.mark.parametrize(
    ("text", "expected"), [(t, e) for _, t, e in ACCEPTED], ids=[s for s, _, _ in ACCEPTED]
)
def test_accepted(text: str, expected: Command) -> None:
    assert parse(text) == expected


REFUSED: list[tuple[str, str, str]] = [
    # (sentence, text, a fragment of the problem)
    ("an unknown command is refused", "deploy prod", "no command “deploy”"),
    ("an unknown sub-command is refused", "keys purge tok_1", "no command “keys purge”"),
    ("a quoted command word is refused", '"envs"', "starts with a word"),
    ("a line starting with an option is refused", "--env ae_1", "starts with a word"),
    ("an unbalanced quote is refused", 'envs create "Staging EU', "never closed"),
    ("an unbalanced typographic quote is refused", "envs create “Staging EU", "never closed"),
    ("a lone quote is refused", 'envs create "', "never closed"),
    ("an unclosed double quote in a name is refused", 'envs create Staging "EU', "never closed"),
    ("a missing name after an option is refused", "envs create --description x", "missing"),
    ("a missing new name is refused", "envs rename ae_1", "missing the new name"),
    ("a missing key name is refused", "keys create public", "missing the name"),
    ("an extra argument after an id is refused", "envs delete ae_1 ae_2", "unexpected “ae_2”"),
    ("an argument to whoami is refused", "whoami please", "unexpected “please”"),
    ("an argument to a listing is refused", "envs all", "no command “envs all”"),
    ("an argument to requests is refused", "requests mine", "no command “requests mine”"),
    ("an argument after keys filters is refused", "keys --env ae_1 tok_1", "unexpected"),
    (
        "a key id where an environment id belongs is refused",
        "envs delete tok_1",
        "is a key id, but an environment id belongs here",
    ),
    (
        "an environment id where a key id belongs is refused",
        "keys delete ae_1",
        "is an environment id, but a key id belongs here",
    ),
    (
        "a webhook id where a key id belongs is refused",
        "keys rotate wh_1",
        "is a webhook id",
    ),
    ("a key id as the environment filter is refused", "keys --env tok_1", "is a key id"),
    ("an id with only a prefix is refused", "keys delete tok_", "is not a key id"),
    ("an id with odd characters is refused", "keys delete tok_a.b", "is not a key id"),
    ("an over-long id is refused", "webhooks delete wh_" + "a" * 65, "is not a webhook id"),
    ("a two-character name is refused", "envs create ab", "3 to 255 characters"),
    ("a 256-character name is refused", "envs create " + "n" * 256, "3 to 255 characters"),
    ("a name of spaces in quotes is refused", 'envs create "   "', "3 to 255 characters"),
    ("a name with a tab is refused", "envs create a\tb c", "control character"),
    ("a name with a line break is refused", "keys rename tok_1 a\nb c", "control character"),
    ("a too-short new key name is refused", "keys rename tok_1 ab", "3 to 255 characters"),
    (
        "an environment description over 256 characters is refused",
        'envs create Staging --description "' + "d" * 257 + '"',
        "at most 256",
    ),
    ("a bad key type is refused", "keys create private My key", "not a key type"),
    ("a bad status filter is refused", "keys --status on", "not a status"),
    ("a bad type filter is refused", "keys --type=hmac", "not a key type"),
    ("an unknown option is refused", "keys --color red", "unknown option --color"),
    (
        "an option a change does not take is refused, naming the one it does",
        "envs delete ae_1 --force",
        "unknown option --force; this command takes --reason",
    ),
    ("an option belonging to another command is refused", "envs create x --env ae_1", "unknown"),
    ("a repeated option is refused", "keys --type public --type secret", "given twice"),
    ("an option without a value is refused", "keys --env", "--env needs a value"),
    ("an empty --opt= is refused", "keys --env=", "--env needs a value"),
    ("an empty quoted description is refused", 'envs create x --description ""', "needs a value"),
    (
        "words split by an option are refused",
        "keys create public My --env ae_1 key",
        "comes after --env",
    ),
    (
        "a Slack incoming-webhook URL is refused: it is a secret",
        "webhooks create https://hooks.slack.com/services/T0/B0/xyz",
        "is a Slack webhook URL, itself a secret",
    ),
    (
        "an auto-linked, upper-case Slack webhook URL is refused too",
        "webhooks create <HTTPS://HOOKS.SLACK.COM/services/T0/B0/xyz>",
        "is a Slack webhook URL",
    ),
    (
        "a URL with a user name and password is refused",
        "webhooks create https://u:p@example.com/h",
        "the URL has credentials in it",
    ),
    (
        "a URL with a token as its user name is refused",
        "webhooks create https://tok3n@example.com/h",
        "the URL has credentials in it",
    ),
    (
        "a URL carrying a password-bearing URL in its query is refused",
        "webhooks create https://example.com/h?next=https://u:p@example.org/",
        "a URL with a user name and password in it",
    ),
    (
        "a Slack webhook URL in a description is refused",
        "webhooks create https://example.com/h --description see https://hooks.slack.com/x",
        "the description contains a Slack webhook URL",
    ),
    (
        "a Slack token as a name is refused",
        "keys create secret xoxb-1234567890-abcdef",
        "the name contains a Slack token",
    ),
    (
        "a URL with a password in a new name is refused",
        "envs rename ae_1 mirror of https://u:p@example.com/",
        "the new name contains a URL with a user name and password",
    ),
    ("a plain http URL is refused", "webhooks create http://example.com", "not an https://"),
    ("a URL without a host is refused", "webhooks create https:///path", "has no host"),
    ("something that is not a URL is refused", "webhooks create example", "not an https://"),
    ("a broken URL is refused", "webhooks create https://[::1", "not a URL"),
    (
        "an over-long URL is refused",
        "webhooks create https://example.com/" + "p" * 2100,
        "at most 2048",
    ),
    ("audit 0 is refused", "audit 0", "between 1 and 100"),
    ("audit 101 is refused", "audit 101", "between 1 and 100"),
    ("audit with a word is refused", "audit all", "not a number"),
    ("audit with a negative number is refused", "audit -5", "not a number"),
    ("audit with two numbers is refused", "audit 5 6", "unexpected “6”"),
    ("help on an unknown topic is refused", "help deploy", "no help on “deploy”"),
    ("an over-long line is refused", "envs create " + "x" * 5000, "at most 4000"),
    ("a typo in a command gets a suggestion", "env", "did you mean “envs”?"),
    ("a typo in a sub-command gets a suggestion", "keys craete public x", "did you mean “create”?"),
    ("nothing close gets no suggestion", "zzz", "there is no command “zzz”"),
    (
        "a name that turns the text around is refused",
        "envs create abc\u202edef",
        "changes the direction of the text",
    ),
    ("a mention as a name is refused", "envs create <@U0ALICE> env", "Slack formatting"),
    (
        "a reason over 500 characters is refused",
        "envs delete ae_1 --reason " + "x" * 501,
        "at most 500",
    ),
    ("an empty reason is refused", 'envs delete ae_1 --reason ""', "--reason needs a value"),
    ("a reason with a line break is refused", "envs delete ae_1 --reason a\u0007b", "control"),
    ("a withdrawal needs a request id", "requests cancel 42", "not a change request id"),
    (
        "a withdrawal of two requests is refused",
        "requests cancel CR-ABC123 CR-DEF456",
        "unexpected",
    ),
    ("new takes nothing", "new env", "unexpected “env”"),
    ("a key id where an environment belongs is refused", "envs delete tok_1", "is a key id"),
    ("an environment name of nothing but spaces is no name", "envs rename `  ` x", "missing"),
]


@pytest.mark.parametrize(
    ("text", "fragment"), [(t, f) for _, t, f in REFUSED], ids=[s for s, _, _ in REFUSED]
)
def test_refused(text: str, fragment: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse(text)
    assert fragment in caught.value.problem


@pytest.mark.parametrize(
    "text",
    [
        "webhooks create https://hooks.slack.com/services/T0/B0/s3cr3tvalue",
        "webhooks create https://user:s3cr3tvalue@example.com/h",
        "envs create xoxb-s3cr3tvalue",
        "envs create QA1 --description xoxp-s3cr3tvalue",
    ],
)
def test_a_secret_typed_into_a_command_is_refused_without_being_repeated(text: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse(text)
    assert "fpbot would keep it in the change request" in caught.value.problem
    assert "s3cr3tvalue" not in str(caught.value)


USAGE_OF_REFUSAL = [
    ("a wrong envs create shows its usage", "envs create ab", CreateEnv.usage),
    ("an unbalanced quote still shows the command's usage", 'envs create "x', CreateEnv.usage),
    ("a wrong keys enable shows the enable/disable usage", "keys enable ae_1", SetKeyStatus.usage),
    ("an unknown command points to help", "deploy", Help.usage),
]


@pytest.mark.parametrize(
    ("text", "usage"),
    [(t, u) for _, t, u in USAGE_OF_REFUSAL],
    ids=[s for s, _, _ in USAGE_OF_REFUSAL],
)
def test_a_refusal_carries_the_right_usage(text: str, usage: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse(text)
    assert caught.value.usage == usage
    assert f"/fp {usage}" in str(caught.value)


def test_an_unknown_sub_command_shows_every_usage_of_its_group() -> None:
    with pytest.raises(UsageError) as caught:
        parse("webhooks purge")
    assert caught.value.usage.splitlines() == [line.usage for line in usage_lines("webhooks")]


def test_every_command_class_declares_its_permission_usage_and_summary() -> None:
    permissions = {c.permission for c in COMMANDS}
    assert permissions - {None} == {
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
        "audit.read",
    }
    for command in COMMANDS:
        assert command.usage and command.summary


def test_only_help_whoami_and_ones_own_requests_escape_the_channel_allowlist() -> None:
    assert {c for c in COMMANDS if not c.channel_guarded} == {
        Help,
        WhoAmI,
        ListRequests,
        WithdrawRequest,
    }
    assert {c for c in COMMANDS if c.open_to_anyone} == {Help, WhoAmI}


def test_usage_lines_follow_the_registry_order_and_filter_by_topic() -> None:
    assert [line.command for line in usage_lines()] == list(COMMANDS)
    assert [line.command for line in usage_lines("keys rename")] == [RenameKey]
    assert {line.command for line in usage_lines("envs")} == {
        ListEnvs,
        CreateEnv,
        RenameEnv,
        DeleteEnv,
        SetEnvLimit,
    }


def test_every_usage_line_can_be_asked_for_as_a_help_topic() -> None:
    for line in usage_lines():
        topic = " ".join(w for w in line.usage.split() if re.fullmatch(r"[a-z]+", w))
        help_ = parse(f"help {topic}")
        assert isinstance(help_, Help)
        assert line.command in {entry.command for entry in usage_lines(help_.topic)}


# ---------------------------------------------------------------------------------------------
# Properties


@given(st.text(max_size=300))
def test_parse_returns_a_command_or_raises_usage_error(text: str) -> None:
    with contextlib.suppress(UsageError):
        parse(text)


WORDS = ["envs", "keys", "webhooks", "create", "rename", "delete", "enable", "help", "audit"]
PIECES = st.sampled_from(
    [*WORDS, "--env", "--type", "--status", "--description", "--description=", "—env", '"', "“",
     "”", "'", RSQUO, LSQUO, "<", ">", "|", "&amp;", "&lt;", "ae_1", "tok_1", "wh_1", "https://x.io",
     "public", "enabled", "\t", "\n", NBSP, "`", "12", "=", "x"]
)  # fmt: skip


@given(st.lists(PIECES, max_size=12).map(" ".join))
def test_parse_of_command_like_noise_is_total(text: str) -> None:
    with contextlib.suppress(UsageError):
        parse(text)


def _storable(name: str) -> bool:
    try:
        refuse_secrets("name", name)
    except SecretRefused:
        return False
    return True


NAME_CHARS = string.ascii_letters + string.digits + " .,:;!?()[]{}@#$%^*+=/\\~-_'éüß日本" + RSQUO
NAMES = (
    st.text(alphabet=NAME_CHARS, min_size=3, max_size=255)
    .map(str.strip)
    .filter(lambda n: len(n) >= 3)
    # Only a name that is one quotation from end to end ('Staging EU') loses its quotes;
    # any other name, quotes and apostrophes included, comes back as typed.
    .filter(lambda n: not (n[0] in f"'{RSQUO}" and n[-1] in f"'{RSQUO}"))
    .filter(lambda n: not re.search(rf"(^|\s)(--|—|{EN_DASH})[A-Za-z]", n))
    .filter(_storable)  # a name shaped like a secret (a Slack token…) is refused on purpose
)


@given(NAMES)
def test_a_valid_name_typed_bare_comes_back_unchanged(name: str) -> None:
    assert parse(f"envs create {name}") == CreateEnv(name)
    assert parse(f"keys rename tok_1 {name}") == RenameKey("tok_1", name)


@given(NAMES)
def test_a_valid_name_in_quotes_before_an_option_comes_back_unchanged(name: str) -> None:
    assert parse(f'envs create "{name}" --description d') == CreateEnv(name, "d")
    assert parse(f"keys create secret “{name}” --env ae_1") == CreateKey(
        KeyType.SECRET, name, "ae_1"
    )


@given(st.from_regex(r"(ae|env)_[A-Za-z0-9_-]{1,64}", fullmatch=True))
def test_a_well_formed_environment_id_is_accepted_in_every_slack_dress(env_id: str) -> None:
    for dressed in (
        env_id,
        f"<{env_id}|{env_id}>",
        f"<{env_id}>",
        f"`{env_id}`",
        f" {env_id}{NBSP}",
    ):
        assert parse(f"envs delete {dressed}") == DeleteEnv(env_id)


# ---------------------------------------------------------------------------------------------
# Forms


FORM_AND_LINE = [
    (
        RenameEnv,
        {"env": "ae_1", "name": "Staging EU", "reason": "clearer"},
        'envs rename ae_1 "Staging EU" --reason clearer',
    ),
    (
        CreateKey,
        {"type": "secret", "name": "Backend", "environment": None, "reason": ""},
        "keys create secret Backend",
    ),
    (
        CreateWebhook,
        {"url": "https://example.com/h", "description": "Fraud", "environment": "ae_1"},
        "webhooks create https://example.com/h --description Fraud --env ae_1",
    ),
    (SetKeyStatus, {"key": "tok_1", "status": "disabled"}, "keys disable tok_1"),
    (
        DeleteWebhook,
        {"webhook": "wh_1", "reason": "unused"},
        "webhooks delete wh_1 --reason unused",
    ),
]


@pytest.mark.parametrize(("change", "values", "line"), FORM_AND_LINE)
def test_a_submitted_form_makes_the_very_request_the_typed_command_makes(
    change: type, values: dict[str, str | None], line: str
) -> None:
    assert from_form(change, values) == parse(line)


def test_a_form_reports_every_wrong_field_with_the_parsers_words() -> None:
    with pytest.raises(FormErrors) as caught:
        from_form(RenameEnv, {"env": None, "name": "ab", "reason": "x" * 501})
    problems = caught.value.problems
    assert problems["env"] == "Required."
    assert "must be 3 to 255 characters long" in problems["name"]
    assert "at most 500" in problems["reason"]
    assert set(problems) == {"env", "name", "reason"}


def test_a_secret_typed_into_a_form_is_refused_without_being_repeated() -> None:
    with pytest.raises(FormErrors) as caught:
        from_form(CreateEnv, {"name": "xoxb-s3cr3tvalue"})
    assert "Slack token" in caught.value.problems["name"]
    assert "s3cr3tvalue" not in str(caught.value.problems)
