"""Slack's limits on a message or a view, checked the way Slack would refuse them.

Slack publishes no JSON schema, and slack_sdk's block classes check only some limits (not the
50-block cap, and nothing at all for plain dicts). The fake Slack runs every message and every view
through `check_message` so a scenario test fails on a payload real Slack would have refused
(``invalid_blocks`` for a message, ``invalid_arguments`` for a view). The rules are Slack's
documented limits of a message and of modals, select menus, shortcuts and App Home; each problem is
reported in Slack's own style: ``[ERROR] <what> [json-pointer:/blocks/0/text]``.

Pure functions only: no I/O, so the table of rules is tested directly.
"""

from __future__ import annotations

from typing import Any, Literal

Surface = Literal["message", "modal", "home"]

MAX_MESSAGE_TEXT = 40_000
MAX_BLOCKS = {"message": 50, "modal": 100, "home": 100}
MAX_SECTION_TEXT = 3000
MAX_SECTION_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_ACTIONS_ELEMENTS = 25
MAX_CONTEXT_ELEMENTS = 10
MAX_HEADER_TEXT = 150
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
MAX_BUTTON_URL = 3000
MAX_ID = 255
MAX_CONFIRM_TITLE = 100
MAX_CONFIRM_TEXT = 300
MAX_CONFIRM_BUTTON = 30
MAX_MODAL_TITLE = 24
MAX_MODAL_BUTTON = 24
MAX_PRIVATE_METADATA = 3000
MAX_ALT_TEXT = 2000
MAX_INPUT_LABEL = 2000
MAX_PLACEHOLDER = 150
MAX_TEXT_INPUT = 3000
MAX_OPTIONS = 100
MAX_OPTION_TEXT = 75
MAX_OPTION_VALUE = 150
MAX_OPTION_URL = 3000
MAX_OVERFLOW_OPTIONS = 5

KNOWN_BLOCK_TYPES = frozenset(
    {
        "actions",
        "context",
        "divider",
        "file",
        "header",
        "image",
        "input",
        "markdown",
        "rich_text",
        "section",
        "video",
    }
)
TEXT_TYPES = frozenset({"plain_text", "mrkdwn"})
BUTTON_STYLES = frozenset({"primary", "danger"})
#: Interactive elements that may sit in an ``actions`` block or a section's accessory.
ELEMENT_TYPES = frozenset(
    {
        "button",
        "checkboxes",
        "datepicker",
        "datetimepicker",
        "timepicker",
        "image",
        "overflow",
        "radio_buttons",
        "static_select",
        "external_select",
        "users_select",
        "conversations_select",
        "channels_select",
        "multi_static_select",
        "multi_external_select",
        "multi_users_select",
        "multi_conversations_select",
        "multi_channels_select",
        "plain_text_input",
        "rich_text_input",
        "number_input",
        "email_text_input",
        "url_text_input",
        "workflow_button",
        "file_input",
    }
)
#: Elements an ``input`` block may hold (buttons, overflow menus and images may not).
INPUT_ELEMENT_TYPES = ELEMENT_TYPES - {"button", "image", "overflow", "workflow_button"}
#: Select menus whose options come with the element (``external`` ones ask the app).
STATIC_SELECTS = frozenset({"static_select", "multi_static_select"})
EXTERNAL_SELECTS = frozenset({"external_select", "multi_external_select"})


class _Checker:
    """Walks one payload and collects every problem, so a test sees them all at once."""

    def __init__(self, surface: Surface) -> None:
        self.surface = surface
        self.problems: list[str] = []
        #: Slack wants an action_id unique within its block, not the whole message: a list of
        #: rows may repeat one button per row.
        self.action_ids: set[str] = set()
        self.block_ids: set[str] = set()

    def fail(self, path: str, what: str) -> None:
        self.problems.append(f"[ERROR] {what} [json-pointer:{path}]")

    def text_object(
        self,
        obj: Any,
        path: str,
        *,
        max_len: int,
        plain_only: bool = False,
    ) -> None:
        """A ``{"type": "plain_text"|"mrkdwn", "text": ...}`` object, non-empty and short enough."""
        if not isinstance(obj, dict):
            self.fail(path, "must be a text object")
            return
        kind = obj.get("type")
        if kind not in TEXT_TYPES:
            self.fail(f"{path}/type", "must be one of plain_text, mrkdwn")
        elif plain_only and kind != "plain_text":
            self.fail(f"{path}/type", "must be plain_text")
        text = obj.get("text")
        if not isinstance(text, str):
            self.fail(f"{path}/text", "must be a string")
            return
        if not text:
            self.fail(f"{path}/text", "must be more than 0 characters")
        if len(text) > max_len:
            self.fail(f"{path}/text", f"must be less than {max_len + 1} characters")
        if kind == "mrkdwn" and "emoji" in obj:
            self.fail(f"{path}/emoji", "emoji is only allowed on plain_text")
        if kind == "plain_text" and "verbatim" in obj:
            self.fail(f"{path}/verbatim", "verbatim is only allowed on mrkdwn")

    def identifier(self, value: Any, path: str) -> None:
        if not isinstance(value, str) or not value:
            self.fail(path, "must be a non-empty string")
        elif len(value) > MAX_ID:
            self.fail(path, f"must be less than {MAX_ID + 1} characters")

    def blocks(self, blocks: Any, path: str) -> None:
        if not isinstance(blocks, list):
            self.fail(path, "must be an array")
            return
        limit = MAX_BLOCKS[self.surface]
        if len(blocks) > limit:
            self.fail(path, f"must contain no more than {limit} items")
        for index, block in enumerate(blocks):
            self.block(block, f"{path}/{index}")

    def block(self, block: Any, path: str) -> None:
        if not isinstance(block, dict):
            self.fail(path, "must be an object")
            return
        kind = block.get("type")
        if kind not in KNOWN_BLOCK_TYPES:
            self.fail(f"{path}/type", f"unknown block type {kind!r}")
            return
        self.action_ids = set()
        if "block_id" in block:
            block_id = block["block_id"]
            self.identifier(block_id, f"{path}/block_id")
            if isinstance(block_id, str):
                if block_id in self.block_ids:
                    self.fail(f"{path}/block_id", f"duplicate block_id {block_id!r}")
                self.block_ids.add(block_id)
        check = getattr(self, f"block_{kind}", None)
        if check is not None:
            check(block, path)

    def block_section(self, block: dict[str, Any], path: str) -> None:
        if "text" not in block and "fields" not in block:
            self.fail(path, "must provide either text or fields")
        if "text" in block:
            self.text_object(block["text"], f"{path}/text", max_len=MAX_SECTION_TEXT)
        if "fields" in block:
            fields = block["fields"]
            if not isinstance(fields, list) or not fields:
                self.fail(f"{path}/fields", "must be a non-empty array")
            else:
                if len(fields) > MAX_SECTION_FIELDS:
                    self.fail(
                        f"{path}/fields", f"must contain no more than {MAX_SECTION_FIELDS} items"
                    )
                for index, field in enumerate(fields):
                    self.text_object(field, f"{path}/fields/{index}", max_len=MAX_FIELD_TEXT)
        if "accessory" in block:
            self.element(block["accessory"], f"{path}/accessory")

    def block_header(self, block: dict[str, Any], path: str) -> None:
        self.text_object(
            block.get("text"), f"{path}/text", max_len=MAX_HEADER_TEXT, plain_only=True
        )

    def block_actions(self, block: dict[str, Any], path: str) -> None:
        elements = block.get("elements")
        if not isinstance(elements, list) or not elements:
            self.fail(f"{path}/elements", "must be a non-empty array")
            return
        if len(elements) > MAX_ACTIONS_ELEMENTS:
            self.fail(f"{path}/elements", f"must contain no more than {MAX_ACTIONS_ELEMENTS} items")
        for index, element in enumerate(elements):
            self.element(element, f"{path}/elements/{index}")

    def block_context(self, block: dict[str, Any], path: str) -> None:
        elements = block.get("elements")
        if not isinstance(elements, list) or not elements:
            self.fail(f"{path}/elements", "must be a non-empty array")
            return
        if len(elements) > MAX_CONTEXT_ELEMENTS:
            self.fail(f"{path}/elements", f"must contain no more than {MAX_CONTEXT_ELEMENTS} items")
        for index, element in enumerate(elements):
            where = f"{path}/elements/{index}"
            if isinstance(element, dict) and element.get("type") == "image":
                self.image(element, where)
            else:
                self.text_object(element, where, max_len=MAX_SECTION_TEXT)

    def block_image(self, block: dict[str, Any], path: str) -> None:
        self.image(block, path)
        if "title" in block:
            self.text_object(block["title"], f"{path}/title", max_len=MAX_ALT_TEXT, plain_only=True)

    def block_input(self, block: dict[str, Any], path: str) -> None:
        self.text_object(
            block.get("label"), f"{path}/label", max_len=MAX_INPUT_LABEL, plain_only=True
        )
        if "hint" in block:
            self.text_object(
                block["hint"], f"{path}/hint", max_len=MAX_INPUT_LABEL, plain_only=True
            )
        for flag in ("optional", "dispatch_action"):
            if flag in block and not isinstance(block[flag], bool):
                self.fail(f"{path}/{flag}", "must be a boolean")
        element = block.get("element")
        if not isinstance(element, dict):
            self.fail(f"{path}/element", "must be an element object")
        elif element.get("type") not in INPUT_ELEMENT_TYPES:
            self.fail(
                f"{path}/element/type", f"{element.get('type')!r} cannot be in an input block"
            )
        else:
            self.element(element, f"{path}/element")

    def image(self, image: dict[str, Any], path: str) -> None:
        if "image_url" not in image and "slack_file" not in image:
            self.fail(path, "must provide image_url or slack_file")
        alt = image.get("alt_text")
        if not isinstance(alt, str) or not alt:
            self.fail(f"{path}/alt_text", "must be a non-empty string")
        elif len(alt) > MAX_ALT_TEXT:
            self.fail(f"{path}/alt_text", f"must be less than {MAX_ALT_TEXT + 1} characters")

    def element(self, element: Any, path: str) -> None:
        if not isinstance(element, dict):
            self.fail(path, "must be an object")
            return
        kind = element.get("type")
        if kind not in ELEMENT_TYPES:
            self.fail(f"{path}/type", f"unknown element type {kind!r}")
            return
        if kind == "image":
            self.image(element, path)
            return
        if "action_id" in element:
            action_id = element["action_id"]
            self.identifier(action_id, f"{path}/action_id")
            if isinstance(action_id, str):
                if action_id in self.action_ids:
                    self.fail(f"{path}/action_id", f"duplicate action_id {action_id!r}")
                self.action_ids.add(action_id)
        if kind == "button":
            self.button(element, path)
            return
        if "confirm" in element:
            self.confirm(element["confirm"], f"{path}/confirm")
        if "placeholder" in element:
            self.text_object(
                element["placeholder"],
                f"{path}/placeholder",
                max_len=MAX_PLACEHOLDER,
                plain_only=True,
            )
        if kind == "plain_text_input":
            self.plain_text_input(element, path)
        elif kind in STATIC_SELECTS:
            self.static_select(element, path)
        elif kind in EXTERNAL_SELECTS:
            self.external_select(element, path)
        elif kind == "overflow":
            self.overflow(element, path)

    def plain_text_input(self, element: dict[str, Any], path: str) -> None:
        low = self.length_bound(element, "min_length", path, lowest=0)
        high = self.length_bound(element, "max_length", path, lowest=1)
        if low is not None and high is not None and low > high:
            self.fail(f"{path}/min_length", "must not be greater than max_length")
        initial = element.get("initial_value")
        if initial is not None and not isinstance(initial, str):
            self.fail(f"{path}/initial_value", "must be a string")
        elif initial is not None and len(initial) > (high or MAX_TEXT_INPUT):
            self.fail(f"{path}/initial_value", "must not be longer than max_length")

    def length_bound(
        self, element: dict[str, Any], key: str, path: str, *, lowest: int
    ) -> int | None:
        if key not in element:
            return None
        value = element[key]
        if not isinstance(value, int) or isinstance(value, bool):
            self.fail(f"{path}/{key}", "must be an integer")
            return None
        if not lowest <= value <= MAX_TEXT_INPUT:
            self.fail(f"{path}/{key}", f"must be between {lowest} and {MAX_TEXT_INPUT}")
            return None
        return value

    def static_select(self, element: dict[str, Any], path: str) -> None:
        """Options xor option groups, each list at most 100 long; initial options among them."""
        has_options, has_groups = "options" in element, "option_groups" in element
        if has_options == has_groups:
            self.fail(path, "must provide exactly one of options, option_groups")
            return
        offered: list[Any] = []
        if has_options:
            offered = self.options(element["options"], f"{path}/options", most=MAX_OPTIONS)
        else:
            groups = element["option_groups"]
            if not self.sized_list(groups, f"{path}/option_groups", most=MAX_OPTIONS):
                return
            for index, group in enumerate(groups):
                offered += self.option_group(group, f"{path}/option_groups/{index}")
        for key in ("initial_option", "initial_options"):
            chosen = element.get(key)
            chosen = [chosen] if key == "initial_option" and chosen is not None else chosen or []
            if any(option not in offered for option in chosen):
                self.fail(f"{path}/{key}", "must match one of the provided options")

    def option_group(self, group: Any, path: str) -> list[Any]:
        """An option group: a label ≤ 75 and 1..100 options; its options, for initial ones."""
        if not isinstance(group, dict):
            self.fail(path, "must be an option group object")
            return []
        self.text_object(
            group.get("label"), f"{path}/label", max_len=MAX_OPTION_TEXT, plain_only=True
        )
        return self.options(group.get("options"), f"{path}/options", most=MAX_OPTIONS)

    def external_select(self, element: dict[str, Any], path: str) -> None:
        if "min_query_length" in element:
            value = element["min_query_length"]
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                self.fail(f"{path}/min_query_length", "must be a non-negative integer")
        if "initial_option" in element:
            self.option(element["initial_option"], f"{path}/initial_option")
        for index, option in enumerate(element.get("initial_options") or []):
            self.option(option, f"{path}/initial_options/{index}")

    def overflow(self, element: dict[str, Any], path: str) -> None:
        self.options(
            element.get("options"),
            f"{path}/options",
            most=MAX_OVERFLOW_OPTIONS,
            url_allowed=True,
        )

    def sized_list(self, items: Any, path: str, *, most: int) -> bool:
        if not isinstance(items, list) or not items:
            self.fail(path, "must be a non-empty array")
            return False
        if len(items) > most:
            self.fail(path, f"must contain no more than {most} items")
        return True

    def options(
        self, options: Any, path: str, *, most: int, url_allowed: bool = False
    ) -> list[Any]:
        """Check a list of option objects; the list, for ``initial_option`` to be found in."""
        if not self.sized_list(options, path, most=most):
            return []
        for index, option in enumerate(options):
            self.option(option, f"{path}/{index}", url_allowed=url_allowed)
        return list(options)

    def option(self, option: Any, path: str, *, url_allowed: bool = False) -> None:
        """An option object: text ≤ 75, value ≤ 150, description ≤ 75, url (overflow) ≤ 3000."""
        if not isinstance(option, dict):
            self.fail(path, "must be an option object")
            return
        self.text_object(
            option.get("text"), f"{path}/text", max_len=MAX_OPTION_TEXT, plain_only=True
        )
        value = option.get("value")
        if not isinstance(value, str) or not value:
            self.fail(f"{path}/value", "must be a non-empty string")
        elif len(value) > MAX_OPTION_VALUE:
            self.fail(f"{path}/value", f"must be less than {MAX_OPTION_VALUE + 1} characters")
        if "description" in option:
            self.text_object(
                option["description"],
                f"{path}/description",
                max_len=MAX_OPTION_TEXT,
                plain_only=True,
            )
        if "url" in option:
            url = option["url"]
            if not url_allowed:
                self.fail(f"{path}/url", "url is only allowed in an overflow menu")
            elif not isinstance(url, str) or len(url) > MAX_OPTION_URL:
                self.fail(f"{path}/url", f"must be a string of at most {MAX_OPTION_URL} characters")

    def button(self, button: dict[str, Any], path: str) -> None:
        self.text_object(
            button.get("text"), f"{path}/text", max_len=MAX_BUTTON_TEXT, plain_only=True
        )
        value = button.get("value")
        if value is not None:
            if not isinstance(value, str):
                self.fail(f"{path}/value", "must be a string")
            elif len(value) > MAX_BUTTON_VALUE:
                self.fail(f"{path}/value", f"must be less than {MAX_BUTTON_VALUE + 1} characters")
        url = button.get("url")
        if isinstance(url, str) and len(url) > MAX_BUTTON_URL:
            self.fail(f"{path}/url", f"must be less than {MAX_BUTTON_URL + 1} characters")
        self.style(button, path)
        if "confirm" in button:
            self.confirm(button["confirm"], f"{path}/confirm")

    def style(self, obj: dict[str, Any], path: str) -> None:
        if "style" in obj and obj["style"] not in BUTTON_STYLES:
            self.fail(f"{path}/style", "must be one of primary, danger")

    def confirm(self, confirm: Any, path: str) -> None:
        if not isinstance(confirm, dict):
            self.fail(path, "must be a confirmation dialog object")
            return
        self.text_object(
            confirm.get("title"), f"{path}/title", max_len=MAX_CONFIRM_TITLE, plain_only=True
        )
        self.text_object(confirm.get("text"), f"{path}/text", max_len=MAX_CONFIRM_TEXT)
        for key in ("confirm", "deny"):
            self.text_object(
                confirm.get(key), f"{path}/{key}", max_len=MAX_CONFIRM_BUTTON, plain_only=True
            )
        self.style(confirm, path)


def check_message(payload: dict[str, Any], *, surface: Surface = "message") -> list[str]:
    """Every reason Slack would refuse ``payload``; an empty list means it would accept it.

    Args:
        payload: for ``surface="message"``, a message (``text``, ``blocks``; the body of
            ``chat.postMessage``, ``chat.update``, ``chat.postEphemeral`` or a ``response_url``
            post). For ``"modal"`` or ``"home"``, a view object (``type``, ``title``, ``blocks``…).
        surface: where the blocks are shown; it sets the block cap (50 in a message, 100 in a view)
            and which view fields are checked.

    Returns:
        One line per problem, in Slack's ``[ERROR] … [json-pointer:…]`` style.
    """
    checker = _Checker(surface)
    if surface == "message":
        _check_message_text(checker, payload)
    else:
        _check_view(checker, payload, surface)
    if "blocks" in payload and payload["blocks"] is not None:
        checker.blocks(payload["blocks"], "/blocks")
    return checker.problems


def _check_message_text(checker: _Checker, payload: dict[str, Any]) -> None:
    text = payload.get("text")
    if text is not None and not isinstance(text, str):
        checker.fail("/text", "must be a string")
        return
    if text and len(text) > MAX_MESSAGE_TEXT:
        checker.fail("/text", f"must be less than {MAX_MESSAGE_TEXT + 1} characters")
    if payload.get("blocks") and not (text and text.strip()):
        checker.fail("/text", "a plain text fallback is required when blocks are sent")


def _check_view(checker: _Checker, view: dict[str, Any], surface: Surface) -> None:
    if view.get("type") != surface:
        checker.fail("/type", f"must be {surface}")
    if surface == "modal":
        checker.text_object(view.get("title"), "/title", max_len=MAX_MODAL_TITLE, plain_only=True)
        for key in ("submit", "close"):
            if key in view:
                checker.text_object(view[key], f"/{key}", max_len=MAX_MODAL_BUTTON, plain_only=True)
        blocks = view.get("blocks")
        has_input = isinstance(blocks, list) and any(
            isinstance(block, dict) and block.get("type") == "input" for block in blocks
        )
        if has_input and "submit" not in view:
            checker.fail("/submit", "a modal with input blocks must have a submit button")
    else:
        for key in ("submit", "close"):
            if key in view:
                checker.fail(f"/{key}", "a home view cannot have submit or close")
    metadata = view.get("private_metadata")
    if metadata is not None and (
        not isinstance(metadata, str) or len(metadata) > MAX_PRIVATE_METADATA
    ):
        checker.fail(
            "/private_metadata", f"must be a string of at most {MAX_PRIVATE_METADATA} characters"
        )
    for key in ("callback_id", "external_id"):
        if key in view:
            checker.identifier(view[key], f"/{key}")
    if not isinstance(view.get("blocks"), list):
        checker.fail("/blocks", "must be an array")


def check_options(answer: dict[str, Any]) -> list[str]:
    """Every reason Slack would drop an app's answer to a ``block_suggestion``.

    Args:
        answer: the ack body, ``{"options": [...]}`` or ``{"option_groups": [...]}``; at most 100
            options or groups, each option within the option limits.

    Returns:
        One line per problem, in Slack's ``[ERROR] … [json-pointer:…]`` style.
    """
    checker = _Checker("message")
    if ("options" in answer) == ("option_groups" in answer):
        checker.fail("", "must provide exactly one of options, option_groups")
    elif "options" in answer:
        checker.options(answer["options"], "/options", most=MAX_OPTIONS)
    elif checker.sized_list(answer["option_groups"], "/option_groups", most=MAX_OPTIONS):
        for index, group in enumerate(answer["option_groups"]):
            checker.option_group(group, f"/option_groups/{index}")
    return checker.problems
