"""BrowserProcess: launch a browser, wait for its DevTools endpoint, stop it with no leftovers.

It knows processes, not CDP (like chromedp's ``allocate.go``): it hands back a port and a
browser websocket URL, or with ``pipe=True`` the two ends of a ``--remote-debugging-pipe``
(as a :class:`~syncdp.transports.pipe.PipeOpener`); :mod:`syncdp.browser` connects to them.
"""

from __future__ import annotations

import logging
import os
import select
import threading
import time
import weakref
from types import TracebackType

from syncdp.exceptions import BrowserLaunchError
from syncdp.launcher.find import find_browser
from syncdp.launcher.linux import is_dying
from syncdp.launcher.options import LaunchOptions, build_command
from syncdp.launcher.process import BrowserChild, StderrTail, spawn, stderr_thread
from syncdp.launcher.profile import (
    clean_singleton,
    make_temp_profile,
    parse_ws_url,
    prepare_profile,
    read_active_port,
    remove_tree,
)
from syncdp.transports.pipe import PipeOpener

__all__ = ["BrowserProcess"]

logger = logging.getLogger(__name__)

# -- shared state and teardown ---------------------------------------------------------------


class _State:
    """What a launched browser owns. The finalizer holds this, never the BrowserProcess."""

    def __init__(
        self,
        child: BrowserChild,
        profile: str,
        temp_profile: bool,
        tail: StderrTail,
        thread: threading.Thread,
        pipe: PipeOpener | None,
    ) -> None:
        self.child = child
        self.pipe = pipe  # pipe=True: our ends, until the connection takes them
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


# After a browser asked to close (Browser.close) has not exited in time: its SIGTERM grace.
_GRACE_AFTER_CLOSE = 1.0


def _end_processes(child: BrowserChild, grace: float, closing: bool) -> None:
    """Signal the browser's process group until nothing is left in it (nothing is reaped).

    ``closing``: the browser was asked to close and is writing its profile (cookies, local
    storage) on its way out. Signalling the group now would kill the processes still doing
    that (the network service writes the cookies), so wait up to ``grace`` for the browser's
    own exit first. Otherwise (or if it does not exit): SIGTERM, ``grace`` s, SIGKILL.
    """
    if closing and grace > 0 and not child.wait_exit(grace):
        logger.info(
            "browser pid %s did not exit within %gs of being asked to close", child.pid, grace
        )
        grace = min(grace, _GRACE_AFTER_CLOSE)
    if grace > 0 and not child.poll():
        child.terminate(force=False)
        if not child.wait_exit(grace):
            logger.info("browser pid %s ignored SIGTERM for %gs; killing it", child.pid, grace)
    # Always: renderers and zygotes outlive the browser by ~1.5 s, and a grandchild may
    # ignore SIGTERM. Still safe: nothing has been reaped yet.
    child.terminate(force=True)


def _shutdown(state: _State, grace: float, reason: str, closing: bool = False) -> None:
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
            # A temporary profile is removed anyway: no need to wait for it to be written.
            _end_processes(child, grace, closing and not state.temp_profile)
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
        clean_singleton(state.profile, child.pid)
        if state.temp_profile:
            remove_tree(state.profile)
        if state.pipe is not None:
            state.pipe.discard()  # the fds, if no connection took them
        state.done = True
        logger.info("browser pid %s stopped (exit code %s)", child.pid, child.returncode)


def _browser_env(options: LaunchOptions) -> dict[str, str]:
    env = dict(os.environ)
    env.update(options.env or {})
    # Chromium puts its SingletonSocket under $TMPDIR and aborts ("Socket path too long",
    # exit -6) when that path is long, e.g. pytest's tmp_path.
    if len(env.get("TMPDIR", "")) > 60 and os.path.isdir("/tmp"):
        env["TMPDIR"] = "/tmp"
    return env


def _spawn_browser(
    binary: str, options: LaunchOptions
) -> tuple[BrowserChild, str, bool, tuple[int, int] | None]:
    """(the spawned child, its profile directory, whether that profile is temporary, and
    with ``options.pipe`` our ends of its pipe: (read end of the pipe out of the browser,
    write end of the pipe into it)).

    A temporary profile (and the pipe) is removed again if the spawn fails.
    """
    temp_profile = options.user_data_dir is None
    if options.user_data_dir is None:
        profile = make_temp_profile()
    else:
        profile = os.path.abspath(os.path.expanduser(options.user_data_dir))
    ours: tuple[int, int] | None = None
    theirs: tuple[int, int] | None = None
    try:
        command = build_command(binary, options, profile)
        if not temp_profile:
            prepare_profile(profile)
        if options.pipe:
            into_read, into_write = os.pipe()
            out_read, out_write = os.pipe()
            ours, theirs = (out_read, into_write), (into_read, out_write)
        child = spawn(binary, command, _browser_env(options), profile, temp_profile, theirs)
    except BaseException:
        if temp_profile:
            remove_tree(profile)
        for fd in ours or ():
            os.close(fd)
        raise
    finally:
        for fd in theirs or ():  # the browser has them now: EOF for us once it exits
            os.close(fd)
    return child, profile, temp_profile, ours


# Answered by the browser once its DevTools pipe runs (the connection's ids start at 1).
_PIPE_PROBE = b'{"id":0,"method":"Browser.getVersion"}\0'


def _readable(fd: int, timeout: float) -> bool:
    poller = select.poll()  # not select(): fds >= 1024 are fine
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(max(0, int(timeout * 1000) + 1)))


def _check_alive(binary: str, state: _State, deadline: float, timeout: float) -> float:
    """Raise :class:`BrowserLaunchError` if the browser could not run, exited or timed
    out (the process tree is stopped first); else the seconds left."""
    child, tail = state.child, state.tail
    exited = child.poll()  # also collects the pid and a spawn error from the watchdog
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
        hint = " (is the profile already in use by another browser?)" if child.returncode == 0 else ""
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
    return remaining


def _wait_endpoint(binary: str, state: _State, timeout: float) -> tuple[int, str]:
    """The port and path the browser published (``DevToolsActivePort`` or its stderr)."""
    child, tail = state.child, state.tail
    deadline = time.monotonic() + timeout
    while True:
        child.poll()
        found = read_active_port(state.profile)
        if found is None and tail.endpoint is not None:
            found = parse_ws_url(tail.endpoint)  # fallback: "DevTools listening on"
        if found is not None and child.pid is not None:
            return found  # (the watchdog may report the pid just after the endpoint)
        remaining = _check_alive(binary, state, deadline, timeout)
        # Short slices: DevToolsActivePort cannot be waited on. Before stderr EOF, wake
        # early on the "DevTools listening" line; after it, on the watchdog's exit report.
        if tail.changed.is_set():
            child.wait_exit(min(0.05, remaining))
        else:
            tail.changed.wait(min(0.05, remaining))


def _wait_pipe(binary: str, state: _State, fds: tuple[int, int], timeout: float) -> None:
    """Return once the browser answers a ``Browser.getVersion`` on its pipe: the pipe's
    ``DevToolsActivePort`` (it writes nothing before it is asked)."""
    read_fd, write_fd = fds
    try:
        os.write(write_fd, _PIPE_PROBE)  # far below the pipe's buffer: never blocks
    except OSError:  # EPIPE: it exited already (reported below)
        pass
    deadline = time.monotonic() + timeout
    received = b""
    while b"\0" not in received or state.child.pid is None:
        remaining = _check_alive(binary, state, deadline, timeout)
        if b"\0" not in received and _readable(read_fd, min(0.05, remaining)):
            data = os.read(read_fd, 65536)
            if not data:  # EOF: it exited (its exit status follows)
                state.child.wait_exit(min(2.0, max(remaining, 0.0)))
                _check_alive(binary, state, deadline, timeout)
            received += data
        elif b"\0" in received:
            state.child.wait_exit(min(0.05, remaining))  # the pid report is on its way
    answer, _, rest = received.partition(b"\0")
    if rest:  # nothing is enabled yet, so nothing else can come: say so if it did
        logger.warning("dropped %d unexpected bytes after the pipe probe's answer", len(rest))
    logger.debug("pipe probe answered: %.200r", answer)


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
        self._ready = False  # the endpoint (port or pipe) answered

    def __repr__(self) -> str:
        state = (
            "running"
            if self.is_running()
            else ("stopped" if self._state is not None else "not started")
        )
        where = "pipe" if self.options.pipe else f"port={self._port}"
        return f"<BrowserProcess pid={self.pid} {where} {state}>"

    # -- properties

    def _no_port(self) -> RuntimeError:
        if self.options.pipe:
            return RuntimeError("the browser talks over a pipe (pipe=True): it has no DevTools port")
        return RuntimeError("the browser has not been started")

    @property
    def port(self) -> int:
        """The DevTools port the browser chose (after :meth:`start`; not with ``pipe``)."""
        if self._port is None:
            raise self._no_port()
        return self._port

    @property
    def ws_url(self) -> str:
        """The browser websocket URL, ``ws://127.0.0.1:PORT/devtools/browser/<id>``."""
        if self._ws_url is None:
            raise self._no_port()
        return self._ws_url

    @property
    def pipe(self) -> PipeOpener | None:
        """With ``pipe=True``, after :meth:`start`: opens the transport on the browser's pipe
        (once: the connection's ``open_transport``); otherwise ``None``."""
        return self._state.pipe if self._state is not None and self._ready else None

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
        if not child.poll() and is_dying(child.pid):
            # is_running() already says False: the exit status is moments away.
            child.wait_exit(1.0)
        return child.returncode

    @property
    def owned(self) -> bool:
        """Whether this process launched the browser (False in a forked child: it may use
        the browser, but never stops it nor removes its profile)."""
        state = self._state
        return state is None or state.owner_pid == os.getpid()

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
            and self._ready
            and not state.stopping
            and not state.child.poll()
            and not is_dying(state.child.pid)
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
            options.validate()  # its attributes may have changed since it was made
            binary = find_browser(options.binary_location)
            child, profile, temp_profile, pipe_fds = _spawn_browser(binary, options)
            tail = StderrTail()
            thread = stderr_thread(child.stderr, tail)
            pipe = PipeOpener(*pipe_fds, label="pipe:%s" % profile) if pipe_fds else None
            state = _State(child, profile, temp_profile, tail, thread, pipe)
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
                if pipe_fds is not None:
                    _wait_pipe(binary, state, pipe_fds, options.start_timeout)
                    where = "a pipe"
                else:
                    port, path = _wait_endpoint(binary, state, options.start_timeout)
                    self._port, self._ws_url = port, f"ws://127.0.0.1:{port}{path}"
                    where = f"127.0.0.1:{port}"
            except BaseException:
                self._finalizer.detach()
                _shutdown(state, 0.0, "")
                raise
            self._ready = True
            logger.info(
                "launched %s (pid %s), DevTools on %s, profile %s", binary, child.pid, where, profile
            )

    def stop(self, timeout: float = 5.0, *, closing: bool = False) -> None:
        """Stop the browser: SIGTERM its process group, wait up to ``timeout`` s, SIGKILL.

        Copes with a browser that has already exited. Reaps every process, joins the stderr
        thread, then removes a temporary profile (a ``user_data_dir`` given in the options
        is kept). Idempotent; a no-op before :meth:`start`.

        A browser only writes its profile (cookies among it) when it closes itself; signals
        cut that short. To keep a persistent profile (``user_data_dir``), ask the browser to
        close over CDP (``Browser.close``) and pass ``closing=True``: ``stop`` then waits up
        to ``timeout`` for its own exit before signalling what is left (renderers, zygotes).

        Args:
            timeout: seconds the browser gets to exit on its own (``closing`` with a
                persistent profile) or after SIGTERM.
            closing: the browser was asked to close and is on its way out.
        """
        state = self._state
        if state is None:
            return
        _shutdown(state, timeout, "", closing=closing)
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
