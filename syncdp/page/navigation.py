"""Navigation of one tab: ``go_to``, ``refresh``, and waiting for a lifecycle event that an
opening dialog, a timeout or Ctrl-C ends (then the load is stopped)."""

from __future__ import annotations

import contextlib
import logging
import re
import time
from typing import Any, Dict, Iterator, Optional

from syncdp._checks import check_timeout, with_likely_scheme
from syncdp.connection import EventExpectation
from syncdp.connection.events import Predicate
from syncdp.exceptions import (
    CommandError,
    CommandTimeoutError,
    EventTimeoutError,
    InvalidCommand,
    NavigationError,
)
from syncdp.page.core import PageCore
from syncdp.page.dialogs import Dialogs

__all__ = ["Navigator"]

logger = logging.getLogger(__name__)

_WAIT_UNTIL = {"load": "load", "domcontentloaded": "DOMContentLoaded", "networkidle": "networkIdle"}

# An absolute URL starts with a scheme (RFC 3986): "https:", "data:", "about:", "file:"...
_URL_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")
# ... but "localhost:8000/x" is a host and a port, not the scheme "localhost".
_HOST_AND_PORT = re.compile(r"^[A-Za-z0-9.\-]+:\d+(?:[/?#]|$)")


def _check_url(url: Any) -> str:
    if not isinstance(url, str) or not url:
        raise InvalidCommand("url must be a non-empty string, got %r" % (url,))
    if not _URL_SCHEME.match(url) or _HOST_AND_PORT.match(url):
        raise InvalidCommand(
            "url must be an absolute URL with a scheme, like %r, got %r"
            % (with_likely_scheme(url), url)
        )
    return url


def _lifecycle_name(wait_until: Any) -> str:
    lifecycle = _WAIT_UNTIL.get(wait_until)
    if lifecycle is None:
        raise InvalidCommand(
            "wait_until must be one of %s, got %r" % (sorted(_WAIT_UNTIL), wait_until)
        )
    return lifecycle


class Navigator:
    """The navigation side of a tab (see :meth:`Tab.go_to`)."""

    def __init__(self, core: PageCore, dialogs: Dialogs) -> None:
        self._core = core
        self._dialogs = dialogs
        self._main_frame: Optional[str] = None

    def go_to(self, url: str, timeout: Optional[float], wait_until: str) -> None:
        """See :meth:`Tab.go_to`."""
        url = _check_url(url)
        lifecycle = _lifecycle_name(wait_until)
        limit = check_timeout(timeout)
        deadline = None if limit is None else time.monotonic() + limit
        self._core.check_open("Page.navigate")
        self._core.prepare()
        loader: Dict[str, str] = {}

        def reached(event: Dict[str, Any]) -> bool:
            p = event.get("params") or {}
            return p.get("name") == lifecycle and p.get("loaderId") == loader.get("id")

        action = "go_to(%r) waiting for %r" % (url, wait_until)
        with self._stopped_if_unfinished():
            with self._lifecycle_wait(reached, limit, action) as expectation:
                result = self._navigate(url, limit)
                if result.get("isDownload") or not result.get("loaderId"):
                    # a download, or a same-document navigation: nothing new will load
                    expectation.cancel()
                    return
                loader["id"] = str(result["loaderId"])
                self._main_frame = str(result.get("frameId") or self._main_frame)
                if deadline is not None:
                    expectation.timeout = max(0.001, deadline - time.monotonic())

    def _navigate(self, url: str, limit: Optional[float]) -> Dict[str, Any]:
        try:
            result = self._core.send("Page.navigate", {"url": url}, timeout=limit)
        except CommandError as exc:
            if "invalid url" in exc.message.lower():
                raise NavigationError(url, exc.message) from exc
            raise
        if result.get("errorText") and not result.get("isDownload"):
            raise NavigationError(url, str(result["errorText"]))
        return result

    def refresh(self, timeout: Optional[float], ignore_cache: bool) -> None:
        """See :meth:`Tab.refresh`."""
        limit = check_timeout(timeout)
        self._core.check_open("Page.reload")
        self._core.prepare()
        main = self._main_frame_id()
        state: Dict[str, str] = {}

        def reached(event: Dict[str, Any]) -> bool:
            p = event.get("params") or {}
            if p.get("frameId") != main:
                return False
            if p.get("name") == "init":
                state["loader"] = str(p.get("loaderId"))
                return False
            return p.get("name") == "load" and p.get("loaderId") == state.get("loader")

        with self._stopped_if_unfinished():
            with self._lifecycle_wait(reached, limit, "refresh() waiting for 'load'"):
                self._core.send("Page.reload", {"ignoreCache": bool(ignore_cache)}, timeout=limit)

    @contextlib.contextmanager
    def _lifecycle_wait(
        self, predicate: Predicate, timeout: Optional[float], action: str
    ) -> Iterator[EventExpectation]:
        """``expect_event("Page.lifecycleEvent", ...)`` that a dialog opening interrupts."""
        expectation = self._core.connection.expect_event("Page.lifecycleEvent", predicate, timeout)
        with self._dialogs.interrupting(expectation, action):
            with expectation:
                yield expectation

    @contextlib.contextmanager
    def _stopped_if_unfinished(self) -> Iterator[None]:
        """Stop the page loading when the block times out or is interrupted (Ctrl-C)."""
        try:
            yield
        except (CommandTimeoutError, EventTimeoutError, KeyboardInterrupt):
            self._core.stop_loading("navigation")
            raise

    def _main_frame_id(self) -> str:
        if self._main_frame is None:
            if self._core.crashed:
                # No renderer to ask; a page target's main frame id is its target id.
                return self._core.target_id
            tree = self._core.send("Page.getFrameTree")
            self._main_frame = str(tree["frameTree"]["frame"]["id"])
        return self._main_frame
