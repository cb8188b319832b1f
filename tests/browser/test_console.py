"""The sandbox console in a real browser: listing, change request, approval, thread, faults.

The sandbox (the real bot, the stand-in Management API and the fake Slack serving the console)
runs in a background thread with its own event loop, so that sync Playwright owns the test's
thread and nothing shares pytest-asyncio's loop. Screenshots (1280x800) go to
``tests/browser/screenshots`` (ignored by git); ``make screenshots`` writes them to
``docs/screenshots`` for the README instead.
"""

from __future__ import annotations

import asyncio
import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.log import configure_logging
from sandbox.run import Sandbox, sample_policy_path

playwright_sync = pytest.importorskip("playwright.sync_api")
Page = playwright_sync.Page
expect = playwright_sync.expect

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(
    os.environ.get("FPBOT_SCREENSHOTS") or Path(__file__).resolve().parent / "screenshots"
)
VIEWPORT = {"width": 1280, "height": 800}
#: How often the sandbox's account watch reads the account here.
WATCH_INTERVAL = "2s"
#: The browser's time zone; Slack dates must be shown in it, not the server's.
TIMEZONE = "Europe/Paris"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"Debian's Chromium is not at {CHROMIUM}"),
]


class SandboxThread:
    """`Sandbox` running in a thread of its own until `stop`."""

    def __init__(self, policy_path: Path) -> None:
        self.policy_path = policy_path
        self.sandbox: Sandbox | None = None
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="sandbox", daemon=True)

    def start(self) -> Sandbox:
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("the sandbox did not start within 30 s")
        if self._error is not None:
            raise RuntimeError("the sandbox failed to start") from self._error
        assert self.sandbox is not None
        return self.sandbox

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(15)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported by start()
            self._error = exc
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with Sandbox(log_level="WARNING", policy_path=self.policy_path) as sandbox:
            self.sandbox = sandbox
            self._ready.set()
            await self._stop.wait()


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """The sample policy, but the account watch looks every two seconds (not every minute)."""
    configure_logging("WARNING", "console")
    sample = sample_policy_path().read_text()
    assert "  interval: 1m\n" in sample
    policy = tmp_path_factory.mktemp("policy") / "fpbot.yml"
    policy.write_text(sample.replace("  interval: 1m\n", f"  interval: {WATCH_INTERVAL}\n"))
    runner = SandboxThread(policy)
    yield runner.start()
    runner.stop()


@pytest.fixture
def page(sandbox: Sandbox) -> Iterator[Page]:
    with playwright_sync.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(viewport=VIEWPORT, timezone_id=TIMEZONE, locale="en-US")
        context.set_default_timeout(10_000)
        expect.set_options(timeout=10_000)  # CI machines can be slow to start Chromium
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(sandbox.console_url)
        yield page
        browser.close()
        assert not errors, f"JavaScript errors in the console: {errors}"


# -- helpers -----------------------------------------------------------------------------------


def act_as(page: Page, user: str, name: str) -> None:
    page.get_by_test_id("persona-button").click()
    page.locator(f"[data-persona='{user}']").click()
    expect(page.get_by_test_id("persona-button")).to_contain_text(name)


def open_channel(page: Page, name: str) -> None:
    page.get_by_test_id(f"channel-{name}").click()
    expect(page.locator("#channel-title")).to_contain_text(name)


def type_command(page: Page, text: str) -> None:
    composer = page.get_by_test_id("composer-input")
    composer.fill(text)
    composer.press("Enter")
    expect(page.get_by_test_id("composer-status")).to_contain_text("acknowledged")


def shoot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.mouse.move(0, 0)  # no hover highlight in the picture
    page.screenshot(path=str(SCREENSHOTS / name))


# -- the journey --------------------------------------------------------------------------------


def test_listing_request_approval_and_the_next_listing(page: Page, sandbox: Sandbox) -> None:
    messages = page.get_by_test_id("messages")

    # The viewer lists the environments in #ops: a channel message, dates in the browser's zone.
    expect(page.get_by_test_id("persona-button")).to_contain_text("Vera")
    expect(page.get_by_test_id("persona-button")).to_contain_text("viewer")
    type_command(page, "/fp envs")
    listing = messages.locator(".msg", has=page.locator(".bk-header", has_text="Environments (32)"))
    expect(listing).to_be_visible()
    expect(listing.locator(".ephemeral-note")).to_have_count(0)
    expect(listing.locator("b", has_text="Development")).to_be_visible()
    expect(listing.locator(".slack-date").first).to_have_attribute("title", re.compile(TIMEZONE))
    listing.evaluate("el => el.scrollIntoView({block: 'start'})")
    shoot(page, "console-listing.png")

    # The operator asks for a new environment; the confirmation is theirs alone.
    act_as(page, "U0OPERATOR", "Omar")
    type_command(page, "/fp envs create Staging EU")
    confirmation = messages.locator(".msg.ephemeral", has_text="Request")
    expect(confirmation).to_contain_text("Staging EU")
    expect(confirmation.locator(".ephemeral-note")).to_have_text("Only visible to you")
    request_id = re.search(r"CR-\w+", confirmation.inner_text())
    assert request_id is not None, confirmation.inner_text()

    # An approver sees the request in #approvals, with its buttons, but not Omar's ephemeral.
    act_as(page, "U0APPROVER1", "Ada")
    expect(messages.locator(".msg.ephemeral")).to_have_count(0)
    open_channel(page, "approvals")
    request = messages.locator(".msg", has_text=f"Change request {request_id[0]}")
    expect(request.locator(".bk-button[data-action-id='approve_request']")).to_be_visible()
    expect(request.locator(".mention", has_text="@omar")).to_be_visible()
    shoot(page, "console-request.png")

    # Approve (through the confirmation dialog, if the button has one): edited in place.
    request.locator(".bk-button[data-action-id='approve_request']").click()
    dialog = page.get_by_test_id("confirm-dialog")
    if dialog.is_visible():
        dialog.locator("#confirm-ok").click()
    expect(request).to_contain_text("Succeeded")
    expect(request.locator(".edited")).to_have_text("(edited)")
    expect(request.locator(".bk-button")).to_have_count(0)

    # The requester is told in the approval message's thread.
    request.locator("[data-open-thread]").click()
    thread = page.get_by_test_id("thread")
    expect(thread.locator(".thread-divider")).to_have_text("1 reply")
    expect(thread.locator(".msg").last).to_contain_text(f"Request {request_id[0]}")
    expect(thread.locator(".msg").last).to_contain_text("succeeded")
    shoot(page, "console-approval.png")
    thread.locator("[data-close-thread]").click()

    # The next listing has it.
    open_channel(page, "ops")
    type_command(page, "/fp envs")
    expect(messages.locator(".bk-header", has_text="Environments (33)")).to_be_visible()
    expect(messages.locator("b", has_text="Staging EU")).to_be_visible()
    assert sandbox.slack.violations == []


def test_fault_buttons_change_the_stand_in_api(page: Page, sandbox: Sandbox) -> None:
    faults = page.get_by_test_id("faults")
    messages = page.get_by_test_id("messages")
    revoked = faults.locator("[data-fault='revoked']")
    expect(revoked).to_be_enabled()

    revoked.click()
    expect(revoked).to_have_attribute("aria-pressed", "true")
    assert sandbox.fingerprint.faults.revoked is True
    # Keys were never listed, so nothing is cached: the bot has to ask, and is refused.
    type_command(page, "/fp keys")
    refusal = messages.locator(".msg.ephemeral", has_text="Could not run")
    expect(refusal).to_contain_text("API key")
    expect(page.get_by_test_id("channel-alerts").locator(".badge")).to_have_text("1")
    shoot(page, "console-faults.png")
    open_channel(page, "alerts")
    expect(messages.locator(".msg", has_text="Management API key")).to_contain_text("401")
    shoot(page, "console-alerts.png")

    faults.locator("[data-fault='slow']").click()
    expect(faults.locator("[data-fault='slow']")).to_have_attribute("aria-pressed", "true")
    assert sandbox.fingerprint.faults.latency == 2

    faults.locator("[data-fault='reset']").click()
    expect(faults.locator(".fault.on")).to_have_count(0)
    assert sandbox.fingerprint.faults.revoked is False
    assert sandbox.fingerprint.faults.latency == 0


def test_a_rename_through_a_row_menu_approved_from_app_home_then_a_withdrawal(
    page: Page, sandbox: Sandbox
) -> None:
    """A new user changes something without typing an id, an approver decides from their Home
    tab, and a requester takes a request back."""
    messages = page.get_by_test_id("messages")
    modal = page.get_by_test_id("modal")
    target = "Partners EU 0020"

    # The operator lists the environments and opens the ⋯ menu on one row: Rename.
    act_as(page, "U0OPERATOR", "Omar")
    open_channel(page, "ops")
    type_command(page, "/fp envs")
    row = messages.locator(".bk-section", has=page.locator("b", has_text=target)).last
    row.locator(".bk-overflow-button").click()
    row.locator(".bk-menu-item", has_text="Rename").click()

    # The form opens with the environment picked; a new name and a reason, then submit.
    expect(page.get_by_test_id("modal-title")).to_have_text("Rename environment")
    expect(modal.locator("[data-typeahead] input")).to_have_value(target)
    modal.locator("[data-input='name']").fill("Partners EU West")
    modal.locator("[data-input='reason']").fill("The team moved to the west office")
    shoot(page, "console-form.png")
    page.get_by_test_id("modal-submit").click()
    expect(modal).to_be_hidden()
    receipt = messages.locator(".msg.ephemeral", has_text="created").last
    expect(receipt).to_contain_text("Partners EU West")
    request_id = re.search(r"CR-\w+", receipt.inner_text())
    assert request_id is not None, receipt.inner_text()

    # An approver opens fpbot's Home tab: the request waits there, with its reason.
    act_as(page, "U0APPROVER1", "Ada")
    page.get_by_test_id("channel-fpbot").click()
    page.get_by_test_id("app-home-tab").click()
    home = page.get_by_test_id("home-view")
    expect(home).to_contain_text(request_id[0])
    expect(home).to_contain_text("The team moved to the west office")
    shoot(page, "console-app-home.png")
    home.locator(".bk-button[data-action-id='approve_request']").first.click()
    dialog = page.get_by_test_id("confirm-dialog")
    if dialog.is_visible():
        dialog.locator("#confirm-ok").click()
    expect(home).to_contain_text("Nothing waits for your approval", timeout=15_000)
    page.get_by_test_id("app-messages-tab").click()
    open_channel(page, "approvals")
    card = messages.locator(".msg", has_text=f"Change request {request_id[0]}")
    expect(card).to_contain_text("Succeeded")

    # The operator asks for another change and withdraws it from the receipt.
    act_as(page, "U0OPERATOR", "Omar")
    open_channel(page, "ops")
    type_command(page, "/fp envs create Never Mind")
    receipt = messages.locator(".msg.ephemeral", has_text="Never Mind").last
    receipt.locator(".bk-button[data-action-id='cancel_request']").click()
    expect(
        messages.locator(".msg.ephemeral", has_text="withdrawn; nothing will run")
    ).to_be_visible()
    open_channel(page, "approvals")
    withdrawn = messages.locator(".msg", has_text="Never Mind").first
    expect(withdrawn).to_contain_text("Withdrawn")
    expect(withdrawn.locator(".bk-button")).to_have_count(0)
    assert sandbox.slack.violations == []


def test_a_change_in_the_dashboard_is_made_in_the_stand_in_outside_fpbot(
    page: Page, sandbox: Sandbox
) -> None:
    dashboard = page.get_by_test_id("dashboard")
    env = next(e for e in sandbox.fingerprint.workspace.environments.values() if not e.is_default)
    name = env.name
    rename = dashboard.locator("[data-change='rename-environment']")
    expect(rename).to_be_enabled()

    rename.click()
    expect(page.locator(".toast", has_text="renamed in the dashboard")).to_contain_text(
        "account watch reports it"
    )
    assert env.name == f"{name} (renamed in the dashboard)"
    shoot(page, "console-dashboard.png")

    # The watch reports it in #alerts, with the way back.
    open_channel(page, "alerts")
    report = page.get_by_test_id("messages").locator(".msg", has_text="outside fpbot").last
    expect(report).to_contain_text(f"{name} (renamed in the dashboard)", timeout=15_000)
    expect(report.locator(".bk-button", has_text="Revert")).to_be_visible()
    expect(page.locator(".toast")).to_have_count(0)  # gone after six seconds
    shoot(page, "console-outside-change.png")
    report.locator(".bk-button", has_text="Acknowledge").click()
    expect(report).to_contain_text("Acknowledged by")

    rename.click()  # and back, for the other tests
    expect(page.locator(".toast", has_text=f"to “{name}”")).to_be_visible()
    assert env.name == name


#: mrkdwn as the bot sends it → the text the console shows (``innerText`` of the rendering).
MRKDWN = [
    ("*bold* _italic_ ~gone~ `co*de*`", "bold italic gone co*de*"),
    ("snake_case_name and 2*3*4 stay", "snake_case_name and 2*3*4 stay"),
    ("&lt;script&gt; &amp;amp; a &amp; b", "<script> &amp; a & b"),
    ("<@U0VIEWER> in <#C0APPROVALS> and <#C9|other>", "@vera in #approvals and #other"),
    ("<https://example.com/?a=1&amp;b=2|the docs> <mailto:a@b.c>", "the docs a@b.c"),
    ("<javascript:alert(1)|not a link>", "not a link"),
    # 2024-01-15T23:00Z is already the 16th in Paris, the browser's zone.
    ("<!date^1705359600^{date_short_pretty}|2024-01-15>", "Jan 16, 2024"),
    ("<!date^1705359600^{date_num} {time}|fallback>", "2024-01-16 12:00 AM"),
    ("<!date^1705359600^{nonsense}|the fallback>", "the fallback"),
    ("```*not bold*\n&lt;pre&gt;```", "*not bold*\n<pre>"),
    ("> quoted *text*", "quoted text"),
]


def test_mrkdwn_renders_in_the_browser(page: Page) -> None:
    render = """async ([text]) => {
        const { mrkdwn } = await import("/console/mrkdwn.js");
        const ctx = {users: {U0VIEWER: {name: "vera"}}, channels: {C0APPROVALS: "approvals"}};
        const box = document.createElement("div");
        box.innerHTML = mrkdwn(text, ctx);
        document.body.append(box);
        const shown = box.innerText;
        const links = [...box.querySelectorAll("a[href^='http'], a[href^='mailto']")];
        box.remove();
        return [shown, links.map((a) => a.getAttribute("href"))];
    }"""
    for source, expected in MRKDWN:
        shown, links = page.evaluate(render, [source])
        assert shown.strip() == expected, source
        if "javascript:" in source:
            assert links == []
    _, links = page.evaluate(render, [MRKDWN[4][0]])
    assert links == ["https://example.com/?a=1&b=2", "mailto:a@b.c"]
