"""A crashed tab (its renderer gone) fails commands at once; refresh() and go_to() recover it.

Real headless Chromium; every test runs in both tab modes."""

from __future__ import annotations

import time
from typing import Any, Callable

import pytest
from syncdp import Chrome, Tab
from syncdp.exceptions import TargetCrashedError
from syncdp.localserver import LocalServer

from pages import needs_chromium, wait_until

pytestmark = [pytest.mark.integration, needs_chromium, pytest.mark.timeout(60)]

FAST = 2.0  # seconds: "at once", with room for a loaded 2-core machine


def _elapsed(call: Callable[[], Any]) -> float:
    start = time.monotonic()
    call()
    return time.monotonic() - start


def test_crashed_tab_fails_commands_at_once_and_refresh_recovers(
    browser: Chrome, server: LocalServer
) -> None:
    tab = browser.new_tab()  # never navigated: refresh() must not need the renderer
    try:
        with pytest.raises(TargetCrashedError):
            tab.send("Page.crash", timeout=5)
        wait_until(lambda: tab.crashed, 5, "the tab never reported its crash")

        start = time.monotonic()
        with pytest.raises(TargetCrashedError) as info:
            tab.execute_script("1", timeout=5)
        assert time.monotonic() - start < FAST
        assert info.value.method == "Runtime.evaluate"
        assert "Runtime.evaluate" in str(info.value) and "crash" in str(info.value)
        with pytest.raises(TargetCrashedError):
            tab.take_screenshot()

        assert _elapsed(lambda: tab.refresh(timeout=10)) < 10
        assert not tab.crashed
        assert tab.execute_script("1 + 1", timeout=5) == 2
    finally:
        tab.close()


def test_crashed_tab_recovers_with_go_to(tab: Tab, server: LocalServer) -> None:
    tab.go_to(server.url("/"))
    with pytest.raises(TargetCrashedError):
        tab.send("Page.crash", timeout=5)
    wait_until(lambda: tab.crashed, 5, "the tab never reported its crash")
    with pytest.raises(TargetCrashedError):
        tab.query("#p")
    tab.go_to(server.url("/second"), timeout=10)
    assert not tab.crashed
    assert tab.title == "second"
