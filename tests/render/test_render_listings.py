"""Listings: sorted, complete across messages, within Slack's limits, never a secret."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.fingerprint.models import ApiKey, Environment, KeyType, LimitMode, Status, Webhook
from bot.render import render_api_keys, render_environments, render_fetching, render_webhooks
from tests.render.render_checks import assert_within_limits, dump, visible_text

CREATED = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
NASTY = 'Tom & Jerry\'s <script> "prod" ' + "&<>" * 20


def env(i: int, name: str | None = None, **extra: object) -> Environment:
    return Environment(
        id=f"ae_{i:05d}", name=name or f"Environment {i:05d}", created_at=CREATED, **extra
    )


def key(i: int, environment: str | None, **extra: object) -> ApiKey:
    values: dict[str, object] = {
        "id": f"tok_{i:05d}",
        "name": f"Key {i:05d}",
        "type": KeyType.SECRET,
        "status": Status.ENABLED,
        "environment": environment,
        "token": f"sk_live_SECRET{i:05d}",
        "created_at": CREATED,
    }
    values.update(extra)
    return ApiKey.model_validate(values)


def ids_in_order(text: str, prefix: str) -> list[str]:
    return re.findall(rf"`({prefix}_[^`]*)`", text)


def test_environments_are_sorted_by_name_ignoring_case() -> None:
    envs = [env(1, "staging"), env(2, "Alpha"), env(3, "beta"), env(4, "Zulu")]
    (message,) = render_environments(envs)
    assert ids_in_order(visible_text([message]), "ae") == [
        "ae_00002",
        "ae_00003",
        "ae_00001",
        "ae_00004",
    ]


def test_environment_line_shows_name_id_date_description_and_limit() -> None:
    e = env(
        7,
        "Production",
        description="Main site",
        limit_mode=LimitMode.RESTRICT,
        limit_value=100000,
        is_restricted=True,
    )
    (message,) = render_environments([e])
    assert message.blocks[0]["text"]["text"] == "Environments (1)"
    line = message.blocks[1]["text"]["text"]
    assert "*Production*" in line
    assert "`ae_00007`" in line
    assert "<!date^1709294400^{date_short_pretty}|2024-03-01>" in line
    assert "Main site" in line
    assert "100,000 (restrict)" in line
    assert "restricted" in line


def test_no_environments_is_a_friendly_message() -> None:
    (message,) = render_environments([])
    assert "No environments" in message.text
    assert_within_limits([message])


def test_120_environments_are_all_listed_once_in_few_messages_within_limits() -> None:
    envs = [env(i, description=f"Environment number {i}") for i in range(120)]
    messages = render_environments(envs)
    assert_within_limits(messages)
    assert len(messages) <= 3
    found = ids_in_order(visible_text(messages), "ae")
    assert sorted(found) == sorted(e.id for e in envs)


def test_continuation_messages_say_which_part_they_are() -> None:
    envs = [env(i, "n" * 200, description="d" * 250) for i in range(200)]
    messages = render_environments(envs)
    assert len(messages) >= 3
    total = len(messages)
    assert messages[0].blocks[0]["text"]["text"] == "Environments (200)"
    for number, message in enumerate(messages[1:], start=2):
        assert message.blocks[0]["text"]["text"] == (
            f"Environments (200) (continued, {number}/{total})"
        )
        assert f"(continued, {number}/{total})" in message.text


def test_long_names_and_descriptions_full_of_specials_never_overflow() -> None:
    long_name = (NASTY * 10)[:255]
    long_description = ("<&>" * 100)[:256]
    envs = [env(i, long_name, description=long_description) for i in range(60)]
    messages = render_environments(envs)
    assert_within_limits(messages)
    assert sorted(ids_in_order(visible_text(messages), "ae")) == [e.id for e in envs]


def test_names_are_escaped_but_quotes_are_not() -> None:
    (message,) = render_environments([env(1, NASTY[:40])])
    text = visible_text([message])
    assert 'Tom &amp; Jerry\'s &lt;script&gt; "prod"' in text
    assert "<script>" not in text


def test_keys_are_sorted_by_environment_name_then_key_name() -> None:
    names = {"ae_b": "Beta", "ae_a": "alpha"}
    keys = [
        key(1, "ae_b", name="zeta"),
        key(2, "ae_a", name="Omega"),
        key(3, "ae_b", name="Alpha key"),
        key(4, "ae_a", name="delta"),
    ]
    (message,) = render_api_keys(keys, names)
    assert ids_in_order(visible_text([message]), "tok") == [
        "tok_00004",
        "tok_00002",
        "tok_00003",
        "tok_00001",
    ]


def test_keys_show_environment_names_not_ids() -> None:
    keys = [key(1, "ae_known"), key(2, None), key(3, "ae_gone")]
    (message,) = render_api_keys(keys, {"ae_known": "Production & <EU>"})
    text = visible_text([message])
    assert "Production &amp; &lt;EU&gt;" in text
    assert "ae_known" not in text
    assert "workspace-wide" in text
    assert "`ae_gone`" in text


def test_keys_show_type_and_mark_disabled_ones() -> None:
    keys = [key(1, None, type=KeyType.PUBLIC), key(2, None, status=Status.DISABLED)]
    (message,) = render_api_keys(keys, {})
    lines = message.blocks[1]["text"]["text"].split("\n")
    assert "public" in lines[0]
    assert "disabled" not in lines[0]
    assert "*disabled*" in lines[1]


def test_no_token_of_any_key_type_ever_appears() -> None:
    keys = [
        key(i, None, type=kind, token=f"tokenvalue-{kind.value}-{i}")
        for i, kind in enumerate(KeyType)
    ]
    messages = render_api_keys(keys, {})
    assert "tokenvalue" not in dump(messages)


def test_filters_are_echoed_escaped() -> None:
    messages = render_api_keys([key(1, None)], {}, filters="--type <secret>")
    assert "Filters: --type &lt;secret&gt;" in visible_text(messages)
    (empty,) = render_api_keys([], {}, filters="--status disabled")
    assert "No API keys match --status disabled" in visible_text([empty])


def test_2000_keys_are_all_listed_within_limits() -> None:
    env_names = {f"ae_{i}": f"Environment {i}" for i in range(40)}
    keys = [key(i, f"ae_{i % 41}" if i % 41 < 40 else None) for i in range(2000)]
    messages = render_api_keys(keys, env_names, filters="--type secret")
    assert_within_limits(messages)
    found = ids_in_order(visible_text(messages), "tok")
    assert sorted(found) == sorted(k.id for k in keys)
    assert "sk_live_SECRET" not in dump(messages)


def test_webhooks_show_url_status_verification_and_environment_but_no_signing_key() -> None:
    hooks = [
        Webhook(
            id="wh_1",
            url="https://example.com/hook?a=1&b=<2>",
            status=Status.ENABLED,
            verified=True,
            environment="ae_1",
            signing_key="whsec_TOPSECRET",
        ),
        Webhook(id="wh_2", url="https://a.example", verified=False, signing_key="whsec_OTHER"),
    ]
    messages = render_webhooks(hooks, {"ae_1": "Production"})
    assert_within_limits(messages)
    text = visible_text(messages)
    assert "https://example.com/hook?a=1&amp;b=&lt;2&gt;" in text
    assert "verified" in text and "not verified" in text
    assert "Production" in text
    assert ids_in_order(text, "wh") == ["wh_2", "wh_1"]
    assert "whsec_" not in dump(messages)


def test_no_webhooks_is_a_friendly_message() -> None:
    (message,) = render_webhooks([], {})
    assert "No webhooks" in message.text


def test_fetching_placeholder_names_what_is_fetched() -> None:
    message = render_fetching("environments")
    assert message.text == "Fetching environments…"
    assert_within_limits([message])


_ids = st.integers(min_value=0, max_value=10**6)
_names = st.text(min_size=0, max_size=300)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(_ids, _names, st.none() | st.text(max_size=300)),
        max_size=250,
        unique_by=lambda t: t[0],
    )
)
def test_any_environment_listing_is_complete_and_within_limits(
    rows: list[tuple[int, str, str | None]],
) -> None:
    envs = [
        Environment(id=f"ae_{i}", name=name, description=d, created_at=CREATED)
        for i, name, d in rows
    ]
    messages = render_environments(envs)
    assert_within_limits(messages)
    text = visible_text(messages)
    for e in envs:
        assert text.count(f"`{e.id}`") == 1


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(_ids, _names, st.sampled_from([None, "ae_1", "ae_2", "ae_x"])),
        max_size=300,
        unique_by=lambda t: t[0],
    ),
    st.dictionaries(st.sampled_from(["ae_1", "ae_2"]), _names),
)
def test_any_key_listing_is_complete_within_limits_and_without_tokens(
    rows: list[tuple[int, str, str | None]], env_names: dict[str, str]
) -> None:
    keys = [key(i, e, name=name, token="SECRETTOKEN") for i, name, e in rows]
    messages = render_api_keys(keys, env_names)
    assert_within_limits(messages)
    text = visible_text(messages)
    for k in keys:
        assert text.count(f"`{k.id}`") == 1
    assert "SECRETTOKEN" not in dump(messages)


# ── the ⋯ menu on each row ─────────────────────────────────────────────────────────────────

EVERY_CHANGE = frozenset(
    {"RenameEnv", "DeleteEnv", "RenameKey", "SetKeyStatus", "RotateKey", "DeleteKey"}
    | {"SetWebhookStatus", "DeleteWebhook"}
)


def menus_of(messages: list) -> list[list[tuple[str, str]]]:  # type: ignore[type-arg]
    """Each row's menu, as (label, value) pairs, in the order shown."""
    return [
        [(o["text"]["text"], o["value"]) for o in block["accessory"]["options"]]
        for message in messages
        for block in message.blocks
        if block.get("accessory", {}).get("type") == "overflow"
    ]


def test_each_row_offers_the_changes_the_person_may_ask_for() -> None:
    keys = [
        key(1, "ae_1", name="Live", status=Status.ENABLED),
        key(2, "ae_1", name="Old", status=Status.DISABLED),
    ]
    messages = render_api_keys(keys, {"ae_1": "Production"}, menus=EVERY_CHANGE)
    assert_within_limits(messages)
    live, old = menus_of(messages)
    assert [label for label, _ in live] == ["Rename", "Disable", "Rotate", "Delete"]
    assert ("Enable", f"SetKeyStatus:{keys[1].id}:enabled") in old
    assert all(value.endswith(keys[0].id) or ":disabled" in value for _, value in live)


def test_a_person_who_may_change_nothing_gets_no_menus() -> None:
    messages = render_environments([env(i) for i in range(5)], menus=frozenset())
    assert menus_of(messages) == []


def test_menus_offer_only_what_the_policy_allows() -> None:
    envs = [env(i) for i in range(3)]
    messages = render_environments(envs, menus=frozenset({"RenameEnv"}))
    assert all(
        menu == [("Rename", f"RenameEnv:{e.id}")]
        for menu, e in zip(
            menus_of(messages), sorted(envs, key=lambda e: e.name.casefold()), strict=True
        )
    )


def test_150_rows_have_menus_in_as_many_messages_as_slack_needs() -> None:
    envs = [env(i) for i in range(150)]
    messages = render_environments(envs, menus=EVERY_CHANGE)
    assert_within_limits(messages)
    assert len(menus_of(messages)) == 150
    text = visible_text(messages)
    assert sorted(ids_in_order(text, "ae")) == sorted(e.id for e in envs)


def test_beyond_150_rows_are_packed_and_the_listing_says_how_to_change_one() -> None:
    envs = [env(i) for i in range(151)]
    messages = render_environments(envs, menus=EVERY_CHANGE)
    assert_within_limits(messages)
    assert menus_of(messages) == []
    assert len(messages) <= 2
    assert "`/fp new`" in visible_text(messages[:1])
    assert sorted(ids_in_order(visible_text(messages), "ae")) == sorted(e.id for e in envs)
