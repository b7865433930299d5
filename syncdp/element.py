"""Element: a handle to one DOM node of a tab (a remote object id)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, List, Optional

from syncdp.exceptions import SyncdpError
from syncdp.screenshot import Screenshot

if TYPE_CHECKING:  # pragma: no cover
    from syncdp.tab import Tab

__all__ = ["Element"]

_BOX = """function() {
  const r = this.getBoundingClientRect();
  return [r.left, r.top, r.width, r.height, window.scrollX, window.scrollY];
}"""


class Element:
    """A DOM element found by :meth:`Tab.query` / :meth:`Tab.query_all`.

    The handle stays valid while the node lives in the page; after a navigation it is gone
    and using it raises :class:`~syncdp.exceptions.CommandError`.
    """

    def __init__(self, tab: "Tab", object_id: str, description: str = "") -> None:
        self._tab = tab
        self.object_id = object_id
        self._description = description

    def _outer_html_preview(self, limit: int) -> str:
        """A trimmed outerHTML, or ``""`` when the page cannot answer quickly."""
        try:
            outer = self._tab._call_function_on(
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
        """
        return self._tab._call_function_on(
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
        """The first descendant matching ``selector`` (CSS or XPath), see :meth:`Tab.query`."""
        return self._tab.query(selector, timeout=timeout, _within=self)

    def query_all(self, selector: str) -> List["Element"]:
        """Every descendant matching ``selector``."""
        return self._tab.query_all(selector, _within=self)

    def scroll_into_view(self) -> None:
        """Scroll the element into view if it is not."""
        self._tab.send("DOM.scrollIntoViewIfNeeded", {"objectId": self.object_id})

    def _visible_box(self) -> List[float]:
        self.scroll_into_view()
        box = self.call(_BOX)
        if not box or box[2] <= 0 or box[3] <= 0:
            raise SyncdpError(
                "%r has no visible box (hidden or zero-sized); cannot act on it" % self
            )
        return [float(v) for v in box]

    def click(self, button: str = "left", click_count: int = 1) -> None:
        """Click the element like a user: real mouse events at its visible centre.

        The element is scrolled into view first.

        Raises:
            SyncdpError: the element has no visible box.
            DialogOpenError: a JavaScript dialog blocks the page.
        """
        left, top, width, height = self._visible_box()[:4]
        x, y = left + width / 2, top + height / 2
        self._tab.send("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": x, "y": y})
        params = {"x": x, "y": y, "button": button, "clickCount": click_count}
        self._tab.send("Input.dispatchMouseEvent", dict(params, type="mousePressed"))
        self._tab.send("Input.dispatchMouseEvent", dict(params, type="mouseReleased"))

    def focus(self) -> None:
        """Give the element keyboard focus."""
        self.call("function() { this.focus(); }")

    def type_text(self, text: str) -> None:
        """Focus the element and type ``text`` with key events, one character at a time."""
        if not isinstance(text, str):
            raise TypeError("text must be a str, got %s" % type(text).__name__)
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
            self._tab.send("Input.dispatchKeyEvent", dict(key, type="keyDown"))
            self._tab.send("Input.dispatchKeyEvent", dict(key, type="keyUp"))

    def take_screenshot(
        self, path: Optional[str] = None, *, format: str = "png", quality: Optional[int] = None
    ) -> Screenshot:  # noqa: A002
        """A screenshot of the element's box (scrolled into view)."""
        left, top, width, height, sx, sy = self._visible_box()
        clip = {"x": left + sx, "y": top + sy, "width": width, "height": height, "scale": 1}
        return self._tab.take_screenshot(path, format=format, quality=quality, _clip=clip)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Element) and other.object_id == self.object_id

    def __hash__(self) -> int:
        return hash(self.object_id)

