"""Keeping people in step with a change request: its approval card, its thread, the requester,
the audit trail and the operators.

The row in the store is the truth; Slack shows it. So a Slack failure here never stops the
workflow (it is logged), and an edit that lands late is corrected by showing the request again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime

from bot.domain import AuditEvent, ChangeRequest, State
from bot.domain.approvals import Refused
from bot.domain.incidents import Cause
from bot.log import get_logger
from bot.metrics import Metrics
from bot.notify import Failure, Notifier
from bot.policy import Policy, approvers_of, route_for
from bot.ports import Conversation, DeliveryFailed, Origin, Posted, RequestStore
from bot.render import render_change_request, render_request_result
from bot.render.approvals import refusal, render_refused
from bot.render.blocks import Message

log = get_logger(__name__)

#: The actor of what fpbot does by itself (the sweeper, reconciliation) in the audit trail.
SYSTEM = "fpbot"
#: The audit kinds that record a request entering a state (counted by state, for metrics).
TRANSITION_KINDS = frozenset(
    {
        "requested",
        "approved",
        "executing",
        "succeeded",
        "failed",
        "denied",
        "expired",
        "withdrawn",
        "postponed",
        "reconciled",
        "retried",
    }
)


class RequestCards:
    """Shows requests in Slack, tells the people concerned, records the trail."""

    def __init__(
        self,
        *,
        store: RequestStore,
        slack: Conversation,
        notifier: Notifier,
        policy: Policy,
        clock: Callable[[], datetime],
        metrics: Metrics | None = None,
    ) -> None:
        self._store = store
        self._metrics = metrics
        self.slack = slack
        self._notifier = notifier
        self._policy = policy
        self._clock = clock
        self._watchers: list[Callable[[ChangeRequest], None]] = []

    def watch(self, watcher: Callable[[ChangeRequest], None]) -> None:
        """Be told of every request shown (App Home refreshes the tabs it concerns)."""
        self._watchers.append(watcher)

    def approvers(self, request: ChangeRequest) -> tuple[str, ...]:
        """Who may approve ``request`` under the policy in force (users and groups)."""
        return approvers_of(self._policy, request.environment)

    def card(self, request: ChangeRequest) -> Message:
        """The card of ``request`` as it stands, with who may approve it under the policy."""
        return render_change_request(
            request,
            now=self._clock(),
            approvers=approvers_of(self._policy, request.environment),
            production=route_for(self._policy, request.environment) is not None,
        )

    async def show(self, request: ChangeRequest) -> None:
        """Edit the approval card to show ``request`` as it is now.

        Edits from several clicks or replicas can land out of order (a rate-limited
        ``chat.update`` waits out ``Retry-After``), so after each edit the request is read
        again and, if it moved on meanwhile, shown again: a late edit never has the last word.
        """
        for watcher in self._watchers:
            watcher(request)
        while (card := _card(request)) is not None:
            await quietly(self.slack.edit(card, self.card(request)))
            latest = await self._store.get(request.id)
            if latest is None or (latest.version, latest.approvers) == (
                request.version,
                request.approvers,
            ):
                return
            request = latest

    async def tell(self, request: ChangeRequest, *, dm: bool = True) -> None:
        """Reply in the card's thread and (unless ``dm`` is false: they did it themselves)
        DM the requester the outcome."""
        result = render_request_result(request)
        card = _card(request)
        if card is not None:
            await quietly(self.slack.post(card.channel, result, thread_ts=card.ts))
        if dm:
            await self.slack.tell(request.requester, result)

    async def finish(self, request: ChangeRequest, *, dm: bool = True) -> None:
        """A request reached its end: edit the card, reply in its thread, DM the requester."""
        await self.show(request)
        await self.tell(request, dm=dm)

    async def answer(self, origin: Origin, message: Message) -> None:
        """An ephemeral answer to whoever clicked; never raises (error paths use it too)."""
        try:
            await self.slack.answer(origin, message)
        except Exception:  # the error path must not fail in turn
            log.exception("click_answer_not_delivered")

    async def refuse(self, origin: Origin, request: ChangeRequest | None, refused: Refused) -> None:
        """A click that changes nothing: recorded in the trail, explained to the clicker."""
        approvers = approvers_of(self._policy, request.environment) if request else ()
        reason = refusal(refused, approvers=approvers)
        await self._store.record(
            AuditEvent(
                at=self._clock(),
                kind="refused",
                actor=origin.user_id,
                request_id=request.id if request else None,
                detail=reason,
                correlation_id=origin.correlation_id,
            )
        )
        log.info(
            "click_refused",
            user=origin.user_id,
            request_id=request and request.id,
            reason=refused.reason.value,
        )
        await self.answer(origin, render_refused(refused, approvers=approvers))

    async def audit(self, kind: str, actor: str, request: ChangeRequest, detail: str) -> None:
        """One line of the request's trail (and of the log)."""
        await self._store.record(
            AuditEvent(
                at=self._clock(),
                kind=kind,
                actor=actor,
                request_id=request.id,
                detail=detail,
                correlation_id=request.correlation_id,
            )
        )
        log.info(
            "change_request", transition=kind, actor=actor, request_id=request.id, detail=detail
        )
        # A check moves a request only when it proves the change happened.
        moved = kind in TRANSITION_KINDS or (kind == "checked" and request.state is State.SUCCEEDED)
        if self._metrics is not None and moved:
            self._metrics.change_requests.labels(state=request.state.value).inc()

    def proven(self, causes: Iterable[Cause]) -> None:
        """Something just worked that ``causes`` would have made fail (their incidents are
        resolved in the background)."""
        self._notifier.proven(causes)

    async def report(self, failure: Failure) -> None:
        """Tell the operators; a notifier that fails in turn (the store it groups in is
        down, say) is logged and never stops the workflow or the sweeper."""
        try:
            await self._notifier.report(failure)
        except Exception:
            log.exception("failure_not_reported", operation=failure.operation)


def card_of(request: ChangeRequest) -> Posted | None:
    """Where the request's card is, once it was posted."""
    return _card(request)


def _card(request: ChangeRequest) -> Posted | None:
    if request.approval_channel and request.approval_ts:
        return Posted(request.approval_channel, request.approval_ts)
    return None


async def quietly(sending: Awaitable[object]) -> None:
    """Await a Slack call whose failure must not stop the workflow (the row is the truth)."""
    try:
        await sending
    except DeliveryFailed as exc:
        log.warning("slack_delivery_failed", method=exc.method, error=exc.error)
