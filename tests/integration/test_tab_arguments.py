"""Tab and Element refuse bad arguments with InvalidCommand naming them, before sending anything;
a real command timeout still looks like one.

Real headless Chromium; every test runs in both tab modes."""

from __future__ import annotations

import os
import re
import time
from typing import Any, Callable, Dict

import pytest
from pages import needs_chromium, png_size

from syncdp import Tab
from syncdp.exceptions import (
    CommandError,
    CommandTimeoutError,
    InvalidCommand,
)
from syncdp.localserver import LocalServer

pytestmark = [pytest.mark.integration, needs_chromium, pytest.mark.timeout(60)]

FAST = 2.0  # seconds: "at once", with room for a loaded 2-core machine


def _loaded(tab: Tab) -> bool:
    """Whether the page finished loading; False while a navigation replaces the page (an
    evaluate landing just then fails with "Inspected target navigated or closed")."""
    try:
        return bool(tab.execute_script("document.readyState") == "complete")
    except CommandError:
        return False


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


def test_method_and_event_names_are_checked(tab: Tab) -> None:
    for bad in (None, 123, ""):
        with pytest.raises(InvalidCommand, match="method"):
            tab.send(bad)  # type: ignore[arg-type]
        with pytest.raises(InvalidCommand, match="event_name"):
            tab.on(bad, lambda event: None)  # type: ignore[arg-type]
        with pytest.raises(InvalidCommand, match="event_name"):
            tab.wait_for_event(bad, timeout=1)  # type: ignore[arg-type]


@pytest.mark.parametrize("url, suggestion", [
    ("example", "https://example"),
    ("//example.com/path", "https://example.com/path"),
    ("127.0.0.1:8765/page", "http://127.0.0.1:8765/page"),
    ("localhost:8000", "http://localhost:8000"),
    ("[::1]:8000/", "http://[::1]:8000/"),
])
def test_go_to_without_a_scheme_is_invalid_and_suggests_the_likely_one(
    tab: Tab, url: str, suggestion: str
) -> None:
    """A local development server rarely has TLS: loopback hosts get http, others https."""
    with pytest.raises(InvalidCommand, match=re.escape("with a scheme, like %r" % suggestion)):
        tab.go_to(url)


def test_command_timeout_is_still_reported(tab: Tab) -> None:
    # The checks above did not change what a real timeout looks like.
    with pytest.raises(CommandTimeoutError):
        tab.execute_script("new Promise(() => {})", timeout=0.3)
    assert tab.execute_script("'fine'") == "fine"
