"""Tab.on_console, Tab.console_messages, Tab.on_page_error, and the Runtime domain they hold."""

from __future__ import annotations

import math
from typing import List

import pytest
from pages import needs_chromium, wait_until
from syncdp import ConsoleMessage, EventTimeoutError, InvalidCommand, JavaScriptError, Tab
from syncdp.localserver import LocalServer
from syncdp.page.console import CONSOLE_BUFFER
from tabkit import browser, site, tab

__all__ = ["browser", "site", "tab"]

pytestmark = needs_chromium


def test_console_callback_gets_type_text_python_args_and_location(
    tab: Tab, site: LocalServer
) -> None:
    messages: List[ConsoleMessage] = []
    tab.on_console(messages.append)
    tab.go_to(site.url("/console"))
    tab.execute_script("console.warn('careful', NaN, [1, {a: null}])")
    wait_until(lambda: len(messages) == 2, 20, "got %r" % messages)
    loaded, warned = messages
    assert (loaded.type, loaded.args) == ("log", ["loaded", 42, {"list": [1, 2]}])
    assert loaded.text.startswith("loaded 42")
    assert loaded.location["url"] == site.url("/console")
    assert loaded.location["line_number"] >= 0 and loaded.timestamp > 0
    assert warned.type == "warning" and warned.args[0] == "careful"
    assert math.isnan(warned.args[1]) and warned.args[2] == [1, {"a": None}]


def test_page_error_callback_gets_uncaught_exceptions(tab: Tab) -> None:
    errors: List[JavaScriptError] = []
    tab.on_page_error(errors.append)
    tab.execute_script("setTimeout(() => { throw new TypeError('bad thing') }, 0); 1")
    wait_until(lambda: errors, 20, "no page error")
    assert isinstance(errors[0], JavaScriptError)
    assert errors[0].message == "TypeError: bad thing"


def test_console_messages_lists_what_was_logged_before_the_first_read(
    tab: Tab, site: LocalServer
) -> None:
    tab.go_to(site.url("/console"))
    tab.execute_script("console.error('second')")
    texts = [(m.type, m.args[0]) for m in tab.console_messages]
    assert texts == [("log", "loaded"), ("error", "second")]
    tab.execute_script("console.info('third')")
    assert [m.text for m in tab.console_messages][-1] == "third"
    tab.clear_console_messages()
    assert tab.console_messages == []


def test_console_messages_keeps_the_last_ones(tab: Tab) -> None:
    assert tab.console_messages == []
    tab.execute_script("for (let i = 0; i < %d; i++) console.log(i)" % (CONSOLE_BUFFER + 50))
    kept = tab.console_messages
    assert len(kept) == CONSOLE_BUFFER
    assert (kept[0].args, kept[-1].args) == ([50], [CONSOLE_BUFFER + 49])


def _console_event_after_script(tab: Tab, script: str) -> bool:
    """Whether ``script`` produced a Runtime.consoleAPICalled event (which arrives before
    the script's answer when Runtime is enabled)."""
    expectation = tab.expect_event("Runtime.consoleAPICalled", timeout=20)
    try:
        with expectation:
            tab.execute_script(script)
            expectation.timeout = 0.001  # it is there already, or it will never come
    except EventTimeoutError:
        return False
    return True


def test_runtime_is_disabled_with_the_last_console_callback_and_evaluation_goes_on(
    tab: Tab, site: LocalServer
) -> None:
    tab.go_to(site.url("/console"))
    element = tab.query("title")
    first = tab.on_console(lambda message: None)
    second = tab.on_page_error(lambda error: None)
    assert _console_event_after_script(tab, "console.log('on')")
    assert tab.remove_callback(first)
    assert _console_event_after_script(tab, "console.log('still on')")
    assert tab.remove_callback(second)
    assert not tab.remove_callback(second)
    assert not _console_event_after_script(tab, "console.log('off')")
    # Disabling Runtime disturbed neither handles nor scripts.
    assert element.tag_name == "title"
    assert tab.execute_script("let k = 2; k * 21") == 42


def test_runtime_the_user_enabled_stays_enabled(tab: Tab) -> None:
    tab.send("Runtime.enable")
    callback = tab.on_console(lambda message: None)
    tab.remove_callback(callback)
    assert _console_event_after_script(tab, "console.log('user wants these')")


def test_bad_callbacks_are_refused(tab: Tab) -> None:
    with pytest.raises(InvalidCommand, match="callback must be callable"):
        tab.on_console("print")  # type: ignore[arg-type]
    with pytest.raises(InvalidCommand, match="callback must be callable"):
        tab.on_page_error(None)  # type: ignore[arg-type]
