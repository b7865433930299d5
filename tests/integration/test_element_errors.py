"""Elements that cannot be acted on say why: hidden (no visible box) or stale (removed, or the
page navigated).

Real headless Chromium; every test runs in both tab modes."""

from __future__ import annotations

import pytest
from syncdp import Tab
from syncdp.element import StaleElementError
from syncdp.exceptions import (
    CommandError,
    ElementNotFoundError,
    SyncdpError,
)
from syncdp.localserver import LocalServer

from pages import needs_chromium

pytestmark = [pytest.mark.integration, needs_chromium, pytest.mark.timeout(60)]


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
