"""Tab: one page target, driven through its own connection (a session or a websocket).

``Tab`` is a facade: each concern lives in a collaborator of :mod:`syncdp.page` (navigation,
evaluation, queries, captures, dialogs, network log, events) and ``Tab`` delegates to it.
"""

from __future__ import annotations

import html
import logging
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Union, cast

from syncdp._checks import check_timeout
from syncdp.connection import ConnectionHandler, EventExpectation, Session
from syncdp.connection.endpoint import _Endpoint
from syncdp.connection.events import Predicate
from syncdp.element import Element
from syncdp.exceptions import SyncdpError, TargetClosedError
from syncdp.page.capture import Capture
from syncdp.page.core import PageCore
from syncdp.page.dialogs import DIALOG_POLICIES, Dialogs
from syncdp.page.evaluation import Evaluator
from syncdp.page.events import PageEvents
from syncdp.page.features import PageFeatures
from syncdp.page.host import TabHost
from syncdp.page.navigation import Navigator
from syncdp.page.network import NetworkLog
from syncdp.page.network_control import NetworkControl
from syncdp.page.pointer import Pointer
from syncdp.page.query import Finder
from syncdp.screenshot import PathArg, Pdf, Screenshot

if TYPE_CHECKING:  # pragma: no cover
    from syncdp.cdp_types import CDP as TypedCDP
    from syncdp.protocol import CDP

__all__ = ["Tab", "DIALOG_POLICIES"]

logger = logging.getLogger(__name__)




def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Tab(PageFeatures, NetworkControl):
    """One browser tab (page target) with its own connection.

    Created by :meth:`Browser.new_tab`, :meth:`Browser.get_page` or
    :meth:`Browser.get_opened_tabs`; thread-safe: several threads may drive one tab.

    Args:
        host: what the tab needs from its browser (the browser builds it).
        target_id: the page's target id.
        dialog_policy: ``None`` (dialogs stay open until :meth:`handle_dialog`),
            ``"accept"`` or ``"dismiss"`` (every dialog is answered at once).
        connection: the tab's connection (default: the host opens one).
    """

    def __init__(
        self,
        host: TabHost,
        target_id: str,
        *,
        dialog_policy: Optional[str] = None,
        connection: Optional[_Endpoint] = None,
    ) -> None:
        self.target_id = target_id
        self._host = host
        if connection is None:
            connection = host.open_connection(target_id)
        self.connection: _Endpoint = connection
        self._core = PageCore(host, target_id, connection)
        self._dialogs = Dialogs(self._core)
        self._navigator = Navigator(self._core, self._dialogs)
        self._evaluator = Evaluator(self._core)
        self._capture = Capture(self._core)
        self._finder = Finder(
            self._core, self._evaluator, self._capture, Pointer(self._core)
        )
        self._network = NetworkLog(self._core)
        self._events = PageEvents(self._core)
        self._cdp: Optional["CDP"] = None
        self._dialogs.set_policy(dialog_policy)
        host.adopt(target_id, self._release)

    # -- state and representation -----------------------------------------------------------

    def __repr__(self) -> str:
        info = self._target_info()
        if info:
            title = _shorten(str(info.get("title") or ""), 40)
            url = _shorten(str(info.get("url", "")), 60)
            return "<Tab %r %s %s %s>" % (title, url, self.target_id, self._state())
        return "<Tab %s %s>" % (self.target_id, self._state())

    def _repr_html_(self) -> str:
        info = self._target_info()
        state = self._state()
        if not info:
            return "<b>Tab</b> <code>%s</code> (%s)" % (html.escape(self.target_id), state)
        url = str(info.get("url", ""))
        return '<b>Tab</b> %s — <a href="%s">%s</a> <small>(<code>%s</code>, %s)</small>' % (
            html.escape(str(info.get("title") or "(untitled)")),
            html.escape(url),
            html.escape(_shorten(url, 80)),
            html.escape(self.target_id),
            state,
        )

    def _state(self) -> str:
        if self._core.closed:
            return "closed"
        return "connected" if self.connection.connected else "idle"

    def _target_info(self) -> Dict[str, Any]:
        return {} if self._core.closed else self._host.target_info(self.target_id)

    @property
    def closed(self) -> bool:
        """Whether the tab was closed (by :meth:`close` or by the browser)."""
        return self._core.closed

    @property
    def crashed(self) -> bool:
        """Whether the tab's renderer crashed (reload it to recover)."""
        return self._core.crashed

    def follow_children(self, enabled: bool = True, *, wait_for_debugger: bool = True) -> None:
        """Auto-attach this tab's out-of-process iframes and workers as sessions.

        Register a callback for :data:`syncdp.ATTACHED_EVENT` with :meth:`on` first to hear
        of each new one before it runs. Only with ``tab_mode="sessions"``.
        """
        if not isinstance(self.connection, Session):
            raise SyncdpError(
                "following child targets needs the sessions tab mode: Chrome(tab_mode='sessions')"
            )
        self._core.prepare()
        self.connection.set_auto_attach(enabled, wait_for_debugger=wait_for_debugger)

    # -- commands ---------------------------------------------------------------------------

    def send(
        self, method: str, params: Optional[Dict[str, Any]] = None, *, timeout: Optional[float] = 30
    ) -> Dict[str, Any]:
        """Send a CDP command to this tab and return its result.

        Args:
            method: e.g. ``"Page.navigate"``.
            params: the command's parameters.
            timeout: seconds to wait for the answer (a positive number), ``None`` for no limit.

        Raises:
            InvalidCommand: ``method`` is not a non-empty string or ``timeout`` is invalid.
            TargetClosedError: the tab is closed.
            TargetCrashedError: the tab's renderer crashed (at once, except for
                ``Page.reload``, ``Page.navigate``, ``Page.close`` and ``Target.*``).
            DialogOpenError: a JavaScript dialog blocks the page (for commands it blocks).
            CommandError, CommandTimeoutError, ConnectionClosedError: as
                :meth:`ConnectionHandler.send`.
        """
        return self._core.send_for_user(method, params, timeout=timeout)

    def execute_command(
        self, command: Dict[str, Any], timeout: Optional[float] = 10
    ) -> Dict[str, Any]:
        """Send a raw command on the tab's connection (pydoll's API; returns the full response).

        Raises:
            InvalidCommand: a malformed command or timeout.
            TargetClosedError, TargetCrashedError: as :meth:`send`.
        """
        return self._core.execute_command(command, timeout)

    @property
    def cdp(self) -> "TypedCDP":
        """Typed, validated access to this tab's CDP: ``tab.cdp.Page.navigate(url=...)``.

        Calls go through :meth:`send` (dialog and closed-tab checks included); see
        :attr:`ConnectionHandler.cdp` and :mod:`syncdp.protocol`.
        """
        cdp = self._cdp
        if cdp is None:
            from syncdp.protocol import CDP

            cdp = CDP(self._cdp_send, self._host.get_protocol, default_timeout=30)
            self._cdp = cdp
        return cast("TypedCDP", cdp)

    def _cdp_send(
        self, method: str, params: Optional[Dict[str, Any]], timeout: Optional[float]
    ) -> Dict[str, Any]:
        return self.send(method, params, timeout=timeout)

    # -- navigation -------------------------------------------------------------------------

    def go_to(
        self, url: str, timeout: Optional[float] = 30, *, wait_until: str = "load"
    ) -> None:
        """Navigate to ``url`` and wait for its load event (race-free: matched by loader id).

        Args:
            url: where to go: an absolute URL with its scheme (``https://...``, ``data:...``).
            timeout: seconds for the whole navigation (``None``: no limit).
            wait_until: ``"load"``, ``"domcontentloaded"`` or ``"networkidle"``.

        Raises:
            InvalidCommand: ``url`` is not an absolute URL, or a bad ``timeout``/``wait_until``.
            NavigationError: Chromium could not navigate (``error_text`` e.g.
                ``net::ERR_CONNECTION_REFUSED``).
            DialogOpenError: a JavaScript dialog opened before the page got there (no dialog
                policy): it blocks the load until :meth:`handle_dialog` answers it.
            EventTimeoutError, CommandTimeoutError: the page did not reach ``wait_until`` in
                time. The navigation is stopped first (``Page.stopLoading``), as on Ctrl-C,
                so the tab is usable at once.
        """
        self._navigator.go_to(url, timeout, wait_until)

    def refresh(self, timeout: Optional[float] = 30, *, ignore_cache: bool = False) -> None:
        """Reload the page and wait for its load event (also recovers a crashed tab).

        Raises:
            DialogOpenError, EventTimeoutError, CommandTimeoutError: as :meth:`go_to`
                (a reload that times out or is interrupted is stopped too).
        """
        self._navigator.refresh(timeout, ignore_cache)

    @property
    def current_url(self) -> str:
        """The URL of the page now shown."""
        return str(self.execute_script("window.location.href"))

    @property
    def title(self) -> str:
        """The page's ``document.title``."""
        return str(self.execute_script("document.title"))

    @property
    def page_source(self) -> str:
        """The page's HTML as it is now (``document.documentElement.outerHTML``)."""
        return str(self.execute_script("document.documentElement.outerHTML"))

    def bring_to_front(self) -> None:
        """Activate the tab."""
        self.send("Page.bringToFront")

    # -- scripts and elements ---------------------------------------------------------------

    def execute_script(
        self, script: str, *, await_promise: bool = True, timeout: Optional[float] = 30
    ) -> Any:
        """Run JavaScript in the page and return its JSON value.

        Accepts an expression (``"document.title"``), statements whose last value is the
        result (``"const n = 6; n * 7"``; ``let``/``const`` may be declared again by a later
        call, like in the DevTools console, and ``await`` works at the top level), or a
        function body with ``return`` statements (``"return document.title"``, pydoll's
        style). Promises are awaited. ``NaN``, ``Infinity``, ``-0`` and BigInt results come
        back as ``float``/``int``. A script runs at most once, whatever it throws.

        Values JSON cannot carry are kept at any depth: ``NaN``/``Infinity``/``-0`` as
        ``float``, BigInt as ``int``, ``Map`` as ``dict``, ``Set`` as ``list``, ``Date`` as an
        ISO 8601 ``str``, a DOM node as a ``dict`` describing it, a cycle as the same Python
        object; ``undefined``, functions and symbols follow ``JSON.stringify``.

        Raises:
            JavaScriptError: the script threw (message and stack kept; a thrown non-Error
                value, e.g. ``throw 'x'``, is in the message).
            JavaScriptValueError: the result holds a value with no Python counterpart (a
                Promise, an Error object, a typed array...); the message says where.
            ExecutionContextDestroyedError: the page navigated while the script ran (it is
                not run again).
            DialogOpenError: a dialog blocks the page.
            InvalidCommand: ``script`` is not a str, or a bad ``timeout``.
        """
        return self._evaluator.execute_script(script, await_promise, timeout)

    def query(
        self, selector: str, timeout: float = 0, *, _within: Optional[Element] = None
    ) -> Element:
        """The first element matching ``selector`` (CSS, or XPath when it starts with ``/``).

        A waiting query keeps waiting when the page navigates meanwhile (a click that
        leads to the next page): it looks again on the new page for the time left.

        Args:
            selector: e.g. ``"#login button"`` or ``"//a[text()='Next']"``.
            timeout: seconds to wait for it to appear (0: look once).

        Raises:
            ElementNotFoundError: nothing matched within ``timeout``.
            InvalidCommand: a bad selector, or ``timeout`` not a number >= 0.
        """
        return self._finder.query(selector, timeout, within=_within)

    def query_all(self, selector: str, *, _within: Optional[Element] = None) -> List[Element]:
        """Every element matching ``selector`` (CSS or XPath), in document order."""
        return self._finder.query_all(selector, within=_within)

    # -- captures ---------------------------------------------------------------------------

    def take_screenshot(
        self,
        path: Optional[PathArg] = None,
        *,
        format: str = "png",  # noqa: A002 - the CDP option's name
        quality: Optional[int] = None,
        full_page: bool = False,
    ) -> Screenshot:
        """Capture the viewport (or the whole page) as PNG, JPEG or WebP bytes.

        Args:
            path: also write the image there.
            format: ``png``, ``jpeg`` or ``webp``.
            quality: 0-100, for ``jpeg`` and ``webp`` only.
            full_page: capture the whole scrollable page, not just the viewport.

        Returns:
            :class:`Screenshot` (``bytes``, shown inline in Jupyter).

        Raises:
            InvalidCommand: a bad option, or ``path`` not a ``str``/``os.PathLike``.
        """
        return self._capture.screenshot(path, format, quality, full_page)

    def print_to_pdf(
        self,
        path: Optional[PathArg] = None,
        *,
        landscape: bool = False,
        print_background: bool = True,
        scale: float = 1.0,
        timeout: Optional[float] = 60,
        **options: Any,
    ) -> Pdf:
        """Render the page as PDF bytes (``Page.printToPDF``; more CDP options as keywords,
        e.g. ``paperWidth=8.27``).

        Raises:
            InvalidCommand: ``path`` not a ``str``/``os.PathLike``, or a bad ``timeout``.
        """
        return self._capture.pdf(path, landscape, print_background, scale, timeout, options)

    # -- events -----------------------------------------------------------------------------

    def on(
        self,
        event_name: str,
        callback: Callable[..., Any],
        temporary: bool = False,
        background: bool = False,
    ) -> int:
        """Register ``callback`` for a CDP event of this tab.

        Args:
            background: run the callback on a worker pool instead of the dispatcher thread,
                so a slow callback never holds back other events (pydoll's non-blocking
                ``Tab.on``). Order between background calls is then not guaranteed.

        Returns:
            The callback id, for :meth:`remove_callback`.

        Raises:
            InvalidCommand: ``event_name`` is not a non-empty string.
            TargetClosedError: the tab is closed (its events will never come).
        """
        return self._events.on(event_name, callback, temporary, background)

    def remove_callback(self, callback_id: int) -> bool:
        """Remove a callback registered with :meth:`on` (or ``on_console``/``on_page_error``)."""
        removed = self._remove_feature_callback(callback_id)
        return self.connection.remove_callback(callback_id) if removed is None else removed

    def expect_event(
        self,
        event_name: str,
        predicate: Optional[Predicate] = None,
        timeout: Optional[float] = 10,
    ) -> EventExpectation:
        """Race-free wait for an event triggered inside the ``with`` block (see
        :meth:`ConnectionHandler.expect_event`).

        Raises:
            InvalidCommand: a bad ``event_name`` or ``timeout`` (``None``: no limit).
            TargetClosedError: the tab is closed.
        """
        return self._events.expect_event(event_name, predicate, timeout)

    def wait_for_event(
        self,
        event_name: str,
        predicate: Optional[Predicate] = None,
        timeout: Optional[float] = 10,
    ) -> Dict[str, Any]:
        """Block for the next ``event_name`` event of this tab.

        Raises:
            InvalidCommand, TargetClosedError: as :meth:`expect_event`.
            EventTimeoutError: nothing matched within ``timeout``.
        """
        return self._events.wait_for_event(event_name, predicate, timeout)

    # -- network ----------------------------------------------------------------------------

    def enable_network_events(self) -> None:
        """Start recording network requests (``Network.enable``) into :meth:`get_network_logs`."""
        self._network.enable()

    def disable_network_events(self) -> None:
        """Stop recording network requests.

        The Network domain stays enabled when you enabled it yourself through this tab
        (``tab.send("Network.enable")``, ``tab.cdp.Network.enable()``) for your own
        ``Network.*`` callbacks: a helper never turns off what you turned on, and requests
        then keep being logged. What was logged stays in :meth:`get_network_logs`.
        """
        self._network.disable()

    def get_network_logs(self, filter: Optional[str] = None) -> List[Dict[str, Any]]:  # noqa: A002
        """``Network.requestWillBeSent`` events seen, optionally those whose URL contains ``filter``.

        A copy, oldest first: every request seen while the Network domain was enabled on this
        tab's connection, also after :meth:`disable_network_events`, until
        ``tab.connection.clear_network_logs()``. Bounded by the connection's
        ``network_logs_limit`` (10,000 by default; the oldest go first, with a warning).
        """
        return self._network.logs(filter)

    def get_network_response_body(self, request_id: str) -> Union[str, bytes]:
        """The body of a finished response: ``str`` for text, ``bytes`` when base64-encoded."""
        return self._network.response_body(request_id)

    # -- dialogs ----------------------------------------------------------------------------

    def has_dialog(self) -> bool:
        """Whether a JavaScript dialog (alert, confirm, prompt, beforeunload) is open."""
        return self._dialogs.is_open()

    def get_dialog_message(self) -> str:
        """The open dialog's message.

        Raises:
            SyncdpError: no dialog is open.
        """
        return self._dialogs.message()

    def handle_dialog(
        self, accept: bool = True, prompt_text: Optional[str] = None, timeout: float = 10
    ) -> None:
        """Accept or dismiss the open dialog (typing ``prompt_text`` into a prompt).

        Raises:
            InvalidCommand: ``accept`` is not a bool, ``prompt_text`` not a str or None, or
                a bad ``timeout``.
            SyncdpError: no dialog is open.
        """
        self._dialogs.handle(accept, prompt_text, timeout)

    def set_dialog_policy(self, policy: Optional[str]) -> None:
        """Answer every dialog automatically: ``"accept"``, ``"dismiss"``, or ``None`` (off)."""
        self._dialogs.set_policy(policy)

    # -- lifecycle --------------------------------------------------------------------------

    def close(self) -> None:
        """Close the tab (its target and its connection). Idempotent."""
        if self._core.mark_closed():
            conn = self.connection
            if isinstance(conn, ConnectionHandler):
                # The browser drops the page's socket: not a loss (no reconnect, no
                # DISCONNECTED_EVENT).
                conn.hooks.expect_close()
                # What waits on the page's own socket fails as it does with a session.
                reason = "the tab was closed by close()"
                conn.hooks.fail_pending(lambda method: TargetClosedError(method, reason))
                conn.hooks.fail_waiters(lambda event: TargetClosedError("waiting for " + event, reason))
            try:
                self._host.connection().send(
                    "Target.closeTarget", {"targetId": self.target_id}, timeout=10
                )
                # closeTarget answers before the target is gone; when close() returns it is
                # gone (no longer listed), so wait for the browser to end our side of it.
                conn.wait_closed(5.0)
            except (SyncdpError, OSError) as exc:
                logger.debug("closing target %s: %s", self.target_id, exc)
        self._release()

    def wait_closed(self, timeout: Optional[float] = None) -> bool:
        """Block until the tab's connection ends: the tab was closed (here, by another
        client, or its browser closed), or its socket was lost (pychrome's ``tab.wait``).

        Args:
            timeout: seconds to wait at most (0: just tell); ``None`` waits without limit.

        Returns:
            True if it ended, False if ``timeout`` passed first.

        Raises:
            InvalidCommand: a bad ``timeout``.
        """
        timeout = check_timeout(timeout, allow_zero=True)
        if self._core.closed or timeout == 0:
            return self._core.closed
        try:
            # A tab's connection opens lazily: an open tab not used yet has none to wait on.
            self.connection.connect()
        except SyncdpError as exc:
            logger.debug("%r cannot connect: %s", self, exc)
            return True
        return self.connection.wait_closed(timeout) or self._core.closed

    def _release(self) -> None:
        """Close the connection and the background pool (target untouched)."""
        self.connection.close()
        self._events.shutdown()
        self._host.released(self)

    def __enter__(self) -> "Tab":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
