"""What a new socket must restore, in one place: ``X.enable`` replay and the dispatcher.

* :class:`EnableTracker` remembers, per endpoint, the ``X.enable`` commands (and
  ``Target.setDiscoverTargets``) that succeeded; :func:`replay` sends them again on a new
  socket or a re-attached session, since a new socket starts with no domain enabled.
* :class:`Dispatcher` hands the dispatcher thread over from one socket to the next. Each
  socket is a connection *epoch*; the end of an epoch queues a stop tagged with it, and the
  dispatcher only stops for the newest epoch. A reader of an old socket that finishes its
  teardown late (stuck past its join bound while a reconnect went ahead) therefore cannot
  stop the dispatcher the new socket uses.

Session re-attach (a new ``sessionId`` for the same target on a new socket) happens lazily, on
the session's next use after a reconnect (``Session._reattach``), and replays that session's
enables through the same :func:`replay`.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any, Callable, Dict, List, Optional, Tuple

from syncdp.connection.coroutines import cancel_running_on, close_thread_loop
from syncdp.exceptions import CommandError, SyncdpError

__all__ = ["Dispatcher", "EnableTracker", "replay"]

logger = logging.getLogger(__name__)

# Stateful browser switches replayed after a reconnect like ``X.enable``: method -> the
# boolean parameter that turns them on.
_REPLAYED_SWITCHES = {"Target.setDiscoverTargets": "discover"}

Work = List[Tuple[Callable[[Any], Any], Any]]
Call = Callable[[str, Optional[Dict[str, Any]]], Dict[str, Any]]


class EnableTracker:
    """The state-switching commands of one endpoint that a new socket must send again."""

    def __init__(self) -> None:
        self._enabled: Dict[str, Dict[str, Any]] = {}

    @staticmethod
    def tracked(method: str) -> bool:
        """Whether ``method`` switches browser state that a reconnect must restore."""
        return method.endswith((".enable", ".disable")) or method in _REPLAYED_SWITCHES

    def track(self, method: str, params: Any, response: Dict[str, Any]) -> None:
        """Record the outcome of a tracked command (an error answer changes nothing)."""
        if "error" in response:
            return
        switch = _REPLAYED_SWITCHES.get(method)
        if switch is not None:
            if isinstance(params, dict) and params.get(switch):
                self._enabled[method] = dict(params)
            else:
                self._enabled.pop(method, None)
            return
        domain, _, verb = method.rpartition(".")
        if verb == "enable":
            self._enabled[method] = dict(params or {})
        else:
            self._enabled.pop(domain + ".enable", None)

    def commands(self) -> List[Tuple[str, Optional[Dict[str, Any]]]]:
        """``(method, params)`` of every active switch, in the order they were turned on."""
        return [(method, params or None) for method, params in list(self._enabled.items())]

    def clear(self) -> None:
        """Forget everything (``close()``: a later connection starts clean)."""
        self._enabled.clear()

    def __bool__(self) -> bool:
        return bool(self._enabled)


def replay(tracker: EnableTracker, call: Call, where: str) -> None:
    """Send again every active switch of ``tracker`` through ``call(method, params)``.

    A failure is logged (the browser may no longer support it) and the rest still goes.
    """
    for method, params in tracker.commands():
        try:
            call(method, params)
        except CommandError as exc:
            logger.warning("re-sending %s on %s failed: %s", method, where, exc.message)
        except SyncdpError as exc:
            logger.warning("re-sending %s on %s failed: %s", method, where, exc)


class _Stop:
    """The end of a dispatcher's queue: for ``epoch`` (a socket's end) or ``None`` (close)."""

    __slots__ = ("epoch",)

    def __init__(self, epoch: Optional[int]) -> None:
        self.epoch = epoch


class Dispatcher:
    """The dispatcher thread of one connection, across its sockets (epochs).

    Items are lists of ``(function, argument)`` run in order. A dispatcher ends with its
    socket (a connection left unused after a loss keeps no thread); the next socket starts
    another, which first waits for the old one to finish its queue, so callbacks still run
    one at a time in wire order.
    """

    def __init__(self, name: str) -> None:
        self._name = name
        self._lock = threading.Lock()  # the current thread, queue and epoch change together
        self._thread: Optional[threading.Thread] = None
        self._queue: "Optional[queue.SimpleQueue[Any]]" = None
        self._epoch = 0
        self._threads: List[threading.Thread] = []  # every one not known to be over

    def start_epoch(self) -> Tuple[int, "Callable[[Any], None]"]:
        """A new socket: its epoch and the ``put`` of the queue its events go to."""
        with self._lock:
            self._epoch += 1
            if self._queue is None:
                events: "queue.SimpleQueue[Any]" = queue.SimpleQueue()
                previous = self._threads[-1] if self._threads else None
                thread = threading.Thread(
                    target=self._run, args=(events, previous), name=self._name, daemon=True
                )
                self._thread, self._queue = thread, events
                self._threads = [t for t in self._threads if t.is_alive()] + [thread]
                thread.start()
            return self._epoch, self._queue.put

    def end_epoch(self, epoch: int, put: "Callable[[Any], None]") -> None:
        """The socket of ``epoch`` ended: its dispatcher stops after what it queued, unless
        a newer socket uses it meanwhile."""
        put(_Stop(epoch))

    def _should_stop(self, item: _Stop, events: "queue.SimpleQueue[Any]") -> bool:
        if item.epoch is None:
            return True
        with self._lock:
            if self._queue is not events:
                return False  # closed: a _Stop(None) follows
            if item.epoch != self._epoch:
                return False  # an older socket's late end: a newer socket uses this queue
            self._thread = self._queue = None
            return True

    def _run(self, events: "queue.SimpleQueue[Any]", previous: Optional[threading.Thread]) -> None:
        try:
            if previous is not None:
                previous.join()  # the lost socket's dispatcher finishes its queue first
            get = events.get
            while True:
                item = get()
                if type(item) is _Stop:
                    if self._should_stop(item, events):
                        return
                    continue
                for function, argument in item:
                    function(argument)
        finally:
            close_thread_loop()

    def close(self, join_timeout: float = 10.0) -> None:
        """Stop after what is queued; cancel a running coroutine callback; join the threads
        (not from a dispatcher of this connection: the newest one waits for the older ones)."""
        with self._lock:
            events = self._queue
            self._thread = self._queue = None
            threads = [t for t in self._threads if t.is_alive()]
        if events is not None:
            events.put(_Stop(None))
        for alive in threads:
            cancel_running_on(alive)
        if threading.current_thread() in threads:
            return
        for thread in threads:
            thread.join(join_timeout)
            if thread.is_alive():
                logger.warning("a callback is still running on %s after close()", thread.name)
