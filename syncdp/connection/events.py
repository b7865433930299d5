"""EventsHandler: callbacks, event waiters, network logs and dialog state.

Two threads touch it, each with its own half:

* the reader thread calls :meth:`EventsHandler.observe` for every event: it updates the
  network log and the dialog state, hands the event to any waiter registered for its name
  and says whether a callback wants it. It never runs user code (a waiter's predicate runs on
  the waiting thread).
* the dispatcher thread calls :meth:`EventsHandler.process_event`, which runs the callbacks,
  one at a time, in registration order.

The callback table is copy-on-write: registering or removing builds a new tuple per event
name under the lock, and readers take the current tuple without locking. That is why a
callback may register or remove callbacks (even itself) while it runs.
"""

from __future__ import annotations

import asyncio
import collections
import inspect
import itertools
import logging
import queue
import threading
import time
from typing import Any, Callable, Deque, Dict, List, Optional, Tuple

from syncdp.exceptions import EventTimeoutError

__all__ = ["EventsHandler", "EventWaiter", "Predicate"]

logger = logging.getLogger(__name__)

Predicate = Callable[[Dict[str, Any]], Any]

NETWORK_REQUEST_EVENT = "Network.requestWillBeSent"
DIALOG_OPENING_EVENT = "Page.javascriptDialogOpening"
DIALOG_CLOSED_EVENT = "Page.javascriptDialogClosed"

# How long one blocking slice may last: Ctrl-C is handled between slices on every platform.
WAIT_SLICE = 0.1


# One private event loop per dispatcher thread, shared by every events handler it serves,
# for coroutine callbacks. Never the caller's loop: a notebook's running loop is untouched.
_thread_loops = threading.local()


# The coroutine callback each dispatcher thread is running now, so close() can cancel one
# that would otherwise keep the dispatcher (and close()) waiting.
_running: "Dict[threading.Thread, asyncio.Future[Any]]" = {}
_running_lock = threading.Lock()


def cancel_awaitables_on(thread: threading.Thread) -> None:
    """Cancel the coroutine callback running on ``thread`` (a dispatcher), if any."""
    with _running_lock:
        task = _running.get(thread)
    if task is None:
        return
    try:
        task.get_loop().call_soon_threadsafe(task.cancel)
    except RuntimeError:  # its loop closed meanwhile: the callback is over
        pass


def close_thread_loop() -> None:
    """Close this thread's private event loop for coroutine callbacks (dispatcher exit)."""
    loop = getattr(_thread_loops, "loop", None)
    _thread_loops.loop = None
    if loop is not None and not loop.is_closed():
        try:
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()


class _CallbackEntry:
    __slots__ = ("callback_id", "event_name", "callback", "temporary")

    def __init__(
        self, callback_id: int, event_name: str, callback: Callable[..., Any], temporary: bool
    ) -> None:
        self.callback_id = callback_id
        self.event_name = event_name
        self.callback = callback
        self.temporary = temporary


class EventWaiter:
    """One pending wait for an event: the reader feeds it candidates by name.

    The predicate is applied by the waiting thread, so user code never runs on the reader.
    """

    def __init__(self, event_name: str, predicate: Optional[Predicate]) -> None:
        self.event_name = event_name
        self.predicate = predicate
        self.candidates: "queue.SimpleQueue[Any]" = queue.SimpleQueue()
        self.value: Optional[Dict[str, Any]] = None

    def wait(self, timeout: Optional[float]) -> Dict[str, Any]:
        """Block until a candidate matches; raise what the connection failed with.

        Raises:
            EventTimeoutError: nothing matched within ``timeout`` seconds.
            ConnectionClosedError: the connection was lost or closed meanwhile.
        """
        if self.value is not None:
            return self.value
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if deadline is None:
                slice_ = WAIT_SLICE
            else:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise EventTimeoutError(self.event_name, timeout or 0.0)
                slice_ = min(WAIT_SLICE, remaining)
            try:
                item: Any = self.candidates.get(timeout=slice_)
            except queue.Empty:
                continue
            if isinstance(item, BaseException):
                raise item
            if self.predicate is not None and not self.predicate(item):
                continue
            self.value = item
            return self.value


class EventsHandler:
    """Keeps callbacks, event waiters, network logs and the open dialog.

    Args:
        network_logs_limit: how many ``Network.requestWillBeSent`` events to keep (oldest
            dropped first, with one warning); ``None`` keeps all.
    """

    def __init__(self, network_logs_limit: Optional[int] = 10_000) -> None:
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._entries: Dict[int, _CallbackEntry] = {}
        # event name -> callbacks in registration order; replaced, never mutated in place.
        self._by_event: Dict[str, Tuple[_CallbackEntry, ...]] = {}
        self._waiters: Dict[str, List[EventWaiter]] = {}
        self._network_logs: Deque[Dict[str, Any]] = collections.deque(maxlen=network_logs_limit)
        self._network_logs_warned = False
        self._dialog: Dict[str, Any] = {}

    # -- callbacks ---------------------------------------------------------------------------

    def register_callback(
        self, event_name: str, callback: Callable[..., Any], temporary: bool = False
    ) -> int:
        """Register ``callback`` for ``event_name``; returns its id.

        Raises:
            ValueError: ``event_name`` is not a non-empty string.
            TypeError: ``callback`` is not callable.
        """
        if not isinstance(event_name, str) or not event_name:
            raise ValueError("event_name must be a non-empty string, got %r" % (event_name,))
        if not callable(callback):
            raise TypeError("callback must be callable, got %r" % (callback,))
        with self._lock:
            callback_id = next(self._ids)
            entry = _CallbackEntry(callback_id, event_name, callback, bool(temporary))
            self._entries[callback_id] = entry
            self._by_event[event_name] = self._by_event.get(event_name, ()) + (entry,)
        return callback_id

    def remove_callback(self, callback_id: int) -> bool:
        """Remove a callback by id; returns False when there was none."""
        with self._lock:
            entry = self._entries.pop(callback_id, None)
            if entry is None:
                return False
            remaining = tuple(e for e in self._by_event.get(entry.event_name, ()) if e is not entry)
            if remaining:
                self._by_event[entry.event_name] = remaining
            else:
                self._by_event.pop(entry.event_name, None)
        return True

    def clear_callbacks(self) -> None:
        """Remove every callback."""
        with self._lock:
            self._entries.clear()
            self._by_event = {}

    def has_callbacks(self, event_name: str) -> bool:
        """Whether any callback is registered for ``event_name`` (lock-free read)."""
        return event_name in self._by_event

    # -- waiters -----------------------------------------------------------------------------

    def add_waiter(self, event_name: str, predicate: Optional[Predicate] = None) -> EventWaiter:
        """Start collecting ``event_name`` events for a waiter (before the trigger)."""
        if not isinstance(event_name, str) or not event_name:
            raise ValueError("event_name must be a non-empty string, got %r" % (event_name,))
        if predicate is not None and not callable(predicate):
            raise TypeError("predicate must be callable, got %r" % (predicate,))
        waiter = EventWaiter(event_name, predicate)
        with self._lock:
            self._waiters.setdefault(event_name, []).append(waiter)
        return waiter

    def remove_waiter(self, waiter: EventWaiter) -> None:
        """Stop feeding ``waiter``."""
        with self._lock:
            waiters = self._waiters.get(waiter.event_name)
            if waiters is not None:
                try:
                    waiters.remove(waiter)
                except ValueError:
                    pass
                if not waiters:
                    del self._waiters[waiter.event_name]

    def fail_waiters(self, make_error: Callable[[str], BaseException]) -> None:
        """Wake every waiter with its own ``make_error(event_name)`` (connection lost)."""
        with self._lock:
            waiters = [w for ws in self._waiters.values() for w in ws]
            self._waiters.clear()
        for waiter in waiters:
            waiter.candidates.put(make_error(waiter.event_name))

    # -- reader side -------------------------------------------------------------------------

    def observe(self, event: Dict[str, Any]) -> bool:
        """Record ``event`` (reader thread). Returns whether a callback wants it.

        Updates the network log and dialog state and feeds waiters; runs no user code.
        """
        method = event["method"]
        if method == NETWORK_REQUEST_EVENT:
            logs = self._network_logs
            if (
                logs.maxlen is not None
                and len(logs) == logs.maxlen
                and not self._network_logs_warned
            ):
                self._network_logs_warned = True
                logger.warning(
                    "network log full (%d entries): dropping the oldest; raise "
                    "network_logs_limit or call clear_network_logs()",
                    logs.maxlen,
                )
            logs.append(event)
        elif method == DIALOG_OPENING_EVENT:
            self._dialog = event
        elif method == DIALOG_CLOSED_EVENT:
            self._dialog = {}
        if self._waiters:
            waiters = self._waiters.get(method)
            if waiters:
                for waiter in tuple(waiters):
                    waiter.candidates.put(event)
        return method in self._by_event

    # -- dispatcher side ---------------------------------------------------------------------

    def process_event(self, event: Dict[str, Any]) -> None:
        """Run the callbacks for ``event`` in registration order (dispatcher thread).

        A callback that raises is logged with its traceback; the others still run.
        Coroutine callbacks run to completion on a private event loop before the next one.
        """
        entries = self._by_event.get(event["method"])
        if not entries:
            return
        for entry in entries:
            if entry.temporary:
                if not self.remove_callback(entry.callback_id):
                    continue  # a temporary callback fires once, even if queued twice
            elif entry.callback_id not in self._entries:
                continue  # removed meanwhile, e.g. by an earlier callback for this event
            try:
                result = entry.callback(event)
                if result is not None and inspect.isawaitable(result):
                    self._run_awaitable(result)
            except Exception:
                logger.exception(
                    "callback %r for %s raised; event dispatch goes on",
                    entry.callback,
                    event["method"],
                )

    def _run_awaitable(self, awaitable: Any) -> None:
        loop = getattr(_thread_loops, "loop", None)
        if loop is None or loop.is_closed():
            loop = _thread_loops.loop = asyncio.new_event_loop()
        task = asyncio.ensure_future(awaitable, loop=loop)
        thread = threading.current_thread()
        with _running_lock:
            _running[thread] = task
        try:
            loop.run_until_complete(task)
        except asyncio.CancelledError:
            logger.info("coroutine callback %r was cancelled", awaitable)
        finally:
            with _running_lock:
                _running.pop(thread, None)

    # -- state -------------------------------------------------------------------------------

    @property
    def network_logs(self) -> List[Dict[str, Any]]:
        """The ``Network.requestWillBeSent`` events seen, oldest first (a copy)."""
        return list(self._network_logs)

    def clear_network_logs(self) -> None:
        """Forget the network log."""
        self._network_logs.clear()
        self._network_logs_warned = False

    @property
    def dialog(self) -> Dict[str, Any]:
        """The open dialog's ``Page.javascriptDialogOpening`` event, or ``{}``."""
        return self._dialog
