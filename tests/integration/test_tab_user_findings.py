"""Tab and Element against real headless Chromium: the bugs a user found driving syncdp with
real scripts (crashed tabs, dialogs during a load, unfinished navigations, argument checks,
clicks that open dialogs, execute_script's statements, values and thrown values).

Every test runs on both transports. Where the bug was a hang, the test gives a small timeout
and asserts the call returns well before it.
"""

from __future__ import annotations

import _thread
import math
import os
import socket
import threading
import time
from typing import Any, Callable, Dict, Iterator, List

import pytest

import syncdp
from pages import needs_chromium, png_size, wait_until

from syncdp import Chrome, Tab
from syncdp.element import StaleElementError
from syncdp.exceptions import (
    CommandError,
    CommandTimeoutError,
    DialogOpenError,
    ElementNotFoundError,
    InvalidCommand,
    JavaScriptError,
    SyncdpError,
    TargetClosedError,
    TargetCrashedError,
)
from syncdp.localserver import LocalServer

pytestmark = [pytest.mark.integration, needs_chromium, pytest.mark.timeout(60)]

FAST = 2.0  # seconds: "at once", with room for a loaded 2-core machine

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


@pytest.fixture
def black_hole() -> Iterator[str]:
    """A URL on 127.0.0.1 whose server accepts connections and never answers."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    try:
        yield "http://127.0.0.1:%d/never" % sock.getsockname()[1]
    finally:
        sock.close()


def _elapsed(call: Callable[[], Any]) -> float:
    start = time.monotonic()
    call()
    return time.monotonic() - start


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


# -- 1. a crashed tab fails at once; refresh() and go_to() recover -------------------------


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


# -- 2. a dialog opened during a load fails go_to()/refresh() at once ----------------------


@pytest.mark.parametrize(
    "path, wait_until_, kind, message",
    [
        ("/alert-during-load", "load", "alert", "during load"),
        ("/alert-during-load", "domcontentloaded", "alert", "during load"),
        ("/confirm-in-onload", "load", "confirm", "sure?"),
    ],
)
def test_go_to_fails_fast_when_a_dialog_opens_during_the_load(
    tab: Tab, server: LocalServer, path: str, wait_until_: str, kind: str, message: str
) -> None:
    start = time.monotonic()
    with pytest.raises(DialogOpenError) as info:
        tab.go_to(server.url(path), timeout=5, wait_until=wait_until_)
    assert time.monotonic() - start < FAST
    assert info.value.dialog_type == kind
    assert info.value.dialog_message == message
    assert "go_to" in str(info.value)
    assert tab.has_dialog()
    tab.handle_dialog(accept=True)
    # Answered: the load goes on, and the tab works.
    wait_until(lambda: _loaded(tab), 5)


def test_refresh_fails_fast_when_a_dialog_opens_during_the_reload(
    tab: Tab, server: LocalServer
) -> None:
    with pytest.raises(DialogOpenError):
        tab.go_to(server.url("/alert-during-load"), timeout=5)
    tab.handle_dialog()
    wait_until(lambda: _loaded(tab), 5)
    start = time.monotonic()
    with pytest.raises(DialogOpenError) as info:
        tab.refresh(timeout=5)
    assert time.monotonic() - start < FAST
    assert info.value.dialog_message == "during load"
    tab.handle_dialog()


def test_beforeunload_dialog_fails_go_to_and_refresh_fast(
    tab: Tab, server: LocalServer
) -> None:
    tab.go_to(server.url("/beforeunload"))
    _activate(tab)
    start = time.monotonic()
    with pytest.raises(DialogOpenError) as info:
        tab.go_to(server.url("/second"), timeout=5)
    assert time.monotonic() - start < FAST
    assert info.value.dialog_type == "beforeunload"
    assert tab.has_dialog()
    tab.handle_dialog(accept=False)  # stay
    assert tab.title == "leave?"

    start = time.monotonic()
    with pytest.raises(DialogOpenError):
        tab.refresh(timeout=5)
    assert time.monotonic() - start < FAST
    tab.handle_dialog(accept=True)  # leave: the reload goes on

    wait_until(lambda: _loaded(tab), 5)
    assert tab.title == "leave?"


def test_go_to_with_a_dialog_policy_still_loads(tab: Tab, server: LocalServer) -> None:
    tab.set_dialog_policy("accept")
    tab.go_to(server.url("/confirm-in-onload"), timeout=5)
    assert tab.execute_script("window.answer") is True
    tab.go_to(server.url("/alert-during-load"), timeout=5)
    assert tab.query("#after").text == "after"
    assert not tab.has_dialog()


# -- 3. an unfinished go_to() stops its navigation -----------------------------------------


def test_go_to_timeout_stops_the_navigation(
    tab: Tab, server: LocalServer, black_hole: str
) -> None:
    tab.go_to(server.url("/"))
    start = time.monotonic()
    with pytest.raises(TimeoutError):
        tab.go_to(black_hole, timeout=1)
    assert time.monotonic() - start < 1 + FAST
    # The navigation is gone: the old page answers at once, not when the server does.
    start = time.monotonic()
    assert tab.execute_script("document.title", timeout=4) == "plain"
    assert time.monotonic() - start < FAST
    assert tab.current_url == server.url("/")


def test_interrupted_go_to_stops_the_navigation(
    tab: Tab, server: LocalServer, black_hole: str
) -> None:
    tab.go_to(server.url("/"))
    timer = threading.Timer(0.5, _thread.interrupt_main)  # Ctrl-C during the navigation
    timer.start()
    try:
        start = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            tab.go_to(black_hole, timeout=10)
        assert time.monotonic() - start < 0.5 + FAST
    finally:
        timer.cancel()
    assert tab.execute_script("document.title", timeout=4) == "plain"


# -- 5. timeouts are checked -----------------------------------------------------------------


@pytest.mark.timeout(15)  # before the fix, query(timeout="1") waited 30 s
@pytest.mark.parametrize("bad", ["1", -1, True, float("nan"), float("inf")])
def test_query_rejects_a_bad_timeout(tab: Tab, server: LocalServer, bad: Any) -> None:
    tab.go_to(server.url("/"))
    start = time.monotonic()
    with pytest.raises(InvalidCommand, match="timeout"):
        tab.query("body", timeout=bad)
    with pytest.raises(InvalidCommand, match="timeout"):
        tab.query("body").query("#p", timeout=bad)
    assert time.monotonic() - start < FAST
    assert tab.query("#p", timeout=0).text == "plain page"  # 0 still means "look once"


@pytest.mark.timeout(15)
@pytest.mark.parametrize("bad", ["5", -1, 0, True, float("nan")])
def test_every_timeout_taking_tab_method_rejects_a_bad_timeout(tab: Tab, bad: Any) -> None:
    calls: Dict[str, Callable[[], Any]] = {
        "go_to": lambda: tab.go_to("about:blank", timeout=bad),
        "refresh": lambda: tab.refresh(timeout=bad),
        "execute_script": lambda: tab.execute_script("1", timeout=bad),
        "send": lambda: tab.send("Runtime.evaluate", {"expression": "1"}, timeout=bad),
        "execute_command": lambda: tab.execute_command({"method": "Page.enable"}, timeout=bad),
        "print_to_pdf": lambda: tab.print_to_pdf(timeout=bad),
        "expect_event": lambda: tab.expect_event("Page.loadEventFired", timeout=bad),
        "wait_for_event": lambda: tab.wait_for_event("Page.loadEventFired", timeout=bad),
        "handle_dialog": lambda: tab.handle_dialog(timeout=bad),
    }
    for name, call in calls.items():
        start = time.monotonic()
        with pytest.raises(InvalidCommand, match="timeout") as info:
            call()
        assert time.monotonic() - start < FAST, name
        assert repr(bad) in str(info.value), name


# -- 10. paths are file paths, never file descriptors --------------------------------------


def test_path_arguments_reject_file_descriptors(tab: Tab, server: LocalServer, tmp_path: Any) -> None:
    tab.go_to(server.url("/buttons"))
    read_end, write_end = os.pipe()
    try:
        calls: Dict[str, Callable[[Any], Any]] = {
            "take_screenshot": lambda bad: tab.take_screenshot(bad),
            "print_to_pdf": lambda bad: tab.print_to_pdf(bad),
            "element.take_screenshot": lambda bad: tab.query("#plain").take_screenshot(bad),
            "Screenshot.save": lambda bad: tab.take_screenshot().save(bad),
        }
        for name, call in calls.items():
            for bad in (write_end, True, 2.5, b"file.png"):
                with pytest.raises(InvalidCommand, match="path") as info:
                    call(bad)
                assert type(bad).__name__ in str(info.value), name
                os.fstat(write_end)  # still open: nothing was written to it nor closed
        os.set_blocking(read_end, False)
        with pytest.raises(BlockingIOError):
            os.read(read_end, 1)  # nothing was written to the pipe
    finally:
        os.close(read_end)
        os.close(write_end)
    # str and os.PathLike still work
    shot = tab.take_screenshot(tmp_path / "shot.png")
    assert png_size((tmp_path / "shot.png").read_bytes()) == png_size(shot)
    tab.query("#plain").take_screenshot(str(tmp_path / "button.png"))
    assert (tmp_path / "button.png").stat().st_size > 0


# -- 11. a click that opens a dialog is a click ---------------------------------------------


def test_click_that_opens_a_confirm_returns_normally(tab: Tab, server: LocalServer) -> None:
    tab.go_to(server.url("/buttons"))
    start = time.monotonic()
    tab.query("#confirm").click()
    assert time.monotonic() - start < FAST
    assert tab.has_dialog()
    assert tab.get_dialog_message() == "really?"
    tab.handle_dialog(accept=True)
    assert tab.execute_script("window.confirmed") is True


def test_click_whose_press_opens_an_alert_returns_normally(tab: Tab, server: LocalServer) -> None:
    tab.go_to(server.url("/buttons"))
    tab.query("#alert-down").click()
    assert tab.has_dialog()
    assert tab.get_dialog_message() == "pressed"
    tab.handle_dialog()
    tab.query("#plain").click()  # the next click works as usual
    assert tab.execute_script("window.plainClicks") == 1


def test_click_while_a_dialog_is_already_open_still_fails(tab: Tab, server: LocalServer) -> None:
    tab.go_to(server.url("/buttons"))
    button = tab.query("#plain")
    tab.execute_script("setTimeout(() => alert('already open'), 0)")
    wait_until(tab.has_dialog, 5, "no dialog opened")
    with pytest.raises(DialogOpenError):
        button.click()
    tab.handle_dialog()
    assert tab.execute_script("window.plainClicks") is None


# -- 12, 14. execute_script: await in bodies, declarations that do not leak -----------------


def test_execute_script_await_in_a_body_without_leading_return(tab: Tab) -> None:
    assert tab.execute_script("const r = await Promise.resolve(7); return r") == 7
    assert tab.execute_script("await new Promise(r => setTimeout(r, 10)); return 'waited'") == (
        "waited"
    )
    assert tab.execute_script("await Promise.resolve(8)") == 8


def test_execute_script_declarations_can_run_twice(tab: Tab) -> None:
    assert tab.execute_script("const el = 1; el") == 1
    assert tab.execute_script("const el = 1; el") == 1
    assert tab.execute_script("let n = 2; n * 3") == 6
    assert tab.execute_script("let n = 2; n * 3") == 6
    assert tab.execute_script("class Box {}; typeof Box") == "function"
    assert tab.execute_script("class Box {}; typeof Box") == "function"


def test_execute_script_statements_keep_their_results(tab: Tab) -> None:
    # a function declaration still defines a global, as before
    assert tab.execute_script("function helper() { return 41; }") is None
    assert tab.execute_script("helper() + 1") == 42
    assert tab.execute_script("var v = {a: [1, 'x']}; v") == {"a": [1, "x"]}
    # a statement script ending in a promise: still awaited
    assert tab.execute_script("const p = 5; new Promise(r => setTimeout(() => r(p * 2), 10))") == 10
    with pytest.raises(JavaScriptError, match="no way"):
        tab.execute_script("const q = 1; Promise.reject(new Error('no way'))")
    # an object literal expression
    assert tab.execute_script("({a: 1})") == {"a": 1}


def test_execute_script_runtime_syntax_error_runs_once(tab: Tab) -> None:
    with pytest.raises(JavaScriptError, match="SyntaxError"):
        tab.execute_script("(window.runs = (window.runs || 0) + 1, JSON.parse('{'))")
    assert tab.execute_script("window.runs") == 1


# -- 13. values JSON cannot carry -----------------------------------------------------------


def test_execute_script_unserializable_values(tab: Tab, server: LocalServer) -> None:
    assert math.isnan(tab.execute_script("NaN"))
    assert tab.execute_script("Infinity") == math.inf
    assert tab.execute_script("-Infinity") == -math.inf
    negative_zero = tab.execute_script("-0")
    assert negative_zero == 0 and math.copysign(1, negative_zero) == -1
    assert tab.execute_script("123n") == 123
    assert tab.execute_script("2n ** 70n") == 2**70
    assert tab.execute_script("const big = -5n; big") == -5
    tab.go_to(server.url("/"))
    assert math.isnan(tab.query("#p").call("function() { return 0 / 0; }"))


# -- 15. thrown non-Error values ------------------------------------------------------------


@pytest.mark.parametrize(
    "script, expected",
    [
        ("throw 'plain'", '"plain"'),
        ("Promise.reject('str')", '"str"'),
        ("throw {code: 5}", "code: 5"),
        ("throw 42", "42"),
        ("throw null", "null"),
    ],
)
def test_thrown_values_are_in_the_message(tab: Tab, script: str, expected: str) -> None:
    with pytest.raises(JavaScriptError) as info:
        tab.execute_script(script)
    assert expected in info.value.message
    assert expected in str(info.value)


# -- 20. bad arguments and stale or hidden elements ----------------------------------------


def test_method_and_event_names_are_checked(tab: Tab) -> None:
    for bad in (None, 123, ""):
        with pytest.raises(InvalidCommand, match="method"):
            tab.send(bad)  # type: ignore[arg-type]
        with pytest.raises(InvalidCommand, match="event_name"):
            tab.on(bad, lambda event: None)  # type: ignore[arg-type]
        with pytest.raises(InvalidCommand, match="event_name"):
            tab.wait_for_event(bad, timeout=1)  # type: ignore[arg-type]


def test_go_to_without_a_scheme_is_invalid(tab: Tab) -> None:
    with pytest.raises(InvalidCommand, match="scheme"):
        tab.go_to("example")
    with pytest.raises(InvalidCommand, match="scheme"):
        tab.go_to("//example.com/path")


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
    waiter.start()
    time.sleep(0.2)  # the waiter is waiting
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
    other = syncdp.connect(browser.process.port, tab_mode=browser.tab_mode)
    tab = other.new_tab()
    assert tab.execute_script("1 + 1") == 2
    other.stop()
    with pytest.raises(TargetClosedError, match="stop"):
        tab.execute_script("1")
    browser.send("Target.closeTarget", {"targetId": tab.target_id})


def test_handle_dialog_wants_a_real_bool(tab: Tab, server: LocalServer) -> None:
    tab.go_to(server.url("/"))
    tab.execute_script("setTimeout(() => { window.answer = confirm('ok?'); }, 0)")
    wait_until(tab.has_dialog, 5, "no dialog opened")
    for bad in ("no", 0, None):
        with pytest.raises(InvalidCommand, match="accept"):
            tab.handle_dialog(accept=bad)  # type: ignore[arg-type]
    assert tab.has_dialog()  # untouched
    tab.handle_dialog(accept=False)
    assert tab.execute_script("window.answer") is False


# -- 26. the accept policy answers a prompt with its default text ---------------------------


def test_accept_policy_gives_a_prompt_its_default(tab: Tab, server: LocalServer) -> None:
    tab.go_to(server.url("/"))
    tab.set_dialog_policy("accept")
    assert tab.execute_script("prompt('name?', 'Ada')") == "Ada"
    assert tab.execute_script("prompt('empty?')") == ""
    tab.set_dialog_policy("dismiss")
    assert tab.execute_script("prompt('name?', 'Ada')") is None


def test_command_timeout_is_still_reported(tab: Tab) -> None:
    # The checks above did not change what a real timeout looks like.
    with pytest.raises(CommandTimeoutError):
        tab.execute_script("new Promise(() => {})", timeout=0.3)
    assert tab.execute_script("'fine'") == "fine"
