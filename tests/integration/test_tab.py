"""Tab against real headless Chromium: navigation, scripts, captures, events, network,
dialogs and closing.

One ``Chrome`` per module (tests share it and open their own tab); pages come from a
module-wide :class:`LocalServer` on 127.0.0.1.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Dict, Iterator, List

import pytest

import syncdp
from pages import (
    port_of,
    DATA_JSON,
    PAGES,
    TALL_HEIGHT,
    needs_chromium,
    png_size,
    wait_until,
)
from syncdp import Chrome, Tab
from syncdp.exceptions import (
    ConnectionClosedError,
    DialogOpenError,
    EventTimeoutError,
    InvalidCommand,
    JavaScriptError,
    NavigationError,
    TargetClosedError,
)
from syncdp.localserver import LocalServer

pytestmark = [pytest.mark.integration, needs_chromium, pytest.mark.timeout(60)]


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    with LocalServer(PAGES) as srv:
        yield srv


@pytest.fixture(scope="module")
def browser() -> Iterator[Chrome]:
    with Chrome() as chrome:
        yield chrome


@pytest.fixture
def tab(browser: Chrome) -> Iterator[Tab]:
    new = browser.new_tab()
    try:
        yield new
    finally:
        new.close()


def _wait_for_dialog(tab: Tab) -> None:
    wait_until(tab.has_dialog, 5, "no JavaScript dialog opened")


# -- navigation ------------------------------------------------------------------------------


def test_go_to_waits_for_the_load_event(tab: Tab, server: LocalServer) -> None:
    tab.go_to(server.url("/onload"))
    # The page sets its title in a load handler: no polling needed after go_to().
    assert tab.title == "loaded"
    assert tab.current_url == server.url("/onload")
    assert "onload-marker-91c2" in tab.page_source
    assert tab.page_source.lstrip().lower().startswith("<html")


def test_go_to_a_second_page(tab: Tab, server: LocalServer) -> None:
    tab.go_to(server.url("/"))
    assert tab.title == "syncdp index"
    tab.go_to(server.url("/counter"))
    assert tab.title == "counter"
    assert tab.current_url == server.url("/counter")


def test_refused_navigation_raises_navigation_error(tab: Tab, dead_port: int) -> None:
    url = "http://127.0.0.1:%d/" % dead_port
    start = time.monotonic()
    with pytest.raises(NavigationError) as info:
        tab.go_to(url, timeout=20)
    assert time.monotonic() - start < 10
    assert "ERR_CONNECTION_REFUSED" in info.value.error_text
    assert info.value.url == url
    assert "ERR_CONNECTION_REFUSED" in str(info.value)


def test_refresh_reloads_and_waits(tab: Tab, server: LocalServer) -> None:
    tab.go_to(server.url("/counter"))
    assert tab.execute_script("window.loads") == 1
    tab.execute_script("window.leftover = 'before reload'")
    tab.refresh()
    # A new document (the window variable is gone), fully loaded (its script ran again).
    assert tab.execute_script("typeof window.leftover") == "undefined"
    assert tab.execute_script("window.loads") == 2
    assert tab.title == "counter"


# -- scripts ---------------------------------------------------------------------------------


def test_execute_script_expressions_and_return_bodies(tab: Tab, server: LocalServer) -> None:
    tab.go_to(server.url("/"))
    assert tab.execute_script("return document.title") == "syncdp index"
    assert tab.execute_script("document.title") == "syncdp index"
    assert tab.execute_script("1 + 2") == 3
    assert tab.execute_script("const a = 2; return a * 21") == 42
    assert tab.execute_script("if (document.title) { return 'deep'; } return 'no'") == "deep"
    assert tab.execute_script("({a: [1, 'x', null], b: true})") == {"a": [1, "x", None], "b": True}
    assert tab.execute_script("return document.querySelectorAll('p').length") == 1


def test_execute_script_awaits_promises(tab: Tab) -> None:
    start = time.monotonic()
    value = tab.execute_script("new Promise(r => setTimeout(() => r('late'), 200))")
    assert value == "late"
    assert time.monotonic() - start >= 0.19
    assert tab.execute_script("return await Promise.resolve(7)") == 7


def test_javascript_exception_has_message_and_stack(tab: Tab) -> None:
    with pytest.raises(JavaScriptError) as info:
        tab.execute_script("function namedThrower() { throw new Error('kaboom'); }\nnamedThrower()")
    assert "kaboom" in info.value.message
    assert "Error" in info.value.message
    assert "namedThrower" in info.value.stack
    assert "kaboom" in str(info.value)


def test_javascript_exception_in_a_return_body(tab: Tab) -> None:
    with pytest.raises(JavaScriptError) as info:
        tab.execute_script("return (function innerFailer() { throw new TypeError('bad type'); })()")
    assert "TypeError" in info.value.message and "bad type" in info.value.message
    assert "innerFailer" in info.value.stack


def test_rejected_promise_raises_javascript_error(tab: Tab) -> None:
    with pytest.raises(JavaScriptError) as info:
        tab.execute_script("Promise.reject(new Error('rejected on purpose'))")
    assert "rejected on purpose" in info.value.message


def test_page_stays_usable_after_a_javascript_error(tab: Tab) -> None:
    with pytest.raises(JavaScriptError):
        tab.execute_script("undefinedFunctionCall()")
    assert tab.execute_script("40 + 2") == 42


# -- captures --------------------------------------------------------------------------------


def test_screenshot_is_a_png_of_the_viewport(tab: Tab, server: LocalServer) -> None:
    tab.go_to(server.url("/"))
    shot = tab.take_screenshot()
    assert isinstance(shot, syncdp.Screenshot)  # plain bytes too
    assert shot.format == "png"
    inner = tab.execute_script("[window.innerWidth, window.innerHeight]")
    assert png_size(shot) == tuple(inner)
    # Default window_size is 1280x720 and tabs pin their viewport to it.
    assert tuple(inner) == (1280, 720)


def test_default_viewport_is_the_window_size(server: LocalServer) -> None:
    with Chrome() as chrome:
        first = chrome.get_page()
        first.go_to(server.url("/"))
        new = chrome.new_tab(server.url("/"))
        new.go_to(server.url("/"))
        sizes = [tuple(t.execute_script("[window.innerWidth, window.innerHeight]"))
                 for t in (first, new)]
        assert sizes == [(1280, 720), (1280, 720)]


def test_screenshot_saved_to_a_path(tab: Tab, server: LocalServer, tmp_path: Any) -> None:
    tab.go_to(server.url("/"))
    path = tmp_path / "shot.png"
    shot = tab.take_screenshot(str(path))
    assert path.read_bytes() == bytes(shot)


def test_full_page_screenshot_has_the_page_height(tab: Tab, server: LocalServer) -> None:
    tab.go_to(server.url("/tall"))
    inner_height = tab.execute_script("window.innerHeight")
    scroll_height = tab.execute_script("document.documentElement.scrollHeight")
    assert scroll_height == TALL_HEIGHT
    viewport = png_size(tab.take_screenshot())
    full = png_size(tab.take_screenshot(full_page=True))
    assert viewport[1] == inner_height
    assert full[1] == TALL_HEIGHT
    assert full[1] > viewport[1]


def test_jpeg_screenshot_honours_quality(tab: Tab, server: LocalServer) -> None:
    tab.go_to(server.url("/elements"))
    low = tab.take_screenshot(format="jpeg", quality=5)
    high = tab.take_screenshot(format="jpeg", quality=100)
    for shot in (low, high):
        assert shot[:3] == b"\xff\xd8\xff"
        assert shot.format == "jpeg"
    assert len(low) < len(high)


def test_print_to_pdf(tab: Tab, server: LocalServer, tmp_path: Any) -> None:
    tab.go_to(server.url("/"))
    path = tmp_path / "page.pdf"
    pdf = tab.print_to_pdf(str(path))
    assert pdf.startswith(b"%PDF-")
    assert b"%%EOF" in pdf[-1024:]
    assert path.read_bytes() == bytes(pdf)


# -- events ----------------------------------------------------------------------------------


def _console_value(event: Dict[str, Any]) -> Any:
    return event["params"]["args"][0].get("value")


def test_on_calls_back_for_each_event(tab: Tab) -> None:
    seen: List[Any] = []
    threads: List[str] = []

    def callback(event: Dict[str, Any]) -> None:
        seen.append(_console_value(event))
        threads.append(threading.current_thread().name)

    tab.on("Runtime.consoleAPICalled", callback)
    tab.send("Runtime.enable")
    tab.execute_script("console.log('first'); console.log('second')")
    wait_until(lambda: len(seen) >= 2, 5, "console events did not reach the callback")
    assert seen == ["first", "second"]
    assert all(name.startswith("syncdp-dispatcher-") for name in threads)


def test_temporary_callback_fires_once(tab: Tab) -> None:
    once: List[Any] = []
    every: List[Any] = []
    tab.on("Runtime.consoleAPICalled", lambda e: once.append(_console_value(e)), temporary=True)
    tab.on("Runtime.consoleAPICalled", lambda e: every.append(_console_value(e)))
    tab.send("Runtime.enable")
    tab.execute_script("console.log('a'); console.log('b'); console.log('c')")
    # Dispatch is in order: once the permanent callback saw all three, so would the other.
    wait_until(lambda: len(every) == 3, 5, "console events did not reach the callback")
    assert once == ["a"]


def test_remove_callback_stops_calls(tab: Tab) -> None:
    removed: List[Any] = []
    kept: List[Any] = []
    callback_id = tab.on("Runtime.consoleAPICalled", lambda e: removed.append(e))
    tab.on("Runtime.consoleAPICalled", lambda e: kept.append(e))
    assert tab.remove_callback(callback_id) is True
    tab.send("Runtime.enable")
    tab.execute_script("console.log('x')")
    wait_until(lambda: kept, 5, "console event did not reach the callback")
    assert removed == []


def test_a_background_event_arriving_after_close_starts_no_thread(browser: Chrome) -> None:
    """The dispatcher may hand over an event while the tab closes: once its pool is shut down
    no new pool (whose threads nobody would end) is made for it, and the callback is not run."""
    ran: List[Dict[str, Any]] = []
    tab = browser.new_tab()
    tab.on("Runtime.consoleAPICalled", ran.append, background=True)
    tab.close()
    before = {t for t in threading.enumerate() if t.name.startswith("syncdp-background")}
    tab._events._submit(ran.append, {"method": "Runtime.consoleAPICalled"})  # as the wrapper does
    after = {t for t in threading.enumerate() if t.name.startswith("syncdp-background")}
    assert after - before == set() and ran == []


def test_background_callback_does_not_delay_other_callbacks(tab: Tab) -> None:
    gate = threading.Event()
    slow_started = threading.Event()
    slow_threads: List[str] = []
    fast_calls: List[float] = []

    def slow(event: Dict[str, Any]) -> None:
        slow_threads.append(threading.current_thread().name)
        slow_started.set()
        gate.wait(20)

    tab.on("Runtime.consoleAPICalled", slow, background=True)
    tab.on("Runtime.consoleAPICalled", lambda e: fast_calls.append(time.monotonic()))
    tab.send("Runtime.enable")
    try:
        tab.execute_script("console.log('go')")
        # The slow callback blocks for up to 20 s; the normal one must not wait for it.
        wait_until(lambda: fast_calls, 3, "a slow background callback delayed a normal one")
        assert slow_started.wait(3), "the background callback never ran"
        assert not gate.is_set()
        assert slow_threads and not slow_threads[0].startswith("syncdp-dispatcher-")
    finally:
        gate.set()


def test_expect_event_is_race_free(tab: Tab) -> None:
    tab.send("Runtime.enable")
    with tab.expect_event(
        "Runtime.consoleAPICalled", lambda e: _console_value(e) == "race-marker", timeout=5
    ) as expectation:
        # The event is sent before the evaluate answer: it has passed when this returns.
        tab.execute_script("console.log('race-marker')")
    assert _console_value(expectation.value) == "race-marker"
    # A wait that starts only after the trigger misses it: expect_event was not luck.
    with pytest.raises(EventTimeoutError):
        tab.wait_for_event(
            "Runtime.consoleAPICalled", lambda e: _console_value(e) == "race-marker", timeout=0.5
        )


# -- network ---------------------------------------------------------------------------------


def test_network_logs_and_response_body(tab: Tab, server: LocalServer) -> None:
    tab.enable_network_events()
    tab.go_to(server.url("/fetcher"))

    def data_request_ids() -> List[str]:
        return [e["params"]["requestId"] for e in tab.get_network_logs(filter="/data.json")]

    # requestWillBeSent is logged before loadingFinished arrives, so the predicate can
    # tell which loadingFinished belongs to the data request.
    with tab.expect_event(
        "Network.loadingFinished", lambda e: e["params"]["requestId"] in data_request_ids(),
        timeout=10,
    ) as finished:
        text = tab.execute_script("fetch('/data.json').then(r => r.text())")
    assert text == DATA_JSON

    urls = [e["params"]["request"]["url"] for e in tab.get_network_logs()]
    assert server.url("/fetcher") in urls
    assert server.url("/data.json") in urls
    filtered = tab.get_network_logs(filter="/data.json")
    assert len(filtered) == 1
    assert filtered[0]["params"]["request"]["url"] == server.url("/data.json")
    assert tab.get_network_logs(filter="no-such-part-of-url") == []

    request_id = filtered[0]["params"]["requestId"]
    assert finished.value["params"]["requestId"] == request_id
    assert tab.get_network_response_body(request_id) == DATA_JSON


def _fetch_and_wait_for_response(tab: Tab, path: str) -> bool:
    """Fetch ``path`` in the page; whether a Network.responseReceived for it arrived."""
    try:
        with tab.expect_event(
            "Network.responseReceived", lambda e: path in e["params"]["response"]["url"],
            timeout=2,
        ):
            tab.execute_script("fetch(%r).then(r => r.text())" % path)
    except EventTimeoutError:
        return False
    return True


@pytest.mark.parametrize("how", ["send", "cdp", "execute_command"])
def test_disable_network_events_leaves_the_users_own_network_enable_on(
    tab: Tab, server: LocalServer, how: str
) -> None:
    tab.go_to(server.url("/fetcher"))
    if how == "send":
        tab.send("Network.enable")
    elif how == "cdp":
        tab.cdp.Network.enable()
    else:
        tab.execute_command({"method": "Network.enable"})
    tab.enable_network_events()
    tab.disable_network_events()  # the helper's own use ends; the user's does not
    assert _fetch_and_wait_for_response(tab, "/data.json")
    tab.send("Network.disable")  # the user's own disable is sent as is
    assert not _fetch_and_wait_for_response(tab, "/data.json?after-disable")


def test_the_users_disable_of_a_domain_a_helper_still_needs_is_refused_naming_it(
    tab: Tab, server: LocalServer
) -> None:
    """Network.disable would silently stop the network log: refused, with how to end it."""
    tab.go_to(server.url("/fetcher"))
    tab.enable_network_events()
    try:
        with pytest.raises(InvalidCommand, match=r"network log \(disable_network_events\(\)\)"):
            tab.send("Network.disable")
        assert _fetch_and_wait_for_response(tab, "/data.json")  # the log still works
    finally:
        tab.disable_network_events()
    tab.send("Network.disable")  # nobody needs it now: sent as is


def test_disable_network_events_turns_the_domain_off_when_only_the_helper_used_it(
    tab: Tab, server: LocalServer
) -> None:
    tab.go_to(server.url("/fetcher"))
    tab.enable_network_events()
    assert _fetch_and_wait_for_response(tab, "/data.json")
    tab.disable_network_events()
    logged = len(tab.get_network_logs())
    assert not _fetch_and_wait_for_response(tab, "/data.json?off")
    assert len(tab.get_network_logs()) == logged


# -- dialogs ---------------------------------------------------------------------------------


def test_alert_is_seen_and_accepted(tab: Tab, server: LocalServer) -> None:
    tab.go_to(server.url("/"))
    assert tab.has_dialog() is False
    tab.execute_script("setTimeout(() => alert('hi'), 0)")
    _wait_for_dialog(tab)
    assert tab.get_dialog_message() == "hi"
    tab.handle_dialog(accept=True)
    assert tab.has_dialog() is False
    assert tab.execute_script("1 + 1") == 2


@pytest.mark.parametrize("accept", [True, False])
def test_confirm_result_reaches_the_page(tab: Tab, server: LocalServer, accept: bool) -> None:
    tab.go_to(server.url("/"))
    tab.execute_script("setTimeout(() => { window.confirmed = confirm('sure?'); }, 0)")
    _wait_for_dialog(tab)
    assert tab.get_dialog_message() == "sure?"
    tab.handle_dialog(accept=accept)
    assert tab.execute_script("window.confirmed") is accept


def test_prompt_text_reaches_the_page(tab: Tab, server: LocalServer) -> None:
    tab.go_to(server.url("/"))
    tab.execute_script("setTimeout(() => { window.answer = prompt('name?', 'default'); }, 0)")
    _wait_for_dialog(tab)
    assert tab.get_dialog_message() == "name?"
    tab.handle_dialog(accept=True, prompt_text="syncdp typed this")
    assert tab.execute_script("window.answer") == "syncdp typed this"


def test_dismissed_prompt_gives_null(tab: Tab, server: LocalServer) -> None:
    tab.go_to(server.url("/"))
    tab.execute_script("setTimeout(() => { window.answer = prompt('name?'); }, 0)")
    _wait_for_dialog(tab)
    tab.handle_dialog(accept=False)
    assert tab.execute_script("window.answer") is None


def test_open_dialog_blocks_scripts_and_screenshots_fast(tab: Tab, server: LocalServer) -> None:
    tab.go_to(server.url("/"))
    tab.execute_script("setTimeout(() => alert('blocking message'), 0)")
    _wait_for_dialog(tab)
    try:
        start = time.monotonic()
        with pytest.raises(DialogOpenError) as script_info:
            tab.execute_script("1 + 1", timeout=20)
        assert time.monotonic() - start < 2
        assert script_info.value.dialog_message == "blocking message"
        assert "blocking message" in str(script_info.value)

        start = time.monotonic()
        with pytest.raises(DialogOpenError) as shot_info:
            tab.take_screenshot()
        assert time.monotonic() - start < 2
        assert "blocking message" in str(shot_info.value)
    finally:
        tab.handle_dialog()
    assert tab.execute_script("1 + 1") == 2


def test_script_opening_a_dialog_fails_fast(tab: Tab, server: LocalServer) -> None:
    tab.go_to(server.url("/"))
    start = time.monotonic()
    with pytest.raises(DialogOpenError) as info:
        tab.execute_script("alert('x')", timeout=20)
    assert time.monotonic() - start < 2
    assert info.value.dialog_message == "x"
    assert info.value.dialog_type == "alert"
    assert tab.has_dialog()
    tab.handle_dialog()
    assert tab.execute_script("'usable again'") == "usable again"


def test_set_dialog_policy_answers_automatically(tab: Tab, server: LocalServer) -> None:
    tab.go_to(server.url("/"))
    tab.set_dialog_policy("accept")
    assert tab.execute_script("confirm('auto?')") is True
    tab.set_dialog_policy("dismiss")
    assert tab.execute_script("confirm('auto?')") is False
    tab.set_dialog_policy(None)
    tab.execute_script("setTimeout(() => { window.manual = confirm('manual?'); }, 0)")
    _wait_for_dialog(tab)  # policy off: the dialog stays open until handled
    tab.handle_dialog(accept=True)
    assert tab.execute_script("window.manual") is True


def test_chrome_dialog_policy_applies_to_its_tabs(server: LocalServer) -> None:
    with Chrome(dialog_policy="accept") as chrome:
        tab = chrome.new_tab()
        tab.go_to(server.url("/"))
        assert tab.execute_script("confirm('accepted by policy?')") is True
        tab.execute_script("alert('gone at once')")  # returns once the alert is answered
        wait_until(lambda: not tab.has_dialog(), 2, "the policy left the alert open")


# -- closing ---------------------------------------------------------------------------------


def test_closed_tab_raises_target_closed(browser: Chrome, server: LocalServer) -> None:
    tab = browser.new_tab()
    tab.go_to(server.url("/"))
    target_id = tab.target_id
    tab.close()
    assert tab.closed
    tab.close()  # idempotent
    with pytest.raises(TargetClosedError):
        tab.execute_script("1")
    with pytest.raises(TargetClosedError):
        tab.go_to(server.url("/"))
    wait_until(
        lambda: target_id not in [t.target_id for t in browser.get_opened_tabs()], 5,
        "the closed tab is still listed",
    )


def test_tab_closed_by_another_client_fails_a_pending_call_fast(
    browser: Chrome, server: LocalServer
) -> None:
    """The pending call fails with TargetClosedError, not ConnectionClosedError: the tab's
    socket first receives Inspector.detached ("Render process gone."), which fails it."""
    tab = browser.new_tab()
    other = syncdp.connect(port_of(browser))
    outcome: Dict[str, Any] = {}

    def pending() -> None:
        try:
            tab.execute_script("new Promise(() => {})", timeout=30)
        except BaseException as exc:  # noqa: B902 - reported to the test thread
            outcome["error"] = exc
        outcome["at"] = time.monotonic()

    worker = threading.Thread(target=pending, name="test-pending-script")
    try:
        tab.go_to(server.url("/"))
        worker.start()
        wait_until(lambda: tab.connection.pending_commands > 0, 5, "the script never went out")
        closed_at = time.monotonic()
        other.send("Target.closeTarget", {"targetId": tab.target_id})
        worker.join(5)
        assert not worker.is_alive(), "the pending call did not fail"
        assert outcome["at"] - closed_at < 2
        assert isinstance(outcome.get("error"), TargetClosedError), repr(outcome.get("error"))
        assert not isinstance(outcome["error"], ConnectionClosedError)
        # Chromium reports the renderer's exit first, then "target_closed" a moment later.
        wait_until(lambda: tab.closed, 3, "the tab never learned that its target closed")
        with pytest.raises(TargetClosedError):
            tab.execute_script("1")
    finally:
        other.stop()
        tab.close()
        worker.join(5)
