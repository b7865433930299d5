"""Frames of one tab: every ``<iframe>``, same-process or out-of-process (OOPIF).

A same-process frame is reached through the tab's own connection, its scripts evaluated in
the frame's main-world execution context (known from ``Runtime.executionContextCreated``,
with the Runtime domain held enabled by syncdp). An out-of-process frame is its own target:
reached through the child session that auto-attach gives it (``Frame.session``).

Elements found in a frame are ordinary :class:`~syncdp.element.Element` objects: their
mouse and keyboard input goes to the tab, at the frame's offset in the page.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Dict, List, Optional, Tuple

from syncdp.connection import Session
from syncdp.connection.endpoint import _Endpoint
from syncdp.element import Element
from syncdp.exceptions import InvalidCommand, SyncdpError
from syncdp.page.capture import Capture
from syncdp.page.console import RuntimeSwitch
from syncdp.page.core import PageCore
from syncdp.page.evaluation import Evaluator
from syncdp.page.pointer import Pointer
from syncdp.page.query import Finder
from syncdp.screenshot import PathArg, Screenshot

__all__ = ["Frame", "Frames", "FrameContexts"]

logger = logging.getLogger(__name__)

_OWNER_ORIGIN = """function() {
  const r = this.getBoundingClientRect();
  const s = getComputedStyle(this);
  return [r.left + this.clientLeft + parseFloat(s.paddingLeft || '0'),
          r.top + this.clientTop + parseFloat(s.paddingTop || '0')];
}"""


class FrameContexts:
    """Main-world execution context ids by frame id, from the tab's Runtime events.

    Its reader hooks are installed before syncdp enables Runtime on the tab, so the
    contexts Chromium announces on ``Runtime.enable`` are all seen.
    """

    def __init__(self, connection: _Endpoint) -> None:
        self._lock = threading.Lock()
        self._by_frame: Dict[str, int] = {}
        hooks = connection.hooks
        hooks.add_reader_hook("Runtime.executionContextCreated", self._on_created)
        hooks.add_reader_hook("Runtime.executionContextDestroyed", self._on_destroyed)
        hooks.add_reader_hook("Runtime.executionContextsCleared", self._on_cleared)

    def _on_created(self, event: Dict[str, Any]) -> None:
        context = (event.get("params") or {}).get("context") or {}
        aux = context.get("auxData") or {}
        if aux.get("isDefault") and aux.get("frameId") and isinstance(context.get("id"), int):
            with self._lock:
                self._by_frame[str(aux["frameId"])] = int(context["id"])

    def _on_destroyed(self, event: Dict[str, Any]) -> None:
        gone = (event.get("params") or {}).get("executionContextId")
        with self._lock:
            for frame, context in list(self._by_frame.items()):
                if context == gone:
                    del self._by_frame[frame]

    def _on_cleared(self, event: Dict[str, Any]) -> None:
        with self._lock:
            self._by_frame.clear()

    def get(self, frame_id: str) -> Optional[int]:
        """The main-world context of ``frame_id``, if known."""
        with self._lock:
            return self._by_frame.get(frame_id)


class FrameCore(PageCore):
    """The command path of one frame: the tab's checks, on the frame's connection, with
    ``Runtime.evaluate`` sent to the frame's own execution context."""

    def __init__(self, tab_core: PageCore, connection: _Endpoint, context: Any) -> None:
        super().__init__(tab_core.host, tab_core.target_id, connection)
        self._tab_core = tab_core
        self._context = context  # () -> Optional[int]: None evaluates in the target's main frame
        # PageCore's reader hooks watch the tab, which the tab's own core does already (and a
        # frame's session ends with its target): a frame lives briefly, and hooks held weakly
        # are not pruned, so its own are taken out again at once.
        hooks = connection.hooks
        hooks.remove_reader_hook("Inspector.detached", self._on_detached)
        hooks.remove_reader_hook("Inspector.targetCrashed", self._on_crashed)
        hooks.remove_reader_hook("Inspector.targetReloadedAfterCrash", self._on_new_renderer)
        hooks.remove_reader_hook("Page.frameNavigated", self._on_frame_navigated)

    @property
    def dialog_policy(self) -> Optional[str]:
        """The tab's dialog policy."""
        return self._tab_core.dialog_policy

    @dialog_policy.setter
    def dialog_policy(self, value: Optional[str]) -> None:
        pass  # set on the tab

    @property
    def closed(self) -> bool:
        """Whether the tab, or the frame's own session, ended."""
        own = isinstance(self.connection, Session) and self.connection.detached
        return own or self._tab_core.closed

    @property
    def crashed(self) -> bool:
        """Whether the tab's renderer crashed."""
        return self._tab_core.crashed

    def check_not_crashed(self, method: str) -> None:
        """The tab's crash check (a crashed out-of-process frame ends its session)."""
        self._tab_core.check_not_crashed(method)

    def prepare(self) -> None:
        """The tab's set-up (an out-of-process frame's session needs none)."""
        if self.connection is self._tab_core.connection:
            self._tab_core.prepare()
        else:
            self.connection.connect()

    def send(
        self, method: str, params: Optional[Dict[str, Any]] = None, *, timeout: Optional[float] = 30
    ) -> Dict[str, Any]:
        """``PageCore.send`` with the frame's execution context for ``Runtime.evaluate``."""
        if method == "Runtime.evaluate":
            context = self._context()
            if context is not None:
                params = dict(params or {}, contextId=context)
        return super().send(method, params, timeout=timeout)


class FrameFinder(Finder):
    """Queries in one frame; input and captures go to the tab at the frame's offset."""

    def __init__(self, frame: "Frame", core: FrameCore, tab_core: PageCore) -> None:
        self._frame = frame
        self._tab_core = tab_core
        evaluator = Evaluator(core)
        super().__init__(core, evaluator, Capture(tab_core), Pointer(tab_core))

    def send(
        self, method: str, params: Optional[Dict[str, Any]] = None, *, timeout: Optional[float] = 30
    ) -> Dict[str, Any]:
        """A command for an element of the frame: keys go to the tab (focus is in the frame)."""
        if method.startswith("Input."):
            return self._tab_core.send(method, params, timeout=timeout)
        return super().send(method, params, timeout=timeout)

    def click_at(self, x: float, y: float, button: str, click_count: int) -> None:
        """Click at (x, y) of the frame's viewport."""
        dx, dy = self._frame.offset()
        super().click_at(x + dx, y + dy, button, click_count)

    def capture_clip(
        self,
        clip: Dict[str, float],
        path: Optional[PathArg],
        format: str,  # noqa: A002 - the CDP option's name
        quality: Optional[int],
    ) -> Screenshot:
        """A screenshot of an area given in the frame's document coordinates."""
        fx, fy = self.call_function_on(self._document(), "function() { return [scrollX, scrollY]; }", [])
        top = self._tab_core.send(
            "Runtime.evaluate", {"expression": "[scrollX, scrollY]", "returnByValue": True}
        )["result"]["value"]
        dx, dy = self._frame.offset()
        page_clip = dict(clip, x=clip["x"] - fx + dx + top[0], y=clip["y"] - fy + dy + top[1])
        return super().capture_clip(page_clip, path, format, quality)

    def _document(self) -> str:
        result = self._core.send("Runtime.evaluate", {"expression": "document"})
        return str(result["result"]["objectId"])


class Frame:
    """One frame of a tab (the main frame, an ``<iframe>``, or an out-of-process iframe).

    Listed by ``Tab.frames`` and found by ``Tab.frame(name=, url=)``: a snapshot of the
    frame as it was then (``name`` and ``url`` are not updated when it navigates).

    Attributes:
        id: the frame id (an out-of-process frame's is also its target id).
        name: the frame's ``name`` attribute (``""`` for none).
        url: its URL when listed.
        parent: the parent :class:`Frame`, ``None`` for the tab's main frame.
        session: the :class:`~syncdp.Session` of an out-of-process frame (the target it
            runs in), ``None`` for a frame of the tab's own process.
    """

    def __init__(
        self,
        tab_core: PageCore,
        contexts: FrameContexts,
        info: Dict[str, Any],
        parent: Optional["Frame"],
        connection: _Endpoint,
        is_target_root: bool,
    ) -> None:
        self.id = str(info.get("id", ""))
        self.name = str(info.get("name", ""))
        self.url = str(info.get("url", "")) + str(info.get("urlFragment", ""))
        self.parent = parent
        self.session: Optional[Session] = (
            connection if isinstance(connection, Session) and connection is not tab_core.connection else None
        )
        self._tab_core = tab_core
        self._contexts = contexts
        self._connection = connection
        # The root frame of a target evaluates in the target's default context.
        self._is_target_root = is_target_root
        core = FrameCore(tab_core, connection, self._context_id)
        self._evaluator = Evaluator(core)
        self._finder = FrameFinder(self, core, tab_core)

    def __repr__(self) -> str:
        kind = "oopif" if self.session is not None else ("main" if self.parent is None else "frame")
        return "<Frame %s name=%r %s>" % (kind, self.name, self.url)

    def _context_id(self) -> Optional[int]:
        if self._is_target_root:
            return None
        context = self._contexts.get(self.id)
        if context is None:
            raise SyncdpError(
                "no JavaScript context known for frame %s (%s): it is loading or was removed"
                % (self.id, self.url)
            )
        return context

    def execute_script(
        self, script: str, *, await_promise: bool = True, timeout: Optional[float] = 30
    ) -> Any:
        """Run JavaScript in this frame, as ``Tab.execute_script`` does in the page."""
        return self._evaluator.execute_script(script, await_promise, timeout)

    def query(self, selector: str, timeout: float = 0) -> Element:
        """The first element of this frame matching ``selector`` (see ``Tab.query``)."""
        return self._finder.query(selector, timeout)

    def query_all(self, selector: str) -> List[Element]:
        """Every element of this frame matching ``selector``, in document order."""
        return self._finder.query_all(selector)

    def offset(self) -> Tuple[float, float]:
        """Where this frame's viewport starts in the tab's viewport (CSS pixels)."""
        parent = self.parent
        if parent is None:
            return (0.0, 0.0)
        left, top = parent.child_origin(self.id)
        px, py = parent.offset()
        return (px + left, py + top)

    def child_origin(self, frame_id: str) -> Tuple[float, float]:
        """Where the viewport of the child frame ``frame_id`` starts in this frame's
        viewport: the content box of its ``<iframe>`` element, which lives here."""
        owner = self._finder.send("DOM.getFrameOwner", {"frameId": frame_id})
        node = self._finder.send("DOM.resolveNode", {"backendNodeId": owner["backendNodeId"]})
        object_id = str(node["object"]["objectId"])
        try:
            left, top = self._evaluator.call_function_on(object_id, _OWNER_ORIGIN, [])
        finally:
            self._evaluator.release_quietly(object_id)
        return (float(left), float(top))


class Frames:
    """The frame side of a tab (see ``Tab.frames``)."""

    def __init__(self, core: PageCore, runtime: RuntimeSwitch, contexts: FrameContexts) -> None:
        self._core = core
        self._runtime = runtime
        self._contexts = contexts
        self._lock = threading.Lock()
        self._following = False

    def _start(self) -> None:
        with self._lock:
            if self._following:
                return
            self._core.check_open("Target.setAutoAttach")
            self._core.prepare()
            # Frame contexts of the tab's process: announced on Runtime.enable, then kept.
            self._runtime.acquire(self)
            # Out-of-process frames: their sessions (the ones existing are attached before
            # the answer comes).
            self._core.connection.set_auto_attach(True, wait_for_debugger=False)
            self._following = True

    def list(self) -> List[Frame]:
        """See ``Tab.frames``."""
        self._start()
        frames: List[Frame] = []
        self._collect(self._core.connection, frames)
        return frames

    def _collect(self, connection: _Endpoint, out: List[Frame]) -> None:
        """Add the frames of one target (its tree, then its out-of-process children)."""
        if connection is self._core.connection:
            tree = self._core.send("Page.getFrameTree")["frameTree"]
        else:
            try:
                tree = connection.send("Page.getFrameTree", timeout=10)["frameTree"]
            except SyncdpError as exc:  # a frame that went away meanwhile
                logger.debug("listing the frames of %r: %s", connection, exc)
                return
        by_id = {f.id: f for f in out}
        root_info = tree.get("frame") or {}
        # An out-of-process frame's root names its parent frame, listed before it.
        stack: List[Tuple[Dict[str, Any], Optional[Frame], bool]] = [
            (tree, by_id.get(str(root_info.get("parentId"))), True)
        ]
        while stack:
            node, above, root = stack.pop(0)
            frame = Frame(self._core, self._contexts, node.get("frame") or {}, above, connection, root)
            out.append(frame)
            stack.extend((child, frame, False) for child in node.get("childFrames") or [])
        for session in connection.child_sessions:
            if getattr(session, "target_type", "") == "iframe" and not session.detached:
                self._collect(session, out)

    def find(self, name: Optional[str], url: Optional[str]) -> Optional[Frame]:
        """See ``Tab.frame``."""
        if name is None and url is None:
            raise InvalidCommand("frame() needs name= or url=")
        if name is not None and not isinstance(name, str):
            raise InvalidCommand("name must be a str, got %r" % (name,))
        if url is not None and (not isinstance(url, str) or not url):
            raise InvalidCommand("url must be a non-empty str, got %r" % (url,))
        for frame in self.list():
            if name is not None and frame.name != name:
                continue
            if url is not None and url not in frame.url:
                continue
            return frame
        return None

