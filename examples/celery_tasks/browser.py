"""This process's browser: launched once per worker process, relaunched if it died.

``get_browser()`` is what tasks call. It is thread-safe (the ``threads`` pool runs tasks
concurrently on one browser) and fork-aware: a browser is only ever used and stopped by the
process that launched it, so a pool process never touches a browser it inherited.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any, Optional

from celery.signals import worker_process_init, worker_process_shutdown, worker_shutdown

from syncdp import Chrome

__all__ = ["get_browser", "stop_browser"]

logger = logging.getLogger(__name__)

_lock = threading.Lock()  # guards the two globals below and serializes launches
_browser: Optional[Chrome] = None
_owner_pid: Optional[int] = None


def get_browser() -> Chrome:
    """This process's running browser, launched (or relaunched after a crash) as needed."""
    global _browser, _owner_pid
    with _lock:
        if _browser is None or _owner_pid != os.getpid():
            # None yet, or one inherited across fork: that one belongs to the parent (its
            # connection and threads did not survive the fork); leave it alone.
            _browser = Chrome()
            _owner_pid = os.getpid()
        # start() does nothing while the browser runs; after a crash or a kill it launches
        # a new browser process with a fresh profile.
        return _browser.start()


def stop_browser() -> None:
    """Stop this process's browser, if it launched one (idempotent)."""
    global _browser
    with _lock:
        if _browser is not None and _owner_pid == os.getpid():
            logger.info("stopping the browser of process %d", os.getpid())
            _browser.stop()
        _browser = None


@worker_process_init.connect
def _launch_in_pool_process(**_: Any) -> None:
    # A prefork pool process (or the solo pool's worker), right after it was forked.
    get_browser()


@worker_process_shutdown.connect
def _stop_in_pool_process(**_: Any) -> None:
    stop_browser()


@worker_shutdown.connect
def _stop_in_worker(**_: Any) -> None:
    # The worker's main process: the threads pool's one browser (nothing in prefork's master).
    stop_browser()
