"""The console drives a form, its typeahead, the App Home and a shortcut in a real browser.

The fake Slack and the tiny Bolt app of ``tiny_bot.py`` run in a background thread with their
own event loop (sync Playwright owns the test's thread), as ``tests/browser/test_console.py``
does with the whole sandbox. Screenshots (1280x800) go where that test puts its own.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web

from sandbox.slack import FakeSlack
from tests.sandbox.tiny_bot import SECRET, TOKEN, Bot, build_app

playwright_sync = pytest.importorskip("playwright.sync_api")
Page = playwright_sync.Page
expect = playwright_sync.expect

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
SCREENSHOTS = Path(
    os.environ.get("FPBOT_SCREENSHOTS")
    or Path(__file__).resolve().parents[1] / "browser" / "screenshots"
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"Debian's Chromium is not at {CHROMIUM}"),
]


class FakeSlackThread:
    """The fake Slack and the tiny bot, in a thread of their own until `stop`."""

    def __init__(self) -> None:
        self.fake: FakeSlack | None = None
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    def start(self) -> FakeSlack:
        self._thread.start()
        if not self._ready.wait(15) or self.fake is None:
            raise RuntimeError("the fake Slack did not start")
        return self.fake

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with FakeSlack(bot_token=TOKEN) as fake:
            app = build_app(fake, Bot(), socket=False)
            runner = web.AppRunner(app.web_app(path="/slack/events"), access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            fake.connect_bot(f"http://127.0.0.1:{runner.addresses[0][1]}/slack/events", SECRET)
            self.fake = fake
            self._ready.set()
            await self._stop.wait()
            await runner.cleanup()


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeSlack]:
    runner = FakeSlackThread()
    yield runner.start()
    runner.stop()


@pytest.fixture
def page(fake: FakeSlack) -> Iterator[Page]:
    with playwright_sync.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US")
        context.set_default_timeout(10_000)
        expect.set_options(timeout=10_000)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(fake.url + "/")
        yield page
        browser.close()
        assert not errors, f"JavaScript errors in the console: {errors}"


def shoot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.mouse.move(0, 0)
    page.screenshot(path=str(SCREENSHOTS / name))


def test_a_form_with_a_typeahead_errors_and_a_home_tab(page: Page, fake: FakeSlack) -> None:
    composer = page.get_by_test_id("composer-input")
    composer.fill("/fp")
    composer.press("Enter")
    modal = page.get_by_test_id("modal")
    expect(page.get_by_test_id("modal-title")).to_have_text("Request a change")

    # The external select asks the bot as the person types, and shows what it answered.
    search = modal.locator("[data-typeahead='env_pick'] input")
    search.click()
    search.press_sequentially("sta")
    option = modal.locator(".typeahead-option", has_text="Staging EU")
    expect(option).to_be_visible()
    expect(modal.locator(".typeahead-option")).to_have_count(1)
    shoot(page, "console-form-typeahead.png")
    option.click()
    expect(search).to_have_value("Staging EU")

    # A too-short reason: the bot answers with errors, shown under the field.
    modal.locator("[data-input='reason_text']").fill("short")
    page.get_by_test_id("modal-submit").click()
    expect(modal.locator(".bk-input[data-block-id='reason'] .bk-error")).to_have_text(
        "Say a little more"
    )
    expect(search).to_have_value("Staging EU")
    shoot(page, "console-form-errors.png")
    modal.locator("[data-input='reason_text']").fill("Quarterly clean-up")
    page.get_by_test_id("modal-submit").click()
    expect(modal).to_be_hidden()
    submitted = fake.views[0].state_values()
    assert submitted["env"]["env_pick"]["selected_option"]["value"] == "ae_stag"

    # The App Home tab: opening it tells the bot, which publishes it; its button opens a form.
    page.get_by_test_id("channel-fpbot").click()
    page.get_by_test_id("app-home-tab").click()
    home = page.get_by_test_id("home-view")
    expect(home.locator(".bk-header")).to_have_text("Your requests")
    shoot(page, "console-app-home.png")
    home.locator(".bk-button[data-action-id='new_request']").click()
    expect(page.get_by_test_id("modal-title")).to_have_text("Request a change")
    page.get_by_test_id("modal-cancel").click()
    expect(modal).to_be_hidden()

    # The ⚡ menu runs the global shortcut, which opens the same form.
    page.get_by_test_id("app-messages-tab").click()
    page.get_by_test_id("shortcuts-button").click()
    page.get_by_test_id("shortcut-menu").get_by_text("Request a change").click()
    # The closed dialog keeps its last title: wait for it to open again before Escape.
    expect(modal).to_be_visible()
    expect(page.get_by_test_id("modal-title")).to_have_text("Request a change")
    page.keyboard.press("Escape")
    expect(modal).to_be_hidden()
    assert fake.violations == []
