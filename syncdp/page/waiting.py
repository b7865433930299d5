"""Waiting for the page: a selector's state, a JavaScript condition, a load state.

Each wait runs in the page (a polling promise) and, like ``Tab.query(..., timeout=)``, keeps
waiting when the page navigates meanwhile: the promise dies with its document, and the wait
starts again on the new one for the time left.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Dict, Optional, Tuple, Union

from syncdp._checks import check_timeout
from syncdp.element import Element
from syncdp.exceptions import (
    EventTimeoutError,
    ExecutionContextDestroyedError,
    InvalidCommand,
    JavaScriptError,
)
from syncdp.page.core import PageCore
from syncdp.page.evaluation import Evaluator
from syncdp.page.query import Finder

__all__ = ["Waiter", "SELECTOR_STATES", "LOAD_STATES"]

logger = logging.getLogger(__name__)

SELECTOR_STATES = ("attached", "visible", "hidden")
LOAD_STATES = {"load": "load", "domcontentloaded": "DOMContentLoaded", "networkidle": "networkIdle"}

# The polling loop all page-side waits share: `check()` is tried at once and then on every
# tick until it gives a truthy value (resolved) or the time is up (resolved with null).
_POLL = """
  const end = Date.now() + timeoutMs;
  const next = (fn) => {
    if (pollMs > 0) { setTimeout(fn, pollMs); return; }
    let done = false;
    const go = () => { if (!done) { done = true; fn(); } };
    requestAnimationFrame(go);
    setTimeout(go, 100);  // rAF does not run in a page that is not rendered
  };
  return new Promise((resolve, reject) => {
    const tick = () => {
      let value;
      try { value = check(); } catch (e) { reject(e); return; }
      Promise.resolve(value).then((v) => {
        if (v) resolve(v);
        else if (Date.now() >= end) resolve(null);
        else next(tick);
      }, reject);
    };
    tick();
  });
"""

_SELECTOR_FN = (
    """function(selector, isXPath, state, timeoutMs, pollMs) {
  const find = () => isXPath
    ? document.evaluate(selector, document, null, XPathResult.FIRST_ORDERED_NODE_TYPE, null)
        .singleNodeValue
    : document.querySelector(selector);
  const visible = (el) => {
    if (!el || !el.isConnected) return false;
    const box = el.nodeType === 1 ? el : el.parentElement;
    if (!box) return false;
    if (getComputedStyle(box).visibility === 'hidden') return false;
    const r = box.getBoundingClientRect();
    return r.width > 0 && r.height > 0;
  };
  const check = () => {
    const el = find();
    if (state === 'attached') return el;
    if (state === 'visible') return visible(el) ? el : null;
    return visible(el) ? null : true;
  };
"""
    + _POLL
    + "}"
)

_FUNCTION_FN = (
    """function(timeoutMs, pollMs) {
  const check = () => {
    const value = (%s
    );
    return typeof value === 'function' ? value() : value;
  };
"""
    + _POLL
    + "}"
)

# How many documents a wait follows before giving up (a page that navigates without end).
_MAX_DOCUMENTS = 50


def _check_selector(selector: Any) -> str:
    if not isinstance(selector, str) or not selector:
        raise InvalidCommand("selector must be a non-empty string, got %r" % (selector,))
    return selector


def _check_polling(polling: Any) -> int:
    """``"raf"`` as 0 (every animation frame), or a positive number of milliseconds."""
    if polling == "raf":
        return 0
    if isinstance(polling, bool) or not isinstance(polling, (int, float)) or not polling > 0:
        raise InvalidCommand(
            "polling must be 'raf' or a positive number of milliseconds, got %r" % (polling,)
        )
    return max(1, int(polling))


class Waiter:
    """The waiting side of a tab (see ``Tab.wait_for_selector``)."""

    def __init__(self, core: PageCore, evaluator: Evaluator, finder: Finder) -> None:
        self._core = core
        self._evaluator = evaluator
        self._finder = finder
        self._retry = threading.Event()  # never set: a short pause between two documents

    def wait_for_selector(
        self, selector: str, state: str, timeout: Optional[float]
    ) -> Optional[Element]:
        """See ``Tab.wait_for_selector``."""
        selector = _check_selector(selector)
        if state not in SELECTOR_STATES:
            raise InvalidCommand("state must be one of %s, got %r" % (SELECTOR_STATES, state))
        limit = check_timeout(timeout)
        is_xpath = selector.startswith(("/", "./", "(", "../"))
        what = "wait_for_selector(%r, state=%r)" % (selector, state)

        def args(left_ms: int) -> Tuple[Any, ...]:
            return (selector, is_xpath, state, left_ms, 0)

        try:
            remote = self._poll(_SELECTOR_FN, args, limit, what, by_value=state == "hidden")
        except JavaScriptError as exc:
            raise InvalidCommand("invalid selector %r: %s" % (selector, exc.message)) from exc
        if state == "hidden":
            return None
        return Element(self._finder, str(remote["objectId"]), str(remote.get("description", "")))

    def wait_for_function(self, js: str, timeout: Optional[float], polling: Union[str, float]) -> Any:
        """See ``Tab.wait_for_function``."""
        if not isinstance(js, str) or not js.strip():
            raise InvalidCommand("js must be a non-empty string of JavaScript, got %r" % (js,))
        poll_ms = _check_polling(polling)
        limit = check_timeout(timeout)
        declaration = _FUNCTION_FN % js

        def args(left_ms: int) -> Tuple[Any, ...]:
            return (left_ms, poll_ms)

        return self._poll(declaration, args, limit, "wait_for_function(%r)" % js[:60], by_value=True)

    def _poll(
        self, declaration: str, args: Any, limit: Optional[float], what: str, *, by_value: bool
    ) -> Any:
        """Run a polling ``declaration`` until it gives a truthy value; again on each new
        document when the page navigates meanwhile."""
        end = None if limit is None else time.monotonic() + limit
        for _ in range(_MAX_DOCUMENTS):
            left = None if end is None else end - time.monotonic()
            if left is not None and left <= 0:
                break
            left_ms = 2**31 - 1 if left is None else max(1, int(left * 1000))
            try:
                page = self._page_object()
                try:
                    value = self._evaluator.call_function_on(
                        page,
                        declaration,
                        list(args(left_ms)),
                        by_value=by_value,
                        timeout=None if left is None else left + 30,
                    )
                finally:
                    self._evaluator.release_quietly(page)
            except ExecutionContextDestroyedError:
                logger.debug("%s: the page navigated, waiting on the new one", what)
                self._retry.wait(0.05)
                continue
            found = value if by_value else not (value.get("subtype") == "null" or "objectId" not in value)
            if found:
                return value
            break
        raise EventTimeoutError(what, limit if limit is not None else 0.0)

    def _page_object(self) -> str:
        result = self._core.send("Runtime.evaluate", {"expression": "globalThis"})
        return str(result["result"]["objectId"])

    def wait_for_load_state(self, state: str, timeout: Optional[float]) -> None:
        """See ``Tab.wait_for_load_state``."""
        lifecycle = LOAD_STATES.get(state) if isinstance(state, str) else None
        if lifecycle is None:
            raise InvalidCommand("state must be one of %s, got %r" % (sorted(LOAD_STATES), state))
        limit = check_timeout(timeout)
        self._core.check_open("Page.setLifecycleEventsEnabled")
        self._core.prepare()
        main = str(self._core.send("Page.getFrameTree", timeout=limit)["frameTree"]["frame"]["id"])

        def reached(event: Dict[str, Any]) -> bool:
            params = event.get("params") or {}
            return params.get("frameId") == main and params.get("name") == lifecycle

        # Chromium sends the lifecycle events a document has reached already again when
        # they are (re-)enabled: a state reached before this call is seen at once, and one
        # reached later (after a navigation too) when it comes.
        with self._core.connection.expect_event("Page.lifecycleEvent", reached, limit):
            self._core.send("Page.setLifecycleEventsEnabled", {"enabled": True}, timeout=limit)
