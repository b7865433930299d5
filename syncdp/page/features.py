"""History, frames, popups, console and waiting: the ``Tab`` methods Playwright users look for.

:class:`PageFeatures` is a mixin of :class:`~syncdp.tab.Tab`; each method delegates to a
collaborator of :mod:`syncdp.page` built on first use (``history``, ``frames``, ``popups``,
``console``, ``waiting``).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, TypeVar, Union, cast

from syncdp.element import Element
from syncdp.exceptions import JavaScriptError
from syncdp.page.console import Console, ConsoleMessage, RuntimeSwitch
from syncdp.page.frames import Frame, FrameContexts, Frames
from syncdp.page.history import History
from syncdp.page.popups import TabExpectation, expect_target
from syncdp.page.waiting import Waiter

if TYPE_CHECKING:  # pragma: no cover
    from syncdp.page.core import PageCore
    from syncdp.page.dialogs import Dialogs
    from syncdp.page.evaluation import Evaluator
    from syncdp.page.host import TabHost
    from syncdp.page.query import Finder

__all__ = ["PageFeatures"]

_Self = TypeVar("_Self", bound="PageFeatures")
_T = TypeVar("_T")

# Guards the first build of each tab's collaborators (a moment, once per tab and part).
_BUILD_LOCK = threading.RLock()  # a part may build the parts it needs


class PageFeatures:
    """History, frames, popups, console and waiting for a tab (mixed into ``Tab``)."""

    # Set by Tab.__init__.
    target_id: str
    _core: "PageCore"
    _dialogs: "Dialogs"
    _evaluator: "Evaluator"
    _finder: "Finder"
    _host: "TabHost"

    def _part(self, name: str, build: Callable[[], _T]) -> _T:
        parts: Dict[str, Any] = self.__dict__.setdefault("_features", {})
        part = parts.get(name)
        if part is None:
            with _BUILD_LOCK:
                part = parts.get(name)
                if part is None:
                    part = parts[name] = build()
        return cast(_T, part)

    def _contexts(self) -> FrameContexts:
        return self._part("contexts", lambda: FrameContexts(self._core.connection))

    def _runtime(self) -> RuntimeSwitch:
        def build() -> RuntimeSwitch:
            self._contexts()  # its hooks go in before syncdp ever enables Runtime here
            return RuntimeSwitch(self._core)

        return self._part("runtime", build)

    def _console(self) -> Console:
        return self._part("console", lambda: Console(self._core, self._evaluator, self._runtime()))

    def _frames(self) -> Frames:
        runtime = self._runtime()
        return self._part("frames", lambda: Frames(self._core, runtime, self._contexts()))

    def _waiter(self) -> Waiter:
        return self._part("waiter", lambda: Waiter(self._core, self._evaluator, self._finder))

    # -- history ----------------------------------------------------------------------------

    def back(self, timeout: Optional[float] = 30) -> bool:
        """Go back one entry of the tab's history and wait until it is shown (its load
        event, a restore from the back/forward cache, or a same-document navigation).

        Returns:
            False (and nothing happens) when there is no previous entry.

        Raises:
            InvalidCommand: a bad ``timeout``.
            DialogOpenError, EventTimeoutError, CommandTimeoutError: as ``go_to`` (a
                navigation that times out is stopped).
        """
        return self._part("history", lambda: History(self._core, self._dialogs)).go(-1, timeout)

    def forward(self, timeout: Optional[float] = 30) -> bool:
        """Go forward one entry of the tab's history (see :meth:`back`); False when there
        is no next entry."""
        return self._part("history", lambda: History(self._core, self._dialogs)).go(1, timeout)

    # -- frames -----------------------------------------------------------------------------

    @property
    def frames(self) -> List[Frame]:
        """Every frame of the tab, the main frame first, then in document order of each
        process: same-process ``<iframe>`` elements and out-of-process ones (each with its
        :attr:`Frame.session`).

        The first use follows the tab's out-of-process children (auto-attach, without
        pausing them) and keeps the Runtime domain enabled on the tab (the frames'
        JavaScript contexts are announced through it).
        """
        return self._frames().list()

    def frame(self, name: Optional[str] = None, url: Optional[str] = None) -> Optional[Frame]:
        """The first frame with this ``name`` and/or whose URL contains ``url``; ``None``
        when there is none.

        Raises:
            InvalidCommand: neither given, or not strings.
        """
        return self._frames().find(name, url)

    # -- popups -----------------------------------------------------------------------------

    def expect_popup(self: _Self, timeout: Optional[float] = 10) -> TabExpectation[_Self]:
        """Race-free wait for a tab this page opens (``window.open``, a ``target=_blank``
        link) inside the ``with`` block::

            with tab.expect_popup() as popup:
                tab.query("a[target=_blank]").click()
            popup.value.wait_for_load_state()

        Raises:
            InvalidCommand: a bad ``timeout`` (``None``: no limit).
            TargetClosedError: the tab is closed.
            EventTimeoutError: (leaving the block) no popup opened in time.
        """
        self._core.check_open("Tab.expect_popup")
        opener = self.target_id

        def opened_here(info: Dict[str, Any]) -> bool:
            return info.get("type") == "page" and info.get("openerId") == opener

        return expect_target(
            self._host.connection(), opened_here, timeout, cast(Callable[[str], _Self], self._host.tab_for)
        )

    # -- console ----------------------------------------------------------------------------

    def on_console(self, callback: Callable[[ConsoleMessage], Any]) -> int:
        """Call ``callback(message)`` (a :class:`ConsoleMessage`) for every ``console.*``
        call of the page (its main frame and same-process frames; an out-of-process
        frame logs to its own target, ``Frame.session``), on the dispatcher thread.

        syncdp enables the Runtime domain while such callbacks exist (counted with the
        other helpers that need it; disabled with the last one unless you enabled it).

        Returns:
            The callback id, for :meth:`remove_callback`.

        Raises:
            InvalidCommand: ``callback`` is not callable.
            TargetClosedError: the tab is closed.
        """
        return self._console().on_console(callback)

    def on_page_error(self, callback: Callable[[JavaScriptError], Any]) -> int:
        """Call ``callback(error)`` (a :class:`JavaScriptError` with message and stack) for
        every exception the page does not catch. See :meth:`on_console`."""
        return self._console().on_page_error(callback)

    @property
    def console_messages(self) -> List[ConsoleMessage]:
        """The tab's recent console messages (the last 1000), oldest first.

        The first read keeps the Runtime domain enabled on the tab from then on, and
        Chromium then sends again what the page logged before (if Runtime was off):
        those are listed too. Messages are recorded from the first use of the console
        API of the tab (this property, :meth:`on_console`, :meth:`on_page_error`)
        while Runtime is enabled.
        """
        return self._console().messages()

    def clear_console_messages(self) -> None:
        """Forget the recorded console messages (recording goes on)."""
        self._console().clear()

    def _remove_feature_callback(self, callback_id: int) -> Optional[bool]:
        """Remove a console or page-error callback (``None``: not one of those)."""
        console = self.__dict__.get("_features", {}).get("console")
        if console is None or not console.owns(callback_id):
            return None
        return bool(console.remove(callback_id))

    # -- waiting ----------------------------------------------------------------------------

    def wait_for_selector(
        self, selector: str, *, state: str = "visible", timeout: Optional[float] = 30
    ) -> Optional[Element]:
        """Wait until an element matching ``selector`` (CSS or XPath) is in ``state``.

        Args:
            state: ``"visible"`` (attached, with a non-empty box, not ``visibility:
                hidden``), ``"attached"`` (in the document) or ``"hidden"`` (absent or
                not visible).
            timeout: seconds (``None``: no limit). A navigation meanwhile does not end
                the wait: it goes on in the new page.

        Returns:
            The element (``None`` for ``"hidden"``).

        Raises:
            InvalidCommand: a bad selector, ``state`` or ``timeout``.
            EventTimeoutError: not in that state within ``timeout``.
        """
        return self._waiter().wait_for_selector(selector, state, timeout)

    def wait_for_function(
        self, js: str, *, timeout: Optional[float] = 30, polling: Union[str, float] = "raf"
    ) -> Any:
        """Wait until the JavaScript expression ``js`` is truthy; return its value.

        ``js`` may also be a function (``"() => window.ready"``): it is called each time.
        Its value may be a promise.

        Args:
            polling: ``"raf"`` (every animation frame) or milliseconds between checks.
            timeout: seconds (``None``: no limit); survives navigations.

        Raises:
            InvalidCommand: ``js`` not a non-empty str, a bad ``polling`` or ``timeout``.
            JavaScriptError: ``js`` threw (a syntax error included).
            EventTimeoutError: not truthy within ``timeout``.
        """
        return self._waiter().wait_for_function(js, timeout, polling)

    def wait_for_load_state(self, state: str = "load", *, timeout: Optional[float] = 30) -> None:
        """Wait until the page's main frame reached ``state``: ``"load"``,
        ``"domcontentloaded"`` or ``"networkidle"`` (returns at once if it has already).

        It is the state of the document shown now: for the page a click is about to load,
        use ``with tab.expect_event("Page.frameNavigated"):`` around the click first, or
        wait for something of the new page (:meth:`wait_for_selector`).

        Raises:
            InvalidCommand: a bad ``state`` or ``timeout``.
            EventTimeoutError: not reached within ``timeout``.
        """
        self._waiter().wait_for_load_state(state, timeout)

