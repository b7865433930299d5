"""Pages and fixtures shared by the tab behaviour tests: a module-scoped local server with the
pages below, a module-scoped browser in each tab mode, and a fresh tab per test.

Import the fixtures into a test module (``from tabkit import browser, server, tab``)."""

from __future__ import annotations

from typing import Iterator

import pytest
from syncdp import Chrome, Tab
from syncdp.localserver import LocalServer

__all__ = ["PAGES", "activate", "browser", "server", "site", "tab"]

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
}


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    with LocalServer(PAGES) as srv:
        yield srv


@pytest.fixture(scope="module")
def site() -> Iterator[LocalServer]:
    """The pages of frames, popups, console and waiting tests (pages.FEATURE_PAGES)."""
    from pages import FEATURE_PAGES

    with LocalServer(FEATURE_PAGES) as srv:
        yield srv


@pytest.fixture(scope="module", params=["sessions", "sockets"])
def browser(request: pytest.FixtureRequest) -> Iterator[Chrome]:
    with Chrome(tab_mode=request.param) as chrome:
        yield chrome


@pytest.fixture
def tab(browser: Chrome) -> Iterator[Tab]:
    new = browser.new_tab()
    try:
        yield new
    finally:
        new.close()


def activate(tab: Tab) -> None:
    """A real click on the page: Chromium shows beforeunload dialogs only after one."""
    tab.query("#zone").click()
