"""go_to() and refresh() interrupted: a dialog opening during the load fails them at once; a
timeout or Ctrl-C stops the navigation so the tab is usable at once.

Real headless Chromium; every test runs in both tab modes."""

from __future__ import annotations

import _thread
import socket
import threading
import time
from typing import Iterator

import pytest
from syncdp import Tab
from syncdp.exceptions import (
    CommandError,
    DialogOpenError,
)
from syncdp.localserver import LocalServer

from pages import needs_chromium, wait_until
from tabkit import activate

pytestmark = [pytest.mark.integration, needs_chromium, pytest.mark.timeout(60)]

# "At once": far below SLOW, the timeout the calls are given, with room for a loaded 2-core
# machine (2.3 s was seen at a load average of 40).
FAST = 8.0
SLOW = 30


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


def _loaded(tab: Tab) -> bool:
    """Whether the page finished loading; False while a navigation replaces the page (an
    evaluate landing just then fails with "Inspected target navigated or closed")."""
    try:
        return bool(tab.execute_script("document.readyState") == "complete")
    except CommandError:
        return False


def _title(tab: Tab) -> str:
    """The page's title, or "" while a navigation replaces the page (see :func:`_loaded`)."""
    try:
        return str(tab.execute_script("document.title"))
    except CommandError:
        return ""


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
        tab.go_to(server.url(path), timeout=SLOW, wait_until=wait_until_)
    assert time.monotonic() - start < FAST
    assert info.value.dialog_type == kind
    assert info.value.dialog_message == message
    assert "go_to" in str(info.value)
    assert tab.has_dialog()
    tab.handle_dialog(accept=True)
    # Answered: the load goes on, and the tab works.
    wait_until(lambda: _loaded(tab), 20)


def test_refresh_fails_fast_when_a_dialog_opens_during_the_reload(
    tab: Tab, server: LocalServer
) -> None:
    with pytest.raises(DialogOpenError):
        tab.go_to(server.url("/alert-during-load"), timeout=SLOW)
    tab.handle_dialog()
    wait_until(lambda: _loaded(tab), 20)
    start = time.monotonic()
    with pytest.raises(DialogOpenError) as info:
        tab.refresh(timeout=SLOW)
    assert time.monotonic() - start < FAST
    assert info.value.dialog_message == "during load"
    tab.handle_dialog()


def test_beforeunload_dialog_fails_go_to_and_refresh_fast(
    tab: Tab, server: LocalServer
) -> None:
    tab.go_to(server.url("/beforeunload"))
    activate(tab)
    start = time.monotonic()
    with pytest.raises(DialogOpenError) as info:
        tab.go_to(server.url("/second"), timeout=SLOW)
    assert time.monotonic() - start < FAST
    assert info.value.dialog_type == "beforeunload"
    assert tab.has_dialog()
    tab.handle_dialog(accept=False)  # stay
    assert tab.title == "leave?"

    start = time.monotonic()
    with pytest.raises(DialogOpenError):
        tab.refresh(timeout=SLOW)
    assert time.monotonic() - start < FAST
    tab.handle_dialog(accept=True)  # leave: the reload goes on

    # The old document reads "complete" until the reload commits: wait for the new one's title.
    wait_until(lambda: _loaded(tab) and _title(tab) == "leave?", 20, "the reload did not load")


def test_go_to_with_a_dialog_policy_still_loads(tab: Tab, server: LocalServer) -> None:
    tab.set_dialog_policy("accept")
    tab.go_to(server.url("/confirm-in-onload"), timeout=SLOW)
    assert tab.execute_script("window.answer") is True
    tab.go_to(server.url("/alert-during-load"), timeout=SLOW)
    assert tab.query("#after").text == "after"
    assert not tab.has_dialog()


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
    assert tab.execute_script("document.title", timeout=SLOW) == "plain"
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
            tab.go_to(black_hole, timeout=SLOW)
        assert time.monotonic() - start < 0.5 + FAST
    finally:
        timer.cancel()
    assert tab.execute_script("document.title", timeout=SLOW) == "plain"
