"""Tab: one page target, driven through its own ConnectionHandler (page_id = target id)."""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import math
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Dict,
    Iterator,
    List,
    Optional,
    Tuple,
    Union,
    cast,
)

from syncdp.connection import ConnectionHandler, EventExpectation, Session
from syncdp.connection.endpoint import _check_timeout, _Endpoint
from syncdp.connection.events import Predicate
from syncdp.element import Element
from syncdp.exceptions import (
    CommandError,
    CommandTimeoutError,
    ConnectFailedError,
    DialogOpenError,
    ElementNotFoundError,
    EventTimeoutError,
    InvalidCommand,
    JavaScriptError,
    NavigationError,
    SyncdpError,
    TargetClosedError,
    TargetCrashedError,
)
from syncdp.screenshot import PathArg, Pdf, Screenshot, check_path

if TYPE_CHECKING:  # pragma: no cover
    from syncdp.browser import Browser
    from syncdp.cdp_types import CDP as TypedCDP
    from syncdp.protocol import CDP

__all__ = ["Tab", "DIALOG_POLICIES"]

logger = logging.getLogger(__name__)

DIALOG_POLICIES = (None, "accept", "dismiss")

# Commands the renderer cannot answer while a JavaScript dialog blocks its main thread.
_BLOCKED_BY_DIALOG = (
    "Runtime.evaluate",
    "Runtime.callFunctionOn",
    "Runtime.awaitPromise",
    "Page.captureScreenshot",
    "Page.printToPDF",
    "Input.",
    "DOM.scrollIntoViewIfNeeded",
)

# Commands a beforeunload dialog holds until it is answered (the navigation waits for it).
_BLOCKED_BY_BEFOREUNLOAD = ("Page.navigate", "Page.reload")

# What a crashed tab can still do: navigate or reload (which starts a new renderer), close.
# Anything else would wait for a renderer that is gone until its timeout.
_SURVIVE_CRASH = ("Page.reload", "Page.navigate", "Page.close")

_WAIT_UNTIL = {"load": "load", "domcontentloaded": "DOMContentLoaded", "networkidle": "networkIdle"}

_RETURN_STATEMENT = re.compile(r"^\s*return\b")
_RETURN_WORD = re.compile(r"return\b")

# Scripts that start with a declaration run as statements: as an expression, "function f() {}"
# would be a function expression and f would not be defined.
_DECLARATION = re.compile(r"^\s*(?:async\s+function\b|function\b|class\b)")

# An absolute URL starts with a scheme (RFC 3986): "https:", "data:", "about:", "file:"...
_URL_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")

_UNSERIALIZABLE = {
    "NaN": math.nan,
    "Infinity": math.inf,
    "-Infinity": -math.inf,
    "-0": -0.0,
}

_VALUE_OF_THIS = "function() { return this; }"

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


def _is_xpath(selector: str) -> bool:
    return selector.startswith(("/", "./", "(", "../"))


def _check_name(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidCommand("%s must be a non-empty string, got %r" % (what, value))
    return value


def _unserializable(text: str) -> Any:
    """A Python value for CDP's ``unserializableValue`` (``NaN``, ``-0``, ``123n``...)."""
    if text in _UNSERIALIZABLE:
        return _UNSERIALIZABLE[text]
    if text.endswith("n"):
        try:
            return int(text[:-1])  # a BigInt
        except ValueError:
            pass
    logger.debug("unknown unserializable value %r", text)
    return text


def _remote_value(remote: Dict[str, Any]) -> Any:
    """The Python value of a ``RemoteObject`` sent by value."""
    if "unserializableValue" in remote:
        return _unserializable(str(remote["unserializableValue"]))
    return remote.get("value")


def _preview_text(preview: Dict[str, Any]) -> str:
    """``{code: 5, name: "x"}`` / ``[1, 2]`` from an ``ObjectPreview``."""
    items = []
    is_array = preview.get("subtype") == "array"
    for prop in preview.get("properties") or []:
        value = str(prop.get("value", ""))
        if prop.get("type") == "string":
            value = json.dumps(value)
        items.append(value if is_array else "%s: %s" % (prop.get("name"), value))
    if preview.get("overflow"):
        items.append("…")
    return ("[%s]" if is_array else "{%s}") % ", ".join(items)


def _thrown_text(exception: Dict[str, Any]) -> str:
    """What a script threw, for a non-Error value: ``"plain"``, ``5``, ``{code: 5}``..."""
    kind = exception.get("type")
    if "unserializableValue" in exception:
        return str(exception["unserializableValue"])
    if "value" in exception:
        return json.dumps(exception["value"])
    if kind == "undefined":
        return "undefined"
    preview = exception.get("preview")
    if isinstance(preview, dict) and preview.get("properties") is not None:
        return _preview_text(preview)
    return str(exception.get("description") or "")


def _js_exception(details: Dict[str, Any]) -> JavaScriptError:
    exception = details.get("exception") or {}
    description = str(exception.get("description") or "")
    text = str(details.get("text") or "Uncaught")
    if exception.get("subtype") == "error" and description:
        message = description.split("\n", 1)[0]  # "TypeError: ...", the thrown Error
    elif exception:
        # throw 'plain', Promise.reject(5), throw {code: 5}: the value is the message.
        thrown = _thrown_text(exception)
        message = "%s %s" % (text, thrown) if thrown else text
    else:
        message = text
    stack = description if "\n" in description else ""
    if not stack:
        frames = (details.get("stackTrace") or {}).get("callFrames") or []
        stack = "\n".join(
            "    at %s (%s:%s:%s)"
            % (
                f.get("functionName") or "<anonymous>",
                f.get("url"),
                f.get("lineNumber"),
                f.get("columnNumber"),
            )
            for f in frames
        )
        if stack:
            stack = message + "\n" + stack
    return JavaScriptError(message or "JavaScript exception", stack)


def _is_syntax_error(details: Dict[str, Any]) -> bool:
    """Whether ``exceptionDetails`` report a SyntaxError (by the thrown object's class)."""
    return bool((details.get("exception") or {}).get("className") == "SyntaxError")


class _Deadline:
    """The time left of one ``timeout`` shared by several commands (``None``: no limit)."""

    def __init__(self, timeout: Optional[float]) -> None:
        self._end = None if timeout is None else time.monotonic() + timeout

    def left(self) -> Optional[float]:
        """Seconds left (at least a millisecond), or ``None`` without a limit."""
        return None if self._end is None else max(0.001, self._end - time.monotonic())


class Tab:
    """One browser tab (page target) with its own websocket connection.

    Created by :meth:`Browser.new_tab`, :meth:`Browser.get_page` or
    :meth:`Browser.get_opened_tabs`; thread-safe: several threads may drive one tab.

    Args:
        browser: the owning browser.
        target_id: the page's target id.
        dialog_policy: ``None`` (dialogs stay open until :meth:`handle_dialog`),
            ``"accept"`` or ``"dismiss"`` (every dialog is answered at once).
    """

    def __init__(
        self,
        browser: "Browser",
        target_id: str,
        *,
        dialog_policy: Optional[str] = None,
        connection: Optional[_Endpoint] = None,
    ) -> None:
        self._browser = browser
        self.target_id = target_id
        endpoint = browser._endpoint
        if endpoint is None:
            raise SyncdpError("the browser is not started: call start() first")
        if connection is None:
            if browser.transport == "sessions":
                # One flattened session on the browser's socket: no thread, no socket.
                connection = browser.connection.attach(target_id)
            else:
                # The seed's model: the page's own websocket (and two threads).
                connection = ConnectionHandler(
                    endpoint,
                    page_id=target_id,
                    headers=browser._headers,
                    connect_timeout=browser._connect_timeout,
                )
        self.connection: _Endpoint = connection
        self._lock = threading.Lock()
        self._prepared_for = 0
        self._closed = False
        self._crashed = False
        self._pool: Optional[ThreadPoolExecutor] = None
        self._dialog_policy: Optional[str] = None
        self._dialog_callback: Optional[int] = None
        self._main_frame: Optional[str] = None
        self._cdp: Optional["CDP"] = None
        # Lifecycle waiters of go_to()/refresh() in progress, with what they wait for: a
        # dialog opening (no policy) wakes them with DialogOpenError. Guarded by _nav_lock
        # (the reader thread reads it).
        self._nav_lock = threading.Lock()
        self._nav_waiters: List[Tuple[EventExpectation, str]] = []
        # One protocol load per browser serves every tab (syncdp.protocol).
        self.connection._protocol_provider = browser._get_protocol
        self.connection.add_reader_hook("Page.javascriptDialogOpening", self._on_dialog_opening)
        self.connection.add_reader_hook("Inspector.detached", self._on_detached)
        self.connection.add_reader_hook("Inspector.targetCrashed", self._on_crashed)
        self.connection.add_reader_hook(
            "Inspector.targetReloadedAfterCrash", self._on_reloaded_after_crash
        )
        self.connection.add_reader_hook("Page.frameNavigated", self._on_frame_navigated)
        self.set_dialog_policy(dialog_policy)

    # -- reader hooks: run on the reader thread, never block --------------------------------

    def _on_dialog_opening(self, event: Dict[str, Any]) -> None:
        if self._dialog_policy is not None:
            return  # the policy callback answers it; blocked commands then complete
        params = event.get("params") or {}
        kind, message = str(params.get("type", "")), str(params.get("message", ""))
        blocked: Tuple[str, ...] = _BLOCKED_BY_DIALOG
        if kind == "beforeunload":
            blocked += _BLOCKED_BY_BEFOREUNLOAD  # the navigation waits for the answer
        self.connection.fail_pending(
            lambda method: DialogOpenError(kind, message, method),
            lambda method: method.startswith(blocked),
        )
        # A load never completes while a dialog is open: go_to()/refresh() must not wait
        # for it until their timeout either. The waiting thread raises this error.
        with self._nav_lock:
            waiters = list(self._nav_waiters)
        for expectation, action in waiters:
            expectation.fail(DialogOpenError(kind, message, action))

    def _on_detached(self, event: Dict[str, Any]) -> None:
        reason = str((event.get("params") or {}).get("reason", "detached"))
        if reason == "target_closed":
            self._closed = True
        self.connection.fail_pending(
            lambda method: TargetClosedError(method, "the tab went away (%s)" % reason)
        )

    def _on_crashed(self, event: Dict[str, Any]) -> None:
        self._crashed = True
        self.connection.fail_pending(
            lambda method: TargetCrashedError(method, "the tab's renderer process crashed")
        )

    def _on_reloaded_after_crash(self, event: Dict[str, Any]) -> None:
        self._crashed = False  # a navigation or reload started a new renderer

    def _on_frame_navigated(self, event: Dict[str, Any]) -> None:
        frame = (event.get("params") or {}).get("frame") or {}
        if not frame.get("parentId"):
            self._crashed = False  # the main frame shows a new document

    # -- plumbing ---------------------------------------------------------------------------

    def _target_info(self) -> Dict[str, Any]:
        """Title and URL from the browser (not the page: answers even while a dialog is
        open); ``{}`` when unavailable. Never connects, never raises."""
        root = self._browser._connection
        if self._closed or root is None or not root.connected:
            return {}
        try:
            info = root.send("Target.getTargetInfo", {"targetId": self.target_id}, timeout=2)
            return dict(info.get("targetInfo") or {})
        except (SyncdpError, OSError):
            return {}

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("connected" if self.connection.connected else "idle")
        info = self._target_info()
        if info:
            title = info.get("title") or ""
            if len(title) > 40:
                title = title[:39] + "…"
            url = str(info.get("url", ""))
            if len(url) > 60:
                url = url[:59] + "…"
            return "<Tab %r %s %s %s>" % (title, url, self.target_id, state)
        return "<Tab %s %s>" % (self.target_id, state)

    @property
    def frames(self) -> List[Session]:
        """Sessions of this tab's out-of-process iframes and workers (after
        :meth:`follow_children`)."""
        return self.connection.child_sessions

    def follow_children(self, enabled: bool = True, *, wait_for_debugger: bool = True) -> None:
        """Auto-attach this tab's out-of-process iframes and workers as sessions.

        Register a callback for :data:`syncdp.ATTACHED_EVENT` with :meth:`on` first to hear
        of each new one before it runs. Only with ``transport="sessions"``.
        """
        if not isinstance(self.connection, Session):
            raise SyncdpError(
                "following child targets needs the sessions transport: Chrome(transport='sessions')"
            )
        self._prepare()
        self.connection.set_auto_attach(enabled, wait_for_debugger=wait_for_debugger)

    def _repr_html_(self) -> str:
        import html

        info = self._target_info()
        state = "closed" if self._closed else ("connected" if self.connection.connected else "idle")
        if not info:
            return "<b>Tab</b> <code>%s</code> (%s)" % (html.escape(self.target_id), state)
        url = str(info.get("url", ""))
        return '<b>Tab</b> %s — <a href="%s">%s</a> <small>(<code>%s</code>, %s)</small>' % (
            html.escape(str(info.get("title") or "(untitled)")),
            html.escape(url),
            html.escape(url if len(url) <= 80 else url[:79] + "…"),
            html.escape(self.target_id),
            state,
        )

    @property
    def closed(self) -> bool:
        """Whether the tab was closed (by :meth:`close` or by the browser)."""
        if not self._closed and isinstance(self.connection, Session) and self.connection.detached:
            self._closed = True  # its target went away: the session ended with it
        return self._closed

    @property
    def crashed(self) -> bool:
        """Whether the tab's renderer crashed (reload it to recover)."""
        return self._crashed

    def _check_open(self, method: str) -> None:
        if self._browser._stopped:
            raise TargetClosedError(method, self._browser._unusable_reason())
        if self.closed:
            raise TargetClosedError(method, "the tab %s is closed" % self.target_id)

    def _check_not_crashed(self, method: str) -> None:
        # A crashed renderer answers nothing: fail at once instead of at the timeout.
        if self._crashed and not (method in _SURVIVE_CRASH or method.startswith("Target.")):
            raise TargetCrashedError(
                method,
                "the tab's renderer process crashed (not sent); refresh() or go_to() "
                "to recover",
            )

    def _prepare(self) -> None:
        """Enable what the tab relies on, once per websocket (again after a reconnect)."""
        conn = self.connection
        conn.connect()
        if self._prepared_for == conn.connection_count:
            return
        with self._lock:
            if self._prepared_for == conn.connection_count:
                return
            commands: List[Any] = [
                ("Page.enable", None),
                ("Page.setLifecycleEventsEnabled", {"enabled": True}),
            ]
            viewport = self._browser._viewport
            if viewport is not None:
                width, height = viewport
                commands.append(
                    (
                        "Emulation.setDeviceMetricsOverride",
                        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
                    )
                )
            conn._send_pipelined(commands, 30)  # one round trip for the tab's set-up
            self._prepared_for = conn.connection_count

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
        _check_name(method, "method")
        timeout = _check_timeout(timeout)
        self._check_open(method)
        self._check_not_crashed(method)
        try:
            self._prepare()
            if method.startswith(_BLOCKED_BY_DIALOG) and self._dialog_policy is None:
                dialog = self.connection.dialog
                if dialog:
                    params_ = dialog.get("params") or {}
                    raise DialogOpenError(
                        str(params_.get("type")), str(params_.get("message")), method
                    )
            return self.connection.send(method, params, timeout=timeout)
        except ConnectFailedError as exc:
            if "HTTP 404" in str(exc):
                self._closed = True
                raise TargetClosedError(
                    method, "the tab %s no longer exists" % self.target_id
                ) from exc
            raise

    def execute_command(
        self, command: Dict[str, Any], timeout: Optional[float] = 10
    ) -> Dict[str, Any]:
        """Send a raw command on the tab's connection (the seed's API; returns the full response).

        Raises:
            InvalidCommand: a malformed command or timeout.
            TargetClosedError, TargetCrashedError: as :meth:`send`.
        """
        timeout = _check_timeout(timeout)
        method = command.get("method") if isinstance(command, dict) else None
        self._check_open(str(method if method is not None else command))
        if isinstance(method, str):
            self._check_not_crashed(method)
        self._prepare()
        return self.connection.execute_command(command, timeout)

    @property
    def cdp(self) -> "TypedCDP":
        """Typed, validated access to this tab's CDP: ``tab.cdp.Page.navigate(url=...)``.

        Calls go through :meth:`send` (dialog and closed-tab checks included); see
        :attr:`ConnectionHandler.cdp` and :mod:`syncdp.protocol`.
        """
        cdp = self._cdp
        if cdp is None:
            from syncdp.protocol import CDP

            cdp = CDP(self._cdp_send, self.connection._get_protocol, default_timeout=30)
            self._cdp = cdp
        return cast("TypedCDP", cdp)

    def _cdp_send(
        self, method: str, params: Optional[Dict[str, Any]], timeout: Optional[float]
    ) -> Dict[str, Any]:
        return self.send(method, params, timeout=timeout)

    def _load_protocol_quietly(self) -> None:
        # Event names are checked against the protocol (a typo'd name never fires); a
        # browser without one just goes unchecked.
        try:
            self.connection._get_protocol()
        except SyncdpError as exc:
            logger.debug("no protocol to check event names against: %s", exc)

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
        if not isinstance(url, str) or not url:
            raise InvalidCommand("url must be a non-empty string, got %r" % (url,))
        if not _URL_SCHEME.match(url):
            raise InvalidCommand(
                "url must be an absolute URL with a scheme, like 'https://%s', got %r"
                % (url.lstrip("/"), url)
            )
        lifecycle = _WAIT_UNTIL.get(wait_until)
        if lifecycle is None:
            raise InvalidCommand(
                "wait_until must be one of %s, got %r" % (sorted(_WAIT_UNTIL), wait_until)
            )
        limit = _check_timeout(timeout)
        deadline = None if limit is None else time.monotonic() + limit
        self._check_open("Page.navigate")
        self._prepare()
        loader: Dict[str, str] = {}

        def reached(event: Dict[str, Any]) -> bool:
            p = event.get("params") or {}
            return p.get("name") == lifecycle and p.get("loaderId") == loader.get("id")

        action = "go_to(%r) waiting for %r" % (url, wait_until)
        with self._stopped_if_unfinished():
            with self._lifecycle_wait(reached, limit, action) as expectation:
                try:
                    result = self.send("Page.navigate", {"url": url}, timeout=limit)
                except CommandError as exc:
                    if "invalid url" in exc.message.lower():
                        raise NavigationError(url, exc.message) from exc
                    raise
                if result.get("isDownload"):
                    expectation.cancel()  # a download, not a page: nothing will load
                    return
                if result.get("errorText"):
                    raise NavigationError(url, str(result["errorText"]))
                if not result.get("loaderId"):
                    expectation.cancel()  # same-document navigation: no new load
                    return
                loader["id"] = str(result["loaderId"])
                self._main_frame = str(result.get("frameId") or self._main_frame)
                if deadline is not None:
                    expectation.timeout = max(0.001, deadline - time.monotonic())

    def refresh(self, timeout: Optional[float] = 30, *, ignore_cache: bool = False) -> None:
        """Reload the page and wait for its load event (also recovers a crashed tab).

        Raises:
            DialogOpenError, EventTimeoutError, CommandTimeoutError: as :meth:`go_to`
                (a reload that times out or is interrupted is stopped too).
        """
        limit = _check_timeout(timeout)
        self._check_open("Page.reload")
        self._prepare()
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
                self.send("Page.reload", {"ignoreCache": bool(ignore_cache)}, timeout=limit)

    @contextlib.contextmanager
    def _lifecycle_wait(
        self, predicate: Predicate, timeout: Optional[float], action: str
    ) -> Iterator[EventExpectation]:
        """``expect_event("Page.lifecycleEvent", ...)`` that a dialog opening interrupts."""
        expectation = self.connection.expect_event("Page.lifecycleEvent", predicate, timeout)
        entry = (expectation, action)  # the dialog hook fails it (see _on_dialog_opening)
        with self._nav_lock:
            self._nav_waiters.append(entry)
        try:
            with expectation:
                yield expectation
        finally:
            with self._nav_lock:
                self._nav_waiters.remove(entry)

    @contextlib.contextmanager
    def _stopped_if_unfinished(self) -> Iterator[None]:
        """Stop the page loading when the block times out or is interrupted (Ctrl-C)."""
        try:
            yield
        except (CommandTimeoutError, EventTimeoutError, KeyboardInterrupt):
            self._stop_loading()
            raise

    def _stop_loading(self) -> None:
        # Best effort and quick: the caller is raising already. A navigation left running
        # would hold back the tab's next commands until its server answers.
        if self._closed or self._crashed:
            return
        try:
            self.connection.send("Page.stopLoading", timeout=2)
        except (SyncdpError, OSError) as exc:
            logger.debug("stopping the unfinished navigation of %s: %s", self.target_id, exc)

    def _main_frame_id(self) -> str:
        if self._main_frame is None:
            if self._crashed:
                # No renderer to ask; a page target's main frame id is its target id.
                return self.target_id
            tree = self.send("Page.getFrameTree")
            self._main_frame = str(tree["frameTree"]["frame"]["id"])
        return self._main_frame

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

    # -- scripts ----------------------------------------------------------------------------

    def execute_script(
        self, script: str, *, await_promise: bool = True, timeout: Optional[float] = 30
    ) -> Any:
        """Run JavaScript in the page and return its JSON value.

        Accepts an expression (``"document.title"``), statements whose last value is the
        result (``"const n = 6; n * 7"``; ``let``/``const`` may be declared again by a later
        call, like in the DevTools console, and ``await`` works at the top level), or a
        function body with ``return`` statements (``"return document.title"``, the seed's
        style). Promises are awaited. ``NaN``, ``Infinity``, ``-0`` and BigInt results come
        back as ``float``/``int``.

        Raises:
            JavaScriptError: the script threw (message and stack kept; a thrown non-Error
                value, e.g. ``throw 'x'``, is in the message).
            DialogOpenError: a dialog blocks the page.
            InvalidCommand: ``script`` is not a str, or a bad ``timeout``.
        """
        if not isinstance(script, str):
            raise InvalidCommand("script must be a str, got %s" % type(script).__name__)
        timeout = _check_timeout(timeout)
        await_promise = bool(await_promise)
        deadline = _Deadline(timeout)
        if _RETURN_STATEMENT.match(script):
            return self._evaluate(self._as_function(script, await_promise), await_promise, timeout)
        if not _DECLARATION.match(script):
            # The common case, one round trip: an expression, in parentheses so that it can
            # declare nothing in the page's global scope.
            result = self._send_evaluate("(%s\n)" % script, await_promise, timeout)
            details = result.get("exceptionDetails")
            if details is None:
                return _remote_value(result.get("result", {}))
            # It failed. If it is not an expression, nothing ran and it is run as statements
            # below; if it is one, it ran (a promise it returned may have rejected with a
            # SyntaxError, e.g. from JSON.parse) and must never run again. V8 says which:
            # the same expression compiled where it cannot run.
            if not _is_syntax_error(details) or self._compiles(
                "if (false) (%s\n)" % script, deadline.left()
            ):
                raise _js_exception(details)
        # Statements: REPL mode, as in the DevTools console (top-level await, let/const
        # declared again without "already declared" errors).
        return self._evaluate_statements(script, await_promise, deadline)

    @staticmethod
    def _as_function(body: str, await_promise: bool) -> str:
        return "(%sfunction() {\n%s\n})()" % ("async " if await_promise else "", body)

    def _send_evaluate(
        self, expression: str, await_promise: bool, timeout: Optional[float], **extra: Any
    ) -> Dict[str, Any]:
        """``Runtime.evaluate``: its whole answer (``result``, maybe ``exceptionDetails``)."""
        params: Dict[str, Any] = {
            "expression": expression,
            "returnByValue": True,
            "awaitPromise": await_promise,
            "userGesture": True,
        }
        params.update(extra)
        return self.send("Runtime.evaluate", params, timeout=timeout)

    def _evaluate(self, expression: str, await_promise: bool, timeout: Optional[float]) -> Any:
        """The JSON value of ``expression``, or raise the exception it threw."""
        result = self._send_evaluate(expression, await_promise, timeout)
        if "exceptionDetails" in result:
            raise _js_exception(result["exceptionDetails"])
        return _remote_value(result.get("result", {}))

    def _compiles(self, source: str, timeout: Optional[float]) -> bool:
        """Whether V8 compiles ``source``; callers pass code that cannot run (``if (false)``)."""
        result = self._send_evaluate(source, False, timeout)
        return "exceptionDetails" not in result

    def _evaluate_statements(self, script: str, await_promise: bool, deadline: "_Deadline") -> Any:
        """Run ``script`` in REPL mode and return the JSON value of its completion value.

        REPL mode awaits top-level ``await`` but not a promise the script ends with, and
        sends such a promise by value as ``{}``: the result comes back as a remote object,
        then is awaited or read by value.
        """
        result = self._send_evaluate(
            script, await_promise, deadline.left(), replMode=True, returnByValue=False
        )
        details = result.get("exceptionDetails")
        if details is not None:
            if self._is_top_level_return(script, details, deadline):
                # "return ..." deeper in the script: a function body after all. The script
                # did not compile, so nothing of it ran and running it now is its first run.
                body = self._as_function(script, await_promise)
                return self._evaluate(body, await_promise, deadline.left())
            raise _js_exception(details)
        remote: Dict[str, Any] = result.get("result", {})
        object_id = remote.get("objectId")
        if object_id is None:
            return _remote_value(remote)  # a primitive: sent by value anyway
        try:
            if remote.get("subtype") == "promise" and await_promise:
                awaited = self.send(
                    "Runtime.awaitPromise",
                    {"promiseObjectId": object_id, "returnByValue": True},
                    timeout=deadline.left(),
                )
                if "exceptionDetails" in awaited:
                    raise _js_exception(awaited["exceptionDetails"])
                return _remote_value(awaited.get("result", {}))
            return self._call_function_on(
                str(object_id), _VALUE_OF_THIS, [], await_promise=False, timeout=deadline.left()
            )
        finally:
            self._release_quietly(str(object_id))

    def _is_top_level_return(
        self, script: str, details: Dict[str, Any], deadline: "_Deadline"
    ) -> bool:
        """Whether REPL mode refused ``script`` for a ``return`` outside a function.

        Decided from where V8 points (at a ``return`` of the script) and by compiling the
        script again where it cannot run: the same error at the same place means the script
        never compiled, so nothing of it ran. A SyntaxError thrown while it ran (JSON.parse,
        a rejected promise) fails one of the two tests, and the script is never run again.
        """
        if not _is_syntax_error(details):
            return False
        line, column = details.get("lineNumber"), details.get("columnNumber")
        if not isinstance(line, int) or not isinstance(column, int):
            return False
        lines = script.split("\n")
        if not 0 <= line < len(lines) or not _RETURN_WORD.match(lines[line], column):
            return False
        check = self._send_evaluate(
            "if (false) {\n%s\n}" % script, False, deadline.left(), replMode=True
        )
        again = check.get("exceptionDetails") or {}
        return bool(
            _is_syntax_error(again)
            and again.get("lineNumber") == line + 1
            and again.get("columnNumber") == column
        )

    def _release_quietly(self, object_id: str) -> None:
        # Not waited for: the answer tells nothing, and a remote object left behind only
        # lives until the page goes away.
        try:
            self.connection.submit(
                {"method": "Runtime.releaseObject", "params": {"objectId": object_id}}
            )
        except (SyncdpError, OSError) as exc:
            logger.debug("releasing %s: %s", object_id, exc)

    def _call_function_on(
        self,
        object_id: str,
        declaration: str,
        args: List[Any],
        *,
        await_promise: bool = True,
        by_value: bool = True,
        timeout: Optional[float] = 30,
    ) -> Any:
        result = self.send(
            "Runtime.callFunctionOn",
            {
                "objectId": object_id,
                "functionDeclaration": declaration,
                "arguments": [{"value": a} for a in args],
                "returnByValue": by_value,
                "awaitPromise": await_promise,
                "userGesture": True,
            },
            timeout=timeout,
        )
        if "exceptionDetails" in result:
            raise _js_exception(result["exceptionDetails"])
        remote = result.get("result", {})
        return _remote_value(remote) if by_value else remote

    # -- elements ---------------------------------------------------------------------------

    def _document_id(self) -> str:
        result = self.send("Runtime.evaluate", {"expression": "document"})
        return str(result["result"]["objectId"])

    def query(
        self, selector: str, timeout: float = 0, *, _within: Optional[Element] = None
    ) -> Element:
        """The first element matching ``selector`` (CSS, or XPath when it starts with ``/``).

        Args:
            selector: e.g. ``"#login button"`` or ``"//a[text()='Next']"``.
            timeout: seconds to wait for it to appear (0: look once).

        Raises:
            ElementNotFoundError: nothing matched within ``timeout``.
            InvalidCommand: a bad selector, or ``timeout`` not a number >= 0.
        """
        if not isinstance(selector, str) or not selector:
            raise InvalidCommand("selector must be a non-empty string, got %r" % (selector,))
        wait = cast(float, _check_timeout(timeout, allow_none=False, allow_zero=True))
        root = _within.object_id if _within is not None else self._document_id()
        try:
            remote = self._call_function_on(
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
            raise ElementNotFoundError(selector, wait)
        return Element(self, str(remote["objectId"]), str(remote.get("description", "")))

    def query_all(self, selector: str, *, _within: Optional[Element] = None) -> List[Element]:
        """Every element matching ``selector`` (CSS or XPath), in document order."""
        if not isinstance(selector, str) or not selector:
            raise InvalidCommand("selector must be a non-empty string, got %r" % (selector,))
        root = _within.object_id if _within is not None else self._document_id()
        try:
            remote = self._call_function_on(
                root, _QUERY_FN, [selector, _is_xpath(selector), 0, True], by_value=False
            )
        except JavaScriptError as exc:
            raise InvalidCommand("invalid selector %r: %s" % (selector, exc.message)) from exc
        props = self.send(
            "Runtime.getProperties", {"objectId": remote["objectId"], "ownProperties": True}
        )
        items = [p for p in props.get("result", []) if p.get("name", "").isdigit()]
        items.sort(key=lambda p: int(p["name"]))
        return [
            Element(self, str(p["value"]["objectId"]), str(p["value"].get("description", "")))
            for p in items
            if "objectId" in p.get("value", {})
        ]

    # -- captures ---------------------------------------------------------------------------

    def take_screenshot(
        self,
        path: Optional[PathArg] = None,
        *,
        format: str = "png",  # noqa: A002 - the CDP option's name
        quality: Optional[int] = None,
        full_page: bool = False,
        _clip: Optional[Dict[str, float]] = None,
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
        if path is not None:
            check_path(path)
        if format not in ("png", "jpeg", "webp"):
            raise InvalidCommand("format must be 'png', 'jpeg' or 'webp', got %r" % (format,))
        params: Dict[str, Any] = {"format": format}
        if quality is not None:
            if format == "png":
                raise InvalidCommand("quality applies to jpeg and webp only, not png")
            if isinstance(quality, bool) or not isinstance(quality, int) or not 0 <= quality <= 100:
                raise InvalidCommand("quality must be an int from 0 to 100, got %r" % (quality,))
            params["quality"] = quality
        if _clip is not None:
            params["clip"] = _clip
            params["captureBeyondViewport"] = True
        elif full_page:
            metrics = self.send("Page.getLayoutMetrics")
            size = metrics.get("cssContentSize") or metrics["contentSize"]
            params["clip"] = {
                "x": 0,
                "y": 0,
                "width": size["width"],
                "height": size["height"],
                "scale": 1,
            }
            params["captureBeyondViewport"] = True
        data = Screenshot(
            base64.b64decode(self.send("Page.captureScreenshot", params, timeout=60)["data"])
        )
        if path is not None:
            data.save(path)
        return data

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
        if path is not None:
            check_path(path)
        timeout = _check_timeout(timeout)
        params: Dict[str, Any] = {
            "landscape": landscape,
            "printBackground": print_background,
            "scale": scale,
        }
        params.update(options)
        data = Pdf(base64.b64decode(self.send("Page.printToPDF", params, timeout=timeout)["data"]))
        if path is not None:
            data.save(path)
        return data

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
                so a slow callback never holds back other events (the seed's non-blocking
                ``Tab.on``). Order between background calls is then not guaranteed.

        Returns:
            The callback id, for :meth:`remove_callback`.

        Raises:
            InvalidCommand: ``event_name`` is not a non-empty string.
            TargetClosedError: the tab is closed (its events will never come).
        """
        _check_name(event_name, "event_name")
        if not callable(callback):
            raise TypeError("callback must be callable, got %r" % (callback,))
        self._check_open("Tab.on(%r)" % event_name)
        self._load_protocol_quietly()
        if background:
            pool = self._background_pool()
            target = callback

            def callback(event: Dict[str, Any]) -> None:
                pool.submit(_run_background, target, event)

        return self.connection.register_callback(event_name, callback, temporary)

    def _background_pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(4, thread_name_prefix="syncdp-background")
            return self._pool

    def remove_callback(self, callback_id: int) -> bool:
        """Remove a callback registered with :meth:`on`."""
        return self.connection.remove_callback(callback_id)

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
        _check_name(event_name, "event_name")
        timeout = _check_timeout(timeout)
        self._check_open("Tab.expect_event(%r)" % event_name)
        self._prepare()
        return self.connection.expect_event(event_name, predicate, timeout)

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
        _check_name(event_name, "event_name")
        timeout = _check_timeout(timeout)
        self._check_open("Tab.wait_for_event(%r)" % event_name)
        self._prepare()
        return self.connection.wait_for_event(event_name, predicate, timeout)

    # -- network ----------------------------------------------------------------------------

    def enable_network_events(self) -> None:
        """Start recording network requests (``Network.enable``) into :meth:`get_network_logs`."""
        self.send("Network.enable")

    def disable_network_events(self) -> None:
        """Stop recording network requests."""
        self.send("Network.disable")

    def get_network_logs(self, filter: Optional[str] = None) -> List[Dict[str, Any]]:  # noqa: A002
        """``Network.requestWillBeSent`` events seen, optionally those whose URL contains ``filter``."""
        logs = self.connection.network_logs
        if filter is None:
            return logs
        return [
            e for e in logs if filter in str(e.get("params", {}).get("request", {}).get("url", ""))
        ]

    def get_network_response_body(self, request_id: str) -> Union[str, bytes]:
        """The body of a finished response: ``str`` for text, ``bytes`` when base64-encoded."""
        result = self.send("Network.getResponseBody", {"requestId": request_id})
        body = str(result.get("body", ""))
        return base64.b64decode(body) if result.get("base64Encoded") else body

    # -- dialogs ----------------------------------------------------------------------------

    def has_dialog(self) -> bool:
        """Whether a JavaScript dialog (alert, confirm, prompt, beforeunload) is open."""
        return bool(self.connection.dialog)

    def get_dialog_message(self) -> str:
        """The open dialog's message.

        Raises:
            SyncdpError: no dialog is open.
        """
        dialog = self.connection.dialog
        if not dialog:
            raise SyncdpError("no JavaScript dialog is open")
        return str((dialog.get("params") or {}).get("message", ""))

    def handle_dialog(
        self, accept: bool = True, prompt_text: Optional[str] = None, timeout: float = 10
    ) -> None:
        """Accept or dismiss the open dialog (typing ``prompt_text`` into a prompt).

        Raises:
            InvalidCommand: ``accept`` is not a bool, ``prompt_text`` not a str or None, or
                a bad ``timeout``.
            SyncdpError: no dialog is open.
        """
        if not isinstance(accept, bool):
            # bool("no") is True: a truthy string must not accept a dialog by accident.
            raise InvalidCommand("accept must be True or False, got %r" % (accept,))
        if prompt_text is not None and not isinstance(prompt_text, str):
            raise InvalidCommand("prompt_text must be a str or None, got %r" % (prompt_text,))
        timeout = cast(float, _check_timeout(timeout, allow_none=False))
        if not self.connection.dialog:
            raise SyncdpError("no JavaScript dialog is open")
        params: Dict[str, Any] = {"accept": accept}
        if prompt_text is not None:
            params["promptText"] = prompt_text
        with self.connection.expect_event("Page.javascriptDialogClosed", timeout=timeout):
            self.send("Page.handleJavaScriptDialog", params, timeout=timeout)

    def set_dialog_policy(self, policy: Optional[str]) -> None:
        """Answer every dialog automatically: ``"accept"``, ``"dismiss"``, or ``None`` (off)."""
        if policy not in DIALOG_POLICIES:
            raise InvalidCommand(
                "dialog_policy must be None, 'accept' or 'dismiss', got %r" % (policy,)
            )
        if self._dialog_callback is not None:
            self.connection.remove_callback(self._dialog_callback)
            self._dialog_callback = None
        self._dialog_policy = policy
        if policy is not None:
            accept = policy == "accept"
            # Not self: a callback holding the Tab would keep a forgotten Browser alive.
            connection = self.connection

            def answer(event: Dict[str, Any]) -> None:
                params: Dict[str, Any] = {"accept": accept}
                opening = event.get("params") or {}
                if accept and opening.get("type") == "prompt":
                    # Accepting a prompt like a user pressing OK: its default text.
                    params["promptText"] = str(opening.get("defaultPrompt") or "")
                try:
                    connection.send("Page.handleJavaScriptDialog", params, timeout=10)
                except SyncdpError as exc:
                    logger.warning("automatic dialog %s failed: %s", policy, exc)

            self._dialog_callback = self.connection.register_callback(
                "Page.javascriptDialogOpening", answer
            )

    # -- lifecycle --------------------------------------------------------------------------

    def bring_to_front(self) -> None:
        """Activate the tab."""
        self.send("Page.bringToFront")

    def close(self) -> None:
        """Close the tab (its target and its connection). Idempotent."""
        if not self._closed:
            self._closed = True
            conn = self.connection
            if isinstance(conn, ConnectionHandler):
                conn._expect_close()  # the browser drops the page's socket: not a loss
                # What waits on the page's own socket fails as it does with a session.
                reason = "the tab was closed by close()"
                conn.fail_pending(lambda method: TargetClosedError(method, reason))
                conn.fail_waiters(lambda event: TargetClosedError("waiting for " + event, reason))
            try:
                self._browser.connection.send(
                    "Target.closeTarget", {"targetId": self.target_id}, timeout=10
                )
                # closeTarget answers before the target is gone; when close() returns it is
                # gone (no longer listed), so wait for the browser to end our side of it.
                conn._wait_ended_by_peer(5.0)
            except (CommandError, SyncdpError, OSError) as exc:
                logger.debug("closing target %s: %s", self.target_id, exc)
        self._release()

    def _release(self) -> None:
        """Close the connection and the background pool (target untouched)."""
        self.connection.close()
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            in_pool = threading.current_thread().name.startswith("syncdp-background")
            pool.shutdown(wait=not in_pool)
        self._browser._forget_tab(self)

    def __enter__(self) -> "Tab":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _run_background(callback: Callable[..., Any], event: Dict[str, Any]) -> None:
    import asyncio
    import inspect

    try:
        result = callback(event)
        if inspect.isawaitable(result):
            asyncio.run(_await(result))
    except Exception:
        logger.exception("background callback %r raised", callback)


async def _await(awaitable: Any) -> Any:
    return await awaitable
