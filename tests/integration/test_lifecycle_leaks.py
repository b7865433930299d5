"""No Chromium process, temporary profile or syncdp thread outlives a ``Chrome``.

Checked after ``stop()``, after an exception in a ``with`` block, after a forgotten
``stop()`` at interpreter exit and after SIGKILL of the owning Python process. Processes
are found through ``/proc`` and ``pgrep -f <profile dir>`` (every browser process carries
the profile path on its command line).
"""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Iterator, List, Tuple

import pytest

from pages import PAGES, alive, assert_browser_gone, needs_chromium, pgrep_f, run_python, wait_until
from syncdp import Chrome
from syncdp.localserver import LocalServer

pytestmark = [pytest.mark.integration, needs_chromium, pytest.mark.timeout(90)]


@pytest.fixture
def private_tmpdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Temporary profiles go to a private directory, which must be empty afterwards."""
    directory = tmp_path / "tmp"
    directory.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(directory))
    yield directory
    leftovers = sorted(p.name for p in directory.iterdir())
    assert not leftovers, "left behind in the temporary directory: %s" % leftovers


def _syncdp_threads() -> List[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("syncdp-") and t.is_alive()]


def _read_pid_and_profile(owner: "subprocess.Popen[str]") -> Tuple[int, str]:
    assert owner.stdout is not None
    line = owner.stdout.readline()
    if not line:
        _, err = owner.communicate(timeout=10)
        pytest.fail("the owner process printed nothing; stderr:\n" + err)
    pid, profile = line.split(None, 1)
    return int(pid), profile.strip()


def test_stop_leaves_nothing(private_tmpdir: Path) -> None:
    before = set(_syncdp_threads())
    with LocalServer(PAGES) as server:
        chrome = Chrome().start()
        try:
            pid, profile = chrome.process.pid, chrome.process.user_data_dir
            assert Path(profile).parent == private_tmpdir
            tab = chrome.new_tab()
            tab.go_to(server.url("/"))
            assert tab.title == "syncdp index"
            assert pid in pgrep_f(profile)  # the check below can see the browser
            assert len(pgrep_f(profile)) > 1  # renderers, zygotes, utilities too
        finally:
            chrome.stop()
    assert_browser_gone(pid, profile)
    assert set(_syncdp_threads()) <= before


def test_exception_in_with_block_leaves_nothing(private_tmpdir: Path) -> None:
    with pytest.raises(KeyError):
        with Chrome() as chrome:
            pid, profile = chrome.process.pid, chrome.process.user_data_dir
            chrome.get_page().execute_script("1")
            raise KeyError("boom")
    assert_browser_gone(pid, profile)


def test_forgotten_stop_is_cleaned_up_at_interpreter_exit(private_tmpdir: Path) -> None:
    owner = run_python(
        """
        from syncdp import Chrome
        browser = Chrome().start()
        tab = browser.new_tab()
        assert tab.execute_script("6 * 7") == 42  # tab connection open at exit too
        print(browser.process.pid, browser.process.user_data_dir, flush=True)
        # no browser.stop()
        """,
        private_tmpdir,
    )
    try:
        pid, profile = _read_pid_and_profile(owner)
        assert Path(profile).parent == private_tmpdir
        _, err = owner.communicate(timeout=30)  # the exit must not hang
        assert owner.returncode == 0, err
        assert_browser_gone(pid, profile)
        assert "Traceback" not in err, err
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.communicate()


@pytest.mark.parametrize("used", ["unused", "with tabs", "dialog policy"])
def test_forgotten_browser_is_stopped_when_garbage_collected(private_tmpdir: Path, used: str) -> None:
    """The notebook pattern: ``browser = Chrome().start()`` run twice rebinds the name, and
    the first browser must end with its last reference, not at kernel exit."""
    before = set(_syncdp_threads())
    browser = Chrome(dialog_policy="accept" if used == "dialog policy" else None).start()
    pid, profile = browser.process.pid, browser.process.user_data_dir
    if used != "unused":
        tab = browser.get_page()
        assert tab.execute_script("6 * 7") == 42
        browser.new_tab().execute_script("1")
        del tab
    browser = Chrome()  # rebinding drops the last reference to the first one
    gc.collect()
    assert_browser_gone(pid, profile)
    wait_until(lambda: set(_syncdp_threads()) == before, 5,
               "threads left: %s" % (set(_syncdp_threads()) - before))


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_watchdog_killed_by_a_signal_takes_the_browser_along(private_tmpdir: Path, sig: int) -> None:
    """``pkill -f python`` or a service manager may signal the watchdog itself."""
    chrome = Chrome().start()
    try:
        pid, profile = chrome.process.pid, chrome.process.user_data_dir
        with open("/proc/%d/stat" % pid) as fh:
            watchdog = int(fh.read().rsplit(")", 1)[1].split()[1])
        assert watchdog != os.getpid()
        os.kill(watchdog, sig)
        assert_browser_gone(pid, profile)
    finally:
        chrome.stop()


def test_owner_killed_with_sigkill_takes_the_browser_along(private_tmpdir: Path) -> None:
    owner = run_python(
        """
        import time
        from syncdp import Chrome
        browser = Chrome().start()
        browser.new_tab().execute_script("1")
        print(browser.process.pid, browser.process.user_data_dir, flush=True)
        time.sleep(60)
        """,
        private_tmpdir,
    )
    try:
        pid, profile = _read_pid_and_profile(owner)
        assert alive(pid)
        assert pgrep_f(profile)
        os.kill(owner.pid, signal.SIGKILL)
        owner.wait(10)
        assert_browser_gone(pid, profile, timeout=5)
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait()
        owner.communicate()
