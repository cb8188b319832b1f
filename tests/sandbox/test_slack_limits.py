"""Slack's message limits as the fake enforces them: each rule passes at its edge, fails past it."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.slack import check_message


def plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text}


def mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text}


def section(text: str = "hello", **extra: Any) -> dict[str, Any]:
    return {"type": "section", "text": mrkdwn(text), **extra}


def button(action_id: str = "go", text: str = "Go", **extra: Any) -> dict[str, Any]:
    return {"type": "button", "action_id": action_id, "text": plain(text), "value": "v", **extra}


def actions(*elements: dict[str, Any]) -> dict[str, Any]:
    return {"type": "actions", "elements": list(elements)}


def confirm(**overrides: Any) -> dict[str, Any]:
    dialog = {
        "title": plain("Sure?"),
        "text": mrkdwn("This cannot be undone."),
        "confirm": plain("Yes"),
        "deny": plain("No"),
    }
    dialog.update(overrides)
    return dialog


def message(*blocks: dict[str, Any], text: str | None = "fallback") -> dict[str, Any]:
    payload: dict[str, Any] = {"blocks": list(blocks)}
    if text is not None:
        payload["text"] = text
    return payload


ACCEPTED = [
    pytest.param({"text": "just text"}, id="a plain text message is fine"),
    pytest.param({"text": "x" * 40_000}, id="text of exactly 40000 characters is fine"),
    pytest.param(message(*[section()] * 50), id="50 blocks fit in a message"),
    pytest.param(message(section("x" * 3000)), id="section text of 3000 characters fits"),
    pytest.param(
        message({"type": "section", "fields": [mrkdwn("x" * 2000)] * 10}),
        id="ten fields of 2000 characters fit",
    ),
    pytest.param(
        message(actions(*[button(f"b{i}") for i in range(25)])), id="25 buttons fit in actions"
    ),
    pytest.param(
        message({"type": "header", "text": plain("h" * 150)}), id="a header of 150 chars fits"
    ),
    pytest.param(message(actions(button(text="t" * 75))), id="button text of 75 fits"),
    pytest.param(message(actions(button(value="v" * 2000))), id="button value of 2000 fits"),
    pytest.param(message(actions(button("a" * 255))), id="an action_id of 255 fits"),
    pytest.param(message(section(block_id="b" * 255)), id="a block_id of 255 fits"),
    pytest.param(
        message(actions(button("approve", style="primary"), button("deny", style="danger"))),
        id="primary and danger are styles",
    ),
    pytest.param(
        message(
            actions(
                button(
                    confirm=confirm(
                        title=plain("t" * 100),
                        text=plain("x" * 300),
                        confirm=plain("c" * 30),
                        deny=plain("d" * 30),
                        style="danger",
                    )
                )
            )
        ),
        id="a confirm dialog at every limit fits",
    ),
    pytest.param(
        message({"type": "context", "elements": [mrkdwn("c")] * 10}),
        id="ten context elements fit",
    ),
    pytest.param(
        message(section(accessory=button("acc"))), id="a button can be a section accessory"
    ),
    pytest.param(message({"type": "divider"}, section()), id="a divider needs nothing"),
    pytest.param({"text": "t", "blocks": []}, id="an empty block list is fine"),
]

REFUSED = [
    pytest.param({"text": "x" * 40_001}, "/text", id="text over 40000 characters is refused"),
    pytest.param(message(section(), text=None), "/text", id="blocks without a fallback text"),
    pytest.param(message(section(), text="  "), "/text", id="a blank fallback text is no fallback"),
    pytest.param(message(*[section()] * 51), "/blocks", id="51 blocks are too many"),
    pytest.param(message(section("x" * 3001)), "/blocks/0/text/text", id="section text over 3000"),
    pytest.param(message(section("")), "/blocks/0/text/text", id="an empty text is refused"),
    pytest.param(
        message({"type": "section", "fields": [mrkdwn("f")] * 11}),
        "/blocks/0/fields",
        id="eleven fields are too many",
    ),
    pytest.param(
        message({"type": "section", "fields": [mrkdwn("x" * 2001)]}),
        "/blocks/0/fields/0/text",
        id="a field over 2000 characters",
    ),
    pytest.param(message({"type": "section"}), "/blocks/0", id="a section needs text or fields"),
    pytest.param(
        message(actions(*[button(f"b{i}") for i in range(26)])),
        "/blocks/0/elements",
        id="26 elements in an actions block are too many",
    ),
    pytest.param(message(actions()), "/blocks/0/elements", id="an empty actions block"),
    pytest.param(
        message({"type": "header", "text": plain("h" * 151)}),
        "/blocks/0/text/text",
        id="a header over 150 characters",
    ),
    pytest.param(
        message({"type": "header", "text": mrkdwn("*bold*")}),
        "/blocks/0/text/type",
        id="a header must be plain_text",
    ),
    pytest.param(
        message(actions(button(text="t" * 76))),
        "/blocks/0/elements/0/text/text",
        id="button text over 75",
    ),
    pytest.param(
        message(actions({"type": "button", "action_id": "x", "text": mrkdwn("Go")})),
        "/blocks/0/elements/0/text/type",
        id="button text must be plain_text",
    ),
    pytest.param(
        message(actions(button(value="v" * 2001))),
        "/blocks/0/elements/0/value",
        id="button value over 2000",
    ),
    pytest.param(
        message(actions(button("a" * 256))),
        "/blocks/0/elements/0/action_id",
        id="an action_id over 255",
    ),
    pytest.param(
        message(section(block_id="b" * 256)), "/blocks/0/block_id", id="a block_id over 255"
    ),
    pytest.param(
        message(section(block_id="same"), section(block_id="same")),
        "/blocks/1/block_id",
        id="block_ids are unique in a message",
    ),
    pytest.param(
        message(actions(button("approve"), button("approve"))),
        "/blocks/0/elements/1/action_id",
        id="action_ids are unique in their block",
    ),
    pytest.param(
        message(actions(button(style="warning"))),
        "/blocks/0/elements/0/style",
        id="a style other than primary or danger",
    ),
    pytest.param(
        message(actions(button(confirm=confirm(title=plain("t" * 101))))),
        "/blocks/0/elements/0/confirm/title/text",
        id="a confirm title over 100",
    ),
    pytest.param(
        message(actions(button(confirm=confirm(text=mrkdwn("x" * 301))))),
        "/blocks/0/elements/0/confirm/text/text",
        id="a confirm text over 300",
    ),
    pytest.param(
        message(actions(button(confirm=confirm(confirm=plain("c" * 31))))),
        "/blocks/0/elements/0/confirm/confirm/text",
        id="a confirm button over 30",
    ),
    pytest.param(
        message(actions(button(confirm=confirm(deny=plain("d" * 31))))),
        "/blocks/0/elements/0/confirm/deny/text",
        id="a deny button over 30",
    ),
    pytest.param(
        message(actions(button(confirm=confirm(style="blue")))),
        "/blocks/0/elements/0/confirm/style",
        id="a confirm style other than primary or danger",
    ),
    pytest.param(
        message({"type": "context", "elements": [mrkdwn("c")] * 11}),
        "/blocks/0/elements",
        id="eleven context elements are too many",
    ),
    pytest.param(message({"type": "table"}), "/blocks/0/type", id="an unknown block type"),
    pytest.param(
        message(actions({"type": "slider", "action_id": "s"})),
        "/blocks/0/elements/0/type",
        id="an unknown element type",
    ),
    pytest.param(
        message({"type": "section", "text": {"type": "markdown", "text": "x"}}),
        "/blocks/0/text/type",
        id="a text object of an unknown type",
    ),
    pytest.param(
        message({"type": "section", "text": {"type": "mrkdwn", "text": "x", "emoji": True}}),
        "/blocks/0/text/emoji",
        id="emoji belongs to plain_text only",
    ),
    pytest.param(
        message({"type": "section", "text": {"type": "mrkdwn"}}),
        "/blocks/0/text/text",
        id="a text object without text",
    ),
    pytest.param(message("not a block"), "/blocks/0", id="a block that is not an object"),  # type: ignore[arg-type]
    pytest.param({"text": "t", "blocks": "[]"}, "/blocks", id="blocks that are not a list"),
]


@pytest.mark.parametrize("payload", ACCEPTED)
def test_slack_accepts(payload: dict[str, Any]) -> None:
    assert check_message(payload) == []


@pytest.mark.parametrize(("payload", "pointer"), REFUSED)
def test_slack_refuses_and_points_at_the_problem(payload: dict[str, Any], pointer: str) -> None:
    problems = check_message(payload)
    assert problems, "Slack would refuse this message"
    assert any(
        p.startswith("[ERROR] ") and p.endswith(f"[json-pointer:{pointer}]") for p in problems
    ), problems


def test_every_problem_is_reported_at_once() -> None:
    payload = message(section("x" * 3001), actions(button(text="t" * 76)), text=None)
    assert len(check_message(payload)) == 3


def modal(*blocks: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "modal", "title": plain("Title"), "blocks": list(blocks), **extra}


def test_a_modal_holds_100_blocks_but_not_101() -> None:
    assert check_message(modal(*[section()] * 100), surface="modal") == []
    assert check_message(modal(*[section()] * 101), surface="modal")


def test_a_home_tab_holds_100_blocks() -> None:
    home = {"type": "home", "blocks": [section()] * 100}
    assert check_message(home, surface="home") == []


@pytest.mark.parametrize(
    ("view", "pointer"),
    [
        pytest.param(modal(title=plain("t" * 25)), "/title/text", id="a modal title over 24"),
        pytest.param(modal(submit=plain("s" * 25)), "/submit/text", id="a submit label over 24"),
        pytest.param(
            modal(private_metadata="m" * 3001), "/private_metadata", id="metadata over 3000"
        ),
        pytest.param({**modal(), "type": "home"}, "/type", id="a home view is not a modal"),
        pytest.param({"type": "modal", "title": plain("t")}, "/blocks", id="a view needs blocks"),
    ],
)
def test_slack_refuses_views(view: dict[str, Any], pointer: str) -> None:
    problems = check_message(view, surface="modal")
    assert any(p.endswith(f"[json-pointer:{pointer}]") for p in problems), problems


def test_a_modal_at_its_limits_is_fine() -> None:
    view = modal(
        section(), title=plain("t" * 24), submit=plain("s" * 24), private_metadata="m" * 3000
    )
    assert check_message(view, surface="modal") == []


# -- forms, select menus and overflow menus ----------------------------------------------------


def option(value: str = "v", text: str = "Option", **extra: Any) -> dict[str, Any]:
    return {"text": plain(text), "value": value, **extra}


def text_input(action_id: str = "name", **extra: Any) -> dict[str, Any]:
    return {"type": "plain_text_input", "action_id": action_id, **extra}


def input_block(element: dict[str, Any], label: str = "Name", **extra: Any) -> dict[str, Any]:
    return {"type": "input", "label": plain(label), "element": element, **extra}


def static_select(*options: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "type": "static_select",
        "action_id": "pick",
        "placeholder": plain("Choose"),
        "options": list(options),
        **extra,
    }


def overflow(*options: dict[str, Any]) -> dict[str, Any]:
    return {"type": "overflow", "action_id": "more", "options": list(options)}


def form(*blocks: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return modal(*blocks, submit=plain("Send"), **extra)


VIEWS_ACCEPTED = [
    pytest.param(
        form(input_block(text_input(min_length=0, max_length=3000, multiline=True))),
        id="a text input at its length bounds",
    ),
    pytest.param(form(input_block(text_input(), label="l" * 2000)), id="a label of 2000 fits"),
    pytest.param(
        form(input_block(static_select(*[option(f"v{i}") for i in range(100)]))),
        id="a select with 100 options",
    ),
    pytest.param(
        form(
            input_block(
                static_select(option("a"), option("b"), initial_option=option("b")),
                optional=True,
            )
        ),
        id="an initial option among the options",
    ),
    pytest.param(
        form(
            input_block(
                {
                    "type": "static_select",
                    "action_id": "grouped",
                    "option_groups": [
                        {"label": plain("g" * 75), "options": [option("a")]},
                        {"label": plain("Other"), "options": [option("b")]},
                    ],
                }
            )
        ),
        id="option groups instead of options",
    ),
    pytest.param(
        form(
            input_block(
                {
                    "type": "external_select",
                    "action_id": "env",
                    "min_query_length": 0,
                    "initial_option": option("ae_1", "Production"),
                }
            )
        ),
        id="an external select with an initial option",
    ),
    pytest.param(
        form(
            input_block(
                static_select(
                    option("v" * 150, "t" * 75, description=plain("d" * 75)),
                )
            )
        ),
        id="an option at every limit",
    ),
    pytest.param(
        modal(section(accessory=overflow(*[option(f"o{i}") for i in range(5)]))),
        id="an overflow of five options",
    ),
    pytest.param(
        modal(section(accessory=overflow(option(url="https://example.com/" + "x" * 2000)))),
        id="an overflow option may be a link",
    ),
    pytest.param(
        modal(section(), external_id="e" * 255, callback_id="c" * 255),
        id="ids of 255 characters",
    ),
]

VIEWS_REFUSED = [
    pytest.param(
        modal(input_block(text_input())),
        "/submit",
        id="a form without a submit button",
    ),
    pytest.param(
        form(input_block(text_input(), label="l" * 2001)),
        "/blocks/0/label/text",
        id="a label over 2000",
    ),
    pytest.param(
        form({"type": "input", "element": text_input()}),
        "/blocks/0/label",
        id="an input needs a label",
    ),
    pytest.param(
        form(input_block(button())),
        "/blocks/0/element/type",
        id="a button cannot be an input",
    ),
    pytest.param(
        form(input_block(text_input(max_length=3001))),
        "/blocks/0/element/max_length",
        id="max_length over 3000",
    ),
    pytest.param(
        form(input_block(text_input(max_length=0))),
        "/blocks/0/element/max_length",
        id="max_length under 1",
    ),
    pytest.param(
        form(input_block(text_input(min_length=-1))),
        "/blocks/0/element/min_length",
        id="a negative min_length",
    ),
    pytest.param(
        form(input_block(text_input(min_length=10, max_length=5))),
        "/blocks/0/element/min_length",
        id="min_length over max_length",
    ),
    pytest.param(
        form(input_block(text_input(max_length=3, initial_value="four"))),
        "/blocks/0/element/initial_value",
        id="an initial value longer than max_length",
    ),
    pytest.param(
        form(input_block(static_select(*[option(f"v{i}") for i in range(101)]))),
        "/blocks/0/element/options",
        id="101 options",
    ),
    pytest.param(
        form(input_block(static_select(option(text="t" * 76)))),
        "/blocks/0/element/options/0/text/text",
        id="option text over 75",
    ),
    pytest.param(
        form(input_block(static_select(option(value="v" * 151)))),
        "/blocks/0/element/options/0/value",
        id="option value over 150",
    ),
    pytest.param(
        form(input_block(static_select(option(description=plain("d" * 76))))),
        "/blocks/0/element/options/0/description/text",
        id="option description over 75",
    ),
    pytest.param(
        form(input_block(static_select({"text": mrkdwn("*b*"), "value": "b"}))),
        "/blocks/0/element/options/0/text/type",
        id="a select option is plain_text",
    ),
    pytest.param(
        form(input_block(static_select(option(url="https://example.com")))),
        "/blocks/0/element/options/0/url",
        id="only overflow options are links",
    ),
    pytest.param(
        form(input_block(static_select(option("a"), initial_option=option("z")))),
        "/blocks/0/element/initial_option",
        id="an initial option that is not offered",
    ),
    pytest.param(
        form(input_block(static_select())),
        "/blocks/0/element/options",
        id="a select without options",
    ),
    pytest.param(
        form(input_block(static_select(option("a"), option_groups=[]))),
        "/blocks/0/element",
        id="options and option groups at once",
    ),
    pytest.param(
        form(
            input_block(
                {
                    "type": "static_select",
                    "action_id": "g",
                    "option_groups": [{"label": plain("g"), "options": [option()]}] * 101,
                }
            )
        ),
        "/blocks/0/element/option_groups",
        id="101 option groups",
    ),
    pytest.param(
        form(input_block(static_select(option(), placeholder=plain("p" * 151)))),
        "/blocks/0/element/placeholder/text",
        id="a placeholder over 150",
    ),
    pytest.param(
        form(input_block({"type": "external_select", "action_id": "e", "min_query_length": -1})),
        "/blocks/0/element/min_query_length",
        id="a negative min_query_length",
    ),
    pytest.param(
        modal(section(accessory=overflow(*[option(f"o{i}") for i in range(6)]))),
        "/blocks/0/accessory/options",
        id="an overflow of six options",
    ),
    pytest.param(
        modal(section(accessory=overflow())),
        "/blocks/0/accessory/options",
        id="an empty overflow",
    ),
    pytest.param(
        modal(section(), external_id="e" * 256), "/external_id", id="external_id over 255"
    ),
    pytest.param(
        modal(section(), callback_id="c" * 256), "/callback_id", id="callback_id over 255"
    ),
    pytest.param(
        modal(*[input_block(text_input(f"i{i}")) for i in range(101)], submit=plain("Go")),
        "/blocks",
        id="101 inputs",
    ),
]


@pytest.mark.parametrize("view", VIEWS_ACCEPTED)
def test_slack_accepts_forms(view: dict[str, Any]) -> None:
    assert check_message(view, surface="modal") == []


@pytest.mark.parametrize(("view", "pointer"), VIEWS_REFUSED)
def test_slack_refuses_forms(view: dict[str, Any], pointer: str) -> None:
    problems = check_message(view, surface="modal")
    assert any(p.endswith(f"[json-pointer:{pointer}]") for p in problems), problems


def test_a_home_view_has_no_submit_or_close_and_holds_at_most_100_blocks() -> None:
    home = {"type": "home", "blocks": [section()], "submit": plain("Go"), "close": plain("No")}
    problems = check_message(home, surface="home")
    assert [p.rsplit(":", 1)[1] for p in problems] == ["/submit]", "/close]"]
    assert check_message({"type": "home", "blocks": [section()] * 101}, surface="home")


def test_overflow_and_select_limits_hold_in_messages_too() -> None:
    too_many = message(section(accessory=overflow(*[option(f"o{i}") for i in range(6)])))
    assert check_message(too_many)
    chosen = message(actions(static_select(option("a"), initial_option=option("a"))))
    assert check_message(chosen) == []


def test_a_button_may_repeat_its_action_id_in_another_block_but_not_in_its_own() -> None:
    rows = message(actions(button("approve")), actions(button("approve")))
    assert check_message(rows) == []
    same_block = check_message(message(actions(button("approve"), button("approve"))))
    assert same_block == [
        "[ERROR] duplicate action_id 'approve' [json-pointer:/blocks/0/elements/1/action_id]"
    ]
