"""The life of a change request, from `/fp … create` to the result in the thread: every move
of a request happens here.

The pieces meet here: `actions` plans and runs a change against the API, the domain's approval
rules (`bot.domain.approvals`) decide what a click means, the store makes every move one
conditional update, and `cards` keeps the approval card in Slack in step with the row. The row
is written before anything is posted, so a Slack outage never loses a request.

Exactly once: an approval is a unique row; only the caller whose conditional update moves the
request PENDING → APPROVED → EXECUTING runs it, whatever the number of clicks or replicas. The
rules decide what a click means from the request as read; where clicks race, the store judges:
it records an approval only on a request still pending, the approvals it holds afterwards
decide whether the request is complete, and only one conditional move wins. What the clicker
is told then comes from that outcome.

The policy in force decides, not the one a request was made under: clicks and runs are
judged by the policy loaded now (who may approve, how many approvals, whether the requester
may still ask for the change), and a request needs the larger of the approvals stored with it
and those the policy asks now.

When a process dies, `bot.changes.sweeper` finds what it left and calls back here: requests left
``approved`` are run (nothing ran yet), requests left ``executing`` past their lease are
reconciled against the API, never rerun.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from bot.changes import actions
from bot.changes.cards import SYSTEM, RequestCards, card_of
from bot.changes.lease import EXECUTION_LEASE, Lease, held
from bot.commands import ChangeCommand, RevertEncKey, RevertKeyRotation, RotateEncKey, RotateKey
from bot.commands import SetKeyStatus as DisableKeyNow
from bot.domain import ApprovalResult, ChangeRequest, GraceState, State, Uncertainty
from bot.domain.approvals import (
    Denied,
    Refusal,
    Refused,
    on_approve,
    on_deny,
    on_withdraw,
)
from bot.fingerprint.errors import FingerprintError, NotFound
from bot.fingerprint.models import Status
from bot.log import get_logger, scrub
from bot.metrics import Metrics
from bot.notify import Failure, Notifier, describe
from bot.policy import (
    Membership,
    Policy,
    actor_of,
    decide,
    may_approve,
    required_approvals,
    route_for,
)
from bot.ports import Account, Conversation, Origin, RequestStore
from bot.render import approvals as say_request
from bot.render import changes as say
from bot.render import grace as say_grace
from bot.render import notifications as titles
from bot.render import render_secret_delivery, replies
from bot.render.blocks import Message
from bot.render.errors import summary_of
from bot.render.subdomains import render_instructions
from bot.store import (
    DuplicateRequest,
    PendingDuplicate,
    StoreUnavailable,
    TooManyPending,
    new_request_id,
)

log = get_logger(__name__)

#: Attempts at a fresh request id when one drawn is already taken.
ID_ATTEMPTS = 5


class ChangeWorkflow:
    """Creates change requests, handles the clicks on them, runs approved changes once,
    expires, reconciles and follows up what the sweeper finds."""

    def __init__(
        self,
        *,
        store: RequestStore,
        client: Account,
        slack: Conversation,
        policy: Policy,
        groups: Membership,
        notifier: Notifier,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        lease: timedelta = EXECUTION_LEASE,
        metrics: Metrics | None = None,
        on_succeeded: Callable[[ChangeRequest], Awaitable[None]] | None = None,
    ) -> None:
        self._store = store
        #: Told of every request that succeeded (the change log records what it changed).
        self._on_succeeded = on_succeeded
        self._client = client
        self._policy = policy
        self._groups = groups
        self._clock = clock
        self.lease = lease
        self.cards = RequestCards(
            store=store,
            slack=slack,
            notifier=notifier,
            policy=policy,
            clock=self.now,
            metrics=metrics,
        )

    def now(self) -> datetime:
        """The workflow's time (tests move it)."""
        return self._clock()

    # ── requesting ──────────────────────────────────────────────────────────────────────

    async def request(self, command: ChangeCommand, origin: Origin) -> ChangeRequest:
        """Plan ``command``, store it as a pending request and post its card for approval.

        A request id already taken (30 random bits make it rare) is drawn again.

        Raises:
            actions.PlanError: it cannot become a request (the change makes no sense against
                the account as it is, the same one is pending, the requester has too many
                pending, a reason is missing); the text says why.
            FingerprintError: the API could not be read to plan the change.
            StoreUnavailable: the request could not be stored; nothing was posted.
        """
        rules = self._policy.approvals
        if rules.reason_required and not command.reason:
            raise actions.PlanError(say_request.REASON_REQUIRED)
        if await self._store.count_pending(origin.user_id) >= rules.max_pending_per_person:
            raise actions.PlanError(say_request.too_many_pending(rules.max_pending_per_person))
        if isinstance(command, RotateKey | RotateEncKey) and command.grace is None:
            command = replace(command, grace=rules.rotation_grace)
        plan = await actions.plan(self._client, command)
        existing = await self._store.pending_duplicate(plan.action, plan.target)
        if existing is not None:
            raise await self._duplicate(existing)
        now = self._clock()
        request = ChangeRequest(
            id=new_request_id(),
            action=plan.action,
            params=plan.params,
            summary=plan.summary,
            requester=origin.user_id,
            channel_id=origin.channel_id,
            state=State.PENDING,
            required_approvals=required_approvals(self._policy, plan.action, plan.environment),
            created_at=now,
            expires_at=now + rules.expires_after,
            before=plan.before,
            after=plan.after,
            correlation_id=origin.correlation_id,
            reason=command.reason,
            environment=plan.environment,
            environment_name=await self._environment_name(plan.environment),
            target=plan.target,
        )
        # The checks above spared planning and posting in the common case; the store checks
        # again as it inserts, which is what holds against the same request sent twice at once.
        for attempt in range(1, ID_ATTEMPTS + 1):
            try:
                await self._store.create(request, max_pending=rules.max_pending_per_person)
                break
            except PendingDuplicate as twin:
                raise await self._duplicate(twin.existing) from None
            except TooManyPending as cap:
                raise actions.PlanError(say_request.too_many_pending(cap.limit)) from None
            except DuplicateRequest:
                if attempt == ID_ATTEMPTS:
                    raise
                log.warning("request_id_taken", request_id=request.id, attempt=attempt)
                request = replace(request, id=new_request_id())
        detail = request.summary + (f" — {request.reason}" if request.reason else "")
        await self.cards.audit("requested", origin.user_id, request, detail)
        return await self.post_card(request)

    async def _duplicate(self, existing: ChangeRequest) -> actions.PlanError:
        """The refusal of a request ``existing`` already makes, linking its card."""
        card = card_of(existing)
        link = await self.cards.slack.permalink(card) if card else None
        return actions.PlanError(say_request.duplicate(existing, link))

    async def receipt(self, request: ChangeRequest) -> Message:
        """The requester's receipt for a new request, linking its card."""
        card = card_of(request)
        link = await self.cards.slack.permalink(card) if card else None
        return say_request.render_request_created(request, card_link=link)

    async def _environment_name(self, environment: str | None) -> str | None:
        """The environment's name, for the card (the listing is cached; a failure to read
        it only costs the card the name)."""
        if environment is None:
            return None
        try:
            envs = await self._client.list_environments()
        except FingerprintError:
            return None
        return next((e.name for e in envs if e.id == environment), None)

    async def post_card(self, request: ChangeRequest) -> ChangeRequest:
        """Post the request's card where its route says (or ``channels.approvals``).

        If Slack refuses, the request stays pending and says why (``card_error``); the
        sweeper tries again. A click may land before the post's answer (Slack shows a message
        before its poster hears where it went): if the request moved meanwhile, the card is
        shown again as it is now, and a final outcome is replied in its thread — unless a
        click on the card recorded it first, when whoever ended the request knew the card
        and replied there already.
        """
        route = route_for(self._policy, request.environment)
        channel = (
            (route.channel if route else None)
            or self._policy.channels.approvals
            or request.channel_id
        )
        try:
            posted = await self.cards.slack.post(channel, self.cards.card(request))
        except Exception as exc:  # DeliveryFailed, or anything the adapter did not foresee
            error = getattr(exc, "error", type(exc).__name__)
            await self._store.update_fields(request.id, card_error=str(error)[:128])
            await self.cards.report(
                Failure(
                    title=titles.REQUEST_NOT_POSTED,
                    operation=f"{request.id} {request.action}",
                    error_code=f"slack.{error}",
                    detail=titles.request_not_posted(str(error)),
                    correlation_id=request.correlation_id,
                )
            )
            return await self._reload(request)
        recorded = await self._store.set_card(request.id, posted.channel, posted.ts)
        current = await self._reload(request)
        if not recorded and card_of(current) != posted:
            # Another replica's sweeper posted this card again too, and recorded its own
            # first: one card per request, so this one is taken back.
            await self.cards.slack.take_back(posted)
            return current
        if current.state is not State.PENDING or current.approvers != request.approvers:
            await self.cards.show(current)
            if recorded and current.state.is_final:
                await self.cards.tell(current, dm=False)  # the DM went out when it ended
        return current

    # ── clicks ──────────────────────────────────────────────────────────────────────────

    async def click(
        self, request_id: str, *, approve: bool, origin: Origin, note: str | None = None
    ) -> None:
        """Handle an Approve or Deny click (``note``: why, for a Deny); never raises (the
        clicker is always answered).

        A refused click changes nothing but the audit. When the store is unreachable the
        clicker is told nothing changed and the operators are notified; any other failure is
        logged and the clicker gets the correlation id to quote.
        """
        button = "Approve" if approve else "Deny"
        await self.guarded(
            button, request_id, origin, self._click(request_id, approve, origin, note)
        )

    async def withdraw(self, request_id: str, origin: Origin) -> None:
        """The requester takes a pending request back; never raises."""
        await self.guarded("Withdraw", request_id, origin, self._withdraw(request_id, origin))

    async def check(self, request_id: str, origin: Origin) -> None:
        """Check now: settle a failed change whose outcome was uncertain, from the account."""
        await self.guarded("Check now", request_id, origin, self._check(request_id, origin))

    async def retry(self, request_id: str, origin: Origin) -> None:
        """Run again, with the approvals it had, a change a check proved never happened."""
        await self.guarded("Retry", request_id, origin, self._retry(request_id, origin))

    async def guarded(
        self,
        button: str,
        request_id: str | None,
        origin: Origin,
        work: Coroutine[Any, Any, None],
    ) -> None:
        """Run the work of a click (or a form) so that whoever did it always hears back: the
        store unreachable → "nothing changed" (and the operators are told); anything else →
        a correlation id to quote; an interruption → "try again"."""
        with structlog.contextvars.bound_contextvars(
            correlation_id=origin.correlation_id, user=origin.user_id, change_request=request_id
        ):
            try:
                await work
            except StoreUnavailable as exc:
                log.warning("click_store_unavailable", button=button, error=str(exc))
                await self.cards.answer(
                    origin, replies.render_store_unreachable(origin.correlation_id)
                )
                await self.cards.report(
                    Failure.store_unavailable(
                        f"{button} {request_id or ''}".strip(),
                        exc,
                        origin.correlation_id,
                        user=origin.user_id,
                    )
                )
            except Exception:
                log.exception("click_failed", button=button)
                await self.cards.answer(
                    origin, replies.render_internal_error(origin.correlation_id, click=button)
                )
            except asyncio.CancelledError:
                log.warning("click_interrupted", button=button)
                await self.cards.answer(
                    origin, replies.render_interrupted(origin.correlation_id, click=button)
                )
                raise

    async def _load(self, request_id: str, origin: Origin) -> ChangeRequest | None:
        """The request clicked; its card remembered from the click when the post's own answer
        has not been saved yet."""
        request = await self._store.get(request_id)
        if (
            request is not None
            and request.approval_ts is None
            and origin.message is not None
            and await self._store.set_card(request.id, origin.message.channel, origin.message.ts)
        ):
            request = await self._reload(request)
        return request

    def _current(self, request: ChangeRequest) -> ChangeRequest:
        """The request as the policy in force sees it: the larger of the approvals it was
        made with and those the policy asks now."""
        now_asks = required_approvals(self._policy, request.action, request.environment)
        if now_asks <= request.required_approvals:
            return request
        return replace(request, required_approvals=now_asks)

    async def _click(
        self, request_id: str, approve: bool, origin: Origin, note: str | None
    ) -> None:
        request = await self._load(request_id, origin)
        actor = await actor_of(self._policy, self._groups, origin.user_id)
        environment = request.environment if request else None
        rules = on_approve if approve else on_deny
        outcome = rules(
            self._current(request) if request else None,
            origin.user_id,
            may_approve=decide(self._policy, actor, "requests.approve").allowed,
            on_route=may_approve(self._policy, actor, environment),
            allow_self_approval=self._policy.approvals.allow_self_approval,
            now=self._clock(),
            request_id=request_id,
        )
        if isinstance(outcome, Refused):
            await self.cards.refuse(origin, request, outcome)
            if outcome.reason is Refusal.EXPIRED and request is not None:
                await self.expire(request)
            return
        assert request is not None  # the rules refuse an unknown request
        if isinstance(outcome, Denied):
            await self._deny(request, origin, note)
        else:
            await self._approve(request, origin)

    async def _approve(self, request: ChangeRequest, origin: Origin) -> None:
        """Carry out an approval the rules accepted; the store judges a race with others."""
        now = self._clock()
        added = await self._store.add_approval(request.id, origin.user_id, now)
        if added is ApprovalResult.ALREADY_APPROVED:  # this person's other click got there
            await self.cards.refuse(origin, request, _refused(Refusal.ALREADY_APPROVED, request))
            return
        current = self._current(await self._reload(request))
        if added is ApprovalResult.NOT_PENDING:
            # Denied, expired or approved by others between our read and the insert: the
            # store wrote nothing. Say where the request is now, as for any late click.
            reason = Refusal.EXPIRED if current.state is State.PENDING else Refusal.NOT_PENDING
            await self.cards.refuse(origin, current, _refused(reason, current))
            if reason is Refusal.EXPIRED:
                await self.expire(current)
            return
        await self.cards.audit(
            "approval",
            origin.user_id,
            current,
            replies.audit_approval(len(current.approvers), current.required_approvals),
        )
        if current.state is not State.PENDING:  # decided right after the approval landed
            log.info("approval_after_decision", user=origin.user_id, request_id=current.id)
            await self.cards.answer(origin, say_request.render_late_approval(current))
            return
        if current.approvals_missing > 0:  # the approvals now stored decide, not our read
            await self.cards.show(current)
            return
        approved = await self._store.transition(
            current.id, State.PENDING, State.APPROVED, decided_by=origin.user_id, decided_at=now
        )
        if approved is None:  # another click or replica completed it first; it runs there
            late = await self._reload(current)
            await self.cards.answer(origin, say_request.render_late_approval(late))
            return
        try:
            await self.cards.audit(
                "approved", origin.user_id, approved, replies.AUDIT_APPROVALS_COMPLETE
            )
            await self.run(approved)
        except Exception as exc:
            # The request is approved, so what happens to it is no longer this click's to
            # decide: the sweeper runs an orphaned approval, or reconciles a change cut off
            # mid-way, once the store answers again. Tell the approver and the operators.
            await self._unfinished(approved, origin, exc)

    async def _unfinished(self, request: ChangeRequest, origin: Origin, exc: Exception) -> None:
        store_down = isinstance(exc, StoreUnavailable)
        if store_down:
            log.warning("approved_change_unfinished", request_id=request.id, error=str(exc))
        else:
            log.exception("approved_change_unfinished", request_id=request.id)
        await self.cards.answer(
            origin,
            replies.render_approved_unfinished(
                request.id, origin.correlation_id, store_down=store_down
            ),
        )
        await self.cards.report(
            Failure(
                title=titles.CHANGE_UNFINISHED,
                operation=f"{request.id} {request.action}",
                error_code="store.unavailable" if store_down else "change.unfinished",
                detail=describe(exc),
                correlation_id=origin.correlation_id,
            )
        )

    async def _deny(self, request: ChangeRequest, origin: Origin, note: str | None) -> None:
        denied = await self._store.transition(
            request.id,
            State.PENDING,
            State.DENIED,
            decided_by=origin.user_id,
            decided_at=self._clock(),
            decision_note=note,
        )
        if denied is None:  # the store judged: it moved on before this deny landed
            current = await self._reload(request)
            await self.cards.refuse(origin, current, _refused(Refusal.NOT_PENDING, current))
            return
        detail = replies.AUDIT_DENIED + (f" — {note}" if note else "")
        await self.cards.audit("denied", origin.user_id, denied, detail)
        await self.cards.finish(denied)

    async def _withdraw(self, request_id: str, origin: Origin) -> None:
        request = await self._load(request_id, origin)
        outcome = on_withdraw(request, origin.user_id, now=self._clock(), request_id=request_id)
        if isinstance(outcome, Refused):
            await self.cards.refuse(origin, request, outcome)
            if outcome.reason is Refusal.EXPIRED and request is not None:
                await self.expire(request)
            return
        assert request is not None
        withdrawn = await self._store.transition(
            request.id,
            State.PENDING,
            State.WITHDRAWN,
            decided_by=origin.user_id,
            decided_at=self._clock(),
        )
        if withdrawn is None:
            current = await self._reload(request)
            await self.cards.refuse(origin, current, _refused(Refusal.NOT_PENDING, current))
            return
        await self.cards.audit("withdrawn", origin.user_id, withdrawn, replies.AUDIT_WITHDRAWN)
        await self.cards.answer(origin, say_request.render_withdrawn(withdrawn))
        await self.cards.finish(withdrawn, dm=False)

    async def _follow_up(
        self, request_id: str, origin: Origin, expected: Uncertainty
    ) -> ChangeRequest | None:
        """The request a Check now or Retry is for, if it still needs one (its outcome is
        ``expected``) and the clicker may follow it up (its requester, or someone who may
        approve it); else the clicker is told why not, and ``None``."""
        request = await self._load(request_id, origin)
        if request is None or say_request.uncertain(request) is not expected:
            await self._nothing_to_follow_up(origin, request, request_id)
            return None
        if origin.user_id != request.requester:
            actor = await actor_of(self._policy, self._groups, origin.user_id)
            if not may_approve(self._policy, actor, request.environment):
                await self.cards.refuse(origin, request, _refused(Refusal.NOT_AN_APPROVER, request))
                return None
        return request

    async def _check(self, request_id: str, origin: Origin) -> None:
        request = await self._follow_up(request_id, origin, Uncertainty.UNKNOWN)
        if request is None:
            return
        verdict = await actions.reconcile(
            self._client, request, await self._delivered_secrets(request)
        )
        if verdict.state is State.SUCCEEDED:
            settled = await self._store.transition(
                request.id,
                State.FAILED,
                State.SUCCEEDED,
                result={"reconciled": verdict.message},
                error=None,
                error_code=None,
                **_grace_fields(verdict.grace_until),
            )
        else:
            # Untouched: it may run again. Otherwise the account shows what did happen (a
            # key created and disabled…): the outcome is known, and nothing is left to check.
            rest = {k: v for k, v in (request.result or {}).items() if k != "outcome"}
            if verdict.untouched:
                rest["outcome"] = Uncertainty.NOTHING_HAPPENED.value
            settled = await self._store.update_fields(
                request.id, result=rest or None, error=scrub(verdict.message)
            )
        if settled is None:
            return
        await self.cards.audit("checked", origin.user_id, settled, verdict.message)
        await self.cards.answer(
            origin,
            say_request.checked(
                settled,
                verdict.message,
                happened=verdict.state is State.SUCCEEDED,
                untouched=verdict.untouched,
            ),
        )
        await self.cards.show(settled)
        if settled.state is State.SUCCEEDED:
            await self._succeeded(settled)
            await self.cards.tell(settled)

    async def _retry(self, request_id: str, origin: Origin) -> None:
        request = await self._follow_up(request_id, origin, Uncertainty.NOTHING_HAPPENED)
        if request is None:
            return
        again = await self._store.transition(
            request.id,
            State.FAILED,
            State.APPROVED,
            result=None,
            error=None,
            error_code=None,
            finished_at=None,
            decided_at=self._clock(),
        )
        if again is None:
            return
        await self.cards.audit("retried", origin.user_id, again, replies.AUDIT_RETRIED)
        await self.run(again)

    async def _nothing_to_follow_up(
        self, origin: Origin, request: ChangeRequest | None, request_id: str
    ) -> None:
        """A Check now or Retry on a request that no longer needs one (another click got
        there, or it was never uncertain): say where it stands."""
        if request is None:
            await self.cards.refuse(
                origin, None, Refused(Refusal.UNKNOWN_REQUEST, request_id=request_id)
            )
            return
        await self.cards.refuse(origin, request, _refused(Refusal.NOT_PENDING, request))

    # ── running ─────────────────────────────────────────────────────────────────────────

    async def run(self, request: ChangeRequest) -> None:
        """Run an approved request if this caller wins APPROVED → EXECUTING.

        The lease is held from the moment the request is executing — before the card is
        edited, which can wait out Slack's rate limits — and is confirmed right before the
        first write: if it lapsed meanwhile (another replica may be reconciling the request as
        interrupted), the change is not started. The policy in force is asked first: a
        requester who may no longer ask for the change, or approvals short of what the policy
        asks now, and the change does not run.
        """
        running = await self._store.transition(
            request.id,
            State.APPROVED,
            State.EXECUTING,
            executing_since=self._clock(),
            # A lease from an earlier attempt (held back, or retried after a check) is over.
            heartbeat_at=None,
            reconciling_since=None,
            error=None,
            error_code=None,
        )
        if running is None:
            return
        refusal = await self._no_longer_allowed(running)
        if refusal is not None:
            await self._fail(running, refusal, say.NOTHING_CHANGED, None, code="policy.changed")
            return
        try:
            async with held(running.id, self._renew_lease, self.lease) as lease:
                await self.cards.audit("executing", SYSTEM, running, replies.AUDIT_RUNNING)
                await self.cards.show(running)
                if not await lease.start():
                    log.warning("change_not_started", request_id=running.id, reason="lease lost")
                    return
                execution = await actions.execute(
                    self._client, running, self._secret_courier(running, lease)
                )
        except actions.Postponed as exc:
            await self._postpone(running, exc.cause)
            return
        except actions.ExecutionFailed as exc:
            await self._fail(
                running, exc.message, exc.state_of_account, exc.cause, uncertain=exc.uncertain
            )
            return
        except FingerprintError as exc:
            await self._fail(running, summary_of(exc), say.NOT_CONFIRMED, exc, uncertain=True)
            return
        done = await self._store.transition(
            running.id,
            State.EXECUTING,
            State.SUCCEEDED,
            result=execution.result,
            finished_at=self._clock(),
            **_grace_fields(execution.grace_until),
        )
        if done is not None:
            await self.cards.audit("succeeded", SYSTEM, done, execution.message)
            await self._succeeded(done)
            await self.cards.finish(done)
            if execution.instructions:
                await self.cards.slack.tell(
                    done.requester, render_instructions(execution.instructions)
                )
            await self._close_grace_of(done)

    async def _succeeded(self, request: ChangeRequest) -> None:
        if self._on_succeeded is not None:
            await self._on_succeeded(request)

    async def _no_longer_allowed(self, request: ChangeRequest) -> str | None:
        """Why the policy in force does not let this approved request run, if it does not."""
        requester = await actor_of(self._policy, self._groups, request.requester)
        if not decide(
            self._policy, requester, request.action, command_is_channel_guarded=False
        ).allowed:
            return say_request.permission_lost(request.requester, request.action)
        current = self._current(request)
        if len(current.approvers) < current.required_approvals:
            return say_request.approvals_now_short(
                current.required_approvals, len(current.approvers)
            )
        return None

    async def _postpone(self, request: ChangeRequest, cause: FingerprintError) -> None:
        """Nothing reached Fingerprint: the request is approved again, shows why it waits, and
        the sweeper runs it once the cause clears (the operators hear once, grouped)."""
        waiting = await self._store.transition(
            request.id,
            State.EXECUTING,
            State.APPROVED,
            error=say_request.held_back(cause.error_code),
            error_code=cause.error_code,
        )
        if waiting is None:
            return
        log.warning("change_postponed", request_id=request.id, error_code=cause.error_code)
        await self.cards.audit("postponed", SYSTEM, waiting, waiting.error or "")
        await self.cards.show(waiting)
        await self.cards.report(
            Failure(
                title=titles.CHANGE_POSTPONED,
                operation=f"{request.id} {request.action}",
                error_code=cause.error_code,
                detail=describe(cause),
                correlation_id=cause.correlation_id or request.correlation_id,
            )
        )

    async def _renew_lease(self, request_id: str, strict: bool) -> bool:
        """Renew the lease; if ``strict``, not once it has lapsed (then it is the sweeper's)."""
        now = self._clock()
        lapsed_at = now - self.lease if strict else None
        return await self._store.renew_lease(request_id, now, lapsed_at=lapsed_at)

    async def _fail(
        self,
        request: ChangeRequest,
        message: str,
        state_of_account: str,
        cause: FingerprintError | None,
        *,
        uncertain: bool = False,
        code: str | None = None,
    ) -> None:
        error_code = code or (cause.error_code if cause else "change.failed")
        correlation = (cause.correlation_id if cause else "") or request.correlation_id
        failed = await self._store.transition(
            request.id,
            State.EXECUTING,
            State.FAILED,
            # Error text can echo what the API was sent; the store refuses anything secret-shaped.
            error=scrub(f"{message} {state_of_account}".strip()),
            error_code=error_code,
            correlation_id=correlation,
            finished_at=self._clock(),
            result={"outcome": Uncertainty.UNKNOWN.value} if uncertain else None,
        )
        if failed is None:
            return
        await self.cards.audit("failed", SYSTEM, failed, failed.error or message)
        await self.cards.report(
            Failure(
                title=titles.CHANGE_FAILED,
                operation=f"{request.id} {request.action}",
                error_code=error_code,
                detail=f"{request.summary}: {failed.error}",
                correlation_id=correlation,
            )
        )
        await self.cards.finish(failed)

    def _secret_courier(self, request: ChangeRequest, lease: Lease) -> actions.DeliverSecret:
        """DM a created secret to the requester, once, the moment the API returns it — unless
        the lease was lost meanwhile: the reconciler that claimed the request will disable
        the resource, so a token delivered now would be a dead one."""

        async def deliver(delivery: actions.SecretDelivery) -> bool:
            if not await lease.renew():
                log.warning("secret_held_back", request_id=request.id, reason="lease lost")
                return False
            message = render_secret_delivery(
                delivery.kind, delivery.resource_name, delivery.resource_id, delivery.secret
            )
            if not await self.cards.slack.deliver_secret(request.requester, message):
                log.error("secret_not_delivered", request_id=request.id)
                return False
            # Delivered: from here on the answer is True whatever happens to the audit line,
            # or the caller would disable a key its owner already holds.
            try:
                await self.cards.audit(
                    "secret_delivered",
                    SYSTEM,
                    request,
                    replies.audit_secret_delivered(delivery.kind, delivery.resource_id),
                )
            except Exception:
                log.exception("secret_delivery_not_audited", request_id=request.id)
            return True

        return deliver

    # ── what the sweeper finds ──────────────────────────────────────────────────────────

    async def expire(self, request: ChangeRequest, *, tell: bool = True) -> ChangeRequest | None:
        """Mark a due request expired and edit its card; tell the requester unless ``tell`` is
        false (the caller will). The expired request, if this caller expired it."""
        expired = await self._store.transition(
            request.id, State.PENDING, State.EXPIRED, decided_at=self._clock()
        )
        if expired is not None:
            await self.cards.audit(
                "expired", SYSTEM, expired, replies.audit_expiry(expired.expires_at)
            )
            await self.cards.show(expired)
            if tell:
                await self.cards.tell(expired)
        return expired

    async def reconcile(self, request: ChangeRequest) -> None:
        """Reconcile a stale executing request, if this caller wins the claim on it.

        Sweepers on several replicas can list the same stale request; only the one whose
        claim lands reads the API and settles it (one key disabled, one alert). The claim
        also keeps the process that ran the change, if it is alive after all, from renewing
        its lease, starting the change, or delivering a secret meanwhile. A reconciliation
        the API could not answer gives its claim back, so the next sweep tries again.
        """
        now = self._clock()
        if not await self._store.claim_stale(request.id, lapsed_at=now - self.lease, at=now):
            log.info("reconcile_skipped", request_id=request.id, reason="claimed or renewed")
            return
        try:
            outcome = await actions.reconcile(
                self._client, request, await self._delivered_secrets(request)
            )
        except FingerprintError as exc:
            log.warning("reconcile_postponed", request_id=request.id, error=str(exc))
            await self._store.release_claim(request.id)
            return
        fields = {"finished_at": self._clock()}
        if outcome.state is State.SUCCEEDED:
            final = await self._store.transition(
                request.id,
                State.EXECUTING,
                State.SUCCEEDED,
                result={"reconciled": outcome.message},
                **fields,
                **_grace_fields(outcome.grace_until),
            )
        else:
            final = await self._store.transition(
                request.id,
                State.EXECUTING,
                State.FAILED,
                error=scrub(outcome.message),
                error_code="change.interrupted",
                **fields,
            )
        if final is None:
            return
        await self.cards.audit("reconciled", SYSTEM, final, outcome.message)
        if final.state is State.SUCCEEDED:
            await self._succeeded(final)
        await self.cards.report(
            Failure(
                title=titles.CHANGE_RECONCILED,
                operation=f"{request.id} {request.action}",
                error_code="change.interrupted",
                detail=outcome.message,
                correlation_id=request.correlation_id,
            )
        )
        await self.cards.finish(final)

    async def _delivered_secrets(self, request: ChangeRequest) -> frozenset[str]:
        """The resources whose secret the audit trail says reached the requester (asked
        for by kind: refused clicks can bury them under any number of other events)."""
        events = await self._store.audit(
            limit=MAX_SECRETS, request_id=request.id, kind="secret_delivered"
        )
        return frozenset(replies.secret_delivered_resource(e.detail) for e in events)

    async def remind(self, request: ChangeRequest, *, limit: int) -> None:
        """Remind the people who may still approve, in the card's thread (users only, never a
        group or the channel), if this caller wins the claim on this reminder."""
        card = card_of(request)
        if card is None or request.reminders_sent >= limit:
            return
        if not await self._store.claim_reminder(request.id, request.reminders_sent, self._clock()):
            return
        mentions = await self._who_may_still_approve(request)
        await self.cards.audit(
            "reminded", SYSTEM, request, replies.audit_reminder(request.reminders_sent + 1)
        )
        await self.cards.slack.post(
            card.channel,
            say_request.render_reminder(request, mentions, now=self._clock()),
            thread_ts=card.ts,
        )

    async def _who_may_still_approve(self, request: ChangeRequest) -> list[str]:
        """The users who may approve and have not: the route's approvers or every holder of
        ``requests.approve``, groups expanded to their members."""
        named = [
            grantee for grantee in self.cards.approvers(request) if grantee not in request.approvers
        ]
        users: list[str] = []
        for grantee in named:
            members = (
                sorted(await self._groups.members(grantee))
                if grantee.startswith("S")
                else [grantee]
            )
            users.extend(m for m in members if m not in users)
        eligible = []
        for user in users:
            if user in request.approvers:
                continue
            if user == request.requester and not self._policy.approvals.allow_self_approval:
                continue
            actor = await actor_of(self._policy, self._groups, user)
            if may_approve(self._policy, actor, request.environment):
                eligible.append(user)
        return eligible[:MAX_MENTIONS]

    async def _reload(self, request: ChangeRequest) -> ChangeRequest:
        return await self._store.get(request.id) or request

    # ── rotations with a grace period ───────────────────────────────────────────────────

    async def follow_up_rotation(self, request_id: str, *, revert: bool, origin: Origin) -> None:
        """The requester's "Disable old key now" or "Revert" on a rotation in its grace
        period: a change request of its own, under the policy's usual rules; never raises."""
        button = "Revert" if revert else "Disable old key now"
        await self.guarded(
            button, request_id, origin, self._follow_up_rotation(request_id, revert, origin)
        )

    async def _follow_up_rotation(self, request_id: str, revert: bool, origin: Origin) -> None:
        rotation = await self._store.get(request_id)
        if rotation is None or rotation.requester != origin.user_id:
            await self.cards.answer(origin, say_grace.render_not_yours(request_id))
            return
        if rotation.grace_state is None or not rotation.grace_state.is_open:
            await self.cards.answer(origin, say_grace.render_grace_over(rotation))
            return
        command = _follow_up_command(rotation, revert=revert)
        if command is None:
            await self.cards.answer(origin, say_grace.render_grace_over(rotation))
            return
        actor = await actor_of(self._policy, self._groups, origin.user_id)
        decision = decide(self._policy, actor, command, command_is_channel_guarded=False)
        if not decision.allowed:
            await self.cards.answer(origin, replies.render_denial(decision))
            return
        try:
            request = await self.request(command, origin)
        except actions.PlanError as exc:
            await self.cards.answer(origin, replies.render_refusal(str(exc)))
            return
        except FingerprintError as exc:
            await self.cards.answer(origin, replies.render_refusal(summary_of(exc)))
            return
        await self.cards.answer(origin, await self.receipt(request))

    async def _close_grace_of(self, request: ChangeRequest) -> None:
        """A Revert or "Disable old key now" that ran closes its rotation's grace period,
        so the sweeper leaves the old key as it now is."""
        rotation_id = request.params.get("grace_of")
        if not rotation_id:
            return
        reverted = request.action.endswith(".rotate")
        closed = await self._store.move_grace(
            str(rotation_id),
            (GraceState.OPEN, GraceState.WARNED),
            GraceState.REVERTED if reverted else GraceState.FINISHED,
            at=self._clock(),
        )
        if closed is None:
            return
        await self.cards.audit(
            "grace_closed", SYSTEM, closed, say_grace.closed_by(request.id, reverted=reverted)
        )
        await self.cards.show(closed)
        card = card_of(closed)
        if card is not None:
            await self.cards.slack.post(
                card.channel,
                say_grace.render_closed(closed, request.id, reverted=reverted),
                thread_ts=card.ts,
            )

    async def warn_grace(self, rotation: ChangeRequest) -> None:
        """An hour (or less) before a grace period ends: say so in the card's thread, once."""
        warned = await self._store.move_grace(
            rotation.id, (GraceState.OPEN,), GraceState.WARNED, at=self._clock()
        )
        if warned is None:
            return
        card = card_of(warned)
        if card is not None:
            await self.cards.slack.post(
                card.channel, say_grace.render_ending_soon(warned), thread_ts=card.ts
            )
        await self.cards.show(warned)

    async def end_grace(self, rotation: ChangeRequest) -> None:
        """A grace period that has ended: disable the old key (asked again at every pass
        until Fingerprint takes it; disabling twice is harmless), then close the grace — of
        replicas racing, one posts the news. An encryption key keeps one object: its
        rotation simply becomes final."""
        old_key = rotation.params.get("key_id")
        if rotation.action == "keys.rotate" and old_key:
            try:
                await self._client.update_api_key(str(old_key), status=Status.DISABLED)
            except NotFound:
                pass  # deleted meanwhile: nothing left to disable
            except FingerprintError as exc:
                log.warning("grace_end_postponed", request_id=rotation.id, error=exc.error_code)
                await self.cards.report(
                    Failure(
                        title=titles.GRACE_NOT_ENDED,
                        operation=f"{rotation.id} {rotation.action}",
                        error_code=exc.error_code,
                        detail=describe(exc),
                        correlation_id=exc.correlation_id or rotation.correlation_id,
                    )
                )
                return
        ended = await self._store.move_grace(
            rotation.id, (GraceState.OPEN, GraceState.WARNED), GraceState.ENDED, at=self._clock()
        )
        if ended is None:
            return
        await self.cards.audit("grace_ended", SYSTEM, ended, say_grace.ended_detail(ended))
        await self.cards.show(ended)
        card = card_of(ended)
        if card is not None:
            await self.cards.slack.post(
                card.channel, say_grace.render_ended(ended), thread_ts=card.ts
            )
        await self.cards.slack.tell(ended.requester, say_grace.render_ended(ended))


#: Reminders mention at most this many people (the rest see the card anyway).
MAX_MENTIONS = 10
#: More secrets than one change ever delivers (a create or a rotation delivers one).
MAX_SECRETS = 20


def _grace_fields(until: datetime | None) -> dict[str, Any]:
    """The columns a rotation with a grace period starts it with."""
    if until is None:
        return {}
    return {"grace_ends_at": until, "grace_state": GraceState.OPEN}


def _follow_up_command(
    rotation: ChangeRequest, *, revert: bool
) -> RevertKeyRotation | RevertEncKey | DisableKeyNow | None:
    """The change a button on a rotation in its grace period asks for."""
    params, result = rotation.params, rotation.result or {}
    if rotation.action == "keys.rotate":
        old, new = params.get("key_id"), result.get("replacement_id")
        if not old:
            return None
        if not revert:
            return DisableKeyNow(str(old), Status.DISABLED, grace_of=rotation.id)
        if not new:
            return None
        return RevertKeyRotation(rotation.id, str(old), str(new))
    if rotation.action == "enckeys.rotate" and revert and params.get("key_id"):
        return RevertEncKey(str(params["key_id"]), grace_of=rotation.id)
    return None


def _refused(reason: Refusal, request: ChangeRequest) -> Refused:
    """A refusal the store's verdict calls for, about ``request`` as it now stands."""
    return Refused(
        reason=reason,
        state=request.state,
        request_id=request.id,
        expires_at=request.expires_at,
        requester=request.requester,
    )
