"""The spawned browser's process tree: spawning, exit status, signals, reaping, stderr.

Process layout on POSIX (why there is a watchdog)
-------------------------------------------------
The browser must die with the Python process that launched it, *however* that process dies
(SIGKILL and a default-handled SIGTERM run no ``atexit`` hooks). ``prctl(PR_SET_PDEATHSIG)``
is not enough: the kernel fires it when the *thread* that forked exits, so a browser launched
from a short-lived worker thread would be killed at once. Instead the browser is spawned
through a tiny watchdog process (``python -I -S .../launcher/watchdog.py``, a standalone
program: see :mod:`syncdp.launcher.watchdog`)::

    owner (this process) ──stdin pipe (owner holds the write end)──▶ watchdog ──▶ browser
         ◀── stdout: "pid N", "exit N" ─────────────────────────────┘   (own session/group)
         ◀── stderr pipe: the browser's stderr (drained by syncdp-launcher-stderr-N) ──┘

* The watchdog starts the browser in a new session, so the browser's process group (pgid ==
  browser pid) holds the browser, its zygotes, renderers and utilities, and nothing else.
* The kernel closes the owner's end of the pipe whenever the owner dies; the watchdog then
  reads EOF, kills the browser's process group, reaps it and removes a temporary profile.
  No thread of the owner is involved, so launching from any thread is safe.
* On a normal stop the owner signals the group itself (see :mod:`syncdp.launcher.launch`),
  then writes ``q``: the watchdog SIGKILLs the group once more (in case the owner never
  learnt the pid), reaps everything and exits without touching the profile.
* The watchdog never reaps the browser before the owner says ``q`` (it observes the exit
  with ``waitid(WNOWAIT)``), so the browser's pid, and with it the process group id, cannot
  be recycled while the owner may still ``killpg`` it. (Where ``os.waitid`` is missing, e.g.
  macOS, the watchdog reaps at once; a recycled pgid then needs the whole group gone and its
  number reused within the stop() window.)
* On Linux the watchdog is also a child subreaper, so browser descendants orphaned by the
  browser's exit are reaped by it rather than left as zombies under a non-reaping PID 1.
* A child forked without exec (``os.fork``, ``multiprocessing``'s "fork", Celery's prefork
  pool) closes its inherited copy of the pipe at once (a fork hook), so the watchdog still
  fires when the owner dies; the child never reads the watchdog's reports (they are the
  owner's) and never signals the browser (see :mod:`syncdp.launcher.launch`).

Without a usable Python interpreter (a frozen application, a zip install) and on Windows the
browser is spawned directly; it is then only cleaned up by an explicit stop, garbage
collection or interpreter exit, not if the owner is killed.
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import re
import select
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Sequence
from typing import IO

from syncdp.connection import forking
from syncdp.exceptions import BrowserLaunchError
from syncdp.launcher import watchdog
from syncdp.launcher.linux import is_dying, start_time

__all__ = [
    "BrowserChild",
    "DirectChild",
    "StderrTail",
    "WatchdogChild",
    "spawn",
    "stderr_thread",
    "usable_python",
]

logger = logging.getLogger(__name__)

_WATCHDOG_PATH = os.path.abspath(watchdog.__file__)


def usable_python() -> str | None:
    """The interpreter to run the watchdog with, or ``None`` (frozen app, Windows, or the
    watchdog's file is not on disk, e.g. a zip install)."""
    if os.name != "posix" or getattr(sys, "frozen", False):
        return None
    if not os.path.isfile(_WATCHDOG_PATH):
        return None
    exe = sys.executable
    return exe if exe and os.path.isfile(exe) else None


def _readable(fd: int, timeout: float) -> bool:
    """Whether ``fd`` has data (or EOF) within ``timeout`` s.

    ``poll``, not ``select``: ``select`` refuses descriptors numbered 1024 and up, which a
    process with many open sockets or files hands out to new pipes.
    """
    if not hasattr(select, "poll"):  # pragma: no cover - Windows (no watchdog there anyway)
        return bool(select.select([fd], [], [], timeout)[0])
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(max(0, math.ceil(timeout * 1000))))


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _is_group_leader(pid: int) -> bool:
    try:
        return os.getpgid(pid) == pid
    except OSError:
        return False


class BrowserChild:
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


class WatchdogChild(BrowserChild):
    """The browser spawned through the pipe-EOF watchdog (POSIX)."""

    def __init__(
        self,
        python: str,
        argv: Sequence[str],
        env: dict[str, str],
        profile: str,
        temp_profile: bool,
        pipe_fds: tuple[int, int] | None = None,
    ) -> None:
        # The browser's ends of a --remote-debugging-pipe: the watchdog moves them to the
        # browser's fds 3 and 4 (see syncdp.launcher.watchdog).
        pipe_args = ["--pipe", "%d,%d" % pipe_fds] if pipe_fds is not None else []
        self._helper = subprocess.Popen(
            [
                python,
                "-I",  # neither the script's directory nor site-packages on sys.path
                "-S",
                _WATCHDOG_PATH,
                *pipe_args,
                "temp" if temp_profile else "keep",
                profile,
                *argv,
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            close_fds=True,
            pass_fds=pipe_fds or (),
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
        self._started_at: int | None = None  # the browser's start time: see _still_ours()
        self._owner_pid = os.getpid()  # only the owner talks to the watchdog
        forking.on_fork_in_child(self, WatchdogChild.forked_in_child)

    def forked_in_child(self) -> None:
        """In a forked child: close its copy of the watchdog's stdin (the owner keeps its own,
        so the watchdog still reads EOF when the owner dies, whatever this child does)."""
        control, self._control = self._control, None
        if control is not None:
            try:
                control.close()  # this copy only: no "q" is written, the browser runs on
            except (OSError, ValueError):
                pass

    def _pump(self, timeout: float) -> None:
        """Read what the watchdog reported, waiting up to ``timeout`` for something."""
        if os.getpid() != self._owner_pid:
            return  # a forked child: the reports are the owner's to read
        # One reader at a time: is_running() may poll from any thread while stop() runs.
        with self._pump_lock:
            self._pump_locked(timeout)

    def _pump_locked(self, timeout: float) -> None:
        status = self._status
        if status is None or self._status_eof:
            return
        fd = status.fileno()
        while True:
            if not _readable(fd, timeout):
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
            # Read now, while the watchdog keeps the browser unreaped: the pid is ours.
            self._started_at = start_time(self.pid)
        elif kind == "exit":
            self.returncode = int(value)
            self._exited = True
        elif kind == "error":
            self.spawn_error = value
        else:  # pragma: no cover - the watchdog writes nothing else
            logger.debug("unexpected watchdog message %r", line)

    def poll(self) -> bool:
        """True once the watchdog reported the browser's exit (or, the watchdog gone, the
        kernel no longer knows the browser's pid)."""
        self._pump(0.0)
        if not self._exited and (self._status_eof or os.getpid() != self._owner_pid):
            # The watchdog is gone without reporting an exit (killed by someone else):
            # fall back to asking the kernel about the browser itself.
            self._exited = not self._still_ours() or is_dying(self.pid)
        return self._exited

    def _still_ours(self) -> bool:
        """Whether ``self.pid`` still names our browser once the watchdog may be gone.

        While the watchdog lives it keeps the browser unreaped, so the pid (and the process
        group id) cannot be recycled. Once it is gone (killed), init may reap the browser
        and the kernel may hand the number to an unrelated process, which must never be
        signalled: on Linux the start time tells them apart; elsewhere the process must at
        least still exist and lead its own group, as the browser does.
        """
        pid = self.pid
        if pid is None:
            return False
        if self._started_at is not None:
            return start_time(pid) == self._started_at
        return _pid_exists(pid) and _is_group_leader(pid)

    def _wait_slice(self, timeout: float) -> None:
        if self._status_eof or os.getpid() != self._owner_pid:
            time.sleep(timeout)
        else:
            self._pump(timeout)

    def terminate(self, force: bool) -> None:
        """SIGTERM or SIGKILL the browser's process group, while that is still safe."""
        self._pump(0.0)
        if self.pid is None:
            return  # not spawned (yet): release() makes the watchdog kill whatever it started
        # Safe while the watchdog has not been told "q": it has not reaped the browser, so
        # the pgid (== browser pid) cannot have been reused by an unrelated process.
        sig = signal.SIGKILL if force else signal.SIGTERM
        if self._helper.poll() is not None and not self._still_ours():
            return  # watchdog gone and browser reaped: the pid may be someone else's now
        try:
            os.killpg(self.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def release(self, timeout: float) -> None:
        """Tell the watchdog ``q``, wait for it to reap everything and exit, close the pipes."""
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


class DirectChild(BrowserChild):
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
        self._owner_pid = os.getpid()  # a forked child cannot wait for it: not its child

    def poll(self) -> bool:
        """True once the browser has exited (observed without reaping where possible)."""
        if self.returncode is not None:
            return True
        if os.getpid() != self._owner_pid:
            return not _pid_exists(self._proc.pid) or is_dying(self._proc.pid)
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
        """SIGTERM or SIGKILL the browser's process group (``taskkill /T`` on Windows)."""
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
        """Reap the browser (killing it if it is still there after ``timeout`` s)."""
        try:
            code = self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            code = self._proc.wait()
        if self.returncode is None:
            self.returncode = code


def spawn(
    binary: str,
    command: list[str],
    env: dict[str, str],
    profile: str,
    temp_profile: bool,
    pipe_fds: tuple[int, int] | None = None,
) -> BrowserChild:
    """Spawn the browser, through the watchdog where a Python interpreter is usable.

    Args:
        pipe_fds: the browser's ends of a ``--remote-debugging-pipe`` (the read end of the
            pipe into it, the write end of the pipe out of it): they become its fds 3 and 4.

    Raises:
        BrowserLaunchError: the executable (or the watchdog's interpreter) cannot be run;
            ``pipe_fds`` without a watchdog (which is what puts them at fds 3 and 4).
    """
    python = usable_python()
    if python is None and pipe_fds is not None:
        raise BrowserLaunchError(
            "pipe=True needs the launcher watchdog (POSIX and a Python interpreter on disk) "
            "to hand the browser its pipe: use a DevTools port (pipe=False) here"
        )
    try:
        if python is not None:
            return WatchdogChild(python, command, env, profile, temp_profile, pipe_fds)
        if os.name == "posix":
            logger.warning(
                "no Python interpreter for the launcher watchdog: the browser "
                "will not be killed if this process is killed"
            )
        return DirectChild(command, env)
    except OSError as exc:
        raise BrowserLaunchError(f"cannot execute {binary}: {exc}") from exc


# -- stderr --------------------------------------------------------------------------------

_STDERR_LINES = 50
_LISTENING_RE = re.compile(r"DevTools listening on (ws://\S+)")
_thread_serial = itertools.count(1)


class StderrTail:
    """The last lines the browser wrote to stderr, and the endpoint it announced there."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lines: deque[str] = deque(maxlen=_STDERR_LINES)
        self.endpoint: str | None = None
        self.changed = threading.Event()  # set on the endpoint line and at EOF

    def add(self, line: str) -> None:
        """Keep ``line``; note the ``DevTools listening on ws://...`` endpoint."""
        with self._lock:
            self._lines.append(line)
        if self.endpoint is None:
            match = _LISTENING_RE.search(line)
            if match:
                self.endpoint = match.group(1)
                self.changed.set()

    def text(self) -> str:
        """The kept lines, joined."""
        with self._lock:
            return "\n".join(self._lines)


def _drain_stderr(stream: IO[bytes], tail: StderrTail) -> None:
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


def stderr_thread(stream: IO[bytes], tail: StderrTail) -> threading.Thread:
    """A daemon ``syncdp-launcher-stderr-N`` thread (not started yet) that drains ``stream``
    into ``tail`` until EOF."""
    return threading.Thread(
        target=_drain_stderr,
        args=(stream, tail),
        name=f"syncdp-launcher-stderr-{next(_thread_serial)}",
        daemon=True,
    )
