"""What a navigation does to calls in flight, on real headless Chromium in both tab modes.

A waiting ``query`` follows the page to its next document and finds the element there; a
script whose page navigates while it runs raises ``ExecutionContextDestroyedError`` (a
``CommandError``), is not run again, and the tab goes on working.
"""

from __future__ import annotations

import time
from typing import Iterator

import pytest

from pages import PAGES, needs_chromium, wait_until
from syncdp import Tab
from syncdp.exceptions import CommandError, ElementNotFoundError
from syncdp.exceptions import ExecutionContextDestroyedError
from syncdp.localserver import LocalServer

pytestmark = [pytest.mark.integration, needs_chromium, pytest.mark.timeout(60)]


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    with LocalServer(PAGES) as srv:
        yield srv


# browser (both tab modes) and tab: tests/integration/tabkit.py, through conftest.py


def test_waiting_query_follows_a_navigation_that_starts_while_it_waits(
    tab: Tab, server: LocalServer
) -> None:
    tab.go_to(server.url("/navigates-later"))
    tab.query("#go").click()  # navigates 300 ms later: the query below starts on this page
    element = tab.query("#dashboard", timeout=10)
    assert element.text == "welcome"
    assert tab.title == "dashboard"


def test_waiting_query_after_a_click_on_a_link(tab: Tab, server: LocalServer) -> None:
    tab.go_to(server.url("/navigates-later"))
    tab.query("#plain").click()
    assert tab.query("#dashboard", timeout=10).text == "welcome"


def test_waiting_query_across_a_navigation_still_times_out(tab: Tab, server: LocalServer) -> None:
    tab.go_to(server.url("/navigates-later"))
    tab.query("#go").click()
    start = time.monotonic()
    with pytest.raises(ElementNotFoundError):
        tab.query("#never-there", timeout=1.5)
    assert 1.4 <= time.monotonic() - start < 10
    wait_until(lambda: tab.title == "dashboard", 10, "the navigation did not complete")


_COUNT = "sessionStorage.runs = 1 + Number(sessionStorage.runs || 0)"
_LEAVE = "setTimeout(() => { location.href = '/dashboard'; }, 50)"
_WAIT = "new Promise(r => setTimeout(r, 5000))"


@pytest.mark.parametrize(
    "script",
    [
        "(%s, %s, %s)" % (_COUNT, _LEAVE, _WAIT),  # an expression
        "%s; %s; %s" % (_COUNT, _LEAVE, _WAIT),  # statements ending in a promise
        "%s; %s; return %s" % (_COUNT, _LEAVE, _WAIT),  # a function body
    ],
    ids=["expression", "statements", "function-body"],
)
def test_script_whose_page_navigates_raises_a_documented_error_and_runs_once(
    tab: Tab, server: LocalServer, script: str
) -> None:
    tab.go_to(server.url("/navigates-later"))
    tab.execute_script("sessionStorage.clear()")
    with pytest.raises(ExecutionContextDestroyedError) as info:
        tab.execute_script(script)
    assert isinstance(info.value, CommandError)  # code catching CommandError still works
    assert "navigated" in str(info.value)
    wait_until(lambda: tab.title == "dashboard", 10, "the navigation did not complete")
    assert tab.execute_script("sessionStorage.runs") == "1"
