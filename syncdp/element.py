"""Element: a handle to one DOM node of a tab (a remote object id)."""

from __future__ import annotations

import contextlib
import logging
import os
from typing import Any, Dict, Iterator, List, Optional, Protocol, Sequence, Union

from syncdp._checks import check_path
from syncdp.exceptions import (
    CommandError,
    InvalidCommand,
    StaleElementError,
    SyncdpError,
    TargetClosedError,
)
from syncdp.screenshot import PathArg, Screenshot

__all__ = ["Element", "ElementHost", "StaleElementError"]

logger = logging.getLogger(__name__)

# What Chromium answers about a node that is gone: its document was replaced (navigation,
# reload), its remote object released, or the node removed from the document.
_STALE = (
    "Cannot find context with specified id",
    "Could not find object with given id",
    "Node is detached from document",
    "Could not find node with given id",
)
_NO_LAYOUT = "Node does not have a layout object"

_CLEAR_FILES = """function() {
  if (!(this instanceof HTMLInputElement) || this.type !== 'file')
    throw new Error('set_input_files: the element is not an <input type="file">');
  if (this.files.length === 0) return;
  this.value = '';
  this.dispatchEvent(new Event('input', {bubbles: true, composed: true}));
  this.dispatchEvent(new Event('change', {bubbles: true}));
}"""

_BOX = """function() {
  const r = this.getBoundingClientRect();
  return [r.left, r.top, r.width, r.height, window.scrollX, window.scrollY];
}"""


class ElementHost(Protocol):
    """What an :class:`Element` needs from the page it lives in (its tab provides it)."""

    def send(
        self, method: str, params: Optional[Dict[str, Any]] = None, *, timeout: Optional[float] = 30
    ) -> Dict[str, Any]:
        """A CDP command on the page, with the tab's checks."""

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
        """Call ``declaration`` with ``this`` bound to the remote object ``object_id``."""

    def query(self, selector: str, timeout: float = 0, *, within: Optional["Element"] = None) -> "Element":
        """The first element matching ``selector`` (inside ``within``)."""

    def query_all(self, selector: str, *, within: Optional["Element"] = None) -> List["Element"]:
        """Every element matching ``selector`` (inside ``within``)."""

    def click_at(self, x: float, y: float, button: str, click_count: int) -> None:
        """Move the mouse to (x, y) of the viewport, press and release it there."""

    def capture_clip(
        self,
        clip: Dict[str, float],
        path: Optional[PathArg],
        format: str,  # noqa: A002 - the CDP option's name
        quality: Optional[int],
    ) -> Screenshot:
        """A screenshot of one area of the page."""


class Element:
    """A DOM element found by :meth:`Tab.query` / :meth:`Tab.query_all`.

    The handle stays valid while the node lives in the page; after a navigation (or once
    the node is removed) it is gone and using it raises :class:`StaleElementError`, an
    :class:`~syncdp.exceptions.ElementNotFoundError`.
    """

    def __init__(self, page: ElementHost, object_id: str, description: str = "") -> None:
        self._page = page
        self.object_id = object_id
        self._description = description

    @contextlib.contextmanager
    def _live(self) -> Iterator[None]:
        """Translate Chromium's "no such node/context" answers into :class:`StaleElementError`."""
        try:
            yield
        except TargetClosedError:
            raise
        except CommandError as exc:
            if any(text in exc.message for text in _STALE):
                raise StaleElementError(self._description or self.object_id, exc.message) from exc
            raise

    def _outer_html_preview(self, limit: int) -> str:
        """A trimmed outerHTML, or ``""`` when the page cannot answer quickly."""
        try:
            outer = self._page.call_function_on(
                self.object_id,
                "function(n) { const h = this.outerHTML || '';"
                " return h.length > n ? h.slice(0, n) + '…' : h; }",
                [limit],
                timeout=2,
            )
        except SyncdpError:
            return ""
        return " ".join(str(outer or "").split())

    def __repr__(self) -> str:
        preview = self._outer_html_preview(80)
        if preview:
            return "<Element %s %s>" % (self._description or self.object_id, preview)
        return "<Element %s>" % (self._description or self.object_id)

    def _repr_html_(self) -> str:
        import html

        outer = self._outer_html_preview(300) or self._description
        return "<code>%s</code>" % html.escape(outer)

    def call(self, function_declaration: str, *args: Any, await_promise: bool = True) -> Any:
        """Run ``function_declaration`` with ``this`` bound to the element; return its JSON value.

        Raises:
            JavaScriptError: the function threw.
            StaleElementError: the element is gone (see :class:`Element`).
        """
        with self._live():
            return self._page.call_function_on(
                self.object_id, function_declaration, list(args), await_promise=await_promise
            )

    @property
    def tag_name(self) -> str:
        """The element's tag name, lower case."""
        return str(self.call("function() { return this.tagName.toLowerCase(); }"))

    @property
    def text(self) -> str:
        """The rendered text (``innerText``; ``textContent`` for non-HTML nodes)."""
        value = self.call("function() { return this.innerText ?? this.textContent ?? ''; }")
        return "" if value is None else str(value)

    @property
    def outer_html(self) -> str:
        """The element's ``outerHTML``."""
        return str(self.call("function() { return this.outerHTML; }"))

    @property
    def value(self) -> Any:
        """The ``value`` property (form fields)."""
        return self.call("function() { return this.value; }")

    def get_attribute(self, name: str) -> Optional[str]:
        """The attribute ``name``, or ``None`` when absent."""
        value = self.call("function(n) { return this.getAttribute(n); }", name)
        return None if value is None else str(value)

    @property
    def attributes(self) -> Dict[str, str]:
        """Every attribute of the element."""
        value = self.call(
            "function() { const o = {}; for (const a of this.attributes) o[a.name] = a.value;"
            " return o; }"
        )
        return dict(value or {})

    def query(self, selector: str, timeout: float = 0) -> "Element":
        """The first descendant matching ``selector`` (CSS or XPath), see :meth:`Tab.query`.

        Raises:
            ElementNotFoundError: nothing matched within ``timeout``.
            StaleElementError: this element is gone.
            InvalidCommand: a bad selector or ``timeout``.
        """
        with self._live():
            return self._page.query(selector, timeout, within=self)

    def query_all(self, selector: str) -> List["Element"]:
        """Every descendant matching ``selector``."""
        with self._live():
            return self._page.query_all(selector, within=self)

    def scroll_into_view(self) -> None:
        """Scroll the element into view if it is not.

        Raises:
            SyncdpError: the element has no layout box (hidden, e.g. ``display: none``).
            StaleElementError: the element is gone.
        """
        try:
            with self._live():
                self._page.send("DOM.scrollIntoViewIfNeeded", {"objectId": self.object_id})
        except CommandError as exc:
            if _NO_LAYOUT in exc.message:
                raise SyncdpError(
                    "%s has no visible box (not rendered, e.g. display: none); cannot scroll "
                    "to it or act on it" % (self._description or self.object_id)
                ) from exc
            raise

    def _visible_box(self) -> List[float]:
        self.scroll_into_view()
        box = self.call(_BOX)
        if not box or box[2] <= 0 or box[3] <= 0:
            raise SyncdpError(
                "%s has no visible box (hidden or zero-sized); cannot act on it"
                % (self._description or self.object_id)
            )
        return [float(v) for v in box]

    def click(self, button: str = "left", click_count: int = 1) -> None:
        """Click the element like a user: real mouse events at its visible centre.

        The element is scrolled into view first; the move, press and release go out back
        to back, as from a hand, so no timer runs between them. A dialog that the click
        itself opens (``onclick="confirm(...)"``, ``onmousedown="alert(...)"``) does not
        make it fail: the page got the click, and :meth:`Tab.has_dialog` /
        :meth:`Tab.handle_dialog` take it from there. A dialog already open raises
        :class:`DialogOpenError`: the click did not happen.

        Raises:
            SyncdpError: the element has no visible box.
            StaleElementError: the element is gone.
            DialogOpenError: a JavaScript dialog blocked the page before the click.
        """
        left, top, width, height = self._visible_box()[:4]
        x, y = left + width / 2, top + height / 2
        self._page.click_at(x, y, button, click_count)

    def focus(self) -> None:
        """Give the element keyboard focus."""
        self.call("function() { this.focus(); }")

    def type_text(self, text: str) -> None:
        """Focus the element and type ``text`` with key events, one character at a time.

        Raises:
            InvalidCommand: ``text`` is not a ``str`` (nothing is typed).
        """
        if not isinstance(text, str):
            raise InvalidCommand("text must be a str, got %r (%s)" % (text, type(text).__name__))
        self.focus()
        for char in text:
            if char == "\n":
                key: Dict[str, Any] = {
                    "key": "Enter",
                    "code": "Enter",
                    "windowsVirtualKeyCode": 13,
                    "text": "\r",
                }
            else:
                key = {"key": char, "text": char, "unmodifiedText": char}
            self._page.send("Input.dispatchKeyEvent", dict(key, type="keyDown"))
            self._page.send("Input.dispatchKeyEvent", dict(key, type="keyUp"))

    def set_input_files(self, paths: Union[PathArg, Sequence[PathArg]]) -> None:
        """Choose the files of an ``<input type="file">`` (``[]`` clears it), as a user would.

        Args:
            paths: a path or a list of paths (``str`` or ``os.PathLike``); each must be an
                existing file (it is sent as an absolute path).

        Raises:
            InvalidCommand: a path that is not a str/PathLike, does not exist or is not a
                file (named); nothing is sent then.
            CommandError: the element is not a file input (``JavaScriptError`` when clearing).
            StaleElementError: the element is gone.
        """
        items = [paths] if isinstance(paths, (str, os.PathLike)) else paths
        if isinstance(items, (bytes, dict)) or not isinstance(items, (list, tuple)):
            raise InvalidCommand("paths must be a path or a list of paths, got %r" % (paths,))
        files = []
        for item in items:
            path = os.path.abspath(check_path(item, "paths"))
            if not os.path.isfile(path):
                raise InvalidCommand(
                    "paths: %r %s" % (path, "is not a file" if os.path.exists(path) else "does not exist")
                )
            files.append(path)
        if not files:
            # DOM.setFileInputFiles keeps the old files for an empty list: clear as a user
            # would, with the events the page listens to.
            self.call(_CLEAR_FILES)
            return
        with self._live():
            self._page.send("DOM.setFileInputFiles", {"files": files, "objectId": self.object_id})

    def take_screenshot(
        self,
        path: Optional[PathArg] = None,
        *,
        format: str = "png",  # noqa: A002 - the CDP option's name
        quality: Optional[int] = None,
    ) -> Screenshot:
        """A screenshot of the element's box (scrolled into view).

        Raises:
            InvalidCommand: ``path`` not a ``str``/``os.PathLike``, or a bad option.
            SyncdpError: the element has no visible box.
        """
        if path is not None:
            check_path(path)
        left, top, width, height, sx, sy = self._visible_box()
        clip = {"x": left + sx, "y": top + sy, "width": width, "height": height, "scale": 1}
        return self._page.capture_clip(clip, path, format, quality)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Element) and other.object_id == self.object_id

    def __hash__(self) -> int:
        return hash(self.object_id)

