"""Elements that cannot be acted on say why: hidden (no visible box) or stale (removed, or the
page navigated).

Real headless Chromium; every test runs in both tab modes."""

from __future__ import annotations

from typing import Iterator

import pytest
from syncdp import Chrome, Tab
from syncdp.element import StaleElementError
from syncdp.exceptions import (
    CommandError,
    ElementNotFoundError,
    SyncdpError,
)
from syncdp.localserver import LocalServer

from pages import needs_chromium

pytestmark = [pytest.mark.integration, needs_chromium, pytest.mark.timeout(60)]


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


def _activate(tab: Tab) -> None:
    """A real click on the page: Chromium shows beforeunload dialogs only after one."""
    tab.query("#zone").click()


def _loaded(tab: Tab) -> bool:
    """Whether the page finished loading; False while a navigation replaces the page (an
    evaluate landing just then fails with "Inspected target navigated or closed")."""
    try:
        return bool(tab.execute_script("document.readyState") == "complete")
    except CommandError:
        return False


def test_clicking_a_hidden_element_says_it_has_no_visible_box(tab: Tab, server: LocalServer) -> None:
    tab.go_to(server.url("/buttons"))
    with pytest.raises(SyncdpError, match="no visible box") as info:
        tab.query("#hidden").click()
    assert not isinstance(info.value, CommandError)


def test_stale_elements_say_so(tab: Tab, server: LocalServer) -> None:
    tab.go_to(server.url("/buttons"))
    doomed = tab.query("#doomed")
    tab.execute_script("document.getElementById('doomed').remove()")
    with pytest.raises(StaleElementError, match="stale"):
        doomed.click()

    button = tab.query("#plain")
    tab.go_to(server.url("/second"))
    for use in (lambda: button.text, button.click, lambda: button.query("span")):
        with pytest.raises(ElementNotFoundError, match="stale") as info:
            use()
        assert isinstance(info.value, LookupError)
        assert "button#plain" in str(info.value)
