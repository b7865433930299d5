"""Event callbacks of one tab (on the dispatcher thread or a background pool) and waits."""

from __future__ import annotations

import inspect
import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Dict, Optional, Set

from syncdp._checks import check_timeout
from syncdp.connection import EventExpectation
from syncdp.connection.coroutines import close_thread_loop, run_coroutine
from syncdp.connection.events import Predicate
from syncdp.exceptions import SyncdpError
from syncdp.page.core import PageCore, check_name

__all__ = ["PageEvents", "run_callback"]

logger = logging.getLogger(__name__)


def run_callback(callback: Callable[..., Any], event: Dict[str, Any]) -> None:
    """Run ``callback(event)`` (to completion if it is a coroutine function); log failures."""
    try:
        result = callback(event)
        if inspect.isawaitable(result):
            # The connection's one runner; a pool thread has no end hook to close its loop
            # later, so it is closed now (as asyncio.run would).
            try:
                run_coroutine(result)
            finally:
                close_thread_loop()
    except Exception:
        logger.exception("background callback %r raised", callback)


class _BackgroundPool:
    """A small worker pool for ``background=True`` callbacks that knows its own threads."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self._threads: Set[threading.Thread] = set()
        self._executor = ThreadPoolExecutor(
            4, thread_name_prefix="syncdp-background", initializer=self._joined
        )

    def _joined(self) -> None:
        self._threads.add(threading.current_thread())

    def submit(self, callback: Callable[..., Any], event: Dict[str, Any]) -> None:
        self._executor.submit(run_callback, callback, event)

    def shutdown(self) -> None:
        # A callback may close its own tab: a worker cannot wait for itself to finish.
        self._executor.shutdown(wait=threading.current_thread() not in self._threads)


class PageEvents:
    """The event side of a tab (see :meth:`Tab.on`)."""

    def __init__(self, core: PageCore) -> None:
        self._core = core
        self._lock = threading.Lock()
        self._pool: Optional[_BackgroundPool] = None
        self._shut = False  # shutdown() ran: no new pool for an event dispatched after it

    def on(
        self, event_name: str, callback: Callable[..., Any], temporary: bool, background: bool
    ) -> int:
        """See :meth:`Tab.on`."""
        check_name(event_name, "event_name")
        if not callable(callback):
            raise TypeError("callback must be callable, got %r" % (callback,))
        self._core.check_open("Tab.on(%r)" % event_name)
        self._check_event_name(event_name)
        if background:
            self._background_pool()  # made now: its threads start with the first event
            target = callback

            def callback(event: Dict[str, Any]) -> None:
                self._submit(target, event)

        return self._core.connection.register_callback(event_name, callback, temporary)

    def _submit(self, callback: Callable[..., Any], event: Dict[str, Any]) -> None:
        """Run ``callback(event)`` on the pool, unless the tab closed while the event was on
        its way (a new pool then would have threads nobody ends)."""
        with self._lock:
            pool = None if self._shut else self._pool_locked()
        if pool is not None:
            try:
                pool.submit(callback, event)
                return
            except RuntimeError:  # shut down between the lock and the submit: the same case
                pass
        logger.debug("tab closed: background callback %r not run", callback)

    def _background_pool(self) -> _BackgroundPool:
        with self._lock:
            return self._pool_locked()

    def _pool_locked(self) -> _BackgroundPool:
        if self._pool is None or self._pool.pid != os.getpid():
            # None yet, or inherited across fork(): the parent's pool has no threads in this
            # process (its queue would never be served); let it go without a shutdown, which
            # would wait for threads that do not exist here.
            self._pool = _BackgroundPool()
        return self._pool

    def _check_event_name(self, event_name: str) -> None:
        # Event names are checked against the browser's protocol (a typo'd name never
        # fires: UnknownEventWarning); a browser without one just goes unchecked.
        try:
            protocol = self._core.host.get_protocol()
        except SyncdpError as exc:
            logger.debug("no protocol to check event names against: %s", exc)
            return
        from syncdp.protocol import check_event_name  # loaded with the protocol, not before

        check_event_name(protocol, event_name)

    def expect_event(
        self, event_name: str, predicate: Optional[Predicate], timeout: Optional[float]
    ) -> EventExpectation:
        """See :meth:`Tab.expect_event`."""
        check_name(event_name, "event_name")
        timeout = check_timeout(timeout)
        self._core.check_open("Tab.expect_event(%r)" % event_name)
        self._core.prepare()
        return self._core.connection.expect_event(event_name, predicate, timeout)

    def wait_for_event(
        self, event_name: str, predicate: Optional[Predicate], timeout: Optional[float]
    ) -> Dict[str, Any]:
        """See :meth:`Tab.wait_for_event`."""
        check_name(event_name, "event_name")
        timeout = check_timeout(timeout)
        self._core.check_open("Tab.wait_for_event(%r)" % event_name)
        self._core.prepare()
        return self._core.connection.wait_for_event(event_name, predicate, timeout)

    def shutdown(self) -> None:
        """Stop the background pool (if any)."""
        with self._lock:
            pool, self._pool = self._pool, None
            self._shut = True
        if pool is not None:
            pool.shutdown()
