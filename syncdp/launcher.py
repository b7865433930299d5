"""Launch and stop a local Chromium/Chrome: find the binary, spawn it, read its DevTools port.

This module knows processes, not CDP (like chromedp's ``allocate.go``): it hands back a port
and a browser websocket URL; :mod:`syncdp.browser` connects to them.

::

    with BrowserProcess(LaunchOptions(headless=True)) as proc:
        port, url = proc.port, proc.ws_url

Process layout on POSIX (why there is a watchdog)
-------------------------------------------------
The browser must die with the Python process that launched it, *however* that process dies
(SIGKILL and a default-handled SIGTERM run no ``atexit`` hooks). ``prctl(PR_SET_PDEATHSIG)``
is not enough: the kernel fires it when the *thread* that forked exits, so a browser launched
from a short-lived worker thread would be killed at once. Instead the browser is spawned
through a tiny watchdog process (``python -I -S -c _WATCHDOG_SOURCE``)::

    owner (this process) ──stdin pipe (owner holds the write end)──▶ watchdog ──▶ browser
         ◀── stdout: "pid N", "exit N" ─────────────────────────────┘   (own session/group)
         ◀── stderr pipe: the browser's stderr (drained by syncdp-launcher-stderr-N) ──┘

* The watchdog starts the browser in a new session, so the browser's process group (pgid ==
  browser pid) holds the browser, its zygotes, renderers and utilities, and nothing else.
* The kernel closes the owner's end of the pipe whenever the owner dies; the watchdog then
  reads EOF, kills the browser's process group, reaps it and removes a temporary profile.
  No thread of the owner is involved, so launching from any thread is safe.
* On a normal :meth:`BrowserProcess.stop` the owner signals the group itself (SIGTERM,
  then SIGKILL), then writes ``q``: the watchdog SIGKILLs the group once more (in case the
  owner never learnt the pid), reaps everything and exits without touching the profile.
* The watchdog never reaps the browser before the owner says ``q`` (it observes the exit
  with ``waitid(WNOWAIT)``), so the browser's pid, and with it the process group id, cannot
  be recycled while the owner may still ``killpg`` it. (Where ``os.waitid`` is missing, e.g.
  macOS, the watchdog reaps at once; a recycled pgid then needs the whole group gone and its
  number reused within the stop() window.)
* On Linux the watchdog is also a child subreaper, so browser descendants orphaned by the
  browser's exit are reaped by it rather than left as zombies under a non-reaping PID 1.
* Caveat: a child forked without exec (``multiprocessing``'s "fork") inherits the owner's
  end of the pipe, so the watchdog fires only once that child has exited as well.

Without a usable Python interpreter (a frozen application) and on Windows the browser is
spawned directly; it is then only cleaned up by :meth:`~BrowserProcess.stop`, garbage
collection or interpreter exit, not if the owner is killed.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import IO
from urllib.parse import urlsplit

from syncdp.exceptions import BrowserLaunchError, BrowserNotFoundError, InvalidCommand

__all__ = ["DEFAULT_ARGS", "BrowserProcess", "LaunchOptions", "find_browser"]

logger = logging.getLogger(__name__)

# -- finding the browser -----------------------------------------------------------------

#: Executable names looked up on ``PATH``, in order of preference.
BROWSER_NAMES: tuple[str, ...] = (
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
    "chrome",
    "google-chrome-beta",
    "google-chrome-unstable",
    "msedge",
    "microsoft-edge",
    "microsoft-edge-stable",
)

_ENV_VARS = ("SYNCDP_BROWSER", "CHROME_PATH")


def _install_paths() -> list[str]:
    """The usual install locations for this platform, in order of preference."""
    if sys.platform == "darwin":
        home = os.path.expanduser("~")
        apps = [
            "Google Chrome.app/Contents/MacOS/Google Chrome",
            "Chromium.app/Contents/MacOS/Chromium",
            "Google Chrome Canary.app/Contents/MacOS/Google Chrome Canary",
            "Microsoft Edge.app/Contents/MacOS/Microsoft Edge",
        ]
        return [
            os.path.join(root, app)
            for root in ("/Applications", home + "/Applications")
            for app in apps
        ]
    if sys.platform == "win32":
        roots = [
            os.environ.get(name) for name in ("PROGRAMFILES", "PROGRAMFILES(X86)", "LOCALAPPDATA")
        ]
        suffixes = [
            r"Google\Chrome\Application\chrome.exe",
            r"Chromium\Application\chrome.exe",
            r"Microsoft\Edge\Application\msedge.exe",
        ]
        return [os.path.join(root, suffix) for root in roots if root for suffix in suffixes]
    return [
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        "/usr/bin/google-chrome",
        "/usr/bin/google-chrome-stable",
        "/snap/bin/chromium",
        "/opt/google/chrome/chrome",
        "/usr/local/bin/chromium",
        "/opt/microsoft/msedge/msedge",
        "/usr/lib/chromium/chromium",
    ]


def _is_executable(path: str) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)


def _resolve(candidate: str) -> str | None:
    """``candidate`` if it is an executable path, or a bare name found on ``PATH``."""
    candidate = os.path.expanduser(candidate)
    if os.sep in candidate or (os.altsep is not None and os.altsep in candidate):
        return candidate if _is_executable(candidate) else None
    return shutil.which(candidate)


def find_browser(binary_location: str | None = None) -> str:
    """Find a Chromium-family browser executable.

    Looks at, in order: ``binary_location``; the ``SYNCDP_BROWSER`` and ``CHROME_PATH``
    environment variables; the names in :data:`BROWSER_NAMES` on ``PATH``; the usual
    install locations of this platform. An explicit ``binary_location`` is final: when it
    is not an executable file nothing else is tried. An environment variable pointing
    nowhere is logged and skipped.

    Args:
        binary_location: a path, or a bare name looked up on ``PATH``.

    Returns:
        The path of the executable.

    Raises:
        BrowserNotFoundError: nothing was found; ``tried`` lists every path and name looked at.
    """
    if binary_location:
        found = _resolve(binary_location)
        if found is None:
            raise BrowserNotFoundError([binary_location])
        return found
    tried: list[str] = []
    for var in _ENV_VARS:
        value = os.environ.get(var)
        if value:
            found = _resolve(value)
            if found is not None:
                return found
            logger.warning("%s=%r is not an executable; ignoring it", var, value)
            tried.append(value)
    for name in BROWSER_NAMES:
        tried.append(name)
        found = shutil.which(name)
        if found is not None:
            return found
    for path in _install_paths():
        tried.append(path)
        if _is_executable(path):
            return path
    raise BrowserNotFoundError(tried)


# -- options -------------------------------------------------------------------------------

#: Flags a closed, headless machine needs; all verified against Chromium 156.
DEFAULT_ARGS: tuple[str, ...] = (
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-extensions",
    "--disable-default-apps",
    "--metrics-recording-only",
    "--mute-audio",
    "--no-service-autorun",
    "--password-store=basic",
    "--use-mock-keychain",
    "--disable-features=Translate,OptimizationHints,MediaRouter,DialMediaRouteProvider",
    "--disable-background-timer-throttling",
    "--disable-backgrounding-occluded-windows",
    "--disable-renderer-backgrounding",
    "--disable-hang-monitor",
    "--disable-ipc-flooding-protection",
    "--disable-popup-blocking",
    "--disable-prompt-on-repost",
    "--disable-client-side-phishing-detection",
    "--disable-domain-reliability",
    "--no-pings",
    # Not --disable-crashpad-for-testing: with it Chromium 156 aborts every http(s)
    # navigation (net::ERR_ABORTED). The two chrome_crashpad_handler daemons it starts in
    # their own sessions escape the process-group kill instead; the watchdog (a subreaper)
    # inherits them and kills them, and --crash-dumps-dir (added per launch) keeps their
    # files inside the profile rather than ~/.config.
)

# Flags syncdp owns: the port, address and profile must be the ones it reads back.
_RESERVED_FLAGS = {
    "--remote-debugging-port": "syncdp always uses --remote-debugging-port=0 and reads the "
    "chosen port back",
    "--remote-debugging-address": "syncdp always binds DevTools to 127.0.0.1",
    "--remote-debugging-pipe": "syncdp connects over a websocket, not a pipe",
    "--user-data-dir": "use the user_data_dir option instead",
}


@dataclass
class LaunchOptions:
    """How to launch the browser.

    Attributes:
        binary_location: the executable (see :func:`find_browser`); found when ``None``.
        headless: run with ``--headless=new``.
        arguments: extra command-line arguments, appended after syncdp's own. A
            ``--disable-features=`` list is merged with the default one.
        user_data_dir: a persistent profile directory (created if missing, never removed).
            ``None`` gives a fresh private temporary profile, removed by ``stop()``.
        window_size: ``(width, height)`` for ``--window-size``; ``None`` leaves it out.
        proxy: a proxy server for ``--proxy-server``.
        start_timeout: seconds to wait for the DevTools endpoint.
        no_sandbox: add ``--no-sandbox``; ``None`` adds it only when running as root.
        env: extra environment variables for the browser, merged over ``os.environ``.

    Every option is checked when the object is made and again by
    :meth:`BrowserProcess.start`: a wrong type or value raises
    :class:`~syncdp.exceptions.InvalidCommand` naming the option, before anything runs.
    """

    binary_location: str | None = None
    headless: bool = True
    arguments: list[str] = field(default_factory=list)
    user_data_dir: str | None = None
    window_size: tuple[int, int] | None = (1280, 720)
    proxy: str | None = None
    start_timeout: float = 20.0
    no_sandbox: bool | None = None
    env: dict[str, str] | None = None

    def __post_init__(self) -> None:
        self._validate()

    def _validate(self) -> None:
        """Check every option (and normalize: paths to ``str``, ``arguments`` to a list,
        ``window_size`` to a tuple). Run at construction and again by ``start()``, since
        the attributes may be changed in between.

        Raises:
            InvalidCommand: an option has the wrong type or value; the message names it.
        """
        self.binary_location = _check_path(self.binary_location, "binary_location")
        self.user_data_dir = _check_path(self.user_data_dir, "user_data_dir")
        _check_bool(self.headless, "headless")
        if self.no_sandbox is not None:
            _check_bool(self.no_sandbox, "no_sandbox")
        self.arguments = _check_arguments(self.arguments)
        self.window_size = _check_window_size(self.window_size)
        if self.proxy is not None:
            _check_text(self.proxy, "proxy", "a proxy server such as 'http://127.0.0.1:3128'")
        _check_seconds(self.start_timeout, "start_timeout")
        if self.env is not None:
            self.env = _check_env(self.env)


def _check_text(value: object, name: str, what: str) -> str:
    """``value`` if it is a non-empty ``str`` without NUL; ``InvalidCommand`` otherwise."""
    if not isinstance(value, str) or not value or "\0" in value:
        raise InvalidCommand(f"{name} must be {what}, got {value!r}")
    return value


def _check_path(value: object, name: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    return _check_text(value, name, "a path (str or os.PathLike) or None")


def _check_bool(value: object, name: str) -> None:
    if not isinstance(value, bool):
        raise InvalidCommand(f"{name} must be True or False, got {value!r}")


def _check_seconds(value: object, name: str) -> None:
    # bool is an int, and NaN fails every comparison: "not > 0" catches it.
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise InvalidCommand(f"{name} must be a positive number of seconds, got {value!r}")


def _check_arguments(value: object) -> list[str]:
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        raise InvalidCommand(
            f"arguments must be a list of flags such as ['--lang=en-US'], got {value!r}"
        )
    arguments: list[str] = []
    for index, arg in enumerate(value):
        _check_text(arg, f"arguments[{index}]", "a non-empty str")
        name = arg.split("=", 1)[0]
        if name in _RESERVED_FLAGS:
            raise InvalidCommand(
                f"arguments: {arg!r} is not allowed: {_RESERVED_FLAGS[name]}"
            )
        arguments.append(arg)
    return arguments


def _check_window_size(value: object) -> tuple[int, int] | None:
    if value is None:
        return None
    if isinstance(value, (list, tuple)) and len(value) == 2:
        width, height = value
        if all(
            isinstance(v, int) and not isinstance(v, bool) and 0 < v <= 100_000
            for v in (width, height)
        ):
            return (width, height)
    raise InvalidCommand(
        f"window_size must be (width, height) in pixels, two positive ints, or None; "
        f"got {value!r}"
    )


def _check_env(value: object) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise InvalidCommand(f"env must be a dict of str to str or None, got {value!r}")
    env: dict[str, str] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not key or "=" in key or "\0" in key:
            raise InvalidCommand(f"env: variable name {key!r} is not a valid name")
        if not isinstance(item, str) or "\0" in item:
            raise InvalidCommand(f"env[{key!r}] must be a str, got {item!r}")
        env[key] = item
    return env


def _running_as_root() -> bool:
    geteuid = getattr(os, "geteuid", None)
    return geteuid is not None and geteuid() == 0


def _build_command(binary: str, options: LaunchOptions, profile: str) -> list[str]:
    """The browser's argv (from options checked by ``LaunchOptions._validate``)."""
    disabled_features: list[str] = []
    extra: list[str] = []
    for arg in options.arguments:
        name = arg.split("=", 1)[0]
        if name == "--disable-features" and "=" in arg:
            disabled_features.extend(f for f in arg.split("=", 1)[1].split(",") if f)
        else:
            extra.append(arg)
    command = [binary]
    for arg in DEFAULT_ARGS:
        if disabled_features and arg.startswith("--disable-features="):
            merged = arg.split("=", 1)[1].split(",")
            merged.extend(f for f in disabled_features if f not in merged)
            arg = "--disable-features=" + ",".join(merged)
        command.append(arg)
    command += [
        # Port 0: the kernel picks a free port and Chrome writes it to DevToolsActivePort.
        # Never --remote-allow-origins=*: syncdp's websocket sends no Origin header.
        "--remote-debugging-port=0",
        "--remote-debugging-address=127.0.0.1",
        # Always an explicit profile: Chrome 136+ ignores remote debugging on the default one.
        f"--user-data-dir={profile}",
        f"--crash-dumps-dir={os.path.join(profile, 'crashpad')}",
    ]
    if options.headless:
        command.append("--headless=new")
    if options.window_size is not None:
        width, height = options.window_size
        command.append(f"--window-size={width:d},{height:d}")
    if options.proxy:
        command.append(f"--proxy-server={options.proxy}")
    no_sandbox = options.no_sandbox
    if no_sandbox is None:
        no_sandbox = _running_as_root()  # Chrome refuses to run as root with its sandbox
    if no_sandbox:
        command.append("--no-sandbox")
    command += extra
    if not any(not arg.startswith("-") for arg in extra):
        command.append("about:blank")  # otherwise the first tab opens the new-tab page
    return command


# -- the spawned process ---------------------------------------------------------------------

# Run as ``python -I -S -c _WATCHDOG_SOURCE MODE PROFILE BROWSER_ARGV...``; see the module
# docstring. Self-contained (it cannot import syncdp under -I -S) and Python 3.9 compatible.
# MODE is "temp" (remove PROFILE if the owner dies) or "keep".
_WATCHDOG_SOURCE = r"""# syncdp launcher watchdog (see syncdp/launcher.py)
import os, re, shutil, signal, subprocess, sys, threading, time

def report(line):
    # os.write, not sys.stdout: a daemon thread frozen at shutdown while holding the
    # buffered writer's lock would stall interpreter finalization for seconds.
    try:
        os.write(1, line.encode("utf-8", "replace") + b"\n")
    except OSError:
        pass

def killpg(pgid, sig):
    try:
        os.killpg(pgid, sig)
    except OSError:
        pass

def kill_orphans():
    # Browser descendants that daemonized (crashpad handlers, in their own sessions) were
    # re-parented to this subreaper: they are exactly our children other than the browser.
    me = str(os.getpid())
    try:
        entries = os.listdir("/proc")
    except OSError:
        return
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry, "rb") as fh:
                stat = fh.read().decode("ascii", "replace")
            ppid = stat.rsplit(")", 1)[1].split()[1]
        except (OSError, IndexError):
            continue
        if ppid == me:
            try:
                os.kill(int(entry), signal.SIGKILL)
            except OSError:
                pass

def reap_all(pid, deadline):
    while time.monotonic() < deadline:
        try:
            got, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if got == 0:
            time.sleep(0.02)

def clean_profile(mode, profile, pid):
    try:
        lock = os.readlink(os.path.join(profile, "SingletonLock"))
    except OSError:
        lock = ""
    if lock.rsplit("-", 1)[-1] == str(pid):
        try:
            sock_dir = os.path.dirname(os.readlink(os.path.join(profile, "SingletonSocket")))
            if re.match(r"^[A-Za-z][\w-]*(\.[\w-]+)+\.[A-Za-z0-9]{6}$",
                        os.path.basename(sock_dir)) and set(os.listdir(sock_dir)) <= {
                            "SingletonSocket", "SingletonCookie"}:
                shutil.rmtree(sock_dir, ignore_errors=True)
        except OSError:
            pass
        for name in ("SingletonLock", "SingletonSocket", "SingletonCookie"):
            try:
                os.unlink(os.path.join(profile, name))
            except OSError:
                pass
    if mode == "temp":
        for attempt in range(10):
            try:
                shutil.rmtree(profile)
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.1)

def main():
    mode, profile, argv = sys.argv[1], sys.argv[2], sys.argv[3:]
    if sys.platform.startswith("linux"):
        try:
            import ctypes
            ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
        except Exception:
            pass
    try:
        child = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                 start_new_session=True)
    except OSError as exc:
        report("error %s" % exc)
        return 1
    # Only the browser's processes hold the stderr pipe now: the owner sees EOF when they end.
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    os.close(null)
    pid = child.pid
    report("pid %d" % pid)
    exited = threading.Event()

    def waiter():
        try:
            if hasattr(os, "waitid"):
                # WNOWAIT: observe the exit without reaping, so the pgid stays reserved.
                info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
                code = info.si_status if info.si_code == os.CLD_EXITED else -info.si_status
            else:
                code = child.wait()
            report("exit %d" % code)
        except ChildProcessError:
            pass
        exited.set()

    threading.Thread(target=waiter, daemon=True).start()

    class Stop(Exception):
        pass

    def on_signal(signum, frame):
        raise Stop()

    # Killed itself (pkill, a service manager): take the browser down first, as when the
    # owner dies, instead of leaving it running unwatched.
    stoppers = [getattr(signal, name) for name in ("SIGTERM", "SIGHUP", "SIGINT")
                if hasattr(signal, name)]
    for signum in stoppers:
        signal.signal(signum, on_signal)
    try:
        command = os.read(0, 1)
    except (OSError, Stop):
        command = b""
    for signum in stoppers:  # the clean-up below must not be cut short
        signal.signal(signum, signal.SIG_IGN)
    if command != b"q":
        # EOF: the owner died without stopping the browser. Ask, then force.
        killpg(pid, signal.SIGTERM)
        exited.wait(2.0)
    # After "q" the owner has already killed the group; again in case it never learnt the pid.
    killpg(pid, signal.SIGKILL)
    exited.wait(5.0)  # the exit is reported before anything is reaped
    kill_orphans()
    reap_all(pid, time.monotonic() + 3.0)
    if command != b"q":
        clean_profile(mode, profile, pid)
    return 0

os._exit(main())  # nothing to finalize; do not wait on the daemon waiter thread
"""


def _usable_python() -> str | None:
    """The interpreter to run the watchdog with, or ``None`` (frozen app, Windows)."""
    if os.name != "posix" or getattr(sys, "frozen", False):
        return None
    exe = sys.executable
    return exe if exe and os.path.isfile(exe) else None


class _Child:
    """A spawned browser: the browser pid, its exit status, signals to its whole tree."""

    pid: int | None = None
    returncode: int | None = None
    spawn_error: str | None = None
    stderr: IO[bytes]

    def poll(self) -> bool:
        """True once the browser process has exited (never blocks)."""
        raise NotImplementedError

    def wait_exit(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s for the browser to exit; True if it has."""
        deadline = time.monotonic() + timeout
        while not self.poll():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self._wait_slice(min(0.05, remaining))
        return True

    def _wait_slice(self, timeout: float) -> None:
        time.sleep(timeout)

    def terminate(self, force: bool) -> None:
        """SIGTERM (``force=False``) or SIGKILL the browser's whole process group."""
        raise NotImplementedError

    def release(self, timeout: float) -> None:
        """After the final kill: reap every process, close our pipes. No signals after this."""
        raise NotImplementedError


class _WatchdogChild(_Child):
    """The browser spawned through the pipe-EOF watchdog (POSIX)."""

    def __init__(
        self,
        python: str,
        argv: Sequence[str],
        env: dict[str, str],
        profile: str,
        temp_profile: bool,
    ) -> None:
        self._helper = subprocess.Popen(
            [
                python,
                "-I",
                "-S",
                "-c",
                _WATCHDOG_SOURCE,
                "temp" if temp_profile else "keep",
                profile,
                *argv,
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            close_fds=True,
            # Its own session: Ctrl-C and SIGHUP for the owner's terminal do not reach it.
            start_new_session=True,
        )
        assert self._helper.stdin is not None
        assert self._helper.stdout is not None
        assert self._helper.stderr is not None
        self.stderr = self._helper.stderr
        self._control: IO[bytes] | None = self._helper.stdin
        self._status: IO[bytes] | None = self._helper.stdout
        self._pump_lock = threading.Lock()
        self._buffer = b""
        self._status_eof = False
        self._exited = False

    def _pump(self, timeout: float) -> None:
        """Read what the watchdog reported, waiting up to ``timeout`` for something."""
        # One reader at a time: is_running() may poll from any thread while stop() runs.
        with self._pump_lock:
            self._pump_locked(timeout)

    def _pump_locked(self, timeout: float) -> None:
        status = self._status
        if status is None or self._status_eof:
            return
        fd = status.fileno()
        while True:
            ready, _, _ = select.select([fd], [], [], timeout)
            if not ready:
                return
            data = os.read(fd, 4096)
            if not data:
                self._status_eof = True
                return
            self._buffer += data
            while b"\n" in self._buffer:
                line, self._buffer = self._buffer.split(b"\n", 1)
                self._handle(line.decode("utf-8", "replace"))
            timeout = 0.0

    def _handle(self, line: str) -> None:
        kind, _, value = line.partition(" ")
        if kind == "pid":
            self.pid = int(value)
        elif kind == "exit":
            self.returncode = int(value)
            self._exited = True
        elif kind == "error":
            self.spawn_error = value
        else:  # pragma: no cover - the watchdog writes nothing else
            logger.debug("unexpected watchdog message %r", line)

    def poll(self) -> bool:
        self._pump(0.0)
        if not self._exited and self._status_eof:
            # The watchdog is gone without reporting an exit (killed by someone else):
            # fall back to asking the kernel about the browser itself.
            self._exited = self.pid is None or not _pid_exists(self.pid)
        return self._exited

    def _wait_slice(self, timeout: float) -> None:
        if self._status_eof:
            time.sleep(timeout)
        else:
            self._pump(timeout)

    def terminate(self, force: bool) -> None:
        self._pump(0.0)
        if self.pid is None:
            return  # not spawned (yet): release() makes the watchdog kill whatever it started
        # Safe while the watchdog has not been told "q": it has not reaped the browser, so
        # the pgid (== browser pid) cannot have been reused by an unrelated process.
        sig = signal.SIGKILL if force else signal.SIGTERM
        if self._helper.poll() is not None and not _is_group_leader(self.pid):
            return  # watchdog killed from outside and browser reaped: nothing safe to signal
        try:
            os.killpg(self.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def release(self, timeout: float) -> None:
        # Safe to call again after an interruption: each pipe is forgotten only once it is
        # closed, and a second "q" is harmless (the watchdog reads one byte).
        control = self._control
        if control is not None:
            try:
                control.write(b"q")  # all signalling is done: reap everything and exit
                control.flush()
            except (OSError, ValueError):
                pass
            try:
                control.close()
            except OSError:
                pass
            self._control = None
        try:
            self._helper.wait(timeout)
        except subprocess.TimeoutExpired:
            logger.warning("launcher watchdog pid %d did not exit; killing it", self._helper.pid)
            self._helper.kill()
            self._helper.wait()
        with self._pump_lock:
            self._pump_locked(0.0)
            status = self._status
            if status is not None:
                status.close()
                self._status = None


class _DirectChild(_Child):
    """The browser as a direct child, without a watchdog (Windows, frozen applications)."""

    def __init__(self, argv: Sequence[str], env: dict[str, str]) -> None:
        if sys.platform == "win32":
            self._proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                env=env,
                creationflags=subprocess.CREATE_NEW_PROCESS_GROUP,
            )
        else:
            self._proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                env=env,
                start_new_session=True,
            )
        assert self._proc.stderr is not None
        self.stderr = self._proc.stderr
        self.pid = self._proc.pid

    def poll(self) -> bool:
        if self.returncode is not None:
            return True
        waitid = getattr(os, "waitid", None)
        if waitid is not None:
            # WNOWAIT keeps the process unreaped, so its pgid stays ours to signal.
            info = waitid(os.P_PID, self._proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            if info is None:
                return False
            self.returncode = info.si_status if info.si_code == os.CLD_EXITED else -info.si_status
            return True
        self.returncode = self._proc.poll()
        return self.returncode is not None

    def terminate(self, force: bool) -> None:
        if sys.platform == "win32":
            if self._proc.poll() is None:
                subprocess.run(
                    ["taskkill", "/F", "/T", "/PID", str(self._proc.pid)],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    check=False,
                )
                self._proc.kill()
            return
        if self._proc.returncode is not None and not _is_group_leader(self._proc.pid):
            return
        try:
            os.killpg(self._proc.pid, signal.SIGKILL if force else signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            pass

    def release(self, timeout: float) -> None:
        try:
            code = self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            code = self._proc.wait()
        if self.returncode is None:
            self.returncode = code


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


_PROC_STATUS = os.path.isfile("/proc/self/status")  # Linux procfs
_PF_EXITING = 0x4  # task flag: in do_exit()
_SIGKILL_BIT = 1 << (signal.SIGKILL - 1)


def _is_dying(pid: int | None) -> bool:
    """Whether the kernel is ending (or has ended) ``pid``: a zombie, exiting, or with a
    SIGKILL pending. False when unknown (no procfs). Only for our unreaped browser, whose
    pid cannot have been reused."""
    if pid is None or not _PROC_STATUS:
        return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()
        if fields[0] in (b"Z", b"X") or int(fields[6]) & _PF_EXITING:
            return True
        with open(f"/proc/{pid}/status", "rb") as fh:
            for line in fh:
                if line.startswith((b"SigPnd:", b"ShdPnd:")):
                    if int(line.split()[1], 16) & _SIGKILL_BIT:
                        return True
    except FileNotFoundError:
        return True  # reaped
    except (OSError, ValueError, IndexError):
        return False
    return False


def _is_group_leader(pid: int) -> bool:
    try:
        return os.getpgid(pid) == pid
    except OSError:
        return False


# -- stderr --------------------------------------------------------------------------------

_STDERR_LINES = 50
_LISTENING_RE = re.compile(r"DevTools listening on (ws://\S+)")
_thread_serial = itertools.count(1)


class _StderrTail:
    """The last lines the browser wrote to stderr, and the endpoint it announced there."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lines: deque[str] = deque(maxlen=_STDERR_LINES)
        self.endpoint: str | None = None
        self.changed = threading.Event()  # set on the endpoint line and at EOF

    def add(self, line: str) -> None:
        with self._lock:
            self._lines.append(line)
        if self.endpoint is None:
            match = _LISTENING_RE.search(line)
            if match:
                self.endpoint = match.group(1)
                self.changed.set()

    def text(self) -> str:
        with self._lock:
            return "\n".join(self._lines)


def _drain_stderr(stream: IO[bytes], tail: _StderrTail) -> None:
    """Thread body: read until EOF so the pipe never fills up and blocks the browser.

    Holds no reference to the BrowserProcess, so its finalizer can still run on GC.
    """
    try:
        for raw in iter(lambda: stream.readline(8192), b""):
            tail.add(raw.decode("utf-8", "replace").rstrip("\r\n"))
    except (OSError, ValueError):
        pass
    finally:
        tail.changed.set()
        try:
            stream.close()
        except OSError:
            pass


# -- profile ---------------------------------------------------------------------------------

_SINGLETON_DIR_RE = re.compile(r"^[A-Za-z][\w-]*(\.[\w-]+)+\.[A-Za-z0-9]{6}$")
# SingletonLock last: it is what a retry (after an interrupted stop) checks the pid against.
_SINGLETON_LINKS = ("SingletonSocket", "SingletonCookie", "SingletonLock")


def _clean_singleton(profile: str, pid: int | None) -> None:
    """Remove the singleton links a killed browser left, and its socket dir in $TMPDIR.

    Only when ``SingletonLock`` names our browser's pid: a profile in use by another live
    browser is left alone.
    """
    if pid is None:
        return
    try:
        lock = os.readlink(os.path.join(profile, "SingletonLock"))
    except OSError:
        return
    if lock.rsplit("-", 1)[-1] != str(pid):
        return
    try:
        sock_dir = os.path.dirname(os.readlink(os.path.join(profile, "SingletonSocket")))
        if _SINGLETON_DIR_RE.match(os.path.basename(sock_dir)) and set(os.listdir(sock_dir)) <= {
            "SingletonSocket",
            "SingletonCookie",
        }:
            shutil.rmtree(sock_dir, ignore_errors=True)
    except OSError:
        pass
    for name in _SINGLETON_LINKS:
        path = os.path.join(profile, name)
        if os.path.islink(path):
            try:
                os.unlink(path)
            except OSError:
                pass


def _remove_tree(path: str, attempts: int = 10) -> None:
    """rmtree, retried: a just-killed browser's last file writes may still be landing."""
    for attempt in range(attempts):
        try:
            shutil.rmtree(path)
            return
        except FileNotFoundError:
            return
        except OSError as exc:
            if attempt == attempts - 1:
                logger.warning("could not remove browser profile %s: %s", path, exc)
                return
            time.sleep(0.05 * (attempt + 1))


def _make_temp_profile() -> str:
    path = tempfile.mkdtemp(prefix="syncdp-profile-")
    # mkdtemp creates it 0700; the profile holds cookies and the DevToolsActivePort file.
    mode = os.stat(path).st_mode & 0o777
    if mode != 0o700 and os.name == "posix":
        shutil.rmtree(path, ignore_errors=True)
        raise BrowserLaunchError(
            f"temporary profile {path} was created with mode {mode:o}, not 700"
        )
    return path


def _read_active_port(profile: str) -> tuple[int, str] | None:
    """(port, browser ws path) from DevToolsActivePort, or None while it is not complete."""
    try:
        with open(os.path.join(profile, "DevToolsActivePort"), encoding="utf-8") as fh:
            lines = fh.read().splitlines()
    except (OSError, ValueError):
        return None
    if len(lines) < 2 or not lines[0].strip().isdigit() or not lines[1].startswith("/"):
        return None
    port = int(lines[0].strip())
    return (port, lines[1].strip()) if 0 < port < 65536 else None


def _parse_ws_url(url: str) -> tuple[int, str] | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if port is None or not parts.path.startswith("/"):
        return None
    return port, parts.path


# -- shared state and teardown ---------------------------------------------------------------


class _State:
    """What a launched browser owns. The finalizer holds this, never the BrowserProcess."""

    def __init__(
        self,
        child: _Child,
        profile: str,
        temp_profile: bool,
        tail: _StderrTail,
        thread: threading.Thread,
    ) -> None:
        self.child = child
        self.profile = profile
        self.temp_profile = temp_profile
        self.tail = tail
        self.thread = thread
        self.lock = threading.Lock()
        # Three steps, each flag set only once its step is complete, so that a shutdown
        # interrupted anywhere (Ctrl-C) is finished by the next stop() or the finalizer:
        self.stopping = False  # stop was asked for: no longer "running" for the owner
        self.released = False  # the watchdog was told "q": never signal the group again
        self.done = False  # reaped, stderr joined, profile cleaned: nothing left to do
        self.owner_pid = os.getpid()


def _shutdown(state: _State, grace: float, reason: str) -> None:
    """Stop the browser tree, reap it, join the stderr thread, then clean the profile.

    Idempotent and serialized by ``state.lock``; this is also the weakref finalizer. An
    interrupted call (``KeyboardInterrupt``) leaves ``state.done`` unset, so calling it
    again finishes the job; every step below may safely run twice.
    """
    if os.getpid() != state.owner_pid:
        return  # a forked child's copy (at its exit): the browser belongs to the parent
    with state.lock:
        if state.done:
            return
        child = state.child
        if reason:
            if state.stopping:
                logger.warning("browser pid %s: finishing an interrupted stop()", child.pid)
            else:
                logger.warning("browser pid %s %s; killing it", child.pid, reason)
        state.stopping = True
        if not state.released:
            if grace > 0 and not child.poll():
                child.terminate(force=False)
                if not child.wait_exit(grace):
                    logger.info(
                        "browser pid %s ignored SIGTERM for %gs; killing it", child.pid, grace
                    )
            # Always: renderers and zygotes outlive the browser by ~1.5 s, and a grandchild
            # may ignore SIGTERM. Still safe: nothing has been reaped yet.
            child.terminate(force=True)
            # Set before release(): once "q" may have been written, the watchdog may reap
            # the browser and its pgid may be reused, so no retry may signal it again.
            state.released = True
        child.release(timeout=10.0)  # idempotent: a retry only waits for the watchdog again
        child.poll()
        if state.thread.ident is not None and state.thread is not threading.current_thread():
            state.thread.join(5.0)
            if state.thread.is_alive():
                logger.warning("browser stderr still open after the process group was killed")
        # The profile goes only now that every process is reaped.
        _clean_singleton(state.profile, child.pid)
        if state.temp_profile:
            _remove_tree(state.profile)
        state.done = True
        logger.info("browser pid %s stopped (exit code %s)", child.pid, child.returncode)


# -- the public class --------------------------------------------------------------------------


class BrowserProcess:
    """A launched browser process. :meth:`start` spawns it; :meth:`stop` ends it.

    Nothing is spawned before :meth:`start`. A browser whose owner forgets :meth:`stop` is
    killed and its temporary profile removed when the object is garbage-collected or the
    interpreter exits; on POSIX a watchdog process also kills it if the owner process is
    killed (see the module docstring).

    Args:
        options: launch options; defaults to ``LaunchOptions()``.
    """

    def __init__(self, options: LaunchOptions | None = None) -> None:
        self.options = options if options is not None else LaunchOptions()
        self._lock = threading.Lock()
        self._state: _State | None = None
        self._finalizer: weakref.finalize | None = None  # type: ignore[type-arg]
        self._port: int | None = None
        self._ws_url: str | None = None

    def __repr__(self) -> str:
        state = (
            "running"
            if self.is_running()
            else ("stopped" if self._state is not None else "not started")
        )
        return f"<BrowserProcess pid={self.pid} port={self._port} {state}>"

    # -- properties

    @property
    def port(self) -> int:
        """The DevTools port the browser chose (after :meth:`start`)."""
        if self._port is None:
            raise RuntimeError("the browser has not been started")
        return self._port

    @property
    def ws_url(self) -> str:
        """The browser websocket URL, ``ws://127.0.0.1:PORT/devtools/browser/<id>``."""
        if self._ws_url is None:
            raise RuntimeError("the browser has not been started")
        return self._ws_url

    @property
    def pid(self) -> int | None:
        """The browser's pid (also its process-group id); ``None`` before :meth:`start`."""
        return self._state.child.pid if self._state is not None else None

    @property
    def user_data_dir(self) -> str:
        """The profile directory: the one given in the options, or the temporary one."""
        if self._state is not None:
            return self._state.profile
        if self.options.user_data_dir is not None:
            return self.options.user_data_dir
        raise RuntimeError("the temporary profile is created by start()")

    @property
    def returncode(self) -> int | None:
        """The browser's exit code once it has exited (negative: killed by that signal)."""
        if self._state is None:
            return None
        child = self._state.child
        if not child.poll() and _is_dying(child.pid):
            # is_running() already says False: the exit status is moments away.
            child.wait_exit(1.0)
        return child.returncode

    @property
    def stderr_tail(self) -> str:
        """The last ~50 lines the browser wrote to stderr."""
        return self._state.tail.text() if self._state is not None else ""

    def is_running(self) -> bool:
        """True between a successful :meth:`start` and :meth:`stop` or the browser's exit.

        A browser killed by someone else reads as not running as soon as the kill is sent
        (on Linux, from ``/proc``), before the watchdog has reported its exit.
        """
        state = self._state
        return (
            state is not None
            and self._port is not None
            and not state.stopping
            and not state.child.poll()
            and not _is_dying(state.child.pid)
        )

    # -- lifecycle

    def start(self) -> None:
        """Spawn the browser and wait until its DevTools endpoint is published.

        Raises:
            BrowserNotFoundError: no executable (see :func:`find_browser`).
            BrowserLaunchError: the browser exited, could not be executed, or did not
                publish its endpoint within ``start_timeout``; carries the exit code and
                the stderr tail. No process or temporary profile is left behind.
            InvalidCommand: an option is invalid (a ``ValueError``; see
                :class:`LaunchOptions`), e.g. ``arguments`` holds a flag syncdp owns.
            RuntimeError: already started (a stopped one cannot be started again: make a
                new :class:`BrowserProcess`).
        """
        with self._lock:
            if self._state is not None:
                raise RuntimeError(
                    "a BrowserProcess can only be started once: make a new one to launch "
                    "another browser"
                )
            options = self.options
            options._validate()  # its attributes may have changed since it was made
            binary = find_browser(options.binary_location)
            temp_profile = options.user_data_dir is None
            if options.user_data_dir is None:
                profile = _make_temp_profile()
            else:
                profile = os.path.abspath(os.path.expanduser(options.user_data_dir))
            try:
                command = _build_command(binary, options, profile)
                if not temp_profile:
                    os.makedirs(profile, exist_ok=True)
                    try:  # a stale file from an earlier run would hand us a dead port
                        os.unlink(os.path.join(profile, "DevToolsActivePort"))
                    except FileNotFoundError:
                        pass
                env = dict(os.environ)
                env.update(options.env or {})
                # Chromium puts its SingletonSocket under $TMPDIR and aborts ("Socket path
                # too long", exit -6) when that path is long, e.g. pytest's tmp_path.
                if len(env.get("TMPDIR", "")) > 60 and os.path.isdir("/tmp"):
                    env["TMPDIR"] = "/tmp"
                child = self._spawn(binary, command, env, profile, temp_profile)
            except BaseException:
                if temp_profile:
                    _remove_tree(profile)
                raise
            tail = _StderrTail()
            thread = threading.Thread(
                target=_drain_stderr,
                args=(child.stderr, tail),
                name=f"syncdp-launcher-stderr-{next(_thread_serial)}",
                daemon=True,
            )
            state = _State(child, profile, temp_profile, tail, thread)
            self._state = state
            # The finalizer holds ``state`` only: nothing in it refers back to ``self``.
            self._finalizer = weakref.finalize(
                self,
                _shutdown,
                state,
                0.0 if temp_profile else 1.0,
                "was not stopped (BrowserProcess garbage-collected or interpreter exiting)",
            )
            try:
                thread.start()
                port, path = self._wait_endpoint(binary, state, options.start_timeout)
            except BaseException:
                self._finalizer.detach()
                _shutdown(state, 0.0, "")
                raise
            self._port = port
            self._ws_url = f"ws://127.0.0.1:{port}{path}"
            logger.info(
                "launched %s (pid %s), DevTools on 127.0.0.1:%d, profile %s",
                binary,
                child.pid,
                port,
                profile,
            )

    @staticmethod
    def _spawn(
        binary: str, command: list[str], env: dict[str, str], profile: str, temp_profile: bool
    ) -> _Child:
        python = _usable_python()
        try:
            if python is not None:
                return _WatchdogChild(python, command, env, profile, temp_profile)
            if os.name == "posix":
                logger.warning(
                    "no Python interpreter for the launcher watchdog: the browser "
                    "will not be killed if this process is killed"
                )
            return _DirectChild(command, env)
        except OSError as exc:
            raise BrowserLaunchError(f"cannot execute {binary}: {exc}") from exc

    @staticmethod
    def _wait_endpoint(binary: str, state: _State, timeout: float) -> tuple[int, str]:
        child, tail = state.child, state.tail
        deadline = time.monotonic() + timeout
        while True:
            exited = child.poll()  # also collects the pid and a spawn error from the watchdog
            found = _read_active_port(state.profile)
            if found is None and tail.endpoint is not None:
                found = _parse_ws_url(tail.endpoint)  # fallback: "DevTools listening on"
            if found is not None and child.pid is not None:
                return found  # (the watchdog may report the pid just after the endpoint)
            if child.spawn_error is not None:
                _shutdown(state, 0.0, "")
                raise BrowserLaunchError(
                    f"cannot execute {binary}: {child.spawn_error}", stderr_tail=tail.text()
                )
            if exited:
                _shutdown(state, 0.0, "")  # reaps and joins stderr: the tail is complete
                if child.pid is None:
                    raise BrowserLaunchError(
                        "the launcher watchdog failed before starting the browser",
                        stderr_tail=tail.text(),
                    )
                hint = (
                    " (is the profile already in use by another browser?)"
                    if child.returncode == 0
                    else ""
                )
                raise BrowserLaunchError(
                    f"browser {binary} exited before publishing its DevTools endpoint{hint}",
                    returncode=child.returncode,
                    stderr_tail=tail.text(),
                )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                _shutdown(state, 0.0, "")
                raise BrowserLaunchError(
                    f"browser {binary} timed out after {timeout:g}s without publishing its "
                    "DevTools endpoint",
                    stderr_tail=tail.text(),
                )
            # Short slices: DevToolsActivePort cannot be waited on. Before stderr EOF, wake
            # early on the "DevTools listening" line; after it, on the watchdog's exit report.
            if tail.changed.is_set():
                child.wait_exit(min(0.05, remaining))
            else:
                tail.changed.wait(min(0.05, remaining))

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the browser: SIGTERM its process group, wait up to ``timeout`` s, SIGKILL.

        Copes with a browser that has already exited (e.g. after ``Browser.close``). Reaps
        every process, joins the stderr thread, then removes a temporary profile (a
        ``user_data_dir`` given in the options is kept). Idempotent; a no-op before
        :meth:`start`.

        Args:
            timeout: seconds the browser gets to exit after SIGTERM.
        """
        state = self._state
        if state is None:
            return
        _shutdown(state, timeout, "")
        if self._finalizer is not None:
            self._finalizer.detach()

    # typing.Self is 3.11+ and this package supports 3.9.
    def __enter__(self) -> BrowserProcess:  # noqa: PYI034
        if self._state is None:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
