"""ConnectionCore: one connection's wire work, shared by the handler and its sessions.

::

    caller threads ──send()──▶ transport.send ─────────────────────▶ browser
         ▲ Future (CommandManager)                                      │
         │                                                              ▼
         └──── Router.route_all ◀──── reader thread: transport.receive() (a batch)
                    │ events: reader hooks, waiters
                    ▼
               Dispatcher queue ──▶ dispatcher thread ──▶ callbacks, in wire order

* The reader is the only thread that calls ``receive``. It never runs user code: the router
  completes futures, feeds waiters and queues events. Its ``finally`` is the one teardown
  point of a socket: it fails what was sent on it with ``ConnectionClosedError``.
* The dispatcher is the only thread that runs callbacks and never completes futures, which
  is why a callback may call ``execute_command`` without deadlock.
* Each socket is an *epoch*: pending commands and the dispatcher's stop carry it, so the
  late end of an old socket only fails and stops what belonged to it.
"""

from __future__ import annotations

import atexit
import itertools
import json
import logging
import os
import threading
import time
import weakref
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from syncdp._types import Transport
from syncdp.connection import forking
from syncdp.connection.commands import CommandFuture, CommandManager
from syncdp.connection.events import EXITING, EXITING_MESSAGE, WAIT_SLICE
from syncdp.connection.reconnect import Dispatcher, replay
from syncdp.connection.router import Route, Router, truncate
from syncdp.connection.validation import command_error
from syncdp.exceptions import (
    CommandTimeoutError,
    ConnectionClosedError,
    InvalidCommand,
    ReplayMismatchError,
    SyncdpConnectionError,
)
from syncdp.transports import TransportClosed, redact_url

__all__ = ["ConnectionCore", "DISCONNECTED_EVENT", "Link"]

logger = logging.getLogger(__name__)
wire_logger = logging.getLogger("syncdp.wire")

DISCONNECTED_EVENT = "Syncdp.disconnected"
"""A synthetic event dispatched once when the connection is lost (not on ``close()``)."""

CLOSED_BY_CLOSE = "the connection was closed by close()"

# One encoder for every command; NaN and Infinity are refused, as they are not JSON.
_encoder = json.JSONEncoder(allow_nan=False)
_make_encoder = getattr(json.encoder, "c_make_encoder", None)  # None without the C accelerator
_ascii = json.encoder.encode_basestring_ascii


def _encode(message: Dict[str, Any]) -> str:
    """``json.JSONEncoder(allow_nan=False).encode(message)``, about 1.5 us cheaper.

    ``encode`` goes through two Python-level methods before the C encoder they build; this
    builds that C encoder directly, with the same arguments (a fresh dict for the circular
    reference check each time, so threads never share one).
    """
    if _make_encoder is None:  # pragma: no cover - CPython always has it
        return _encoder.encode(message)
    encoder = _make_encoder(
        {}, _encoder.default, _ascii, None, _encoder.key_separator, _encoder.item_separator,
        False, False, False,  # sort_keys, skipkeys, allow_nan
    )
    return "".join(encoder(message, 0))


_serial = itertools.count(1)
_live: "weakref.WeakSet[ConnectionCore]" = weakref.WeakSet()

Opener = Callable[[], Tuple[Transport, str]]
"""Opens a new transport; returns it and the URL it reached (for logs)."""


class Link:
    """One live transport (a connection epoch) and the reader thread that owns it."""

    def __init__(self, transport: Transport, url: str, epoch: int, router: Router) -> None:
        self.transport = transport
        self.url = url
        self.epoch = epoch
        self.router = router
        self.alive = True
        self.closing: Optional[str] = None  # why we end it ourselves (close()): not a loss
        self.ready = True  # False until the enables of a reconnect are replayed
        self.reader: Optional[threading.Thread] = None
        self.ended = threading.Event()  # set once the teardown is over
        self.pid = os.getpid()  # the process that opened it (a forked child does not own it)

    def abort(self) -> None:
        """Drop the transport at once, as a lost connection would (the reader tears down)."""
        self.transport.abort()


class ConnectionCore:
    """Connects lazily, owns the reader and dispatcher, sends, waits, closes.

    Args:
        open_transport: opens a new transport (the handler's connector, wrapped).
        root: the route of the connection's own target.
        sessions: the routes of its sessions by ``sessionId`` (read by the reader unlocked).
        connect_timeout: seconds for a connect; also the bound of each replayed enable.
        replay_enables: send the root's enables again on a new socket.
    """

    def __init__(
        self,
        open_transport: Opener,
        root: Route,
        sessions: Mapping[str, Route],
        connect_timeout: float,
        replay_enables: bool,
    ) -> None:
        self.serial = next(_serial)
        self.commands = CommandManager()
        self.root = root
        self.sessions = sessions  # sessionId -> route, kept by targets.Targets
        self.connect_timeout = connect_timeout
        self.replay_enables = replay_enables
        self.connection_count = 0
        self.link: Optional[Link] = None  # replaced, never mutated: commands read it unlocked
        self.url: Optional[str] = None
        self._open_transport = open_transport
        self._dispatcher = Dispatcher("syncdp-dispatcher-%d" % self.serial)
        # Serializes connect, reconnect and close; commands never hold it on the hot path.
        self._state_lock = threading.RLock()
        self.on_lost: List[Callable[[str, Optional[int], Optional[str], bool], None]] = []
        self.forked_from: Optional[int] = None  # the pid whose connection a fork inherited
        self._made_with = forking.lock_factory()  # threading.Lock now: see check_runtime
        _live.add(self)
        forking.on_fork_in_child(self, ConnectionCore.forked_in_child)

    @property
    def connected(self) -> bool:
        """Whether a transport is open right now."""
        link = self.link
        return link is not None and link.alive

    # -- connecting --------------------------------------------------------------------------

    def ensure_connected(self) -> Link:
        """The live link, connecting (and replaying enables after a loss) first."""
        if threading.Lock is not self._made_with:  # monkey-patched since: never a hang
            forking.check_runtime(self._made_with, "this connection")
        link = self.link
        if link is not None and link.alive and link.ready:
            return link
        with self._state_lock:
            link = self.link
            if link is None or not link.alive:
                link = self._connect(link)
            if not link.ready:  # a reconnect, or a replay interrupted (Ctrl-C) before the end
                replay(self.root.enables, self._replay_call(link, None), "the connection")
                link.ready = True
            return link

    def _connect(self, old: Optional[Link]) -> Link:
        if old is not None:
            # Its teardown normally ends at once; past the bound, epochs keep it harmless.
            self._join_reader(old)
        parent = self.forked_from
        transport, url = self._open_after_fork(parent) if parent else self._open_transport()
        epoch, put = self._dispatcher.start_epoch()
        router = Router(self.commands, self.root, self.sessions, put)
        link = Link(transport, url, epoch, router)
        # Commands wait (on _state_lock) until the enable replay is done.
        link.ready = not (self.connection_count > 0 and self.replay_enables)
        self.url = url
        self.connection_count += 1
        reader = threading.Thread(
            target=self._read_loop, args=(link,), name="syncdp-reader-%d" % self.serial, daemon=True
        )
        link.reader = reader
        reader.start()  # before publishing the link: a live link always has a reader
        self.link = link
        reconnect = self.connection_count > 1
        logger.info("%s to %s", "reconnected" if reconnect else "connected", redact_url(url))
        return link

    def _open_after_fork(self, parent: int) -> Tuple[Transport, str]:
        try:
            return self._open_transport()
        except SyncdpConnectionError as exc:
            raise SyncdpConnectionError(
                "this process (pid %d) was forked from pid %d and must open a connection of its "
                "own to the same browser, which failed: %s. A pipe connection cannot be shared "
                "across fork: launch the browser in this process, or use a websocket "
                "(Chrome(), connect(port)) in the parent" % (os.getpid(), parent, exc)
            ) from exc

    def forked_in_child(self) -> None:
        """In a forked child, before anything else runs (the only thread; fresh locks).

        The parent's socket and threads are not ours: forget them without a close handshake
        (the parent still uses that socket) and reconnect on first use, as after a loss;
        sessions re-attach then. Commands the parent was waiting for fail here: their
        answers go to the parent.
        """
        link, self.link = self.link, None
        self._dispatcher = Dispatcher("syncdp-dispatcher-%d" % self.serial)
        if link is None:
            return
        self.forked_from = link.pid
        message = "sent by process %d before it forked; its answer goes to that process, not to " \
            "this child (pid %d)" % (link.pid, os.getpid())
        self.commands.fail_all(lambda method: ConnectionClosedError(message, method=method))
        lost = "the connection belongs to process %d (this process was forked from it)" % link.pid
        for hook in list(self.on_lost):
            hook(lost, None, None, False)
        self.root.events.fail_waiters(
            lambda event: ConnectionClosedError(lost + " while waiting for " + event)
        )

    def _replay_call(
        self, link: Link, session_id: Optional[str]
    ) -> Callable[[str, Optional[Dict[str, Any]]], Dict[str, Any]]:
        def call(method: str, params: Optional[Dict[str, Any]]) -> Dict[str, Any]:
            command: Dict[str, Any] = {"method": method}
            if params:
                command["params"] = params
            future, command_id = self.send(link, command, session_id)
            return self.result(method, self.wait(future, command_id, method, self.connect_timeout))

        return call

    def replay_on(self, link: Link, route: Route) -> None:
        """Send ``route``'s enables again on ``link`` (a re-attached session)."""
        if self.replay_enables:
            replay(route.enables, self._replay_call(link, route.session_id), repr(route))

    # -- the reader ----------------------------------------------------------------------------

    def _read_loop(self, link: Link) -> None:
        code: Optional[int] = None
        reason: Optional[str] = None
        detail = "the connection to the browser was lost"
        receive = link.transport.receive
        router = link.router
        router.bind_to_current_thread()
        route_all = router.route_all
        try:
            while True:
                route_all(receive())
        except TransportClosed as exc:
            code, reason, detail = exc.code, exc.reason, exc.detail
        except Exception:
            logger.exception("reader thread failed; closing the connection")
            link.transport.abort()
        finally:
            router.flush()  # events that arrived before the end are still delivered
            self._teardown(link, code, reason, detail)

    def _teardown(self, link: Link, code: Optional[int], reason: Optional[str], detail: str) -> None:
        """The one teardown point of a socket (reader thread): fail what waits on it."""
        link.alive = False
        message = link.closing or detail

        def make_error(method: Optional[str]) -> ConnectionClosedError:
            return ConnectionClosedError(message, code, reason, method)

        failed = self.commands.fail_all(make_error, link.epoch)
        newer = self.link
        if newer is None or newer is link or not newer.alive:
            # Waiters and sessions wait on the newest socket: a late end of an older one
            # (its reader stuck past the reconnect's join bound) must not fail them.
            for lost in list(self.on_lost):
                lost(message, code, reason, link.closing is not None)
            self.root.events.fail_waiters(
                lambda event: ConnectionClosedError(
                    message + " while waiting for " + event, code, reason
                )
            )
        work: List[Any] = []
        if link.closing:
            logger.info("connection to %s closed", redact_url(link.url))
        else:
            logger.warning(
                "%s (%s; close code %s); %d pending command(s) failed; the next command reconnects",
                detail,
                redact_url(link.url),
                code,
                failed,
            )
            events = self.root.events
            if events.has_callbacks(DISCONNECTED_EVENT):
                event = {
                    "method": DISCONNECTED_EVENT,
                    "params": {"code": code, "reason": reason, "detail": detail},
                }
                work.append((events.process_event, event))
        link.router.flush_work(work)
        self._dispatcher.end_epoch(link.epoch, link.router.put)
        link.ended.set()

    # -- sending and waiting ------------------------------------------------------------------

    def send(
        self, link: Link, command: Dict[str, Any], session_id: Optional[str] = None
    ) -> Tuple[CommandFuture, int]:
        """Register a future for ``command`` under a fresh id, then send it on ``link``.

        Raises:
            InvalidCommand: the parameters are not JSON (NaN and Infinity included).
            ConnectionClosedError: the link ended before or while sending.
        """
        method = command["method"]
        command_id, future = self.commands.create_command_future(method, session_id, link.epoch)
        message = dict(command)
        message["id"] = command_id
        if session_id is not None:
            message["sessionId"] = session_id
        else:
            message.pop("sessionId", None)
        try:
            payload = _encode(message)
        except (TypeError, ValueError) as exc:
            self.commands.remove_pending_command(command_id)
            raise InvalidCommand(
                "%s: parameters are not JSON-serializable: %s" % (method, exc)
            ) from exc
        if wire_logger.isEnabledFor(logging.DEBUG):
            wire_logger.debug("-> %s", truncate(payload))
        try:
            link.transport.send(payload)
        except ReplayMismatchError:
            # A replay refusing this one command: the wire itself is fine.
            self.commands.remove_pending_command(command_id)
            raise
        except Exception as exc:
            self.commands.remove_pending_command(command_id)
            link.transport.abort()  # let the reader notice and tear down
            raise ConnectionClosedError("sending failed: %s" % (exc,), method=method) from exc
        if not link.alive:
            # Registered after the reader's teardown may have run: fail it here.
            if self.commands.remove_pending_command(command_id):
                raise ConnectionClosedError(link.closing or "the connection was lost", method=method)
        return future, command_id

    def wait(
        self, future: CommandFuture, command_id: int, method: str, timeout: Optional[float]
    ) -> Dict[str, Any]:
        """Block for the answer to ``command_id``, in slices so that Ctrl-C lands.

        Raises:
            CommandTimeoutError: no answer within ``timeout``.
            ConnectionClosedError, TargetClosedError: what the future failed with.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        completed = future.completed  # released once, when the future completes
        answered = False
        try:
            while True:
                if deadline is None:
                    slice_: float = WAIT_SLICE
                else:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise CommandTimeoutError(method, timeout or 0.0)
                    slice_ = remaining if remaining < WAIT_SLICE else WAIT_SLICE
                # Slices of at most 0.1 s: Ctrl-C lands between them on every platform.
                if completed.acquire(True, slice_):
                    answered = True
                    return future.outcome()
                if deadline is None and EXITING.is_set():
                    raise ConnectionClosedError(EXITING_MESSAGE, method=method)
        finally:
            if not answered:  # timeout or Ctrl-C: forget the id (a late answer is dropped)
                self.commands.remove_pending_command(command_id)

    @staticmethod
    def result(method: str, response: Dict[str, Any]) -> Dict[str, Any]:
        """The ``result`` of a response; an ``error`` answer raises ``CommandError``."""
        error = response.get("error")
        if error is not None:
            raise command_error(method, error)
        result = response.get("result")
        return result if isinstance(result, dict) else {}

    def call(
        self,
        method: str,
        params: Optional[Dict[str, Any]] = None,
        session_id: Optional[str] = None,
        timeout: Optional[float] = 10.0,
    ) -> Dict[str, Any]:
        """Send ``method`` and return its result (library use: attach, detach, auto-attach)."""
        command: Dict[str, Any] = {"method": method}
        if params is not None:
            command["params"] = params
        future, command_id = self.send(self.ensure_connected(), command, session_id)
        return self.result(method, self.wait(future, command_id, method, timeout))

    # -- liveness and shutdown ---------------------------------------------------------------

    def ping(self, timeout: float) -> bool:
        """Whether the browser answers now: the transport's own ping, else a command."""
        link = self.ensure_connected()
        probe = getattr(link.transport, "ping", None)
        if probe is not None:
            return bool(probe(timeout))
        # Any answer will do, an error one too (the browser endpoint has no Runtime domain).
        future, command_id = self.send(link, {"method": "Runtime.evaluate", "params": {"expression": "1"}})
        self.wait(future, command_id, "Runtime.evaluate", timeout)
        return True

    def wait_closed(self, timeout: Optional[float]) -> bool:
        """Block until the current connection ends; True if it did (or none is open)."""
        link = self.link
        if link is None or link.ended.is_set():
            return True
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            slice_ = WAIT_SLICE if deadline is None else min(WAIT_SLICE, deadline - time.monotonic())
            if slice_ <= 0:
                return False
            if link.ended.wait(slice_) or (deadline is None and EXITING.is_set()):
                return True  # slices: Ctrl-C lands between them

    def expect_close(self, why: str = CLOSED_BY_CLOSE) -> None:
        """The peer is about to end the connection on purpose (``Browser.close``): not a loss.

        The end is then logged at INFO and no disconnected event fires.
        """
        link = self.link
        if link is not None:
            link.closing = why

    def _join_reader(self, link: Link, timeout: float = 2.0) -> None:
        reader = link.reader
        if reader is None or reader is threading.current_thread():
            return
        reader.join(timeout)
        if reader.is_alive():
            link.transport.abort()
            reader.join(timeout)
            if reader.is_alive():
                logger.warning("reader thread %s did not stop", reader.name)

    def close(self, why: str = CLOSED_BY_CLOSE) -> None:
        """Close: idempotent, any thread (a callback too). Pending commands and waiters fail
        with ``ConnectionClosedError(why)``; both threads are joined (never the current one)."""
        with self._state_lock:
            self.root.events.clear_callbacks()
            # link is dropped only once its reader is joined: a Ctrl-C during the join
            # leaves it for the next close() to finish.
            link = self.link
            if link is not None and link.alive:
                link.closing = link.closing or why
                try:
                    link.transport.close()
                except Exception:
                    link.transport.abort()
            if link is not None:
                self._join_reader(link)
                if self.link is link:
                    self.link = None
            self.root.enables.clear()
        self._dispatcher.close()


def _close_all() -> None:
    """At interpreter exit, once non-daemon threads are over: close every connection."""
    for core in list(_live):
        try:
            core.close()
        except Exception:  # pragma: no cover - best effort at exit
            logger.debug("closing connection %d at exit failed", core.serial, exc_info=True)


def _interpreter_exiting() -> None:
    """threading's exit hook, run before it joins non-daemon threads: a thread waiting
    without a time limit (``timeout=None``) would keep Python from exiting, so such waits now
    fail. Bounded work in other threads goes on; connections close once it is over."""
    EXITING.set()


atexit.register(_close_all)
# threading's own exit hooks run before it joins non-daemon threads; atexit's run after that,
# too late for a thread blocked in a wait without limit (3.9+ has _register_atexit).
_register = getattr(threading, "_register_atexit", None)
if _register is not None:
    _register(_interpreter_exiting)
