"""A rotation's grace period as people see it: the block on its card (and in its result)
with the requester's "Disable old key now" and "Revert" buttons, the warning an hour before
it ends, and what is said when it ends or is closed early.

During the grace period of an API key's rotation both keys work; when it ends the old key is
disabled. An encryption key is one object whose tokens rotate: its grace period is the time
in which a Revert is offered, and its end makes the rotation final.
"""

from __future__ import annotations

from bot.domain import ChangeRequest, GraceState
from bot.render import ids
from bot.render.blocks import (
    Block,
    Message,
    actions,
    button,
    code,
    confirm,
    context,
    date,
    fallback,
    mention,
    section,
)


def _is_key(rotation: ChangeRequest) -> bool:
    return rotation.action == "keys.rotate"


def _old(rotation: ChangeRequest) -> str:
    return code(str(rotation.params.get("key_id", "")))


def grace_blocks(
    rotation: ChangeRequest, *, block_id: str | None = ids.GRACE_ACTIONS_BLOCK
) -> list[Block]:
    """The card's (and the result's) lines on the grace period; buttons while it is open
    (``block_id``: ``None`` where several rotations share a view, as in App Home)."""
    state, until = rotation.grace_state, rotation.grace_ends_at
    if state is None or until is None:
        return []
    if state.is_open:
        if _is_key(rotation):
            text = (
                f":hourglass_flowing_sand: *Grace period* — the old key {_old(rotation)} "
                f"stays enabled until {date(until)}, then fpbot disables it. "
                f"{mention(rotation.requester)} may disable it now or revert the rotation "
                "(each asks for approval)."
            )
            buttons = [
                button(
                    "Disable old key now",
                    action_id=ids.END_GRACE,
                    value=rotation.id,
                    confirm=confirm(
                        "Disable the old key now?",
                        "This asks for approval to disable it before the grace period ends.",
                        ok="Ask",
                        cancel="Cancel",
                    ),
                ),
                button("Revert", action_id=ids.REVERT_ROTATION, value=rotation.id),
            ]
        else:
            text = (
                f":hourglass_flowing_sand: *Grace period* — until {date(until)} "
                f"{mention(rotation.requester)} may revert this rotation (it asks for approval)."
            )
            buttons = [button("Revert", action_id=ids.REVERT_ROTATION, value=rotation.id)]
        return [section(text), actions(*buttons, block_id=block_id)]
    return [context(_closed_line(rotation))]


def _when(rotation: ChangeRequest) -> str:
    return date(rotation.grace_ends_at) if rotation.grace_ends_at else "now"


def _closed_line(rotation: ChangeRequest) -> str:
    match rotation.grace_state:
        case GraceState.ENDED if _is_key(rotation):
            return (
                f"Grace period ended {_when(rotation)}: the old key {_old(rotation)} is disabled."
            )
        case GraceState.ENDED:
            return f"Grace period ended {_when(rotation)}: the rotation is final."
        case GraceState.FINISHED:
            return f"Grace period ended early: the old key {_old(rotation)} was disabled."
        case GraceState.REVERTED:
            return "Grace period ended: the rotation was reverted."
    return ""


def render_ending_soon(rotation: ChangeRequest) -> Message:
    """The warning in the card's thread, an hour before the grace period ends."""
    if _is_key(rotation):
        text = (
            f":alarm_clock: The old key {_old(rotation)} of {code(rotation.id)} will be "
            f"disabled {_when(rotation)}, when its grace period ends. "
            f"{mention(rotation.requester)}: anything still using it stops working then."
        )
    else:
        text = (
            f":alarm_clock: The grace period of {code(rotation.id)} ends "
            f"{_when(rotation)}; after that the rotation can no longer be reverted "
            "from its card."
        )
    return Message(text=fallback(text), blocks=[section(text)])


def ended_detail(rotation: ChangeRequest) -> str:
    """The audit line of a grace period that ran out."""
    if _is_key(rotation):
        return f"grace period ended: old key {rotation.params.get('key_id', '')} disabled"
    return "grace period ended: the rotation is final"


def render_ended(rotation: ChangeRequest) -> Message:
    """The news in the card's thread and the requester's DM when a grace period runs out."""
    text = f":lock: {_closed_line(rotation)} ({code(rotation.id)})"
    return Message(text=fallback(text), blocks=[section(text)])


def closed_by(request_id: str, *, reverted: bool) -> str:
    return f"grace period closed by {request_id} ({'reverted' if reverted else 'old key disabled'})"


def render_closed(rotation: ChangeRequest, request_id: str, *, reverted: bool) -> Message:
    """The news in the card's thread when a Revert or "Disable old key now" ran."""
    what = "reverted" if reverted else f"finished early: the old key {_old(rotation)} is disabled"
    text = f":lock: Rotation {code(rotation.id)} was {what} by {code(request_id)}."
    return Message(text=fallback(text), blocks=[section(text)])


def render_not_yours(request_id: str) -> Message:
    text = (
        f":no_entry: Only the person who asked for rotation {code(request_id)} may end its "
        "grace period or revert it."
    )
    return Message(text=fallback(text), blocks=[section(text)])


def render_grace_over(rotation: ChangeRequest) -> Message:
    text = (
        f":information_source: The grace period of {code(rotation.id)} is over; nothing was asked."
    )
    return Message(text=fallback(text), blocks=[section(text)])
