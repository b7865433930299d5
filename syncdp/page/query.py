"""Finding elements in a tab (CSS or XPath), optionally waiting for them to appear."""

from __future__ import annotations

import time
from typing import Any, Dict, List, Optional, cast

from syncdp._checks import check_timeout
from syncdp.element import Element
from syncdp.exceptions import (
    ElementNotFoundError,
    ExecutionContextDestroyedError,
    InvalidCommand,
    JavaScriptError,
)
from syncdp.page.capture import Capture
from syncdp.page.core import PageCore
from syncdp.page.evaluation import Evaluator
from syncdp.page.pointer import Pointer
from syncdp.screenshot import PathArg, Screenshot

__all__ = ["Finder"]

_QUERY_FN = """function(selector, isXPath, timeoutMs, all) {
  const root = this && this.nodeType ? this : document;
  const find = () => {
    if (isXPath) {
      const doc = root.ownerDocument || root;
      if (all) {
        const snap = doc.evaluate(selector, root, null, XPathResult.ORDERED_NODE_SNAPSHOT_TYPE, null);
        const out = [];
        for (let i = 0; i < snap.snapshotLength; i++) out.push(snap.snapshotItem(i));
        return out;
      }
      return doc.evaluate(selector, root, null, XPathResult.FIRST_ORDERED_NODE_TYPE, null)
        .singleNodeValue;
    }
    return all ? Array.from(root.querySelectorAll(selector)) : root.querySelector(selector);
  };
  const found = find();
  if (found || all || timeoutMs <= 0) return found;
  return new Promise((resolve) => {
    const observer = new MutationObserver(() => {
      const el = find();
      if (el) { observer.disconnect(); clearTimeout(timer); resolve(el); }
    });
    observer.observe(root.ownerDocument || root, {childList: true, subtree: true, attributes: true});
    const timer = setTimeout(() => { observer.disconnect(); resolve(find()); }, timeoutMs);
  });
}"""


# How many documents a waiting query follows before it gives up (a page that navigates
# without end would otherwise keep it busy until its timeout).
_MAX_LOOKS = 50


def _is_xpath(selector: str) -> bool:
    return selector.startswith(("/", "./", "(", "../"))


def _check_selector(selector: Any) -> str:
    if not isinstance(selector, str) or not selector:
        raise InvalidCommand("selector must be a non-empty string, got %r" % (selector,))
    return selector


class Finder:
    """The query side of a tab, and what its :class:`Element` objects use of the page
    (an :class:`~syncdp.element.ElementHost`)."""

    def __init__(
        self, core: PageCore, evaluator: Evaluator, capture: Capture, pointer: Pointer
    ) -> None:
        self._core = core
        self._evaluator = evaluator
        self._capture = capture
        self._pointer = pointer

    # -- ElementHost ------------------------------------------------------------------------

    def send(
        self, method: str, params: Optional[Dict[str, Any]] = None, *, timeout: Optional[float] = 30
    ) -> Dict[str, Any]:
        """A command on the element's tab (with the tab's checks)."""
        return self._core.send(method, params, timeout=timeout)

    def call_function_on(
        self,
        object_id: str,
        declaration: str,
        args: List[Any],
        *,
        await_promise: bool = True,
        by_value: bool = True,
        timeout: Optional[float] = 30,
    ) -> Any:
        """See :meth:`Evaluator.call_function_on`."""
        return self._evaluator.call_function_on(
            object_id,
            declaration,
            args,
            await_promise=await_promise,
            by_value=by_value,
            timeout=timeout,
        )

    def click_at(self, x: float, y: float, button: str, click_count: int) -> None:
        """See :meth:`Pointer.click_at`."""
        self._pointer.click_at(x, y, button, click_count)

    def capture_clip(
        self,
        clip: Dict[str, float],
        path: Optional[PathArg],
        format: str,  # noqa: A002 - the CDP option's name
        quality: Optional[int],
    ) -> Screenshot:
        """A screenshot of one area of the page."""
        return self._capture.screenshot(path, format, quality, False, clip)

    # -- queries ----------------------------------------------------------------------------

    def _query_all_once(self, root: str, selector: str) -> Dict[str, Any]:
        try:
            remote: Dict[str, Any] = self.call_function_on(
                root, _QUERY_FN, [selector, _is_xpath(selector), 0, True], by_value=False
            )
        except JavaScriptError as exc:
            raise InvalidCommand("invalid selector %r: %s" % (selector, exc.message)) from exc
        return remote

    def _document_id(self) -> str:
        result = self._core.send("Runtime.evaluate", {"expression": "document"})
        return str(result["result"]["objectId"])

    def query(self, selector: str, timeout: float = 0, *, within: Optional[Element] = None) -> Element:
        """See :meth:`Tab.query`."""
        selector = _check_selector(selector)
        wait = cast(float, check_timeout(timeout, allow_none=False, allow_zero=True))
        if within is not None:
            found = self._query_once(within.object_id, selector, wait)
        else:
            found = self._query_document(selector, wait)
        if found is None:
            raise ElementNotFoundError(selector, wait)
        return found

    def _query_document(self, selector: str, wait: float) -> Optional[Element]:
        """Query the page's document; when the page navigates meanwhile, look again on the
        new page for the time left (puppeteer's waitForSelector does the same; reading is
        safe to repeat). A look-once query looks once more."""
        end = time.monotonic() + wait
        left = wait
        for look in range(_MAX_LOOKS):
            try:
                return self._query_once(self._document_id(), selector, left)
            except ExecutionContextDestroyedError as exc:
                left = max(0.0, end - time.monotonic())
                if not left and look > 0:
                    raise ElementNotFoundError(selector, wait) from exc
        return None

    def _query_once(self, root: str, selector: str, wait: float) -> Optional[Element]:
        try:
            remote = self.call_function_on(
                root,
                _QUERY_FN,
                [selector, _is_xpath(selector), int(wait * 1000), False],
                by_value=False,
                # the page waits up to `wait` itself; the answer may take that long
                timeout=wait + 30,
            )
        except JavaScriptError as exc:
            raise InvalidCommand("invalid selector %r: %s" % (selector, exc.message)) from exc
        if remote.get("subtype") == "null" or "objectId" not in remote:
            return None
        return Element(self, str(remote["objectId"]), str(remote.get("description", "")))

    def query_all(self, selector: str, *, within: Optional[Element] = None) -> List[Element]:
        """See :meth:`Tab.query_all`."""
        selector = _check_selector(selector)
        if within is not None:
            remote = self._query_all_once(within.object_id, selector)
        else:
            try:
                remote = self._query_all_once(self._document_id(), selector)
            except ExecutionContextDestroyedError:
                # the page navigated while we looked: look once more, on the new page
                remote = self._query_all_once(self._document_id(), selector)
        props = self._core.send(
            "Runtime.getProperties", {"objectId": remote["objectId"], "ownProperties": True}
        )
        items = [p for p in props.get("result", []) if p.get("name", "").isdigit()]
        items.sort(key=lambda p: int(p["name"]))
        return [
            Element(self, str(p["value"]["objectId"]), str(p["value"].get("description", "")))
            for p in items
            if "objectId" in p.get("value", {})
        ]
