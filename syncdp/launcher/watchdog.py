"""The launcher's watchdog program: spawns the browser and takes it down when the owner dies.

Run by path, never imported for its work::

    python -I -S .../syncdp/launcher/watchdog.py [--pipe R,W] MODE PROFILE BROWSER_ARGV...

(see :mod:`syncdp.launcher.process` for the process layout). MODE is ``temp`` (remove
PROFILE if the owner dies) or ``keep``. ``--pipe R,W``: the inherited fds R (the read end of
the pipe into the browser) and W (the write end of the pipe out of it) become the browser's
fds 3 and 4 for ``--remote-debugging-pipe``; the watchdog keeps no copy, so the owner sees
EOF when the browser exits. It reads one byte from stdin, the owner's pipe:

* ``q``: the owner has stopped the browser itself; SIGKILL what is left of the group, reap
  everything and exit without touching the profile;
* end of file (the owner died, however) or SIGTERM/SIGHUP/SIGINT to the watchdog itself:
  SIGTERM the group, give it 2 s, SIGKILL it, reap, then clean the profile.

On stdout it reports ``pid N`` once the browser runs, ``exit N`` when it has exited (observed
without reaping, so the browser's pid and process group cannot be recycled while the owner
may still signal them) and ``error TEXT`` if it cannot be spawned.

Standard library only, and Python 3.9 compatible: ``-I -S`` keeps syncdp (and site-packages)
off ``sys.path``, so this file must not import syncdp. Importing it (to find its path) runs
nothing.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from types import FrameType
from typing import Optional

__all__ = ["main", "remove_singleton"]

_PR_SET_CHILD_SUBREAPER = 36
_SOCKET_DIR_RE = re.compile(r"^[A-Za-z][\w-]*(\.[\w-]+)+\.[A-Za-z0-9]{6}$")


def _report(line: str) -> None:
    # os.write, not sys.stdout: a daemon thread frozen at shutdown while holding the
    # buffered writer's lock would stall interpreter finalization for seconds.
    try:
        os.write(1, line.encode("utf-8", "replace") + b"\n")
    except OSError:
        pass


def _killpg(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except OSError:
        pass


def _parent_of(pid: str) -> Optional[str]:
    try:
        with open("/proc/%s/stat" % pid, "rb") as fh:
            stat = fh.read().decode("ascii", "replace")
        return stat.rsplit(")", 1)[1].split()[1]
    except (OSError, IndexError):
        return None


def _children() -> list[int]:
    """Our children: from ``/proc/self/task/*/children`` (cheap), else a scan of ``/proc``."""
    try:
        tasks = os.listdir("/proc/self/task")
        found: list[int] = []
        for task in tasks:
            with open("/proc/self/task/%s/children" % task, "rb") as fh:
                found.extend(int(pid) for pid in fh.read().split())
        return found
    except FileNotFoundError:  # a kernel without CONFIG_PROC_CHILDREN
        pass
    except (OSError, ValueError):
        return []
    me = str(os.getpid())
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    return [int(entry) for entry in entries if entry.isdigit() and _parent_of(entry) == me]


def _kill_orphans() -> None:
    """SIGKILL all our children.

    Browser descendants that daemonized (crashpad handlers, in their own sessions) were
    re-parented to this subreaper: they are exactly our children other than the browser,
    which has been SIGKILLed already.
    """
    for pid in _children():
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def _reap_all(deadline: float) -> None:
    """Reap children until none is left (or ``deadline``), killing every newcomer.

    Everything here has been SIGKILLed, but a daemon whose parent (a double fork's middle
    process) was still alive at the first sweep is only re-parented to us once that parent
    dies: it is killed at the next look, instead of outliving us under PID 1 (holding the
    owner's stderr pipe open).
    """
    idle = 0
    while time.monotonic() < deadline:
        try:
            got, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if got:
            _kill_orphans()  # the reaped one's children were adopted before it was reaped
            idle = 0
            continue
        idle += 1
        if idle % 5 == 0:  # a grandchild's death adopts its children without a reap here
            _kill_orphans()
        time.sleep(0.02)


def remove_singleton(profile: str, pid: int) -> None:
    """The singleton links (and socket dir) of a killed browser, if they name ``pid``."""
    try:
        lock = os.readlink(os.path.join(profile, "SingletonLock"))
    except OSError:
        return
    if lock.rsplit("-", 1)[-1] != str(pid):
        return
    try:
        sock_dir = os.path.dirname(os.readlink(os.path.join(profile, "SingletonSocket")))
        if _SOCKET_DIR_RE.match(os.path.basename(sock_dir)) and set(os.listdir(sock_dir)) <= {
            "SingletonSocket",
            "SingletonCookie",
        }:
            shutil.rmtree(sock_dir, ignore_errors=True)
    except OSError:
        pass
    for name in ("SingletonLock", "SingletonSocket", "SingletonCookie"):
        try:
            os.unlink(os.path.join(profile, name))
        except OSError:
            pass


def _clean_profile(mode: str, profile: str, pid: int) -> None:
    remove_singleton(profile, pid)
    if mode != "temp":
        return
    for _attempt in range(10):
        try:
            shutil.rmtree(profile)
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.1)


def _become_subreaper() -> None:
    """On Linux, adopt the browser's orphaned descendants (so they can be killed and reaped)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        ctypes.CDLL(None).prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except Exception:  # noqa: BLE001 - best effort: without it orphans go to PID 1
        pass


def _watch_exit(child: subprocess.Popen[bytes]) -> threading.Event:
    """Report the browser's exit on stdout; the event is set once it has been reported."""
    exited = threading.Event()
    pid = child.pid

    def waiter() -> None:
        try:
            if hasattr(os, "waitid"):
                # WNOWAIT: observe the exit without reaping, so the pgid stays reserved.
                info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
                assert info is not None  # blocking waitid always returns a result
                code = info.si_status if info.si_code == os.CLD_EXITED else -info.si_status
            else:
                code = child.wait()
            _report("exit %d" % code)
        except ChildProcessError:
            pass
        exited.set()

    threading.Thread(target=waiter, daemon=True).start()
    return exited


class _Stop(Exception):
    """Raised by the signal handler to end the wait for the owner."""


def _on_signal(signum: int, frame: Optional[FrameType]) -> None:
    raise _Stop()


def _wait_for_owner() -> bytes:
    """The owner's one-byte command: ``b"q"``, or ``b""`` at EOF or on a stop signal."""
    # Killed itself (pkill, a service manager): take the browser down first, as when the
    # owner dies, instead of leaving it running unwatched.
    stoppers = [
        getattr(signal, name) for name in ("SIGTERM", "SIGHUP", "SIGINT") if hasattr(signal, name)
    ]
    for signum in stoppers:
        signal.signal(signum, _on_signal)
    try:
        command = os.read(0, 1)
    except (OSError, _Stop):
        command = b""
    for signum in stoppers:  # the clean-up that follows must not be cut short
        signal.signal(signum, signal.SIG_IGN)
    return command


def _install_pipe(spec: str) -> tuple[int, ...]:
    """Move the inherited pipe ends ``"R,W"`` to fds 3 and 4; the fds to pass on."""
    import fcntl  # POSIX only (Windows has no watchdog): not at import time

    ends = [int(fd) for fd in spec.split(",")]
    # Above 9 first: R or W may be 3 or 4 already (dup2 onto it would close the other).
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in ends]
    for fd in ends:
        os.close(fd)
    for target, fd in zip((3, 4), high):
        os.dup2(fd, target)
        os.close(fd)
    return (3, 4)


def main(argv: list[str]) -> int:
    """Run the watchdog: ``argv`` is ``[--pipe R,W] MODE PROFILE BROWSER_ARGV...``; returns
    the exit code."""
    pass_fds: tuple[int, ...] = ()
    if argv[0] == "--pipe":
        pass_fds, argv = _install_pipe(argv[1]), argv[2:]
    mode, profile, browser_argv = argv[0], argv[1], argv[2:]
    _become_subreaper()
    try:
        child = subprocess.Popen(
            browser_argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            start_new_session=True,
            pass_fds=pass_fds,
        )
    except OSError as exc:
        _report("error %s" % exc)
        return 1
    finally:
        for fd in pass_fds:  # only the browser holds its pipe ends: EOF when it exits
            os.close(fd)
    # Only the browser's processes hold the stderr pipe now: the owner sees EOF when they end.
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    os.close(null)
    pid = child.pid
    _report("pid %d" % pid)
    exited = _watch_exit(child)
    command = _wait_for_owner()
    if command != b"q":
        # EOF: the owner died without stopping the browser. Ask, then force.
        _killpg(pid, signal.SIGTERM)
        exited.wait(2.0)
    # After "q" the owner has already killed the group; again in case it never learnt the pid.
    _killpg(pid, signal.SIGKILL)
    exited.wait(5.0)  # the exit is reported before anything is reaped
    _kill_orphans()
    _reap_all(time.monotonic() + 8.0)  # bounded: the owner waits 10 s for us
    if command != b"q":
        _clean_profile(mode, profile, pid)
    return 0


if __name__ == "__main__":
    os._exit(main(sys.argv[1:]))  # nothing to finalize; do not wait on the daemon waiter thread
