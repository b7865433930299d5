"""Session history of one tab: ``back()`` and ``forward()``, waited for like ``go_to``."""

from __future__ import annotations

import logging
from typing import Any, Dict

from syncdp._checks import check_timeout
from syncdp.exceptions import CommandTimeoutError, EventTimeoutError
from syncdp.page.core import PageCore
from syncdp.page.dialogs import Dialogs

__all__ = ["History"]

logger = logging.getLogger(__name__)


class History:
    """The back/forward side of a tab (see ``Tab.back``)."""

    def __init__(self, core: PageCore, dialogs: Dialogs) -> None:
        self._core = core
        self._dialogs = dialogs

    def go(self, delta: int, timeout: Any) -> bool:
        """Go ``delta`` entries (-1 back, +1 forward) and wait until the entry is shown.

        Returns False, sending nothing more, when there is no such entry.
        """
        limit = check_timeout(timeout)
        self._core.check_open("Page.navigateToHistoryEntry")
        self._core.prepare()
        history = self._core.send("Page.getNavigationHistory", timeout=limit)
        index = int(history.get("currentIndex", 0)) + delta
        entries = history.get("entries") or []
        if not 0 <= index < len(entries):
            return False
        main = str(self._core.send("Page.getFrameTree", timeout=limit)["frameTree"]["frame"]["id"])
        state: Dict[str, str] = {}

        def shown(event: Dict[str, Any]) -> bool:
            return _entry_shown(event, main, state)

        action = "%s() waiting for the page to load" % ("back" if delta < 0 else "forward")
        # "*": a history entry ends with one of three events (a load, a restore from the
        # back/forward cache, a same-document navigation); one waiter sees them in order.
        expectation = self._core.connection.expect_event("*", shown, limit)
        try:
            with self._dialogs.interrupting(expectation, action):
                with expectation:
                    self._core.send(
                        "Page.navigateToHistoryEntry", {"entryId": entries[index]["id"]}, timeout=limit
                    )
        except (CommandTimeoutError, EventTimeoutError, KeyboardInterrupt):
            self._core.stop_loading("history navigation")
            raise
        return True


def _entry_shown(event: Dict[str, Any], main: str, state: Dict[str, str]) -> bool:
    """Whether ``event`` completes a history navigation of frame ``main`` (reader thread)."""
    method = event.get("method")
    params = event.get("params") or {}
    if method == "Page.lifecycleEvent" and params.get("frameId") == main:
        if params.get("name") == "init":
            state["loader"] = str(params.get("loaderId"))
            return False
        return params.get("name") == "load" and params.get("loaderId") == state.get("loader")
    if method == "Page.frameNavigated":
        frame = params.get("frame") or {}
        return frame.get("id") == main and params.get("type") == "BackForwardCacheRestore"
    if method == "Page.navigatedWithinDocument":
        return params.get("frameId") == main
    return False
