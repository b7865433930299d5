"""User findings about options and the browser lifecycle, against real processes.

* Bad constructor arguments raise ``InvalidCommand`` naming the parameter, at construction,
  before anything is launched or connected (findings 19/20).
* Ctrl-C during ``Chrome.stop()``: a second ``stop()`` finishes the job (finding 7).
* ``Chrome.start()`` after ``stop()`` launches a new browser (finding 21).
* After ``connect(...).stop()`` every method says the connection was closed by ``stop()``
  instead of reconnecting (finding 22).
* ``Chrome.started`` turns False as soon as the browser is killed (finding 23).
"""

from __future__ import annotations

import math
import os
import signal
import tempfile
import threading
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List

import pytest

from pages import CHROMIUM, alive, group_members, needs_chromium, wait_until
from syncdp import Browser, Chrome, connect
from syncdp.exceptions import BrowserLaunchError, InvalidCommand, SyncdpError
from syncdp.launcher import LaunchOptions

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


# -- findings 19/20: every option checked up front -------------------------------------------

BAD_CHROME_OPTIONS: List[Any] = [
    # (parameter, bad value, what the message must show of it)
    ("dialog_policy", "maybe", "'maybe'"),
    ("start_timeout", -1, "-1"),
    ("start_timeout", 0, "got 0"),
    ("start_timeout", math.nan, "nan"),
    ("start_timeout", "20", "'20'"),
    ("connect_timeout", 0, "got 0"),
    ("connect_timeout", -2.5, "-2.5"),
    ("headless", "no", "'no'"),
    ("headless", None, "None"),
    ("proxy", 5, "got 5"),
    ("proxy", "", "got ''"),
    ("arguments", [1, 2], "arguments[0] must be a non-empty str, got 1"),
    ("arguments", "--foo", "'--foo'"),
    ("arguments", ["--lang=en-US", None], "arguments[1] must be a non-empty str, got None"),
    ("arguments", 5, "got 5"),
    ("arguments", ["--user-data-dir=/tmp/elsewhere"], "'--user-data-dir=/tmp/elsewhere'"),
    ("window_size", "800x600", "'800x600'"),
    ("window_size", (0, 600), "(0, 600)"),
    ("window_size", (800, -1), "(800, -1)"),
    ("window_size", (800,), "(800,)"),
    ("window_size", (800.5, 600), "(800.5, 600)"),
    ("window_size", (True, 600), "(True, 600)"),
    ("binary_location", 5, "got 5"),
    ("binary_location", "", "got ''"),
    ("user_data_dir", 5, "got 5"),
    ("transport", "carrier-pigeon", "'carrier-pigeon'"),
]


@pytest.mark.parametrize(("name", "value", "shown"), BAD_CHROME_OPTIONS)
def test_chrome_rejects_a_bad_option_at_construction(
    name: str, value: Any, shown: str, private_tmpdir: Path
) -> None:
    with pytest.raises(InvalidCommand) as info:
        Chrome(**{name: value})
    message = str(info.value)
    assert message.startswith(name), message  # names the parameter...
    assert shown in message, message  # ...and the bad value
    assert list(private_tmpdir.iterdir()) == []  # nothing was launched: no profile either


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"env": {"A": 1}}, "env['A']"),
        ({"env": {"A=B": "1"}}, "env"),
        ({"env": "A=1"}, "env"),
        ({"no_sandbox": "yes"}, "no_sandbox"),
        ({"window_size": [0, 1]}, "window_size"),
    ],
)
def test_launch_options_reject_bad_values(kwargs: Dict[str, Any], name: str) -> None:
    with pytest.raises(InvalidCommand) as info:
        LaunchOptions(**kwargs)
    assert str(info.value).startswith(name), str(info.value)


@pytest.mark.parametrize(
    ("endpoint", "kwargs", "name"),
    [
        (None, {"headers": "x"}, "headers"),
        (None, {"headers": {1: "a"}}, "headers"),
        (None, {"headers": {"X-Token": 1}}, "headers['X-Token']"),
        (None, {"headers": {"X-Token": "a\r\nInjected: yes"}}, "headers['X-Token']"),
        (None, {"headers": {"Bad Name": "a"}}, "headers"),
        (None, {"dialog_policy": "maybe"}, "dialog_policy"),
        (None, {"connect_timeout": -1}, "connect_timeout"),
        (None, {"transport": "pigeon"}, "transport"),
        (True, {}, "endpoint"),
        (0, {}, "endpoint"),
        (70000, {}, "endpoint"),
        ("nowhere", {}, "endpoint"),
    ],
)
def test_connect_rejects_bad_arguments_before_connecting(
    endpoint: Any, kwargs: Dict[str, Any], name: str, dead_port: int
) -> None:
    target = dead_port if endpoint is None else endpoint
    for make in (connect, Browser):
        with pytest.raises(InvalidCommand) as info:
            make(target, **kwargs)
        assert str(info.value).startswith(name), str(info.value)
    assert _syncdp_threads() == []


def test_connect_without_an_endpoint_is_invalid() -> None:
    with pytest.raises(InvalidCommand, match="endpoint must be"):
        connect(None)  # type: ignore[arg-type]


@needs_chromium
def test_the_accepted_forms_of_each_option_still_launch() -> None:
    # A Path, a list for window_size, a tuple of arguments: all fine, and normalized.
    with Chrome(
        binary_location=Path(CHROMIUM),  # type: ignore[arg-type]
        window_size=[800, 600],  # type: ignore[arg-type]
        arguments=("--lang=en-US",),
        dialog_policy="accept",
        start_timeout=30,
        connect_timeout=5,
    ) as browser:
        tab = browser.get_page()
        assert tab.execute_script("[innerWidth, innerHeight]") == [800, 600]
        with connect(browser.process.port, headers={"X-Test": "1"}) as other:
            assert "Chrome" in other.version()["product"]


# -- finding 7: Ctrl-C during Chrome.stop() ----------------------------------------------------


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
            browser.stop()
            timer.join()  # the interrupt lands here if stop() was quicker
        except KeyboardInterrupt:
            pass
    finally:
        timer.join()
        signal.signal(signal.SIGINT, previous)
    assert not browser.started

    browser.stop()  # finishes whatever the interrupted one left
    assert not alive(pid)
    assert group_members(pid) == []
    assert not os.path.exists(profile)
    assert _syncdp_threads() == []


# -- finding 21: start() after stop() ----------------------------------------------------------


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


# -- finding 22: a stopped connect() browser -------------------------------------------------


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


# -- finding 23: started after the browser is killed --------------------------------------------


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
