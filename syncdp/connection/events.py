"""EventsHandler: callbacks and event waiters of one endpoint.

Two threads touch it, each with its own half:

* the reader thread calls :meth:`EventsHandler.observe` for every event: it hands the event
  to any waiter registered for its name and says whether a callback wants it. It never runs
  user code (a waiter's predicate runs on the waiting thread).
* the dispatcher thread calls :meth:`EventsHandler.process_event`, which runs the callbacks,
  one at a time, in registration order (those for the name, then those for ``"*"``).

The callback table is copy-on-write: registering or removing builds a new tuple per event
name under the lock, and readers take the current tuple without locking. That is why a
callback may register or remove callbacks (even itself) while it runs.
"""

from __future__ import annotations

import inspect
import itertools
import logging
import queue
import threading
import time
from types import TracebackType
from typing import Any, Callable, Dict, List, Optional, Tuple, Type

from syncdp.connection.coroutines import run_coroutine
from syncdp.connection.validation import WILDCARD, check_timeout
from syncdp.exceptions import ConnectionClosedError, EventTimeoutError, InvalidCommand

__all__ = [
    "EXITING",
    "EventExpectation",
    "EventsHandler",
    "EventWaiter",
    "Predicate",
    "WAIT_SLICE",
]

logger = logging.getLogger(__name__)

Predicate = Callable[[Dict[str, Any]], Any]

# How long one blocking slice may last: Ctrl-C is handled between slices on every platform.
WAIT_SLICE = 0.1

EXITING = threading.Event()
"""Set when the interpreter starts exiting (before non-daemon threads are joined): waits
without a time limit then fail with ``ConnectionClosedError`` instead of keeping it alive."""
EXITING_MESSAGE = "a wait without timeout was abandoned at interpreter exit"


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
                if deadline is None and EXITING.is_set():
                    raise ConnectionClosedError(
                        "%s while waiting for %s" % (EXITING_MESSAGE, self.event_name)
                    ) from None
                continue
            if isinstance(item, BaseException):
                raise item
            if self.predicate is not None and not self.predicate(item):
                continue
            self.value = item
            return self.value


class EventsHandler:
    """Keeps the callbacks and event waiters of one endpoint (connection or session)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._entries: Dict[int, _CallbackEntry] = {}
        # event name -> callbacks in registration order; replaced, never mutated in place.
        self._by_event: Dict[str, Tuple[_CallbackEntry, ...]] = {}
        self._waiters: Dict[str, List[EventWaiter]] = {}

    # -- callbacks ---------------------------------------------------------------------------

    def register_callback(
        self, event_name: str, callback: Callable[..., Any], temporary: bool = False
    ) -> int:
        """Register ``callback`` for ``event_name`` (``"*"``: every event); returns its id.

        Raises:
            InvalidCommand: ``event_name`` is not a non-empty string or ``callback`` is not
                callable.
        """
        if not isinstance(event_name, str) or not event_name:
            raise InvalidCommand("event_name must be a non-empty string, got %r" % (event_name,))
        if not callable(callback):
            raise InvalidCommand("callback must be callable, got %r" % (callback,))
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
        """Whether any callback wants ``event_name`` events (lock-free read)."""
        by_event = self._by_event
        return event_name in by_event or WILDCARD in by_event

    # -- waiters -----------------------------------------------------------------------------

    def add_waiter(self, event_name: str, predicate: Optional[Predicate] = None) -> EventWaiter:
        """Start collecting ``event_name`` events for a waiter (before the trigger).

        Raises:
            InvalidCommand: ``predicate`` is not callable.
        """
        if predicate is not None and not callable(predicate):
            raise InvalidCommand("predicate must be callable, got %r" % (predicate,))
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
        """Feed ``event`` to its waiters (reader thread). Returns whether a callback wants it.

        Runs no user code.
        """
        method = event["method"]
        if self._waiters:
            for name in (method, WILDCARD):
                waiters = self._waiters.get(name)
                if waiters:
                    for waiter in tuple(waiters):
                        waiter.candidates.put(event)
        by_event = self._by_event
        return method in by_event or WILDCARD in by_event

    # -- dispatcher side ---------------------------------------------------------------------

    def process_event(self, event: Dict[str, Any]) -> None:
        """Run the callbacks for ``event`` in registration order (dispatcher thread).

        A callback that raises is logged with its traceback; the others still run.
        Coroutine callbacks run to completion on a private event loop before the next one.
        """
        by_event = self._by_event
        entries = by_event.get(event["method"])
        everything = by_event.get(WILDCARD)
        if everything:
            entries = entries + everything if entries else everything
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
                    run_coroutine(result)
            except Exception:
                logger.exception(
                    "callback %r for %s raised; event dispatch goes on",
                    entry.callback,
                    event["method"],
                )


class EventExpectation:
    """The result of ``expect_event``: a context manager.

    The waiter is registered on ``__enter__`` (before the trigger runs) and the wait happens
    on ``__exit__``, so an event that fires while the trigger is still running is not missed.
    ``value`` then holds the first matching event message.
    """

    def __init__(
        self, events_handler: EventsHandler, waiter: EventWaiter, timeout: Optional[float]
    ) -> None:
        self._events_handler = events_handler
        self._waiter = waiter
        self._timeout = timeout
        self._done = False

    @property
    def value(self) -> Dict[str, Any]:
        """The matched event message (``{"method": ..., "params": ...}``).

        Raises:
            RuntimeError: read before the ``with`` block ended.
        """
        if self._waiter.value is None:
            raise RuntimeError("expect_event value is available once the with block has ended")
        return self._waiter.value

    @property
    def timeout(self) -> Optional[float]:
        """Seconds the wait on ``__exit__`` may last (settable inside the block)."""
        return self._timeout

    @timeout.setter
    def timeout(self, value: Optional[float]) -> None:
        self._timeout = check_timeout(value)

    def fail(self, error: BaseException) -> None:
        """Make the thread in :meth:`wait` raise ``error`` now (any thread, even the reader):
        for library code that learns the event can no longer come, e.g. a dialog opened."""
        self._waiter.candidates.put(error)

    def cancel(self) -> None:
        """Stop waiting: ``__exit__`` then returns at once and ``value`` stays unset."""
        self._done = True
        self._events_handler.remove_waiter(self._waiter)

    def wait(self) -> Dict[str, Any]:
        """Wait for the event now (also done by ``__exit__``)."""
        try:
            return self._waiter.wait(self._timeout)
        finally:
            self._done = True
            self._events_handler.remove_waiter(self._waiter)

    def __enter__(self) -> "EventExpectation":
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        if exc_type is not None:
            self._events_handler.remove_waiter(self._waiter)
            return
        if not self._done:
            self.wait()
