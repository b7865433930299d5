"""Closed tabs: what fails, how fast, and what the browser lists afterwards.

Real headless Chromium; every test runs in both tab modes."""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, List

import pytest
import syncdp
from syncdp import Chrome, Tab
from syncdp.exceptions import (
    CommandError,
    TargetClosedError,
)

from pages import needs_chromium, port_of

pytestmark = [pytest.mark.integration, needs_chromium, pytest.mark.timeout(60)]


def _elapsed(call: Callable[[], Any]) -> float:
    start = time.monotonic()
    call()
    return time.monotonic() - start


def _loaded(tab: Tab) -> bool:
    """Whether the page finished loading; False while a navigation replaces the page (an
    evaluate landing just then fails with "Inspected target navigated or closed")."""
    try:
        return bool(tab.execute_script("document.readyState") == "complete")
    except CommandError:
        return False


def test_on_a_closed_tab_raises(browser: Chrome) -> None:
    tab = browser.new_tab()
    tab.close()
    with pytest.raises(TargetClosedError):
        tab.on("Page.loadEventFired", lambda event: None)


def test_closing_a_tab_fails_its_waiters_with_target_closed_on_both_transports(
    browser: Chrome,
) -> None:
    tab = browser.new_tab()
    tab.execute_script("1")
    errors: List[BaseException] = []

    def wait() -> None:
        try:
            tab.wait_for_event("Page.loadEventFired", timeout=20)
        except BaseException as exc:  # recorded for the assertion below
            errors.append(exc)

    waiter = threading.Thread(target=wait)
    waiter.start()  # waiting already or not yet: either way it must end with TargetClosedError
    start = time.monotonic()
    tab.close()
    waiter.join(10)
    assert not waiter.is_alive()
    assert time.monotonic() - start < 6
    assert len(errors) == 1 and isinstance(errors[0], TargetClosedError), errors


def test_a_closed_tab_is_not_listed_again(browser: Chrome) -> None:
    for _ in range(5):
        tab = browser.new_tab()
        tab.close()
        listed = [t.target_id for t in browser.get_opened_tabs()]
        assert tab.target_id not in listed


def test_tabs_of_a_stopped_connection_say_so(browser: Chrome) -> None:
    other = syncdp.connect(port_of(browser), tab_mode=browser.tab_mode)
    tab = other.new_tab()
    assert tab.execute_script("1 + 1") == 2
    other.stop()
    with pytest.raises(TargetClosedError, match="stop"):
        tab.execute_script("1")
    browser.send("Target.closeTarget", {"targetId": tab.target_id})
