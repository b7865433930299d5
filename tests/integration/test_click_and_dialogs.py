"""Clicks and JavaScript dialogs: a dialog the click opens is the click's (it returns); a dialog
open or opening before the page got the click raises DialogOpenError; answering dialogs.

Real headless Chromium; every test runs in both tab modes."""

from __future__ import annotations

import time
from typing import Iterator

import pytest
from syncdp import Tab
from syncdp.exceptions import (
    DialogOpenError,
    InvalidCommand,
)
from syncdp.localserver import LocalServer

from pages import needs_chromium, wait_until

pytestmark = [pytest.mark.integration, needs_chromium, pytest.mark.timeout(60)]

FAST = 2.0  # seconds: "at once", with room for a loaded 2-core machine

PAGES = {
    "/": "<!doctype html><title>plain</title><p id='p'>plain page</p>",
    "/second": "<!doctype html><title>second</title><p>second page</p>",
    "/alert-during-load": "<!doctype html><title>alerting</title>"
    "<script>alert('during load')</script><p id='after'>after</p>",
    "/confirm-in-onload": "<!doctype html><title>confirming</title>"
    "<body onload=\"window.answer = confirm('sure?')\">confirm</body>",
    "/beforeunload": "<!doctype html><title>leave?</title>"
    "<script>window.addEventListener('beforeunload', (e) => {"
    " e.preventDefault(); e.returnValue = ''; });</script>"
    "<div id='zone' style='width:300px;height:200px'>zone</div>",
    "/buttons": """<!doctype html><title>buttons</title>
<style>button { display: block; width: 160px; height: 40px; margin: 10px; }</style>
<button id="confirm" onclick="window.confirmed = confirm('really?')">confirm</button>
<button id="alert-down" onmousedown="alert('pressed')">alert on press</button>
<button id="plain" onclick="window.plainClicks = (window.plainClicks || 0) + 1">plain</button>
<p id="hidden" style="display: none">hidden</p>
<p id="doomed">doomed</p>""",
    # A timer, armed by the test, opens an alert right after the pointer moves over the
    # button: between the click's move and its press, not by the click.
    "/timer-on-move": """<!doctype html><title>timer</title>
<button id="b" style="display: block; width: 160px; height: 40px"
  onclick="window.clicks = (window.clicks || 0) + 1">b</button>
<script>
  document.getElementById("b").addEventListener("mousemove", () => {
    if (!window.armed) return;
    window.armed = false;
    setTimeout(() => alert("timer"), 0);
  });
</script>""",
}


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    with LocalServer(PAGES) as srv:
        yield srv


# browser (both tab modes) and tab: tests/integration/tabkit.py, through conftest.py


def test_click_that_opens_a_confirm_returns_normally(tab: Tab, server: LocalServer) -> None:
    tab.go_to(server.url("/buttons"))
    start = time.monotonic()
    tab.query("#confirm").click()
    assert time.monotonic() - start < FAST
    assert tab.has_dialog()
    assert tab.get_dialog_message() == "really?"
    tab.handle_dialog(accept=True)
    assert tab.execute_script("window.confirmed") is True


def test_click_whose_press_opens_an_alert_returns_normally(tab: Tab, server: LocalServer) -> None:
    tab.go_to(server.url("/buttons"))
    tab.query("#alert-down").click()
    assert tab.has_dialog()
    assert tab.get_dialog_message() == "pressed"
    tab.handle_dialog()
    tab.query("#plain").click()  # the next click works as usual
    assert tab.execute_script("window.plainClicks") == 1


def test_click_while_a_dialog_is_already_open_still_fails(tab: Tab, server: LocalServer) -> None:
    tab.go_to(server.url("/buttons"))
    button = tab.query("#plain")
    tab.execute_script("setTimeout(() => alert('already open'), 0)")
    wait_until(tab.has_dialog, 5, "no dialog opened")
    with pytest.raises(DialogOpenError):
        button.click()
    tab.handle_dialog()
    assert tab.execute_script("window.plainClicks") is None


def test_handle_dialog_wants_a_real_bool(tab: Tab, server: LocalServer) -> None:
    tab.go_to(server.url("/"))
    tab.execute_script("setTimeout(() => { window.answer = confirm('ok?'); }, 0)")
    wait_until(tab.has_dialog, 5, "no dialog opened")
    for bad in ("no", 0, None):
        with pytest.raises(InvalidCommand, match="accept"):
            tab.handle_dialog(accept=bad)  # type: ignore[arg-type]
    assert tab.has_dialog()  # untouched
    tab.handle_dialog(accept=False)
    assert tab.execute_script("window.answer") is False


def test_accept_policy_gives_a_prompt_its_default(tab: Tab, server: LocalServer) -> None:
    tab.go_to(server.url("/"))
    tab.set_dialog_policy("accept")
    assert tab.execute_script("prompt('name?', 'Ada')") == "Ada"
    assert tab.execute_script("prompt('empty?')") == ""
    tab.set_dialog_policy("dismiss")
    assert tab.execute_script("prompt('name?', 'Ada')") is None


@pytest.mark.xfail(
    reason="known limit: a timer's dialog that opens between the press and the release (seen "
    "under load) blocks the release, and click() cannot tell it from a dialog the click opened",
    strict=False,
)
def test_click_never_reports_a_click_the_page_did_not_get_when_a_timer_opens_a_dialog(
    tab: Tab, server: LocalServer
) -> None:
    # The timer fires right after the pointer's move: before the press reaches the page
    # (click() must raise DialogOpenError) or after the click (Chromium runs input before
    # timers; then the click happened and click() returns). Never "returned, no click".
    tab.go_to(server.url("/timer-on-move"))
    button = tab.query("#b")
    clicks = 0
    for _ in range(8):
        # away from the button first: Chromium fires no mousemove where the pointer already is
        tab.send("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": 500, "y": 500})
        tab.execute_script("window.armed = true")
        try:
            button.click()
            clicked = True
        except DialogOpenError as exc:
            assert "timer" in str(exc)
            clicked = False
        wait_until(tab.has_dialog, 5, "the timer's dialog did not open")
        tab.handle_dialog()
        clicks += clicked
        assert (tab.execute_script("window.clicks") or 0) == clicks, (
            "click() returned=%s but the page counted %s click(s) of %s"
            % (clicked, tab.execute_script("window.clicks"), clicks)
        )
