"""Faults of the browser process: bad executables, stubborn browsers, a dying owner.

Scenarios 21 (invalid executable, exit 1, never ready), 22 (SIGTERM ignored, a forked
grandchild) and 23 (owner SIGKILLed; launch from a worker thread that exits). Temporary
profiles go to a private temporary directory that must be empty afterwards; processes are
found through ``/proc`` (every browser process carries its profile path on its command line).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest
from fake_cdp import wait_until
from faultkit import (
    REPO_ROOT,
    cmdline,
    copy_fake_browsers,
    group_members,
    needs_chromium,
    pid_alive,
    stays,
)

from syncdp import BrowserLaunchError, BrowserNotFoundError, Chrome
from syncdp.launcher import BrowserProcess, LaunchOptions

FAST = 1.0


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Temporary profiles are created here; nothing may be left in it afterwards.

    A short path: Chromium puts its singleton socket under TMPDIR and refuses long paths.
    (``tmp_path`` is requested first so that pytest makes its own base directory before
    ``tempfile.tempdir`` is patched.)
    """
    directory = Path(tempfile.mkdtemp(prefix="sdpf-", dir="/tmp"))
    monkeypatch.setattr(tempfile, "tempdir", str(directory))
    try:
        yield directory
        leftovers = sorted(p.name for p in directory.iterdir())
        assert not leftovers, "left behind in the temporary directory: %s" % leftovers
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def fakes(tmp_path: Path) -> Dict[str, str]:
    return copy_fake_browsers(tmp_path / "fakebrowsers")


def processes_mentioning(text: str) -> List[int]:
    """Live processes whose command line contains ``text`` (this process excluded)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            if any(text in arg for arg in cmdline(int(entry))) and pid_alive(int(entry)):
                found.append(int(entry))
        except OSError:
            continue
    return found


# -- 21. browsers that cannot start ------------------------------------------------------------


@pytest.mark.scenario("21", "invalid executable: BrowserNotFoundError / BrowserLaunchError")
@pytest.mark.timeout(30)
def test_invalid_executables(private_tmp: Path, tmp_path: Path, figure: Any) -> None:
    missing = str(tmp_path / "no-such-browser")
    start = time.monotonic()
    with pytest.raises(BrowserNotFoundError) as info:
        Chrome(binary_location=missing).start()
    figure.time_to_fail(time.monotonic() - start)
    assert missing in str(info.value) and info.value.tried == [missing]
    assert time.monotonic() - start < FAST

    junk = tmp_path / "junk-browser"
    junk.write_bytes(b"\x00\x01 not a program\n")
    junk.chmod(0o755)
    start = time.monotonic()
    with pytest.raises(BrowserLaunchError) as launch:
        Chrome(binary_location=str(junk)).start()
    assert time.monotonic() - start < FAST + 1  # the watchdog interpreter starts first
    assert "cannot execute" in str(launch.value) and str(junk) in str(launch.value)
    assert processes_mentioning(str(private_tmp)) == []


@pytest.mark.scenario("21", "fake browser exiting 1: exit code and stderr tail")
@pytest.mark.timeout(30)
def test_browser_exiting_at_startup(private_tmp: Path, fakes: Dict[str, str], figure: Any) -> None:
    chrome = Chrome(binary_location=fakes["exit_with_error"], start_timeout=10)
    start = time.monotonic()
    with pytest.raises(BrowserLaunchError) as info:
        chrome.start()
    elapsed = time.monotonic() - start
    figure.time_to_fail(elapsed)
    error = info.value
    assert error.returncode == 1 and "exit code 1" in str(error)
    assert "simulated fatal startup error" in error.stderr_tail
    assert "simulated fatal startup error" in str(error)
    assert elapsed < FAST + 1
    assert not chrome.started
    assert processes_mentioning(str(private_tmp)) == []


@pytest.mark.scenario("21", "fake browser never printing its endpoint: launch timeout")
@pytest.mark.timeout(30)
def test_browser_never_ready_times_out(private_tmp: Path, fakes: Dict[str, str], figure: Any) -> None:
    chrome = Chrome(binary_location=fakes["never_ready"], start_timeout=1.0)
    start = time.monotonic()
    with pytest.raises(BrowserLaunchError) as info:
        chrome.start()
    elapsed = time.monotonic() - start
    figure.time_to_fail(elapsed)
    assert 1.0 <= elapsed < 1.0 + FAST + 1, elapsed
    assert "timed out after 1s" in str(info.value) and info.value.returncode is None
    tail = info.value.stderr_tail
    assert "never ready" in tail
    fake_pid = int(tail.split("pid ", 1)[1].split(",", 1)[0])
    assert not pid_alive(fake_pid)
    assert processes_mentioning(str(private_tmp)) == []


# -- 22. a browser that ignores SIGTERM and forks a grandchild -------------------------------


@pytest.mark.scenario("22", "browser ignoring SIGTERM with a forked grandchild: group killed")
@pytest.mark.timeout(30)
def test_stubborn_browser_group_is_killed(
    private_tmp: Path, fakes: Dict[str, str], figure: Any
) -> None:
    proc = BrowserProcess(LaunchOptions(binary_location=fakes["ignore_sigterm"]))
    proc.start()
    try:
        with open(os.path.join(proc.user_data_dir, "fake-pids")) as fh:
            fake_pid, grandchild = (int(p) for p in fh.read().split())
        assert fake_pid == proc.pid
        assert sorted(group_members(fake_pid)) == sorted([fake_pid, grandchild])
        os.kill(fake_pid, signal.SIGTERM)  # ignored, as promised
        assert stays(lambda: pid_alive(fake_pid), 0.2)
        start = time.monotonic()
        proc.stop(timeout=0.5)
        elapsed = time.monotonic() - start
    finally:
        proc.stop()
    figure.time_to_fail(elapsed)
    assert not pid_alive(fake_pid) and not pid_alive(grandchild)
    assert group_members(fake_pid) == []
    assert proc.returncode == -signal.SIGKILL
    assert 0.5 <= elapsed < 0.5 + FAST + 1, elapsed


# -- 23. the owner dies; the launching thread exits --------------------------------------------

OWNER = """
import sys, time
from syncdp.launcher import BrowserProcess, LaunchOptions
proc = BrowserProcess(LaunchOptions(binary_location=sys.argv[1] or None))  # None: Chromium
proc.start()
print(proc.pid, proc.user_data_dir, flush=True)
time.sleep(120)
"""


@pytest.mark.scenario("23", "owner process SIGKILLed: browser gone within 5 s")
@pytest.mark.parametrize(
    "browser", [pytest.param("chromium", marks=needs_chromium), "stubborn-fake"]
)
@pytest.mark.timeout(60)
def test_owner_sigkill_takes_the_browser_along(
    browser: str, private_tmp: Path, fakes: Dict[str, str], figure: Any
) -> None:
    binary = "" if browser == "chromium" else fakes["ignore_sigterm"]
    env = dict(os.environ, TMPDIR=str(private_tmp), PYTHONPATH=str(REPO_ROOT))
    owner = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(OWNER), binary],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )
    try:
        assert owner.stdout is not None
        line = owner.stdout.readline()
        if not line:
            pytest.fail("the owner printed nothing: %s" % owner.communicate(timeout=10)[1])
        pid_text, profile = line.split(None, 1)
        pid, profile = int(pid_text), profile.strip()
        members = group_members(pid)
        if browser != "chromium":
            with open(os.path.join(profile, "fake-pids")) as fh:
                members = [int(p) for p in fh.read().split()]
        assert members and all(pid_alive(m) for m in members)
        start = time.monotonic()
        os.kill(owner.pid, signal.SIGKILL)
        owner.wait(10)
        wait_until(lambda: not any(pid_alive(m) for m in members) and not group_members(pid), 5,
                   message="the browser outlived its owner by 5 s")
        gone = time.monotonic() - start
        wait_until(lambda: processes_mentioning(profile) == [], 5)
        wait_until(lambda: not os.path.exists(profile), 5, message="the profile was left behind")
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait()
        owner.communicate()
    figure.time_to_fail(gone)
    figure.note("browser gone %.2f s after the owner" % gone)
    assert gone < 5


@pytest.mark.scenario("23", "launch from a worker thread that exits: browser stays up")
@needs_chromium
@pytest.mark.timeout(60)
def test_launch_from_an_exiting_thread(private_tmp: Path) -> None:
    launched: List[Chrome] = []
    errors: List[BaseException] = []

    def launch() -> None:
        try:
            launched.append(Chrome().start())
        except BaseException as exc:  # asserted below
            errors.append(exc)

    worker = threading.Thread(target=launch, name="fault-launcher")
    worker.start()
    worker.join(30)
    assert not worker.is_alive() and errors == [] and len(launched) == 1
    chrome = launched[0]
    try:
        pid = chrome.process.pid
        # The launching thread is gone: no PDEATHSIG-style kill may follow.
        assert stays(lambda: pid_alive(pid) and chrome.process.is_running(), 1.5)
        assert chrome.version()["product"]
        tab = chrome.new_tab()
        assert tab.execute_script("21 * 2") == 42
    finally:
        chrome.stop()
    assert not pid_alive(pid) and group_members(pid) == []
