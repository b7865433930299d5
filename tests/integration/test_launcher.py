"""syncdp.launcher against real headless Chromium and a few fake browsers.

Processes are checked through /proc (no psutil): a pid counts as gone when /proc has no
entry for it or it is a zombie. Waits poll a condition with a deadline.
"""

from __future__ import annotations

import gc
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import websocket

from syncdp.exceptions import BrowserLaunchError, BrowserNotFoundError, InvalidCommand
from syncdp.launcher import DEFAULT_ARGS, BrowserProcess, LaunchOptions, find_browser
from syncdp.launcher import find as launcher_find
from syncdp.launcher.options import build_command

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

CHROMIUM = "/usr/bin/chromium"
REPO_ROOT = Path(__file__).resolve().parents[2]
FAKES_DIR = Path(__file__).resolve().parent / "fakebrowsers"

needs_chromium = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs " + CHROMIUM)
needs_root = pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root"
)


# -- helpers -------------------------------------------------------------------------------


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (state first), or None."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            data = fh.read()
    except OSError:
        return None
    return data.rsplit(")", 1)[1].split()


def alive(pid: int) -> bool:
    """True if ``pid`` exists and is not a zombie."""
    fields = _stat_fields(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes whose process group is ``pgid``."""
    members = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(int(entry))
            if fields is not None and fields[0] not in ("Z", "X") and int(fields[2]) == pgid:
                members.append(int(entry))
    return members


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def pgrep_f(pattern: str) -> list[int]:
    result = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True,
                            check=False)
    return [int(pid) for pid in result.stdout.split() if alive(int(pid))]


def version_info(port: int) -> dict[str, str]:
    with requests.Session() as session:
        session.trust_env = False  # no proxies for loopback
        response = session.get(f"http://127.0.0.1:{port}/json/version", timeout=10)
        response.raise_for_status()
        data: dict[str, str] = response.json()
        return data


def tcp_listeners(port: int, table: str) -> list[str]:
    """Local addresses (hex, as in /proc/net/<table>) listening on ``port``."""
    addresses = []
    try:
        with open("/proc/net/" + table) as fh:
            lines = fh.read().splitlines()[1:]
    except OSError:
        return []
    for line in lines:
        fields = line.split()
        address, _, hex_port = fields[1].partition(":")
        if int(hex_port, 16) == port and fields[3] == "0A":  # 0A = LISTEN
            addresses.append(address)
    return addresses


def singleton_dir(profile: str) -> str | None:
    try:
        return os.path.dirname(os.readlink(os.path.join(profile, "SingletonSocket")))
    except OSError:
        return None


def launcher_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate()
            if t.name.startswith("syncdp-launcher-stderr-") and t.is_alive()]


def run_owner(script: str, tmpdir: Path) -> subprocess.Popen[str]:
    """Run ``script`` in a fresh interpreter that can import syncdp from the repo.

    Its temporary profiles go to ``tmpdir`` (through ``tempfile.tempdir``, not $TMPDIR:
    Chromium's singleton socket path under a long $TMPDIR would exceed the socket limit).
    """
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    prologue = f"import tempfile\ntempfile.tempdir = {str(tmpdir)!r}\n"
    return subprocess.Popen(
        [sys.executable, "-c", prologue + textwrap.dedent(script)],
        cwd=str(REPO_ROOT), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )


def read_pid_and_profile(owner: subprocess.Popen[str]) -> tuple[int, str]:
    assert owner.stdout is not None
    line = owner.stdout.readline()
    if not line:
        _, err = owner.communicate(timeout=10)
        pytest.fail("owner process printed nothing; stderr:\n" + err)
    pid, profile = line.split(None, 1)
    return int(pid), profile.strip()


# -- fixtures ------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def private_tmpdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Temporary profiles go to a private directory, checked for leftovers afterwards."""
    directory = tmp_path / "tmp"
    directory.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(directory))
    yield directory
    leftovers = sorted(p.name for p in directory.iterdir() if p.name.startswith("syncdp-"))
    assert not leftovers, f"temporary profiles left behind: {leftovers}"


@pytest.fixture
def fakes(tmp_path: Path) -> dict[str, str]:
    """The fake browsers, copied to tmp_path, made executable, run by this interpreter."""
    target = tmp_path / "fakebrowsers"
    target.mkdir()
    paths = {}
    for source in FAKES_DIR.iterdir():
        if not source.is_file():
            continue
        text = source.read_text()
        if source.suffix == ".py":
            text = f"#!{sys.executable}\n" + text.split("\n", 1)[1]
        dest = target / source.name
        dest.write_text(text)
        dest.chmod(0o755)
        paths[source.stem] = str(dest)
    return paths


@pytest.fixture
def browser() -> Iterator[BrowserProcess]:
    """A started real Chromium with default options, always stopped afterwards."""
    proc = BrowserProcess()
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


# -- find_browser --------------------------------------------------------------------------


@needs_chromium
def test_find_browser_finds_system_chromium(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SYNCDP_BROWSER", raising=False)
    monkeypatch.delenv("CHROME_PATH", raising=False)
    found = find_browser()
    assert os.path.samefile(found, CHROMIUM)
    assert find_browser(CHROMIUM) == CHROMIUM
    assert find_browser("chromium") == shutil.which("chromium")


def test_find_browser_environment_variables(
    monkeypatch: pytest.MonkeyPatch, fakes: dict[str, str], tmp_path: Path
) -> None:
    monkeypatch.setenv("SYNCDP_BROWSER", fakes["never_ready"])
    monkeypatch.setenv("CHROME_PATH", fakes["stderr_only"])
    assert find_browser() == fakes["never_ready"]
    monkeypatch.delenv("SYNCDP_BROWSER")
    assert find_browser() == fakes["stderr_only"]
    # An explicit argument wins over the environment.
    assert find_browser(fakes["exit_with_error"]) == fakes["exit_with_error"]



@pytest.mark.parametrize("var", ["SYNCDP_BROWSER", "CHROME_PATH"])
def test_find_browser_variable_pointing_nowhere_is_an_error_naming_it(
    monkeypatch: pytest.MonkeyPatch, fakes: dict[str, str], tmp_path: Path, var: str
) -> None:
    """A browser found elsewhere would run against what the user set: fail, naming it."""
    monkeypatch.delenv("SYNCDP_BROWSER", raising=False)
    monkeypatch.delenv("CHROME_PATH", raising=False)
    missing = str(tmp_path / "missing")
    monkeypatch.setenv(var, missing)
    with pytest.raises(BrowserNotFoundError) as info:
        find_browser()
    assert info.value.variable == var and info.value.tried == [missing]
    assert str(info.value).startswith("%s=%r is not an executable file" % (var, missing))
    assert find_browser(fakes["never_ready"]) == fakes["never_ready"]  # an argument still wins


def test_find_browser_explicit_bad_path(tmp_path: Path) -> None:
    missing = str(tmp_path / "no-such-browser")
    with pytest.raises(BrowserNotFoundError) as info:
        find_browser(missing)
    assert info.value.tried == [missing]
    assert missing in str(info.value)

    not_executable = tmp_path / "not-executable"
    not_executable.write_text("#!/bin/sh\n")
    not_executable.chmod(0o644)
    for bad in (str(not_executable), str(tmp_path)):  # a plain file, a directory
        with pytest.raises(BrowserNotFoundError) as info:
            find_browser(bad)
        assert info.value.tried == [bad]


def test_find_browser_nothing_found_lists_everything_tried(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake_install = str(tmp_path / "opt" / "chrome")
    monkeypatch.setenv("PATH", "")
    monkeypatch.delenv("CHROME_PATH", raising=False)
    monkeypatch.delenv("SYNCDP_BROWSER", raising=False)
    monkeypatch.setattr(launcher_find, "install_paths", lambda: [fake_install])
    with pytest.raises(BrowserNotFoundError) as info:
        find_browser()
    tried = info.value.tried
    assert info.value.variable is None
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable",
                 "chrome", "msedge"):
        assert name in tried
    assert tried[-1] == fake_install
    assert fake_install in str(info.value) and "google-chrome" in str(info.value)


def test_find_browser_prefers_a_full_browser_to_a_headless_shell(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("chromium", "chromium-headless-shell"):
        exe = tmp_path / name
        exe.write_text("#!/bin/sh\n")
        exe.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("CHROME_PATH", raising=False)
    monkeypatch.delenv("SYNCDP_BROWSER", raising=False)
    monkeypatch.setattr(launcher_find, "install_paths", lambda: [])
    assert find_browser() == str(tmp_path / "chromium")
    (tmp_path / "chromium").unlink()  # only the headless-only build left: found, not an error
    assert find_browser() == str(tmp_path / "chromium-headless-shell")


@pytest.mark.parametrize("binary", ["/usr/lib/chromium/chromium-headless-shell",
                                    "/opt/cft/chrome-headless-shell-linux64/chrome-headless-shell"])
def test_a_headless_shell_gets_no_headless_flag_isolates_sites_and_refuses_a_window(
    binary: str,
) -> None:
    assert launcher_find.is_headless_shell(binary)
    command = build_command(binary, LaunchOptions(), "/tmp/profile")
    assert not any(arg.startswith("--headless") for arg in command)
    assert "--site-per-process" in command  # out-of-process iframes, as full Chromium's default
    with pytest.raises(InvalidCommand, match="headless=False: .* is a headless-only build"):
        build_command(binary, LaunchOptions(headless=False), "/tmp/profile")
    assert "--headless=new" in build_command(CHROMIUM, LaunchOptions(), "/tmp/profile")
    assert not launcher_find.is_headless_shell(CHROMIUM)


HEADLESS_SHELL = "/usr/lib/chromium/chromium-headless-shell"


@pytest.mark.skipif(not os.path.exists(HEADLESS_SHELL) and not os.environ.get("CI"),
                    reason="needs Debian's chromium-headless-shell (.ci/ensure-chromium installs it)")
def test_a_headless_shell_launches_and_a_window_is_refused_before_anything_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with BrowserProcess(LaunchOptions(binary_location=HEADLESS_SHELL)) as proc:
        version = requests.get("http://127.0.0.1:%d/json/version" % proc.port, timeout=10).json()
        assert version["Browser"].startswith("HeadlessChrome/")
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))  # where the profile would go
    proc = BrowserProcess(LaunchOptions(binary_location=HEADLESS_SHELL, headless=False))
    with pytest.raises(InvalidCommand, match="headless-only build"):
        proc.start()
    assert proc.pid is None
    assert os.listdir(temp) == []  # the temporary profile was removed again


def test_install_paths_cover_linux_locations() -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("linux paths")
    paths = launcher_find.install_paths()
    for expected in ("/usr/bin/chromium", "/snap/bin/chromium", "/opt/google/chrome/chrome"):
        assert expected in paths


def test_start_with_missing_binary_leaves_nothing(tmp_path: Path) -> None:
    proc = BrowserProcess(LaunchOptions(binary_location=str(tmp_path / "missing")))
    with pytest.raises(BrowserNotFoundError):
        proc.start()
    assert proc.pid is None and not proc.is_running()
    proc.stop()  # a no-op, not an error


def test_start_with_unexecutable_file_raises_launch_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk-browser"
    junk.write_bytes(b"\x00\x01 this is not a program\n")  # no shebang, not ELF
    junk.chmod(0o755)
    started = time.monotonic()
    with pytest.raises(BrowserLaunchError) as info:
        BrowserProcess(LaunchOptions(binary_location=str(junk), start_timeout=10)).start()
    assert time.monotonic() - started < 5
    assert "cannot execute" in str(info.value) and str(junk) in str(info.value)
    assert "Exec format error" in str(info.value)


def test_reserved_arguments_are_rejected_before_spawning() -> None:
    for arg in ("--remote-debugging-port=9222", "--user-data-dir=/tmp/x",
                "--remote-debugging-address=0.0.0.0"):
        with pytest.raises(InvalidCommand, match="not allowed"):  # a ValueError too
            LaunchOptions(binary_location=CHROMIUM, arguments=[arg])
        # Options changed after construction are checked again by start().
        options = LaunchOptions(binary_location=CHROMIUM)
        options.arguments.append(arg)
        proc = BrowserProcess(options)
        with pytest.raises(ValueError, match="not allowed"):
            proc.start()
        assert proc.pid is None


# -- real Chromium -------------------------------------------------------------------------


@needs_chromium
def test_start_publishes_loopback_endpoint(
    browser: BrowserProcess, private_tmpdir: Path
) -> None:
    assert browser.is_running()
    assert browser.pid is not None and alive(browser.pid)
    assert 0 < browser.port < 65536 and browser.port != 9222
    assert browser.ws_url.startswith(f"ws://127.0.0.1:{browser.port}/devtools/browser/")

    info = version_info(browser.port)
    assert info["webSocketDebuggerUrl"] == browser.ws_url
    assert "Chrome" in info["Browser"]

    # DevTools listens on IPv4 loopback only.
    assert tcp_listeners(browser.port, "tcp") == ["0100007F"]
    assert tcp_listeners(browser.port, "tcp6") == []

    profile = browser.user_data_dir
    assert os.path.dirname(profile) == str(private_tmpdir)
    assert os.path.basename(profile).startswith("syncdp-profile-")
    assert os.stat(profile).st_mode & 0o777 == 0o700

    with open(f"/proc/{browser.pid}/cmdline", "rb") as fh:
        argv = fh.read().decode().split("\0")
    assert "--remote-debugging-port=0" in argv
    assert "--remote-debugging-address=127.0.0.1" in argv
    assert "--user-data-dir=" + profile in argv
    # A headless-only build (tox's py310-py312 launch one) is headless without the flag.
    assert ("--headless=new" in argv) != launcher_find.is_headless_shell(argv[0])
    assert "--window-size=1280,720" in argv
    assert not any(arg.startswith("--remote-allow-origins") for arg in argv)
    assert ("--no-sandbox" in argv) == (os.geteuid() == 0)
    assert len(launcher_threads()) == 1


@needs_chromium
def test_stop_kills_the_group_and_removes_the_profile() -> None:
    proc = BrowserProcess()
    proc.start()
    pid, profile = proc.pid, proc.user_data_dir
    assert pid is not None
    assert wait_until(lambda: len(group_members(pid)) >= 2, 10)  # zygotes, renderers...
    members = group_members(pid)
    sock_dir = singleton_dir(profile)

    started = time.monotonic()
    proc.stop()
    assert time.monotonic() - started < 5
    assert [m for m in members if alive(m)] == []
    assert group_members(pid) == []
    assert not os.path.exists(profile)
    if sock_dir is not None:
        assert not os.path.exists(sock_dir)  # Chrome's singleton socket dir in $TMPDIR
    assert not proc.is_running()
    assert proc.returncode is not None
    assert launcher_threads() == []
    proc.stop()  # idempotent
    proc.stop(timeout=0)


@needs_chromium
def test_stop_after_the_browser_closed_itself() -> None:
    proc = BrowserProcess()
    proc.start()
    pid, profile = proc.pid, proc.user_data_dir
    assert pid is not None
    ws = websocket.create_connection(proc.ws_url, timeout=10, suppress_origin=True)
    try:
        ws.send('{"id": 1, "method": "Browser.close"}')
        assert '"id":1' in ws.recv()
    finally:
        ws.close()
    assert wait_until(lambda: not proc.is_running(), 10)
    assert proc.returncode == 0
    proc.stop()
    assert group_members(pid) == []
    assert not os.path.exists(profile)


@needs_chromium
def test_user_data_dir_is_kept_and_reusable(tmp_path: Path) -> None:
    profile = tmp_path / "my profile"
    for _ in range(2):  # the second launch proves the first left no stale lock behind
        proc = BrowserProcess(LaunchOptions(user_data_dir=str(profile)))
        proc.start()
        assert proc.user_data_dir == str(profile)
        assert version_info(proc.port)["webSocketDebuggerUrl"] == proc.ws_url
        pid = proc.pid
        assert pid is not None
        proc.stop()
        assert group_members(pid) == []
        assert profile.is_dir()
        assert (profile / "Local State").exists() or (profile / "Default").exists()
        assert not os.path.lexists(profile / "SingletonLock")


@needs_chromium
def test_context_manager() -> None:
    with BrowserProcess() as proc:
        assert proc.is_running()
        pid, profile = proc.pid, proc.user_data_dir
        assert pid is not None and alive(pid)
        assert version_info(proc.port)["webSocketDebuggerUrl"] == proc.ws_url
    assert not proc.is_running()
    assert group_members(pid) == [] and not os.path.exists(profile)

    with pytest.raises(KeyError), BrowserProcess() as proc:
        pid, profile = proc.pid, proc.user_data_dir
        raise KeyError("boom")
    assert pid is not None and group_members(pid) == [] and not os.path.exists(profile)


@needs_chromium
def test_forgotten_stop_is_cleaned_up_at_interpreter_exit(private_tmpdir: Path) -> None:
    owner = run_owner(
        """
        import logging
        from syncdp.launcher import BrowserProcess
        logging.basicConfig(level=logging.WARNING)
        proc = BrowserProcess()
        proc.start()
        print(proc.pid, proc.user_data_dir, flush=True)
        """,
        private_tmpdir,
    )
    pid, profile = read_pid_and_profile(owner)
    _, err = owner.communicate(timeout=30)
    assert owner.returncode == 0, err
    assert wait_until(lambda: group_members(pid) == [], 5)
    assert wait_until(lambda: not os.path.exists(profile), 5)
    assert "was not stopped" in err  # the finalizer says why it killed the browser


@needs_chromium
def test_forgotten_stop_is_cleaned_up_on_garbage_collection() -> None:
    proc: BrowserProcess | None = BrowserProcess()
    assert proc is not None
    proc.start()
    pid, profile = proc.pid, proc.user_data_dir
    assert pid is not None and alive(pid)
    del proc
    gc.collect()
    assert wait_until(lambda: group_members(pid) == [], 5)
    assert wait_until(lambda: not os.path.exists(profile), 5)
    assert wait_until(lambda: launcher_threads() == [], 5)


@needs_chromium
def test_owner_killed_with_sigkill_takes_the_browser_along(private_tmpdir: Path) -> None:
    owner = run_owner(
        """
        import time
        from syncdp.launcher import BrowserProcess
        proc = BrowserProcess()
        proc.start()
        print(proc.pid, proc.user_data_dir, flush=True)
        time.sleep(60)
        """,
        private_tmpdir,
    )
    try:
        pid, profile = read_pid_and_profile(owner)
        assert alive(pid)
        assert pgrep_f(profile)  # the browser's processes carry the profile path
        os.kill(owner.pid, signal.SIGKILL)
        owner.wait(10)
        assert wait_until(lambda: not alive(pid), 5)
        assert wait_until(lambda: group_members(pid) == [], 5)
        assert wait_until(lambda: pgrep_f(profile) == [], 5)
        assert wait_until(lambda: not os.path.exists(profile), 5)  # the watchdog removed it
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait()
        owner.communicate()


@needs_chromium
def test_launch_from_a_thread_that_exits() -> None:
    launched: list[BrowserProcess] = []
    errors: list[Exception] = []

    def launch() -> None:
        try:
            proc = BrowserProcess()
            proc.start()
            launched.append(proc)
        except (BrowserLaunchError, BrowserNotFoundError, OSError) as exc:  # reported below
            errors.append(exc)

    thread = threading.Thread(target=launch)
    thread.start()
    thread.join(30)
    assert not thread.is_alive() and not errors
    proc = launched[0]
    try:
        pid = proc.pid
        assert pid is not None
        # The launching thread is gone: the browser must stay up (no PDEATHSIG surprise).
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            assert alive(pid) and proc.is_running()
            time.sleep(0.1)
        assert version_info(proc.port)["webSocketDebuggerUrl"] == proc.ws_url
    finally:
        proc.stop()
    assert group_members(pid) == []


@needs_chromium
def test_two_browsers_at_once_in_two_threads() -> None:
    barrier = threading.Barrier(2)
    launched: list[BrowserProcess] = []
    errors: list[Exception] = []
    lock = threading.Lock()

    def launch() -> None:
        try:
            proc = BrowserProcess()
            barrier.wait(10)
            proc.start()
            with lock:
                launched.append(proc)
        except (BrowserLaunchError, BrowserNotFoundError, OSError) as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=launch) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    try:
        assert not errors, errors
        assert len(launched) == 2
        first, second = launched
        assert first.port != second.port and first.pid != second.pid
        assert first.user_data_dir != second.user_data_dir
        for proc in launched:
            assert version_info(proc.port)["webSocketDebuggerUrl"] == proc.ws_url
    finally:
        stoppers = [threading.Thread(target=proc.stop) for proc in launched]
        for t in stoppers:
            t.start()
        for t in stoppers:
            t.join(30)
    for proc in launched:
        assert proc.pid is not None and group_members(proc.pid) == []
        assert not os.path.exists(proc.user_data_dir)


@needs_chromium
@needs_root
def test_real_chromium_failing_to_start_reports_exit_code_and_stderr() -> None:
    # As root, Chromium refuses to run with its sandbox: a real, fast startup failure.
    with pytest.raises(BrowserLaunchError) as info:
        BrowserProcess(LaunchOptions(no_sandbox=False)).start()
    assert info.value.returncode not in (None, 0)
    assert "--no-sandbox" in info.value.stderr_tail
    assert "--no-sandbox" in str(info.value)


# -- fake browsers -------------------------------------------------------------------------


def test_browser_exiting_at_startup_reports_code_and_stderr(fakes: dict[str, str]) -> None:
    started = time.monotonic()
    proc = BrowserProcess(LaunchOptions(binary_location=fakes["exit_with_error"],
                                        start_timeout=10))
    with pytest.raises(BrowserLaunchError) as info:
        proc.start()
    assert time.monotonic() - started < 5
    assert info.value.returncode == 1
    assert "simulated fatal startup error" in info.value.stderr_tail
    assert "simulated fatal startup error" in str(info.value)
    assert "exit code 1" in str(info.value)
    assert not proc.is_running()


def test_browser_never_publishing_its_endpoint_times_out(fakes: dict[str, str]) -> None:
    started = time.monotonic()
    with pytest.raises(BrowserLaunchError) as info:
        BrowserProcess(LaunchOptions(binary_location=fakes["never_ready"],
                                     start_timeout=2)).start()
    elapsed = time.monotonic() - started
    assert 2 <= elapsed < 4.5, elapsed
    assert "timed out after 2s" in str(info.value)
    assert info.value.returncode is None
    tail = info.value.stderr_tail
    assert "never ready" in tail
    fake_pid = int(tail.split("pid ", 1)[1].split(",", 1)[0])
    assert not alive(fake_pid)


def test_stop_kills_a_browser_ignoring_sigterm_and_its_grandchild(
    fakes: dict[str, str]
) -> None:
    proc = BrowserProcess(LaunchOptions(binary_location=fakes["ignore_sigterm"]))
    proc.start()
    with open(os.path.join(proc.user_data_dir, "fake-pids")) as fh:
        fake_pid, grandchild = (int(p) for p in fh.read().split())
    assert fake_pid == proc.pid
    assert alive(fake_pid) and alive(grandchild)
    assert sorted(group_members(fake_pid)) == sorted([fake_pid, grandchild])

    started = time.monotonic()
    proc.stop(timeout=1.0)
    elapsed = time.monotonic() - started
    assert 1.0 <= elapsed < 4, elapsed  # SIGTERM was ignored for the whole grace period
    assert not alive(fake_pid) and not alive(grandchild)
    assert proc.returncode == -signal.SIGKILL
    assert launcher_threads() == []


def _fake_pids(proc: BrowserProcess) -> tuple[int, int]:
    with open(os.path.join(proc.user_data_dir, "fake-pids")) as fh:
        fake_pid, grandchild = (int(p) for p in fh.read().split())
    return fake_pid, grandchild


def test_stop_closing_lets_the_browser_exit_by_itself_then_kills_the_rest(
    fakes: dict[str, str], tmp_path: Path
) -> None:
    # The fake exits 2 s after publishing its endpoint, writing "Cookies" last; it
    # ignores SIGTERM, so any signal before its own exit would leave no file and code -9.
    profile = tmp_path / "profile"
    proc = BrowserProcess(
        LaunchOptions(binary_location=fakes["closing"], user_data_dir=str(profile))
    )
    proc.start()
    fake_pid, grandchild = _fake_pids(proc)
    started = time.monotonic()
    proc.stop(timeout=10.0, closing=True)
    assert time.monotonic() - started < 5
    assert (profile / "Cookies").read_text() == "session=kept\n"
    assert proc.returncode == 0  # it exited by itself
    assert not alive(grandchild) and group_members(fake_pid) == []  # the rest was killed
    assert profile.is_dir() and launcher_threads() == []


def test_stop_without_closing_signals_the_browser_at_once(
    fakes: dict[str, str], tmp_path: Path
) -> None:
    profile = tmp_path / "profile"
    proc = BrowserProcess(
        LaunchOptions(binary_location=fakes["closing"], user_data_dir=str(profile))
    )
    proc.start()
    fake_pid, _ = _fake_pids(proc)
    proc.stop(timeout=0.1)  # SIGTERM (ignored), 0.1 s, SIGKILL: well before its own exit
    assert proc.returncode == -signal.SIGKILL
    assert not (profile / "Cookies").exists()
    assert group_members(fake_pid) == []


def test_stop_closing_is_bounded_when_the_browser_never_exits(
    fakes: dict[str, str], tmp_path: Path
) -> None:
    proc = BrowserProcess(
        LaunchOptions(binary_location=fakes["ignore_sigterm"], user_data_dir=str(tmp_path / "p"))
    )
    proc.start()
    fake_pid, grandchild = _fake_pids(proc)
    started = time.monotonic()
    proc.stop(timeout=1.0, closing=True)
    elapsed = time.monotonic() - started
    # 1 s for its own exit, at most 1 s more after SIGTERM (ignored), then SIGKILL.
    assert 1.0 <= elapsed < 5, elapsed
    assert proc.returncode == -signal.SIGKILL
    assert not alive(grandchild) and group_members(fake_pid) == []


def _stop_interrupted_after(proc: BrowserProcess, delay: float) -> None:
    """Call proc.stop() and Ctrl-C it ``delay`` s later (a real SIGINT to this process)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        # A loaded machine may deliver the interrupt before stop() has begun: then try again
        # (a bounded number of times), so that it lands inside stop() as the callers expect.
        for _ in range(3):
            timer = threading.Timer(delay, os.kill, (os.getpid(), signal.SIGINT))
            try:
                with pytest.raises(KeyboardInterrupt):
                    timer.start()
                    proc.stop(timeout=30.0)  # the fake ignores SIGTERM: stop() waits the grace
            finally:
                timer.join()
            if not proc.is_running():
                return
    finally:
        signal.signal(signal.SIGINT, previous)


def test_interrupted_stop_is_finished_by_the_next_stop(fakes: dict[str, str]) -> None:
    proc = BrowserProcess(LaunchOptions(binary_location=fakes["ignore_sigterm"]))
    proc.start()
    pid, profile = proc.pid, proc.user_data_dir
    assert pid is not None

    _stop_interrupted_after(proc, 0.3)  # lands in the SIGTERM grace period
    assert not proc.is_running()  # the owner asked for the stop
    assert alive(pid) and os.path.isdir(profile)  # what the interrupted stop left undone

    started = time.monotonic()
    proc.stop(timeout=0.2)
    assert time.monotonic() - started < 5
    assert group_members(pid) == []
    assert not os.path.exists(profile)
    assert proc.returncode == -signal.SIGKILL
    assert launcher_threads() == []
    proc.stop()  # still idempotent


def test_interrupted_stop_is_finished_by_garbage_collection(
    fakes: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    proc: BrowserProcess | None = BrowserProcess(
        LaunchOptions(binary_location=fakes["ignore_sigterm"])
    )
    assert proc is not None
    proc.start()
    pid, profile = proc.pid, proc.user_data_dir
    assert pid is not None
    _stop_interrupted_after(proc, 0.3)
    assert alive(pid)
    del proc
    gc.collect()  # the finalizer finishes the stop, it does not treat it as done
    assert group_members(pid) == []
    assert not os.path.exists(profile)
    assert launcher_threads() == []
    assert "finishing an interrupted stop()" in caplog.text


def test_is_running_turns_false_as_soon_as_the_browser_is_killed(
    fakes: dict[str, str]
) -> None:
    with BrowserProcess(LaunchOptions(binary_location=fakes["ignore_sigterm"])) as proc:
        pid = proc.pid
        assert pid is not None and proc.is_running()
        os.kill(pid, signal.SIGKILL)
        assert not proc.is_running()  # at once, not when the watchdog gets round to it
        assert proc.returncode == -signal.SIGKILL  # and the exit status is there to read
    assert group_members(pid) == []


def test_stop_after_the_watchdog_was_sigkilled_still_ends_the_browser(
    fakes: dict[str, str]
) -> None:
    # SIGKILL gives the watchdog no chance to take the browser along: the browser runs on,
    # re-parented, and the owner must still recognise it as its own and end it.
    proc = BrowserProcess(LaunchOptions(binary_location=fakes["ignore_sigterm"]))
    proc.start()
    fake_pid, grandchild = _fake_pids(proc)
    fields = _stat_fields(fake_pid)
    assert fields is not None
    watchdog = int(fields[1])
    assert watchdog != os.getpid()
    os.kill(watchdog, signal.SIGKILL)
    assert wait_until(lambda: not alive(watchdog), 5)
    assert proc.is_running() and alive(fake_pid)
    proc.stop(timeout=0.2)
    assert wait_until(lambda: group_members(fake_pid) == [], 5)
    assert not alive(grandchild) and not proc.is_running()
    assert not os.path.exists(proc.user_data_dir) and launcher_threads() == []


def test_stop_kills_a_double_forked_daemon_outside_the_group(fakes: dict[str, str]) -> None:
    # A double-forked daemon in a session of its own (as Chromium's crashpad handlers are)
    # escapes the process-group kill; it reaches the watchdog (a subreaper) when its parent
    # dies, and must not outlive stop() under PID 1 holding the browser's stderr pipe open.
    proc = BrowserProcess(LaunchOptions(binary_location=fakes["daemon"]))
    proc.start()
    middle, daemon = _fake_pids(proc)
    assert alive(middle) and alive(daemon)
    started = time.monotonic()
    proc.stop(timeout=1.0)
    assert time.monotonic() - started < 3  # no wait for a child that never ends
    assert wait_until(lambda: not alive(middle) and not alive(daemon), 2)
    assert launcher_threads() == []  # stderr reached EOF: nobody holds the pipe any more


def test_endpoint_read_from_stderr_when_no_devtoolsactiveport(fakes: dict[str, str]) -> None:
    with BrowserProcess(LaunchOptions(binary_location=fakes["stderr_only"])) as proc:
        assert proc.port == 45678
        assert proc.ws_url == "ws://127.0.0.1:45678/devtools/browser/fake-stderr-id"
        assert "fakebrowser: starting" in proc.stderr_tail
        pid = proc.pid
    assert pid is not None and not alive(pid)


def test_stderr_is_drained_and_bounded(tmp_path: Path) -> None:
    # 20000 lines (~1.4 MB) would fill a 64 KiB pipe many times over if nobody drained it.
    chatty = tmp_path / "chatty"
    chatty.write_text(
        "#!/bin/sh\n"
        'i=0; while [ $i -lt 20000 ]; do echo "noise line $i of stderr output" >&2;'
        " i=$((i+1)); done\n"
        'for a in "$@"; do case "$a" in --user-data-dir=*) d="${a#--user-data-dir=}";;'
        " esac; done\n"
        'printf "1\\n/devtools/browser/chatty\\n" > "$d/DevToolsActivePort"\n'
        "exec sleep 60\n"
    )
    chatty.chmod(0o755)
    with BrowserProcess(LaunchOptions(binary_location=str(chatty), start_timeout=30)) as proc:
        assert proc.port == 1
        last = "noise line 19999 of stderr output"
        assert wait_until(lambda: proc.stderr_tail.endswith(last), 10)
        assert len(proc.stderr_tail.splitlines()) == 50


def recorded(proc: BrowserProcess) -> dict[str, Any]:
    with open(os.path.join(proc.user_data_dir, "fake-args.json")) as fh:
        data: dict[str, Any] = json.load(fh)
        return data


def test_command_line_defaults(fakes: dict[str, str]) -> None:
    with BrowserProcess(LaunchOptions(binary_location=fakes["record_args"])) as proc:
        argv = recorded(proc)["argv"]
        assert proc.port == 2
    assert argv[: len(DEFAULT_ARGS)] == list(DEFAULT_ARGS)
    assert "--remote-debugging-port=0" in argv
    assert "--remote-debugging-address=127.0.0.1" in argv
    assert "--headless=new" in argv and "--window-size=1280,720" in argv
    assert ("--no-sandbox" in argv) == (os.geteuid() == 0)
    assert not any(arg.startswith(("--proxy-server", "--remote-allow-origins")) for arg in argv)
    assert argv[-1] == "about:blank"


def test_command_line_follows_the_options(
    fakes: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNCDP_TEST_INHERITED", "inherited")
    options = LaunchOptions(
        binary_location=fakes["record_args"],
        headless=False,
        window_size=None,
        proxy="http://127.0.0.1:3128",
        no_sandbox=False,
        arguments=["--lang=fr", "--disable-features=Foo,Translate", "https://example.test/"],
        env={"SYNCDP_TEST_EXTRA": "extra"},
    )
    with BrowserProcess(options) as proc:
        data = recorded(proc)
    argv, env = data["argv"], data["env"]
    assert not any(arg.startswith(("--headless", "--window-size")) for arg in argv)
    assert "--no-sandbox" not in argv
    assert "--proxy-server=http://127.0.0.1:3128" in argv
    assert "--lang=fr" in argv
    assert argv[-1] == "https://example.test/" and "about:blank" not in argv
    features = [arg for arg in argv if arg.startswith("--disable-features=")]
    assert len(features) == 1  # merged: Chrome keeps only the last occurrence of a switch
    names = features[0].split("=", 1)[1].split(",")
    assert "Foo" in names and names.count("Translate") == 1 and "MediaRouter" in names
    assert env["SYNCDP_TEST_EXTRA"] == "extra"
    assert env["SYNCDP_TEST_INHERITED"] == "inherited"


@needs_chromium
def test_direct_mode_without_a_watchdog(
    monkeypatch: pytest.MonkeyPatch, fakes: dict[str, str]
) -> None:
    # What Windows and frozen applications get: the browser as a direct child.
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    with BrowserProcess() as proc:
        pid = proc.pid
        assert pid is not None
        fields = _stat_fields(pid)
        assert fields is not None and int(fields[1]) == os.getpid()  # parent: us
        assert version_info(proc.port)["webSocketDebuggerUrl"] == proc.ws_url
    assert group_members(pid) == []
    with pytest.raises(BrowserLaunchError) as info:
        BrowserProcess(LaunchOptions(binary_location=fakes["exit_with_error"])).start()
    assert info.value.returncode == 1
    assert "simulated fatal startup error" in info.value.stderr_tail


def test_launch_and_stop_with_descriptors_numbered_above_1024(fakes: dict[str, str]) -> None:
    # A process with many sockets open hands the launcher's pipes high descriptor numbers,
    # which select() refuses ("filedescriptor out of range").
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1200:
        pytest.skip("needs RLIMIT_NOFILE >= 1200")
    if soft != resource.RLIM_INFINITY and soft < 1200:
        resource.setrlimit(resource.RLIMIT_NOFILE, (1200, hard))
    held = []
    try:
        while not held or held[-1] < 1100:
            held.append(os.open(os.devnull, os.O_RDONLY))
        proc = BrowserProcess(LaunchOptions(binary_location=fakes["stderr_only"]))
        proc.start()
        try:
            assert proc.is_running() and proc.port == 45678
        finally:
            proc.stop(timeout=1.0)
        assert not proc.is_running() and proc.returncode is not None
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_start_twice_is_refused(fakes: dict[str, str]) -> None:
    with BrowserProcess(LaunchOptions(binary_location=fakes["stderr_only"])) as proc, \
            pytest.raises(RuntimeError):
        proc.start()
