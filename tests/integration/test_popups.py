"""Tab.expect_popup and Browser.expect_tab: the Tab a page opens, race-free."""

from __future__ import annotations

import pytest
from pages import needs_chromium
from syncdp import Chrome, EventTimeoutError, InvalidCommand, Tab
from syncdp.localserver import LocalServer
from tabkit import browser, site, tab

__all__ = ["browser", "site", "tab"]

pytestmark = needs_chromium


def test_window_open_gives_the_popup_as_a_tab(tab: Tab, site: LocalServer) -> None:
    tab.go_to(site.url("/popup/opener"))
    with tab.expect_popup(timeout=20) as popup:
        tab.query("#open").click()
    new = popup.value
    try:
        assert isinstance(new, Tab) and new.target_id != tab.target_id
        new.wait_for_load_state(timeout=20)
        assert new.title == "popup target"
        assert new.current_url == site.url("/popup/target?by=open")
        assert new.query("#here").text == "popup"
    finally:
        new.close()


def test_a_target_blank_link_gives_the_popup(browser: Chrome, tab: Tab, site: LocalServer) -> None:
    tab.go_to(site.url("/popup/opener"))
    with tab.expect_popup(timeout=20) as popup:
        tab.query("#blank").click()
    new = popup.value
    try:
        new.wait_for_load_state(timeout=20)
        assert new.current_url == site.url("/popup/target")
        # The browser hands out the same Tab object for that target.
        assert any(t is new for t in browser.get_opened_tabs())
    finally:
        new.close()


def test_a_popup_of_another_tab_is_not_this_tabs(
    browser: Chrome, tab: Tab, site: LocalServer
) -> None:
    other = browser.new_tab()
    other.go_to(site.url("/popup/opener"))
    with browser.expect_tab(timeout=20) as any_tab:
        with pytest.raises(EventTimeoutError):
            with tab.expect_popup(timeout=1):
                other.query("#open").click()
    try:
        assert any_tab.value.target_id not in (tab.target_id, other.target_id)
    finally:
        any_tab.value.close()
        other.close()


def test_expect_tab_gives_any_new_page(browser: Chrome) -> None:
    with browser.expect_tab(timeout=20) as info:
        opened = browser.new_tab()
    try:
        assert info.value is opened
    finally:
        opened.close()


def test_value_before_the_block_ends_and_bad_timeouts(browser: Chrome, tab: Tab) -> None:
    with pytest.raises(InvalidCommand, match="timeout"):
        tab.expect_popup(timeout=-1)
    with pytest.raises(InvalidCommand, match="timeout"):
        browser.expect_tab(timeout="soon")  # type: ignore[arg-type]
    expectation = tab.expect_popup(timeout=1)
    with pytest.raises(RuntimeError, match="once the with block has ended"):
        expectation.value
    with pytest.raises(EventTimeoutError):
        with expectation:
            pass
