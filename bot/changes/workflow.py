"""The life of a change request, from `/fp … create` to the result in the thread.

This is where the pieces meet: `actions` plans and runs a change against the API, `machine`
decides what a click means, the store makes every transition one conditional update, and the
messenger keeps the approval message in Slack in step with the row. The row is written before
anything is posted, so a Slack outage never loses a request.

Exactly once: an approval is a unique row; only the caller whose conditional update moves the
request PENDING → APPROVED → EXECUTING runs it, whatever the number of clicks or replicas.
After a crash, `sweep` finds requests left in ``approved`` (nothing ran yet: run them) and in
``executing`` past a lease (something may have run: never rerun, reconcile against the API);
a sweeper claims such a request first, so one replica reconciles it, and its owner, if alive
after all, can no longer renew the lease.
The process running a change renews its lease (a heartbeat in the store) for as long as the
change runs, however long it waits for the API's rate budget, so only a dead process's
request goes stale.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import structlog

from bot.changes import actions, machine
from bot.changes.model import AuditEvent, ChangeRequest, State
from bot.commands import Command
from bot.fingerprint.errors import FingerprintError
from bot.groups import GroupDirectory
from bot.log import get_logger, scrub
from bot.messenger import SlackDeliveryError, SlackMessenger
from bot.notify import Failure, Notifier, describe
from bot.policy import Policy, decide, required_approvals
from bot.render import (
    Message,
    render_change_request,
    render_refusal,
    render_request_result,
    render_secret_delivery,
)
from bot.render.blocks import fallback, section
from bot.store import ApprovalResult, DuplicateRequest, Store, StoreUnavailable, new_request_id

log = get_logger(__name__)

#: An ``executing`` row whose lease was not renewed for this long belongs to a process that
#: died mid-change. The running process renews it every quarter of this (`ChangeWorkflow`'s
#: ``lease``), so a few missed heartbeats (a slow database) do not make a live change stale.
EXECUTION_LEASE = timedelta(minutes=2)
#: An ``approved`` row older than this was approved by a process that died before running it.
APPROVED_GRACE = timedelta(seconds=30)

#: How many requests one sweeper pass works on at once (expiries, orphaned approvals,
#: reconciliations), so a pass with many due does not run one Slack round-trip after another.
SWEEP_CONCURRENCY = 8
#: Attempts at a fresh request id when one drawn is already taken.
ID_ATTEMPTS = 5

SYSTEM = "fpbot"


@dataclass(frozen=True, slots=True)
class Origin:
    """Who asked and where the answer goes: the parts of a Slack payload the workflow needs."""

    user_id: str
    channel_id: str
    response_url: str | None
    correlation_id: str


class ChangeWorkflow:
    """Creates change requests, handles Approve/Deny clicks, runs approved changes once."""

    def __init__(
        self,
        *,
        store: Store,
        client: actions.Client,
        messenger: SlackMessenger,
        policy: Policy,
        groups: GroupDirectory,
        notifier: Notifier,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        lease: timedelta = EXECUTION_LEASE,
    ) -> None:
        self._store = store
        self._client = client
        self._messenger = messenger
        self._policy = policy
        self._groups = groups
        self._notifier = notifier
        self._clock = clock
        self._lease_duration = lease

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
        await self._audit("requested", origin.user_id, request, request.summary)
        channel = self._policy.channels.approvals or origin.channel_id
        try:
            posted = await self._messenger.post(channel, render_change_request(request, now=now))
        except SlackDeliveryError as exc:
            await self._report(
                Failure(
                    title="A change request could not be posted for approval",
                    operation=f"{request.id} {request.action}",
                    error_code=f"slack.{exc.error}",
                    detail=f"The request is stored and pending; Slack said `{exc.error}`.",
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
                await self._tell_quietly(
                    origin,
                    "fpbot's database is unreachable; nothing changed. Please try again in a "
                    f"minute. Correlation id: `{origin.correlation_id}`.",
                )
                await self._report(
                    Failure.store_unavailable(f"{button} {request_id}", exc, origin.correlation_id)
                )
            except Exception:
                log.exception("click_failed", button=button)
                await self._tell_quietly(
                    origin,
                    f"Something went wrong inside fpbot while handling your {button} click. "
                    f"Correlation id: `{origin.correlation_id}`.",
                )
            except asyncio.CancelledError:
                # Shutdown ran out of time for this click: say so rather than stay silent.
                log.warning("click_interrupted", button=button)
                await self._tell_quietly(
                    origin,
                    f"fpbot restarted before it could finish handling your {button} click; "
                    "the approval message shows where the request stands. "
                    f"Correlation id: `{origin.correlation_id}`.",
                )
                raise

    async def _click(self, request_id: str, *, approve: bool, origin: Origin) -> None:
        request = await self._store.get(request_id)
        if request is None:
            await self._refuse(origin, None, "There is no change request with that id.")
            return
        now = self._clock()
        actor = await self._groups.actor(self._policy, origin.user_id)
        may_approve = decide(self._policy, actor, "requests.approve").allowed
        allow_self = self._policy.approvals.allow_self_approval
        outcome: (
            machine.Refused | machine.Denied | machine.ApprovalRecorded | machine.ReadyToExecute
        )
        if approve:
            outcome = machine.on_approve(
                request,
                origin.user_id,
                may_approve=may_approve,
                allow_self_approval=allow_self,
                now=now,
            )
        else:
            outcome = machine.on_deny(
                request,
                origin.user_id,
                may_approve=may_approve,
                allow_self_approval=allow_self,
                now=now,
            )
        if isinstance(outcome, machine.Refused):
            await self._refuse(origin, request, outcome.explain())
            if outcome.reason is machine.Refusal.EXPIRED:
                await self._expire(request)
            return
        if isinstance(outcome, machine.Denied):
            await self._deny(request, origin)
            return
        await self._approve(request, origin)

    async def _approve(self, request: ChangeRequest, origin: Origin) -> None:
        now = self._clock()
        added = await self._store.add_approval(request.id, origin.user_id, now)
        if added is ApprovalResult.ALREADY_APPROVED:
            await self._refuse(origin, request, "You have already approved this request.")
            return
        if added is ApprovalResult.NOT_PENDING:
            # Denied, expired or approved by others between our read and the insert: the
            # store wrote nothing. Say what the request is now, as for any late click.
            current = await self._reload(request)
            late = machine.on_approve(
                current, origin.user_id, may_approve=True, allow_self_approval=True, now=now
            )
            if isinstance(late, machine.Refused):
                await self._refuse(origin, current, late.explain())
                if late.reason is machine.Refusal.EXPIRED:
                    await self._expire(current)
            else:  # pragma: no cover - the store saw it closed; a fresh read cannot reopen it
                await self._refuse(origin, current, "This request is no longer waiting.")
            return
        request = await self._reload(request)
        await self._audit(
            "approval",
            origin.user_id,
            request,
            f"{len(request.approvers)}/{request.required_approvals}",
        )
        if request.state is not State.PENDING:  # decided right after the approval landed
            await self._approved_meanwhile(origin, request)
            return
        if request.approvals_missing > 0:
            await self._show(request)
            return
        approved = await self._store.transition(
            request.id, State.PENDING, State.APPROVED, decided_by=origin.user_id, decided_at=now
        )
        if approved is None:  # another click or replica completed it first; it runs there
            await self._approved_meanwhile(origin, await self._reload(request))
            return
        try:
            await self._audit("approved", origin.user_id, approved, "approvals complete")
            await self._run(approved)
        except Exception as exc:
            # The request is approved, so what happens to it is no longer this click's to
            # decide: the sweeper runs an orphaned approval, or reconciles a change cut off
            # mid-way, once the store answers again. Tell the approver and the operators.
            await self._unfinished(approved, origin, exc)

    async def _unfinished(self, request: ChangeRequest, origin: Origin, exc: Exception) -> None:
        unreachable = isinstance(exc, StoreUnavailable)
        if unreachable:
            log.warning("approved_change_unfinished", request_id=request.id, error=str(exc))
        else:
            log.exception("approved_change_unfinished", request_id=request.id)
        cause = "its database became unreachable" if unreachable else "something went wrong"
        await self._tell_quietly(
            origin,
            f"{request.id} is approved, but {cause} before fpbot could finish it. It will be "
            "run, or checked against Fingerprint and reported, automatically; the approval "
            f"message will show the outcome. Correlation id: `{origin.correlation_id}`.",
        )
        await self._report(
            Failure(
                title="An approved change could not be finished",
                operation=f"{request.id} {request.action}",
                error_code="store.unavailable" if unreachable else "change.unfinished",
                detail=describe(exc),
                correlation_id=origin.correlation_id,
            )
        )

    async def _approved_meanwhile(self, origin: Origin, request: ChangeRequest) -> None:
        """Answer an approval that was recorded after the request had already moved on."""
        if request.state in (State.APPROVED, State.EXECUTING):
            where = "had already been approved and is running"
        elif request.state in (State.SUCCEEDED, State.FAILED):
            where = f"had already been approved and has {request.state}"
        elif request.state is State.DENIED:
            where = "had already been denied, so it will not run"
        elif request.state is State.EXPIRED:
            where = "had already expired, so it will not run"
        else:
            where = f"is {request.state}"
        text = f":information_source: Your approval was recorded; {request.id} {where}."
        log.info("approval_after_decision", user=origin.user_id, request_id=request.id)
        await self._whisper(origin, Message(text=fallback(text), blocks=[section(text)]))

    async def _deny(self, request: ChangeRequest, origin: Origin) -> None:
        now = self._clock()
        denied = await self._store.transition(
            request.id, State.PENDING, State.DENIED, decided_by=origin.user_id, decided_at=now
        )
        if denied is None:
            current = await self._reload(request)
            await self._refuse(origin, current, f"This request is already {current.state}.")
            return
        await self._audit("denied", origin.user_id, denied, "denied")
        await self._finish(denied)

    async def _refuse(self, origin: Origin, request: ChangeRequest | None, reason: str) -> None:
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
            "click_refused", user=origin.user_id, request_id=request and request.id, reason=reason
        )
        await self._whisper(origin, render_refusal(reason))

    # ── running ─────────────────────────────────────────────────────────────────────────

    async def _run(self, request: ChangeRequest) -> None:
        """Run an approved request if this caller wins APPROVED → EXECUTING.

        The lease is held from the moment the request is executing — before the approval
        message is edited, which can wait out Slack's rate limits — and is confirmed right
        before the first write: if it lapsed meanwhile (another replica may be reconciling
        the request as interrupted), the change is not started.
        """
        now = self._clock()
        running = await self._store.transition(
            request.id, State.APPROVED, State.EXECUTING, executing_since=now
        )
        if running is None:
            return
        try:
            async with self._lease(running) as lease:
                await self._audit("executing", SYSTEM, running, "running the change")
                await self._show(running)
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
            await self._fail(
                running, exc.summary, "The change was not confirmed by Fingerprint.", exc
            )
            return
        done = await self._store.transition(
            running.id,
            State.EXECUTING,
            State.SUCCEEDED,
            result=execution.result,
            finished_at=self._clock(),
        )
        if done is not None:
            await self._audit("succeeded", SYSTEM, done, execution.message)
            await self._finish(done)

    @asynccontextmanager
    async def _lease(self, request: ChangeRequest) -> AsyncIterator[_Lease]:
        """Keep ``request``'s lease renewed while the body runs, so the sweeper leaves it be.

        The heartbeat is told to stop when the body ends (a renewal in progress is let finish
        rather than cut off mid-write) and is cancelled if this task itself is cancelled, so
        it never outlives the execution.
        """
        lease = _Lease(request.id, self._renew_lease)
        stop = asyncio.Event()
        heartbeat = asyncio.create_task(self._heartbeat(lease, stop), name=f"lease:{request.id}")
        try:
            yield lease
        finally:
            stop.set()
            try:
                await asyncio.wait([heartbeat])
            finally:
                heartbeat.cancel()  # a no-op once it has stopped; stops it if we were cancelled

    async def _heartbeat(self, lease: _Lease, stop: asyncio.Event) -> None:
        """Renew the lease every quarter of it until ``stop`` is set; never raises."""
        interval = self._lease_duration.total_seconds() / 4
        while True:
            try:
                await asyncio.wait_for(stop.wait(), timeout=interval)
            except TimeoutError:
                pass
            else:
                return
            try:
                renewed = await lease.renew()
            except StoreUnavailable as exc:  # the next beat may get through; the change runs on
                log.warning("lease_not_renewed", request_id=lease.request_id, error=str(exc))
                continue
            except Exception:
                log.exception("lease_not_renewed", request_id=lease.request_id)
                continue
            if not renewed:  # no longer executing, or lapsed: nothing left to keep alive
                log.warning("lease_lost", request_id=lease.request_id)
                return

    async def _renew_lease(self, request_id: str, strict: bool) -> bool:
        """Renew the lease; if ``strict``, not once it has lapsed (then it is the sweeper's)."""
        now = self._clock()
        lapsed_at = now - self._lease_duration if strict else None
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
        await self._audit("failed", SYSTEM, failed, failed.error or message)
        await self._report(
            Failure(
                title="An approved change failed",
                operation=f"{request.id} {request.action}",
                error_code=code,
                detail=f"{request.summary}: {failed.error}",
                correlation_id=correlation,
            )
        )
        await self._finish(failed)

    def _secret_courier(self, request: ChangeRequest) -> actions.DeliverSecret:
        """DM a created secret to the requester, once, the moment the API returns it."""

        async def deliver(delivery: actions.SecretDelivery) -> bool:
            message = render_secret_delivery(
                delivery.kind, delivery.resource_name, delivery.resource_id, delivery.secret
            )
            try:
                await self._messenger.dm(request.requester, message, once=True)
            except SlackDeliveryError as exc:
                log.error("secret_not_delivered", request_id=request.id, error=exc.error)
                return False
            # Delivered: from here on the answer is True whatever happens to the audit line,
            # or the caller would disable a key its owner already holds.
            try:
                await self._audit(
                    "secret_delivered",
                    SYSTEM,
                    request,
                    f"{delivery.kind} of {delivery.resource_id} sent to the requester by DM",
                )
            except Exception:
                log.exception("secret_delivery_not_audited", request_id=request.id)
            return True

        return deliver

    # ── the sweeper ─────────────────────────────────────────────────────────────────────

    async def sweep(self, stop: asyncio.Event | None = None) -> None:
        """Expire what is due, run orphaned approvals, reconcile interrupted executions.

        Up to `SWEEP_CONCURRENCY` requests are handled at once, and one request's failure is
        logged and reported without stopping the others. Expired requests' approval messages
        are all edited before anyone is told in a thread or by DM, so the edit lands within a
        minute even when many expire together. Once ``stop`` is set no further request is
        started; those already started are finished.
        """
        now = self._clock()
        told: list[ChangeRequest] = []

        async def expire(request: ChangeRequest) -> None:
            expired = await self._expire(request, tell=False)
            if expired is not None:
                told.append(expired)

        await self._each("expire", await self._store.due_for_expiry(now), expire, stop)
        await self._each("tell", told, self._tell, None)  # already decided: always told
        orphans = [
            request
            for request in await self._store.list_requests(states=[State.APPROVED], limit=None)
            if request.decided_at is None or now - request.decided_at >= APPROVED_GRACE
        ]
        await self._each("run", orphans, self._run, stop)
        stale = await self._store.stale_executing(now - self._lease_duration)
        await self._each("reconcile", stale, self._reconcile, stop)

    async def _each(
        self,
        step: str,
        requests: Sequence[ChangeRequest],
        handle: Callable[[ChangeRequest], Awaitable[None]],
        stop: asyncio.Event | None,
    ) -> None:
        """``handle`` every request, a few at a time; a failure is reported, not raised."""
        gate = asyncio.Semaphore(SWEEP_CONCURRENCY)

        async def one(request: ChangeRequest) -> None:
            async with gate:
                if stop is not None and stop.is_set():
                    return
                try:
                    await handle(request)
                except Exception as exc:
                    log.exception("sweep_item_failed", step=step, request_id=request.id)
                    await self._report(
                        Failure(
                            title=f"The sweeper could not {step} a change request",
                            operation=f"sweeper {step}",
                            error_code=_error_code(exc, "sweep.failed"),
                            detail=f"{request.id} {request.action}: {describe(exc)}",
                            correlation_id=request.correlation_id,
                        )
                    )

        await asyncio.gather(*(one(request) for request in requests))

    async def run_sweeper(
        self, interval: float = 15.0, *, stop: asyncio.Event | None = None
    ) -> None:
        """Sweep until ``stop`` is set (or cancelled); expired requests are edited within a
        minute. Setting ``stop`` lets the pass in progress finish what it started."""
        stop = stop or asyncio.Event()
        while not stop.is_set():
            try:
                await self.sweep(stop)
            except Exception as exc:
                log.exception("sweep_failed")
                await self._report(
                    Failure(
                        title="The change-request sweeper failed",
                        operation="sweeper",
                        error_code=_error_code(exc, "sweep.failed"),
                        detail=describe(exc),
                        correlation_id="sweeper",
                    )
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)

    async def _expire(self, request: ChangeRequest, *, tell: bool = True) -> ChangeRequest | None:
        """Mark a due request expired and edit its message; tell the requester unless
        ``tell`` is false (the caller will). The expired request, if this caller expired it."""
        expired = await self._store.transition(
            request.id, State.PENDING, State.EXPIRED, decided_at=self._clock()
        )
        if expired is not None:
            await self._audit(
                "expired", SYSTEM, expired, f"expired at {expired.expires_at.isoformat()}"
            )
            await self._show(expired)
            if tell:
                await self._tell(expired)
        return expired

    async def _reconcile(self, request: ChangeRequest) -> None:
        """Reconcile a stale executing request, if this sweeper wins the claim on it.

        Sweepers on several replicas can list the same stale request; only the one whose
        claim lands reads the API and settles it (one key disabled, one alert). The claim
        also keeps the process that ran the change, if it is alive after all, from renewing
        its lease and starting the change meanwhile. A reconciliation postponed or cut off
        is retried once the claim is a lease old.
        """
        now = self._clock()
        if not await self._store.claim_stale(
            request.id, lapsed_at=now - self._lease_duration, at=now
        ):
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
        await self._audit("reconciled", SYSTEM, final, outcome.message)
        await self._report(
            Failure(
                title="A change was interrupted by a restart and has been reconciled",
                operation=f"{request.id} {request.action}",
                error_code="change.interrupted",
                detail=outcome.message,
                correlation_id=request.correlation_id,
            )
        )
        await self._finish(final)

    # ── telling people ──────────────────────────────────────────────────────────────────

    async def _finish(self, request: ChangeRequest) -> None:
        """Edit the approval message, reply in its thread and DM the requester."""
        await self._show(request)
        await self._tell(request)

    async def _tell(self, request: ChangeRequest) -> None:
        """Reply in the approval message's thread and DM the requester the outcome."""
        result = render_request_result(request)
        if request.approval_channel and request.approval_ts:
            await self._quietly(
                self._messenger.post(
                    request.approval_channel, result, thread_ts=request.approval_ts
                )
            )
        await self._quietly(self._messenger.dm(request.requester, result))

    async def _show(self, request: ChangeRequest) -> None:
        """Edit the approval message to show ``request`` as it is now.

        Edits from several clicks or replicas can land out of order (a rate-limited
        ``chat.update`` waits out ``Retry-After``), so after each edit the request is read
        again and, if it moved on meanwhile, shown again: a late edit never has the last word.
        """
        while request.approval_channel and request.approval_ts:
            message = render_change_request(request, now=self._clock())
            await self._quietly(
                self._messenger.update(request.approval_channel, request.approval_ts, message)
            )
            latest = await self._store.get(request.id)
            if latest is None or (latest.version, latest.approvers) == (
                request.version,
                request.approvers,
            ):
                return
            request = latest

    async def _tell_quietly(self, origin: Origin, text: str) -> None:
        """An ephemeral refusal-style answer that never raises (for error paths)."""
        try:
            await self._whisper(origin, render_refusal(text))
        except Exception:  # the error path must not fail in turn
            log.exception("click_answer_not_delivered")

    async def _report(self, failure: Failure) -> None:
        """Tell the operators; a notifier that fails in turn (the store it groups in is
        down, say) is logged and never stops the workflow or the sweeper."""
        try:
            await self._notifier.report(failure)
        except Exception:
            log.exception("failure_not_reported", operation=failure.operation)

    async def _whisper(self, origin: Origin, message: Message) -> None:
        if origin.response_url:
            await self._quietly(
                self._messenger.respond(origin.response_url, message, replace_original=False)
            )
        else:
            await self._quietly(
                self._messenger.ephemeral(origin.channel_id, origin.user_id, message)
            )

    async def _quietly(self, sending: object) -> None:
        """Await a Slack call whose failure must not stop the workflow (the row is the truth)."""
        try:
            await sending  # type: ignore[misc]
        except SlackDeliveryError as exc:
            log.warning("slack_delivery_failed", method=exc.method, error=exc.error)

    async def _reload(self, request: ChangeRequest) -> ChangeRequest:
        return await self._store.get(request.id) or request

    async def _audit(self, kind: str, actor: str, request: ChangeRequest, detail: str) -> None:
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


class _Lease:
    """The execution lease of one request, as the process running it holds it.

    Until the change is started a lapsed lease is lost for good: another replica may already
    be reconciling the request as interrupted, so the change must not start. Once the first
    write is underway the live process keeps claiming the request, whatever a slow store did
    to the heartbeat meanwhile: stopping then would not undo the write.
    """

    def __init__(self, request_id: str, renew: Callable[[str, bool], Awaitable[bool]]) -> None:
        self.request_id = request_id
        self._renew = renew
        self.started = False
        self.lost = False

    async def renew(self) -> bool:
        """Renew it (the heartbeat); before the start, once lost it stays lost."""
        if self.lost:
            return False
        if not await self._renew(self.request_id, not self.started):
            self.lost = True
        return not self.lost

    async def start(self) -> bool:
        """Whether the change may start: the lease still holds, renewed right now. Asked
        right before the first write; from then on the lease is the running change's.

        Raises:
            StoreUnavailable: the store cannot say; the change must not start either.
        """
        if not await self.renew():
            return False
        self.started = True
        return True


def _error_code(exc: Exception, default: str) -> str:
    return "store.unavailable" if isinstance(exc, StoreUnavailable) else default
