"""Chrome's start/stop lifecycle against real Chromium.

* A persistent profile (``user_data_dir``) keeps what the browser wrote: ``stop()`` lets
  it close by itself before killing what is left, so cookies and storage reach the next
  browser on that profile ("log in once, reuse the profile").
* Ctrl-C during ``Chrome.stop()``: a second ``stop()`` finishes the job.
* ``Chrome.start()`` after ``stop()``, a failed start, or the browser dying launches anew.
* After ``connect(...).stop()`` every method says the connection was closed by ``stop()``
  instead of reconnecting.
* ``Chrome.started`` turns False as soon as the browser is killed.
"""

from __future__ import annotations

import os
import signal
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator, List

import pytest

from pages import alive, group_members, needs_chromium, wait_until
from syncdp import Chrome, connect
from syncdp.exceptions import BrowserLaunchError, SyncdpError
from syncdp.localserver import LocalServer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

PAGE = "data:text/html,<title>findings</title><p>x</p>"


def _syncdp_threads() -> List[str]:
    return sorted(t.name for t in threading.enumerate() if t.name.startswith("syncdp-"))


@pytest.fixture(autouse=True)
def private_tmpdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Temporary profiles go to a private directory, checked for leftovers afterwards."""
    directory = tmp_path / "tmp"
    directory.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(directory))
    yield directory
    leftovers = sorted(p.name for p in directory.iterdir() if p.name.startswith("syncdp-"))
    assert not leftovers, "temporary profiles left behind: %s" % leftovers


# -- a persistent profile keeps what the browser wrote -----------------------------------------

# A login page: a persistent cookie (Max-Age, and Expires) and a localStorage entry.
LOGIN = """<!doctype html><title>login</title><script>
document.cookie = "session=s3cr3t; Max-Age=86400; Path=/";
document.cookie = "theme=dark; Expires=" + new Date(Date.now() + 864e5).toUTCString() + "; Path=/";
localStorage.setItem("user", "ada");
</script><p>logged in"""


@needs_chromium
def test_a_persistent_profile_keeps_cookies_and_storage_for_the_next_browser(
    tmp_path: Path,
) -> None:
    profile = str(tmp_path / "profile")
    with LocalServer({"/login": LOGIN, "/home": "<title>home</title><p>home"}) as server:
        with Chrome(user_data_dir=profile) as browser:
            tab = browser.get_page()
            tab.go_to(server.url("/login"))
            assert "session=s3cr3t" in tab.execute_script("document.cookie")
            pid = browser.process.pid
            started = time.monotonic()
            browser.stop()
            stop_seconds = time.monotonic() - started
        assert group_members(pid) == [] and not alive(pid)
        assert stop_seconds < 5  # bounded by stop()'s timeout, not the 2 s + 5 s worst case

        with Chrome(user_data_dir=profile) as browser:
            tab = browser.get_page()
            tab.go_to(server.url("/home"))
            cookies = tab.execute_script("document.cookie")
            assert "session=s3cr3t" in cookies and "theme=dark" in cookies
            assert tab.execute_script("localStorage.getItem('user')") == "ada"
            names = {c["name"] for c in browser.get_cookies()}
            assert {"session", "theme"} <= names


# -- Ctrl-C during Chrome.stop() -------------------------------------------------------------


@needs_chromium
@pytest.mark.parametrize("delay", [0.01, 0.03, 0.06])
def test_ctrl_c_during_stop_then_stop_again_leaves_nothing(delay: float) -> None:
    browser = Chrome().start()
    browser.get_page().go_to(PAGE)
    pid, profile = browser.process.pid, browser.process.user_data_dir
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Timer(delay, os.kill, (os.getpid(), signal.SIGINT))
    try:
        try:
            timer.start()
            # On a loaded machine the interrupt may land anywhere from the line above to the
            # end of stop(): wherever it lands, the second stop() below must finish the job.
            browser.stop()
            timer.join()  # the interrupt lands here if stop() was quicker
        except KeyboardInterrupt:
            pass
    finally:
        timer.join()
        signal.signal(signal.SIGINT, previous)
        browser.stop()  # finishes whatever the interrupted one left
    assert not browser.started
    assert not alive(pid)
    assert group_members(pid) == []
    assert not os.path.exists(profile)
    assert _syncdp_threads() == []


# -- start() after stop() --------------------------------------------------------------------


@needs_chromium
def test_start_after_the_browser_died_on_its_own_launches_a_new_one() -> None:
    """The notebook case: the browser crashed or was killed; running ``start()`` again works."""
    browser = Chrome().start()
    try:
        first_pid, first_profile = browser.process.pid, browser.process.user_data_dir
        assert browser.get_page().execute_script("1 + 1") == 2
        os.killpg(first_pid, signal.SIGKILL)
        wait_until(lambda: not browser.started, 5, "still reported as started")
        assert browser.start() is browser
        assert browser.started and browser.process.pid != first_pid
        assert browser.get_page().execute_script("2 + 2") == 4
        wait_until(lambda: not os.path.exists(first_profile), 5, "first profile left behind")
    finally:
        browser.stop()
    assert group_members(first_pid) == []


def test_start_after_stop_launches_a_new_browser() -> None:
    browser = Chrome()
    with pytest.raises(SyncdpError, match=r"not started: call start\(\) first"):
        browser.version()
    browser.start()
    first_pid, first_profile = browser.process.pid, browser.process.user_data_dir
    browser.stop()
    assert not browser.started
    with pytest.raises(SyncdpError, match=r"stopped by stop\(\): call start\(\) to launch"):
        browser.get_page()

    assert browser.start() is browser  # what the message says works
    try:
        assert browser.started
        assert browser.process.pid != first_pid
        assert browser.process.user_data_dir != first_profile
        assert not os.path.exists(first_profile)
        tab = browser.get_page()
        tab.go_to(PAGE)
        assert tab.title == "findings"
        assert browser.start() is browser  # running: nothing new
    finally:
        browser.stop()
    assert group_members(first_pid) == []


def test_start_after_a_failed_start_tries_again(tmp_path: Path) -> None:
    failing = tmp_path / "failing-browser"
    failing.write_text("#!/bin/sh\necho 'fake: cannot start' >&2\nexit 3\n")
    failing.chmod(0o755)
    browser = Chrome(binary_location=str(failing), start_timeout=10)
    for _ in range(2):  # the second attempt is a real attempt, not "started once" RuntimeError
        with pytest.raises(BrowserLaunchError) as info:
            browser.start()
        assert info.value.returncode == 3
        assert not browser.started
    browser.stop()


# -- a stopped connect() browser ----------------------------------------------------------


@needs_chromium
def test_connect_stop_is_final_and_says_so(chromium: Any) -> None:
    browser = connect(chromium.port)
    assert "Chrome" in browser.version()["product"]
    browser.stop()
    calls: List[Callable[[], Any]] = [
        browser.version,
        browser.get_page,
        browser.get_opened_tabs,
        lambda: browser.send("Browser.getVersion"),
        lambda: browser.on("Target.targetCreated", lambda event: None),
    ]
    for call in calls:
        with pytest.raises(SyncdpError, match=r"closed by stop\(\)"):
            call()
    assert _syncdp_threads() == []  # no silent reconnection
    browser.stop()  # idempotent
    with connect(chromium.port) as again:  # the browser itself is untouched
        assert "Chrome" in again.version()["product"]


# -- started after the browser is killed --------------------------------------------------


@needs_chromium
def test_started_turns_false_as_soon_as_the_browser_is_killed() -> None:
    browser = Chrome().start()
    try:
        pid = browser.process.pid
        assert browser.started
        os.kill(pid, signal.SIGKILL)
        assert not browser.started  # at once, not after the watchdog's report
        assert browser.process.returncode == -signal.SIGKILL
    finally:
        browser.stop()
    assert group_members(pid) == []
