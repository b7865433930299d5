"""Shared fixtures: a fake CDP endpoint, a real headless Chromium, and a thread-leak guard.

* ``fake_cdp``: a started :class:`fake_cdp.FakeCDP` (see ``tests/fake_cdp.py``), stopped
  after the test.
* ``dead_port``: a loopback port with nothing listening on it.
* ``chromium`` (session scope): real headless Chromium with a fresh profile; has ``.port``
  and ``.ws_url``. Skips when ``/usr/bin/chromium`` (or ``$SYNCDP_TEST_CHROMIUM``) is
  missing, except in CI (``CI`` set), where the run stops with a usage error instead. The
  process group is killed and the profile removed at session end.
* an autouse guard that fails any test leaving ``syncdp-*`` threads behind.
* an autouse (session) fixture that makes SIGINT raise ``KeyboardInterrupt`` even when pytest
  was started with SIGINT ignored (a shell's ``&``, ``nohup``, some CI runners), so the
  Ctrl-C tests test syncdp, not the runner; child processes started by tests then get the
  default disposition back too.
* ``SYNCDP_TEST_BROWSER=headless-shell`` makes ``Chrome()`` launch chromium-headless-shell
  (tox's py310-py312; see ``_launch_a_headless_shell``).
* ``SYNCDP_TEST_BOOTSTRAP=1`` runs the tests marked ``bootstrap`` (the set-up from a bare
  ``PATH``: minutes, and once per machine, not once per Python: ``tox -e bootstrap``).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import warnings
from typing import Any, Iterator, List, Optional

import pytest
from fake_cdp import FakeCDP

CHROMIUM = os.environ.get("SYNCDP_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-port=0",
    "--remote-debugging-address=127.0.0.1",
]
THREAD_PREFIX = "syncdp-"
LEAK_GRACE = 3.0  # seconds a test's syncdp threads get to finish after it returns


# -- SIGINT as a terminal delivers it ------------------------------------------------------


@pytest.fixture(scope="session", autouse=True)
def _sigint_raises_keyboard_interrupt() -> Iterator[None]:
    """Restore Python's SIGINT handler when the runner started pytest with SIGINT ignored.

    A process started with SIGINT ignored keeps it ignored: ``os.kill(os.getpid(), SIGINT)``
    and ``_thread.interrupt_main()`` then do nothing, and children inherit the ignoring. With
    a handler installed here, signals land again, and exec() resets the disposition of a
    handled signal to the default, so subprocesses (kernels, examples) get Ctrl-C back too.
    Session scope: it is in place before any module fixture starts a subprocess.
    """
    previous = signal.getsignal(signal.SIGINT)
    if previous in (signal.SIG_IGN, signal.SIG_DFL, None):
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        if previous in (signal.SIG_IGN, signal.SIG_DFL):
            signal.signal(signal.SIGINT, previous)


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


# Debian's real binary first (/usr/bin/chromium-headless-shell is a shell script around it),
# then the names of Debian's package and of Chrome for Testing's build on PATH.
HEADLESS_SHELLS = ("/usr/lib/chromium/chromium-headless-shell", "chromium-headless-shell",
                   "chrome-headless-shell")


def _launch_a_headless_shell() -> None:
    """``SYNCDP_TEST_BROWSER=headless-shell`` (tox's py310-py312): ``Chrome()`` in the tests
    launches chromium-headless-shell (SYNCDP_BROWSER), 0.4x full Chromium's CPU per
    launch. Those Pythons test the library; full Chromium's own behaviour is tested on 3.9 and
    3.13. Without the shell: an error in CI, full Chromium (and a warning) elsewhere."""
    if os.environ.get("SYNCDP_TEST_BROWSER", "") != "headless-shell":
        return
    for candidate in HEADLESS_SHELLS:
        found = candidate if os.path.isabs(candidate) else shutil.which(candidate)
        if found and os.access(found, os.X_OK):
            os.environ["SYNCDP_BROWSER"] = found
            return
    message = ("SYNCDP_TEST_BROWSER=headless-shell but none of %s is installed "
               "(.ci/ensure-chromium --headless-shell installs Debian's)" % ", ".join(HEADLESS_SHELLS))
    if _in_ci():
        raise pytest.UsageError(message)
    warnings.warn(message + ": the tests launch full Chromium", stacklevel=2)


def pytest_configure(config: pytest.Config) -> None:
    """In CI, a missing Chromium is an error: the integration tests would skip, not fail."""
    if _in_ci() and not os.path.exists(CHROMIUM):
        raise pytest.UsageError(
            "CI is set but there is no Chromium at %s: every integration test would be "
            "skipped. Install it (.ci/ensure-chromium) or set SYNCDP_TEST_CHROMIUM." % CHROMIUM
        )
    _launch_a_headless_shell()


def pytest_report_header(config: pytest.Config) -> str:
    return "Chrome() launches: %s" % os.environ.get("SYNCDP_BROWSER", "the first browser found")


def pytest_collection_modifyitems(config: pytest.Config, items: List[pytest.Item]) -> None:
    """Skip the ``bootstrap`` tests unless ``SYNCDP_TEST_BOOTSTRAP=1`` asks for them."""
    if os.environ.get("SYNCDP_TEST_BOOTSTRAP") == "1":
        return
    skip = pytest.mark.skip(reason="set-up test: runs once per machine with SYNCDP_TEST_BOOTSTRAP=1 "
                                   "(tox -e bootstrap), not once per Python")
    for item in items:
        if item.get_closest_marker("bootstrap") is not None:
            item.add_marker(skip)


# pytest's terminal reporter where there is a terminal (not in an xdist worker).
_terminal: Any = None


@pytest.hookimpl(trylast=True)
def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """A rerun (pytest-rerunfailures) shows why its first try failed: the plugin prints only
    the test's name, and a flaky test nobody can read the failure of is never fixed. Printed
    where the terminal is (with xdist: by the controller, which gets every report)."""
    if report.outcome != "rerun" or _terminal is None:
        return
    lines = report.longreprtext.strip().splitlines() if report.longreprtext else []
    errors = [line[1:].strip() for line in lines if line.startswith("E ")]
    reason = errors[0] if errors else (lines[-1] if lines else "(no report)")
    _terminal.write_line("")
    _terminal.write_line("RERUN %s - %s" % (report.nodeid, reason[:300]))
    for line in lines[-40:]:
        _terminal.write_line("    " + line)


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    global _terminal
    if not hasattr(session.config, "workerinput"):  # the xdist controller, or no xdist
        _terminal = session.config.pluginmanager.getplugin("terminalreporter")


# -- thread-leak guard -------------------------------------------------------------------


def _syncdp_threads() -> List[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(THREAD_PREFIX) and t.is_alive()]


@pytest.fixture(autouse=True)
def _syncdp_thread_leak_guard() -> Iterator[None]:
    """Fail the test if it leaves ``syncdp-*`` threads running (pre-existing ones ignored)."""
    before = set(_syncdp_threads())
    yield
    deadline = time.monotonic() + LEAK_GRACE
    leaked = [t for t in _syncdp_threads() if t not in before]
    while leaked and time.monotonic() < deadline:
        time.sleep(0.02)
        leaked = [t for t in _syncdp_threads() if t not in before]
    if leaked:
        pytest.fail(
            "test left %d syncdp thread(s) running after %gs: %s"
            % (len(leaked), LEAK_GRACE, ", ".join(sorted(t.name for t in leaked))),
            pytrace=False,
        )


# -- fake CDP ----------------------------------------------------------------------------


@pytest.fixture
def fake_cdp() -> Iterator[FakeCDP]:
    """A started fake CDP endpoint on 127.0.0.1:<ephemeral>; stopped after the test."""
    with FakeCDP() as fake:
        yield fake


@pytest.fixture
def dead_port() -> int:
    """A loopback port that nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- real Chromium -----------------------------------------------------------------------


class Chromium:
    """A running headless Chromium: ``port``, ``ws_url`` (browser endpoint), ``process``."""

    def __init__(self, process: "subprocess.Popen[bytes]", port: int, ws_path: str, profile: str):
        self.process = process
        self.port = port
        self.ws_url = "ws://127.0.0.1:%d%s" % (port, ws_path)
        self.profile = profile

    def __repr__(self) -> str:
        return "<Chromium pid=%d port=%d>" % (self.process.pid, self.port)


def _signal_group(process: "subprocess.Popen[bytes]", sig: int) -> None:
    try:
        os.killpg(process.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _kill_group(process: "subprocess.Popen[bytes]") -> None:
    """SIGTERM the process group, SIGKILL it if needed; always reap the leader."""
    _signal_group(process, signal.SIGTERM)
    try:
        process.wait(5)
    except subprocess.TimeoutExpired:
        _signal_group(process, signal.SIGKILL)
        process.wait(10)
    # Renderer/zygote children may outlive the leader: kill the rest of the group and wait
    # (bounded) until it is gone, so no Chromium process outlives the session.
    _signal_group(process, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.killpg(process.pid, 0)
        except (ProcessLookupError, PermissionError):
            return
        time.sleep(0.05)


def _read_devtools_port(profile: str, process: "subprocess.Popen[bytes]", log_path: str,
                        timeout: float = 30.0) -> "tuple[int, str]":
    path = os.path.join(profile, "DevToolsActivePort")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            with open(path) as fh:
                lines = fh.read().splitlines()
            if len(lines) >= 2 and lines[0].strip().isdigit():
                return int(lines[0]), lines[1].strip()
        except OSError:
            pass
        time.sleep(0.05)
    with open(log_path, "rb") as fh:
        tail = fh.read()[-3000:].decode("utf-8", "replace")
    raise RuntimeError(
        "chromium did not expose DevToolsActivePort (exit code %r); stderr tail:\n%s"
        % (process.poll(), tail)
    )


@pytest.fixture(scope="session")
def chromium() -> Iterator[Chromium]:
    """Real headless Chromium for the session; killed and its profile removed at the end."""
    if not os.path.exists(CHROMIUM):
        pytest.skip("%s not found" % CHROMIUM)
    profile = tempfile.mkdtemp(prefix="syncdp-test-profile-")
    log_path = os.path.join(tempfile.mkdtemp(prefix="syncdp-test-log-"), "chromium.log")
    process: Optional["subprocess.Popen[bytes]"] = None
    try:
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [CHROMIUM, *CHROMIUM_FLAGS, "--user-data-dir=%s" % profile, "about:blank"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, killed as a whole
            )
        port, ws_path = _read_devtools_port(profile, process, log_path)
        yield Chromium(process, port, ws_path, profile)
    finally:
        if process is not None:
            _kill_group(process)
        shutil.rmtree(profile, ignore_errors=True)
        shutil.rmtree(os.path.dirname(log_path), ignore_errors=True)
