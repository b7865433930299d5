"""Tab.wait_closed (pychrome's ``tab.wait``): blocks until the tab's connection ends, on real
headless Chromium in both tab modes."""

from __future__ import annotations

import os
import signal
import threading
import time
from typing import Iterator, List

import pytest

from pages import needs_chromium
from syncdp import Chrome
from syncdp.exceptions import InvalidCommand

pytestmark = [pytest.mark.integration, needs_chromium, pytest.mark.timeout(60)]


@pytest.fixture(scope="module", params=["sessions", "sockets"])
def browser(request: pytest.FixtureRequest) -> Iterator[Chrome]:
    with Chrome(tab_mode=request.param) as chrome:
        yield chrome


def test_an_open_tab_waits_for_the_timeout(browser: Chrome) -> None:
    with browser.new_tab() as tab:
        tab.go_to("data:text/html,open")
        start = time.monotonic()
        assert tab.wait_closed(0.3) is False
        assert time.monotonic() - start >= 0.29
        assert tab.wait_closed(0) is False
        assert tab.execute_script("1 + 1") == 2  # still usable


def test_a_tab_not_used_yet_is_open_too(browser: Chrome) -> None:
    # Its connection opens lazily: no connection yet is not an ended one.
    with browser.new_tab() as tab:
        start = time.monotonic()
        assert tab.wait_closed(0.3) is False
        assert time.monotonic() - start >= 0.29
        assert tab.connection.wait_closed(0) is False  # 0: just tell, on the connection too


def test_a_tab_closed_by_another_client_ends_the_wait(browser: Chrome) -> None:
    tab = browser.new_tab()
    tab.go_to("data:text/html,doomed")
    closer = threading.Timer(
        0.3, lambda: browser.send("Target.closeTarget", {"targetId": tab.target_id})
    )
    closer.start()
    try:
        start = time.monotonic()
        assert tab.wait_closed(10) is True
        assert time.monotonic() - start < 5
    finally:
        closer.join()
        tab.close()


def test_close_from_another_thread_wakes_a_waiting_thread(browser: Chrome) -> None:
    tab = browser.new_tab()
    tab.go_to("data:text/html,waiting")
    results: List[bool] = []
    waiter = threading.Thread(target=lambda: results.append(tab.wait_closed(None)))
    waiter.start()
    tab.close()
    waiter.join(10)
    assert results == [True]
    assert tab.wait_closed(0) is True


def test_wait_closed_rejects_a_bad_timeout(browser: Chrome) -> None:
    with browser.new_tab() as tab:
        for bad in (-1, "5", float("nan"), True):
            with pytest.raises(InvalidCommand, match="timeout"):
                tab.wait_closed(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("mode", ["sessions", "sockets"])
def test_a_killed_browser_ends_the_wait(mode: str) -> None:
    with Chrome(tab_mode=mode) as chrome:
        tab = chrome.new_tab()
        tab.go_to("data:text/html,soon-gone")
        killer = threading.Timer(0.3, lambda: os.killpg(chrome.process.pid, signal.SIGKILL))
        killer.start()
        try:
            assert tab.wait_closed(10) is True
        finally:
            killer.join()
