"""What Slack holds of a modal or a Home tab: the app's view, Slack's additions, the user's input.

A view the app sends (``views.open``, ``views.push``, ``views.update``, ``views.publish``, or a
``response_action``) comes back from Slack with more than the app wrote: an ``id``, a ``hash``
that changes with every update, ``root_view_id``/``previous_view_id`` for a stack, every block
and element given an id, and ``state.values`` holding what the person entered. `RecordedView`
is that object; the functions below turn what a person (a test, or the console) enters into the
``state.values`` entries Slack would send, refusing what Slack's own client would not let through.

Pure: no I/O, no clock. `sandbox.slack.state.SlackState` keeps the views and their stacks.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from sandbox.slack.limits import EXTERNAL_SELECTS

Kind = Literal["modal", "home"]

#: For each element that holds a value: its key in ``state.values``, and the key of its initial
#: value in the element. Buttons and overflow menus hold nothing.
STATE_KEYS: dict[str, tuple[str, str]] = {
    "plain_text_input": ("value", "initial_value"),
    "email_text_input": ("value", "initial_value"),
    "url_text_input": ("value", "initial_value"),
    "number_input": ("value", "initial_value"),
    "static_select": ("selected_option", "initial_option"),
    "external_select": ("selected_option", "initial_option"),
    "radio_buttons": ("selected_option", "initial_option"),
    "multi_static_select": ("selected_options", "initial_options"),
    "multi_external_select": ("selected_options", "initial_options"),
    "checkboxes": ("selected_options", "initial_options"),
    "datepicker": ("selected_date", "initial_date"),
    "timepicker": ("selected_time", "initial_time"),
    "users_select": ("selected_user", "initial_user"),
    "multi_users_select": ("selected_users", "initial_users"),
    "conversations_select": ("selected_conversation", "initial_conversation"),
    "multi_conversations_select": ("selected_conversations", "initial_conversations"),
    "channels_select": ("selected_channel", "initial_channel"),
    "multi_channels_select": ("selected_channels", "initial_channels"),
}

#: What Slack's client says under an input it will not submit (the app never hears of it).
REQUIRED = "Please complete this required field."


class NotSubmittable(ValueError):
    """Slack's client would not send this: a required field is empty or a length is off.

    ``errors`` maps each offending ``block_id`` to the text Slack shows under the field.
    """

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{block}: {text}" for block, text in errors.items()))
        self.errors = errors


@dataclass
class RecordedView:
    """A modal or a Home tab as Slack holds it.

    ``view`` is the app's payload as Slack accepted it, with ids filled in; ``values`` what the
    person entered (``{block_id: {action_id: state entry}}``); ``errors`` the app's last
    ``response_action: errors`` (``{block_id: text}``), shown under those fields until the view
    changes; ``suggestions`` the app's last answer to a ``block_suggestion``, per ``action_id``.
    """

    id: str
    kind: Kind
    user: str | None
    view: dict[str, Any]
    at: float
    hash: str = ""
    team_id: str = ""
    app_id: str = ""
    bot_id: str = ""
    root_view_id: str | None = None
    previous_view_id: str | None = None
    values: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    suggestions: dict[str, dict[str, Any]] = field(default_factory=dict)
    closed: bool = False

    @property
    def callback_id(self) -> str:
        return str(self.view.get("callback_id") or "")

    @property
    def external_id(self) -> str | None:
        value = self.view.get("external_id")
        return str(value) if value else None

    @property
    def notify_on_close(self) -> bool:
        return self.view.get("notify_on_close") is True

    @property
    def clear_on_close(self) -> bool:
        return self.view.get("clear_on_close") is True

    def state_values(self) -> dict[str, dict[str, dict[str, Any]]]:
        """``state.values``: every element that holds a value, entered or initial."""
        values: dict[str, dict[str, dict[str, Any]]] = {}
        for block, element in elements(self.view.get("blocks") or []):
            keys = STATE_KEYS.get(str(element.get("type")))
            if keys is None:
                continue
            block_id, action_id = str(block["block_id"]), str(element["action_id"])
            entered = self.values.get(block_id, {}).get(action_id)
            if entered is None:
                state_key, initial_key = keys
                initial = element.get(initial_key)
                if initial is None and state_key.endswith("s"):
                    initial = []
                entered = {"type": element["type"], state_key: copy.deepcopy(initial)}
            values.setdefault(block_id, {})[action_id] = entered
        return values

    def as_slack_view(self) -> dict[str, Any]:
        """The view object Slack returns from ``views.*`` and embeds in payloads."""
        view = self.view
        slack: dict[str, Any] = {
            "id": self.id,
            "team_id": self.team_id,
            "type": self.kind,
            "blocks": copy.deepcopy(view.get("blocks") or []),
            "private_metadata": str(view.get("private_metadata") or ""),
            "callback_id": self.callback_id,
            "state": {"values": self.state_values()},
            "hash": self.hash,
            "title": copy.deepcopy(view.get("title")),
            "clear_on_close": self.clear_on_close,
            "notify_on_close": self.notify_on_close,
            "close": copy.deepcopy(view.get("close")),
            "submit": copy.deepcopy(view.get("submit")),
            "previous_view_id": self.previous_view_id,
            "root_view_id": self.root_view_id,
            "app_id": self.app_id,
            "external_id": self.external_id or "",
            "app_installed_team_id": self.team_id,
            "bot_id": self.bot_id,
        }
        if self.kind == "home":
            for key in ("title", "close", "submit"):
                if view.get(key) is None:
                    del slack[key]
        return slack

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy for the console: the Slack view, the errors and the suggestions."""
        return {
            "id": self.id,
            "kind": self.kind,
            "user": self.user,
            "view": self.as_slack_view(),
            "errors": dict(self.errors),
            "suggestions": copy.deepcopy(self.suggestions),
        }


def elements(blocks: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """Every element of a view with the block that holds it (input, actions, accessory)."""
    for block in blocks:
        if not isinstance(block, dict):
            continue
        candidates: list[Any] = []
        if block.get("type") == "input":
            candidates.append(block.get("element"))
        if block.get("type") == "actions":
            candidates.extend(block.get("elements") or [])
        candidates.append(block.get("accessory"))
        for element in candidates:
            if isinstance(element, dict) and "type" in element:
                yield block, element


def find_element(
    blocks: list[dict[str, Any]], action_id: str, *, offering: str | None = None
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The block and the element with ``action_id``, if any.

    An ``action_id`` is unique only within its block, so a list may repeat one button or menu
    per row: ``offering`` picks the one whose value, or one of whose options, is that (the row
    a person clicked); else the first.
    """
    first = None
    for block, element in elements(blocks):
        if element.get("action_id") != action_id:
            continue
        if offering is None or offering == element.get("value"):
            return block, element
        if offering in {o.get("value") for o in options_of(element)}:
            return block, element
        first = first or (block, element)
    return first


def options_of(element: dict[str, Any]) -> list[dict[str, Any]]:
    """The options an element offers itself (flattening option groups)."""
    if "option_groups" in element:
        return [
            option
            for group in element.get("option_groups") or []
            for option in group.get("options") or []
        ]
    return list(element.get("options") or [])


def entered(
    element: dict[str, Any], given: Any, suggested: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The ``state.values`` entry for ``element`` once a person entered ``given``.

    ``given`` is what a person does, in the simplest words: the text typed; the ``value`` of the
    option chosen (or a list of them for a multi-select, or a whole option object); ``None`` to
    leave the element empty. An external select's options are those the app last suggested
    (``suggested``), since Slack has no others.

    Raises:
        LookupError: no offered option has that value.
        ValueError: the element holds no value (a button, an overflow menu).
    """
    kind = str(element.get("type"))
    keys = STATE_KEYS.get(kind)
    if keys is None:
        raise ValueError(f"a {kind} element holds no value ({element.get('action_id')})")
    state_key = keys[0]
    many = state_key.endswith("s")
    if state_key in ("selected_option", "selected_options"):
        offered = (suggested or []) if kind in EXTERNAL_SELECTS else options_of(element)
        chosen = list(given or []) if many else [] if given is None else [given]
        options = [option_for(item, offered, str(element.get("action_id"))) for item in chosen]
        return {"type": kind, state_key: options if many else (options[0] if options else None)}
    if many:  # users, channels, conversations: their ids
        return {"type": kind, state_key: [str(item) for item in given or []]}
    return {"type": kind, state_key: None if given in (None, "") else str(given)}


def option_for(item: Any, offered: list[dict[str, Any]], action_id: str) -> dict[str, Any]:
    """The option a person picks: a whole option object as given, else the offered one with
    that ``value``.

    Raises:
        LookupError: nothing offered has that value.
    """
    if isinstance(item, Mapping):
        return dict(item)
    for option in offered:
        if option.get("value") == str(item):
            return copy.deepcopy(option)
    values = [option.get("value") for option in offered]
    raise LookupError(f"{action_id} offers no option {item!r}; it offers {values}")


def submittable(view: RecordedView) -> None:
    """Check a modal as Slack's client does before it sends ``view_submission``.

    Raises:
        NotSubmittable: a required input is empty, or a text is shorter than ``min_length`` or
            longer than ``max_length`` (the client stops typing there; a test may not go past).
    """
    errors: dict[str, str] = {}
    state = view.state_values()
    for block in view.view.get("blocks") or []:
        if not isinstance(block, dict) or block.get("type") != "input":
            continue
        element = block.get("element") or {}
        keys = STATE_KEYS.get(str(element.get("type")))
        if keys is None:
            continue
        block_id = str(block["block_id"])
        value = state.get(block_id, {}).get(str(element.get("action_id")), {}).get(keys[0])
        if value in (None, "", []):
            if not block.get("optional"):
                errors[block_id] = REQUIRED
            continue
        if isinstance(value, str) and element.get("type") == "plain_text_input":
            low, high = element.get("min_length"), element.get("max_length")
            if isinstance(low, int) and len(value) < low:
                errors[block_id] = f"Please enter at least {low} characters."
            elif isinstance(high, int) and len(value) > high:
                errors[block_id] = f"Please enter no more than {high} characters."
    if errors:
        raise NotSubmittable(errors)
