"""The life of a change request, from `/fp … create` to the result in the thread: every move
of a request happens here.

The pieces meet here: `actions` plans and runs a change against the API, the domain's approval
rules (`bot.domain.approvals`) decide what a click means, the store makes every move one
conditional update, and `cards` keeps the approval message in Slack in step with the row. The
row is written before anything is posted, so a Slack outage never loses a request.

Exactly once: an approval is a unique row; only the caller whose conditional update moves the
request PENDING → APPROVED → EXECUTING runs it, whatever the number of clicks or replicas. The
rules decide what a click means from the request as read; where clicks race, the store judges:
it records an approval only on a request still pending, the approvals it holds afterwards
decide whether the request is complete, and only one conditional move wins. What the clicker
is told then comes from that outcome.

When a process dies, `bot.changes.sweeper` finds what it left and calls back here: requests left
``approved`` are run (nothing ran yet), requests left ``executing`` past their lease are
reconciled against the API, never rerun.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import structlog

from bot.changes import actions
from bot.changes.cards import SYSTEM, RequestCards
from bot.changes.lease import EXECUTION_LEASE, held
from bot.commands import Command
from bot.domain import ApprovalResult, ChangeRequest, State
from bot.domain.approvals import Denied, Refusal, Refused, on_approve, on_deny
from bot.fingerprint.errors import FingerprintError
from bot.log import get_logger, scrub
from bot.notify import Failure, Notifier, describe
from bot.policy import Membership, Policy, actor_of, decide, required_approvals
from bot.ports import Account, Conversation, DeliveryFailed, Origin, RequestStore
from bot.render import changes as say
from bot.render import notifications as titles
from bot.render import render_change_request, render_secret_delivery, replies
from bot.render.approvals import render_late_approval
from bot.render.errors import summary_of
from bot.store import DuplicateRequest, StoreUnavailable, new_request_id

log = get_logger(__name__)

#: Attempts at a fresh request id when one drawn is already taken.
ID_ATTEMPTS = 5


class ChangeWorkflow:
    """Creates change requests, handles Approve/Deny clicks, runs approved changes once,
    expires and reconciles what the sweeper finds."""

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
    ) -> None:
        self._store = store
        self._client = client
        self._policy = policy
        self._groups = groups
        self._clock = clock
        self.lease = lease
        self.cards = RequestCards(store=store, slack=slack, notifier=notifier, clock=self.now)

    def now(self) -> datetime:
        """The workflow's time (tests move it)."""
        return self._clock()

    # ── requesting ──────────────────────────────────────────────────────────────────────

    async def request(self, command: Command, origin: Origin) -> ChangeRequest:
        """Plan ``command``, store it as a pending request and post it for approval.

        A request id already taken (30 random bits make it rare) is drawn again.

        Raises:
            actions.PlanError: the change makes no sense against the account as it is.
            FingerprintError: the API could not be read to plan the change.
            StoreUnavailable: the request could not be stored; nothing was posted.
        """
        plan = await actions.plan(self._client, command)
        now = self._clock()
        request = ChangeRequest(
            id=new_request_id(),
            action=plan.action,
            params=plan.params,
            summary=plan.summary,
            requester=origin.user_id,
            channel_id=origin.channel_id,
            state=State.PENDING,
            required_approvals=required_approvals(self._policy, plan.action),
            created_at=now,
            expires_at=now + self._policy.approvals.expires_after,
            before=plan.before,
            after=plan.after,
            correlation_id=origin.correlation_id,
        )
        for attempt in range(1, ID_ATTEMPTS + 1):
            try:
                await self._store.create(request)
                break
            except DuplicateRequest:
                if attempt == ID_ATTEMPTS:
                    raise
                log.warning("request_id_taken", request_id=request.id, attempt=attempt)
                request = replace(request, id=new_request_id())
        await self.cards.audit("requested", origin.user_id, request, request.summary)
        channel = self._policy.channels.approvals or origin.channel_id
        try:
            posted = await self.cards.slack.post(channel, render_change_request(request, now=now))
        except DeliveryFailed as exc:
            await self.cards.report(
                Failure(
                    title=titles.REQUEST_NOT_POSTED,
                    operation=f"{request.id} {request.action}",
                    error_code=f"slack.{exc.error}",
                    detail=titles.request_not_posted(exc.error),
                    correlation_id=origin.correlation_id,
                )
            )
        else:
            await self._store.update_fields(
                request.id, approval_channel=posted.channel, approval_ts=posted.ts
            )
            request = await self._reload(request)
        return request

    # ── clicks ──────────────────────────────────────────────────────────────────────────

    async def click(self, request_id: str, *, approve: bool, origin: Origin) -> None:
        """Handle an Approve or Deny click; never raises (the clicker is always answered).

        A refused click changes nothing but the audit. When the store is unreachable the
        clicker is told nothing changed and the operators are notified; any other failure is
        logged and the clicker gets the correlation id to quote.
        """
        button = "Approve" if approve else "Deny"
        with structlog.contextvars.bound_contextvars(
            correlation_id=origin.correlation_id, user=origin.user_id, change_request=request_id
        ):
            try:
                await self._click(request_id, approve=approve, origin=origin)
            except StoreUnavailable as exc:
                log.warning("click_store_unavailable", button=button, error=str(exc))
                await self.cards.answer(
                    origin, replies.render_store_unreachable(origin.correlation_id)
                )
                await self.cards.report(
                    Failure.store_unavailable(f"{button} {request_id}", exc, origin.correlation_id)
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

    async def _click(self, request_id: str, *, approve: bool, origin: Origin) -> None:
        request = await self._store.get(request_id)
        actor = await actor_of(self._policy, self._groups, origin.user_id)
        rules = on_approve if approve else on_deny
        outcome = rules(
            request,
            origin.user_id,
            may_approve=decide(self._policy, actor, "requests.approve").allowed,
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
            await self._deny(request, origin)
        else:
            await self._approve(request, origin)

    async def _approve(self, request: ChangeRequest, origin: Origin) -> None:
        """Carry out an approval the rules accepted; the store judges a race with others."""
        now = self._clock()
        added = await self._store.add_approval(request.id, origin.user_id, now)
        if added is ApprovalResult.ALREADY_APPROVED:  # this person's other click got there
            await self.cards.refuse(origin, request, _refused(Refusal.ALREADY_APPROVED, request))
            return
        current = await self._reload(request)
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
            await self.cards.answer(origin, render_late_approval(current))
            return
        if current.approvals_missing > 0:  # the approvals now stored decide, not our read
            await self.cards.show(current)
            return
        approved = await self._store.transition(
            current.id, State.PENDING, State.APPROVED, decided_by=origin.user_id, decided_at=now
        )
        if approved is None:  # another click or replica completed it first; it runs there
            await self.cards.answer(origin, render_late_approval(await self._reload(current)))
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

    async def _deny(self, request: ChangeRequest, origin: Origin) -> None:
        denied = await self._store.transition(
            request.id,
            State.PENDING,
            State.DENIED,
            decided_by=origin.user_id,
            decided_at=self._clock(),
        )
        if denied is None:  # the store judged: it moved on before this deny landed
            current = await self._reload(request)
            await self.cards.refuse(origin, current, _refused(Refusal.NOT_PENDING, current))
            return
        await self.cards.audit("denied", origin.user_id, denied, replies.AUDIT_DENIED)
        await self.cards.finish(denied)

    # ── running ─────────────────────────────────────────────────────────────────────────

    async def run(self, request: ChangeRequest) -> None:
        """Run an approved request if this caller wins APPROVED → EXECUTING.

        The lease is held from the moment the request is executing — before the approval
        message is edited, which can wait out Slack's rate limits — and is confirmed right
        before the first write: if it lapsed meanwhile (another replica may be reconciling
        the request as interrupted), the change is not started.
        """
        running = await self._store.transition(
            request.id, State.APPROVED, State.EXECUTING, executing_since=self._clock()
        )
        if running is None:
            return
        try:
            async with held(running.id, self._renew_lease, self.lease) as lease:
                await self.cards.audit("executing", SYSTEM, running, replies.AUDIT_RUNNING)
                await self.cards.show(running)
                if not await lease.start():
                    log.warning("change_not_started", request_id=running.id, reason="lease lost")
                    return
                execution = await actions.execute(
                    self._client, running, self._secret_courier(running)
                )
        except actions.ExecutionFailed as exc:
            await self._fail(running, exc.message, exc.state_of_account, exc.cause)
            return
        except FingerprintError as exc:
            await self._fail(running, summary_of(exc), say.NOT_CONFIRMED, exc)
            return
        done = await self._store.transition(
            running.id,
            State.EXECUTING,
            State.SUCCEEDED,
            result=execution.result,
            finished_at=self._clock(),
        )
        if done is not None:
            await self.cards.audit("succeeded", SYSTEM, done, execution.message)
            await self.cards.finish(done)

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
    ) -> None:
        code = cause.error_code if cause else "change.failed"
        correlation = (cause.correlation_id if cause else "") or request.correlation_id
        failed = await self._store.transition(
            request.id,
            State.EXECUTING,
            State.FAILED,
            # Error text can echo what the API was sent; the store refuses anything secret-shaped.
            error=scrub(f"{message} {state_of_account}".strip()),
            error_code=code,
            correlation_id=correlation,
            finished_at=self._clock(),
        )
        if failed is None:
            return
        await self.cards.audit("failed", SYSTEM, failed, failed.error or message)
        await self.cards.report(
            Failure(
                title=titles.CHANGE_FAILED,
                operation=f"{request.id} {request.action}",
                error_code=code,
                detail=f"{request.summary}: {failed.error}",
                correlation_id=correlation,
            )
        )
        await self.cards.finish(failed)

    def _secret_courier(self, request: ChangeRequest) -> actions.DeliverSecret:
        """DM a created secret to the requester, once, the moment the API returns it."""

        async def deliver(delivery: actions.SecretDelivery) -> bool:
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
        its lease and starting the change meanwhile. A reconciliation postponed or cut off
        is retried once the claim is a lease old.
        """
        now = self._clock()
        if not await self._store.claim_stale(request.id, lapsed_at=now - self.lease, at=now):
            log.info("reconcile_skipped", request_id=request.id, reason="claimed or renewed")
            return
        try:
            outcome = await actions.reconcile(self._client, request)
        except FingerprintError as exc:
            log.warning("reconcile_postponed", request_id=request.id, error=str(exc))
            return
        fields = {"finished_at": self._clock()}
        if outcome.state is State.SUCCEEDED:
            final = await self._store.transition(
                request.id,
                State.EXECUTING,
                State.SUCCEEDED,
                result={"reconciled": outcome.message},
                **fields,
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

    async def _reload(self, request: ChangeRequest) -> ChangeRequest:
        return await self._store.get(request.id) or request


def _refused(reason: Refusal, request: ChangeRequest) -> Refused:
    """A refusal the store's verdict calls for, about ``request`` as it now stands."""
    return Refused(
        reason=reason, state=request.state, request_id=request.id, expires_at=request.expires_at
    )
