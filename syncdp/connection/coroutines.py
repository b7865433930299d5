"""One runner for coroutine callbacks: a private event loop per thread, cancellable.

Used by the dispatcher thread for coroutine callbacks, and by any other syncdp thread that
runs user callbacks (a Tab's background pool): :func:`run_coroutine` runs an awaitable to
completion on the calling thread's own loop, never the caller's (a notebook's running loop is
untouched); :func:`cancel_running_on` cancels the one a thread is running (``close()``);
:func:`close_thread_loop` closes the loop when the thread ends.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any, Awaitable, Dict

if TYPE_CHECKING:  # imported where a coroutine runs: asyncio is a sixth of `import syncdp`
    import asyncio

__all__ = ["cancel_running_on", "close_thread_loop", "run_coroutine"]

logger = logging.getLogger(__name__)

_thread_loops = threading.local()

# The awaitable each thread is running now, so close() can cancel one that would otherwise
# keep its thread (and close()) waiting.
_running: "Dict[threading.Thread, asyncio.Future[Any]]" = {}
_running_lock = threading.Lock()


def run_coroutine(awaitable: Awaitable[Any]) -> None:
    """Run ``awaitable`` to completion on this thread's private event loop.

    A cancellation (see :func:`cancel_running_on`) is logged at INFO, not raised; any other
    exception propagates to the caller.
    """
    import asyncio

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


def cancel_running_on(thread: threading.Thread) -> None:
    """Cancel the awaitable ``thread`` is running in :func:`run_coroutine`, if any."""
    with _running_lock:
        task = _running.get(thread)
    if task is None:
        return
    try:
        task.get_loop().call_soon_threadsafe(task.cancel)
    except RuntimeError:  # its loop closed meanwhile: the callback is over
        pass


def close_thread_loop() -> None:
    """Close this thread's private event loop (when the thread ends)."""
    loop = getattr(_thread_loops, "loop", None)
    _thread_loops.loop = None
    if loop is not None and not loop.is_closed():
        try:
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()
