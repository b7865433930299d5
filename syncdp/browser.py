"""Browser (attach to a running one) and Chrome (launch one): tabs, contexts, cookies."""

from __future__ import annotations

import collections
import logging
import os
import re
import threading
from types import TracebackType
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Deque,
    Dict,
    List,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    Type,
    Union,
    cast,
)
from urllib.parse import urlsplit

from syncdp.connection import ConnectionHandler
from syncdp.exceptions import CommandError, InvalidCommand, SyncdpError
from syncdp.tab import DIALOG_POLICIES, Tab
from syncdp.transport import redact_url

if TYPE_CHECKING:  # pragma: no cover
    from syncdp.cdp_types import CDP as TypedCDP
    from syncdp.protocol import CDP, Protocol

__all__ = ["Browser", "Chrome", "connect", "TRANSPORTS"]

TRANSPORTS = ("sessions", "sockets")
DEFAULT_TRANSPORT = "sessions"
"""Chosen by bench/bench_tabs.py (see the README); ``SYNCDP_TRANSPORT`` overrides it."""

logger = logging.getLogger(__name__)

_ENDPOINT_SCHEMES = ("ws", "wss", "http", "https")
# An HTTP header name is an RFC 9110 token.
_HEADER_NAME = re.compile(r"\A[!#$%&'*+.^_`|~0-9A-Za-z-]+\Z")


def _check_endpoint(endpoint: object) -> None:
    """``InvalidCommand`` unless ``endpoint`` is a TCP port or a ws/wss/http/https URL."""
    if isinstance(endpoint, int) and not isinstance(endpoint, bool):
        if 0 < endpoint < 65536:
            return
        raise InvalidCommand("endpoint %r is not a TCP port (1-65535)" % (endpoint,))
    if isinstance(endpoint, str) and (
        (endpoint.isdigit() and 0 < int(endpoint) < 65536)
        or (urlsplit(endpoint).scheme in _ENDPOINT_SCHEMES and "//" in endpoint)
    ):
        return
    raise InvalidCommand(
        "endpoint must be a DevTools port number or a ws://, wss://, http:// or https:// "
        "URL, got %r" % (endpoint,)
    )


def _check_headers(headers: object) -> Optional[Dict[str, str]]:
    """A copy of ``headers`` (``None`` when empty); ``InvalidCommand`` for anything but a
    mapping of header names to ``str`` values, or for line breaks (header injection)."""
    if headers is None:
        return None
    if not isinstance(headers, Mapping):
        raise InvalidCommand(
            "headers must be a dict of header names to values, such as "
            "{'Authorization': 'Bearer ...'}, got %r" % (headers,)
        )
    checked: Dict[str, str] = {}
    for name, value in headers.items():
        if not isinstance(name, str) or not _HEADER_NAME.match(name):
            raise InvalidCommand("headers: %r is not a valid header name" % (name,))
        if not isinstance(value, str) or any(c in value for c in "\r\n\0"):
            raise InvalidCommand(
                "headers[%r] must be a str without line breaks, got %r" % (name, value)
            )
        checked[name] = value
    return checked or None


def _check_options(
    dialog_policy: object, connect_timeout: object, transport: Optional[str]
) -> str:
    """Check the options :class:`Browser` and :class:`Chrome` share; returns the transport."""
    if dialog_policy not in DIALOG_POLICIES:
        raise InvalidCommand(
            "dialog_policy must be None, 'accept' or 'dismiss', got %r" % (dialog_policy,)
        )
    if (
        isinstance(connect_timeout, bool)
        or not isinstance(connect_timeout, (int, float))
        or not connect_timeout > 0
    ):
        raise InvalidCommand(
            "connect_timeout must be a positive number of seconds, got %r" % (connect_timeout,)
        )
    if transport is None:
        transport = os.environ.get("SYNCDP_TRANSPORT") or DEFAULT_TRANSPORT
    if transport not in TRANSPORTS:
        raise InvalidCommand("transport must be one of %s, got %r" % (TRANSPORTS, transport))
    return transport


class Browser:
    """A browser reached over CDP: its tabs, contexts, cookies and browser-level events.

    Use :func:`connect` for a browser that runs already and :class:`Chrome` to launch one.

    Args:
        endpoint: a DevTools port on 127.0.0.1, ``http://host:port`` or a ``ws://`` URL.
        headers: handshake headers for every connection (remote services' auth tokens).
        dialog_policy: default dialog policy of new :class:`Tab` objects.
        connect_timeout: seconds for discovery and each websocket handshake.
        transport: ``"sessions"`` (default; the ``SYNCDP_TRANSPORT`` environment variable
            overrides the default): every tab is a flattened CDP session on the
            browser's one websocket, served by one reader and one dispatcher thread;
            ``"sockets"``: the seed's model, each tab its own websocket and two threads.

    Raises:
        InvalidCommand: an argument has the wrong type or value (the message names it);
            checked here, before anything connects.
    """

    def __init__(
        self,
        endpoint: Union[int, str, None],
        *,
        headers: Optional[Mapping[str, str]] = None,
        dialog_policy: Optional[str] = None,
        connect_timeout: float = 10.0,
        transport: Optional[str] = None,
    ) -> None:
        if endpoint is not None:
            _check_endpoint(endpoint)
        checked_headers = _check_headers(headers)
        transport = _check_options(dialog_policy, connect_timeout, transport)
        self.transport = transport
        # Set by stop(): from then on every method says so instead of reconnecting.
        self._stopped = False
        # Set by Chrome from window_size: headless Chromium keeps part of the window for its
        # own UI (and an infobar when --no-sandbox), so tabs pin their viewport to this.
        self._viewport: Optional[Tuple[int, int]] = None
        self._endpoint: Union[int, str, None] = endpoint
        self._headers = checked_headers
        self._dialog_policy = dialog_policy
        self._connect_timeout = connect_timeout
        self._tabs: Dict[str, Tab] = {}
        # Targets closed by Tab.close(): the browser may list one for a moment after it.
        self._closed_targets: Deque[str] = collections.deque(maxlen=1024)
        self._tabs_lock = threading.Lock()
        self._connection: Optional[ConnectionHandler] = None
        self._protocol: Optional["Protocol"] = None
        self._protocol_error: Optional[SyncdpError] = None
        self._protocol_lock = threading.Lock()
        self._cdp: Optional["CDP"] = None
        if endpoint is not None:
            self._connection = ConnectionHandler(
                endpoint, headers=self._headers, connect_timeout=connect_timeout
            )
            self._connection._protocol_provider = self._get_protocol

    # -- basics -----------------------------------------------------------------------------

    @property
    def connection(self) -> ConnectionHandler:
        """The browser-level connection (``page_id='browser'``).

        Raises:
            SyncdpError: not started yet, or ended by :meth:`stop` (every method that talks
                to the browser raises it then, instead of reconnecting).
        """
        connection = self._connection
        if connection is None or self._stopped:
            raise SyncdpError(self._unusable_reason())
        return connection

    def _unusable_reason(self) -> str:
        if self._stopped:
            return (
                "the browser connection was closed by stop(): use connect() for a new one "
                "(the browser itself keeps running)"
            )
        return "the browser is not started: call start() first"

    def __repr__(self) -> str:
        state = (
            "connected"
            if self._connection is not None and self._connection.connected
            else "not connected"
        )
        endpoint = self._endpoint
        return "<%s %r %s, %d tab(s) open here>" % (
            type(self).__name__,
            redact_url(endpoint) if isinstance(endpoint, str) else endpoint,
            state,
            len(self._tabs),
        )

    def _repr_html_(self) -> str:
        import html

        return "<b>%s</b> %s" % (type(self).__name__, html.escape(repr(self)))

    def send(
        self, method: str, params: Optional[Dict[str, Any]] = None, *, timeout: Optional[float] = 30
    ) -> Dict[str, Any]:
        """Send a browser-level CDP command and return its result."""
        return self.connection.send(method, params, timeout=timeout)

    @property
    def cdp(self) -> "TypedCDP":
        """Typed, validated browser-level CDP: ``browser.cdp.Target.getTargets()``.

        See :attr:`ConnectionHandler.cdp` and :mod:`syncdp.protocol`.
        """
        cdp = self._cdp
        if cdp is None:
            from syncdp.protocol import CDP

            cdp = CDP(self._cdp_send, self._get_protocol, default_timeout=30)
            self._cdp = cdp
        return cast("TypedCDP", cdp)

    def _cdp_send(
        self, method: str, params: Optional[Dict[str, Any]], timeout: Optional[float]
    ) -> Dict[str, Any]:
        return self.send(method, params, timeout=timeout)

    def _get_protocol(self) -> "Protocol":
        """The browser's protocol, loaded once for this browser and all its tabs.

        A failure is remembered too: a browser without a protocol is not asked again.
        """
        with self._protocol_lock:
            if self._protocol is None:
                if self._protocol_error is not None:
                    raise self._protocol_error
                from syncdp.protocol import load_protocol

                endpoint = self._endpoint
                if endpoint is None:
                    raise SyncdpError("the browser is not started: call start() first")
                version = None
                if isinstance(endpoint, str) and endpoint.startswith(("ws://", "wss://")):
                    version = self.send("Browser.getVersion")  # keys the caches without HTTP
                try:
                    self._protocol = load_protocol(
                        endpoint,
                        headers=self._headers,
                        timeout=self._connect_timeout,
                        version=version,
                    )
                except SyncdpError as exc:
                    self._protocol_error = exc
                    raise
            return self._protocol

    def version(self) -> Dict[str, Any]:
        """``Browser.getVersion``: product, protocol version, user agent, JS version."""
        return self.send("Browser.getVersion")

    def on(self, event_name: str, callback: Callable[..., Any], temporary: bool = False) -> int:
        """Register a callback for a browser-level event (``Target.targetCreated``, ...)."""
        return self.connection.register_callback(event_name, callback, temporary)

    def remove_callback(self, callback_id: int) -> bool:
        """Remove a callback registered with :meth:`on`."""
        return self.connection.remove_callback(callback_id)

    # -- tabs -------------------------------------------------------------------------------

    def _tab_for(self, target_id: str) -> Tab:
        with self._tabs_lock:
            tab = self._tabs.get(target_id)
            if tab is None or tab.closed:
                tab = Tab(self, target_id, dialog_policy=self._dialog_policy)
                self._tabs[target_id] = tab
            return tab

    def _forget_tab(self, tab: Tab) -> None:
        with self._tabs_lock:
            if self._tabs.get(tab.target_id) is tab:
                del self._tabs[tab.target_id]
            if tab._closed:
                self._closed_targets.append(tab.target_id)

    def new_tab(
        self, url: Optional[str] = None, *, browser_context_id: Optional[str] = None
    ) -> Tab:
        """Open a new tab (``Target.createTarget``), optionally in an isolated context.

        Args:
            url: loaded in the new tab (without waiting for it; use :meth:`Tab.go_to` to wait).
            browser_context_id: from :meth:`create_browser_context`.
        """
        params: Dict[str, Any] = {"url": url or "about:blank"}
        if browser_context_id is not None:
            params["browserContextId"] = browser_context_id
        target_id = self.send("Target.createTarget", params)["targetId"]
        return self._tab_for(str(target_id))

    def get_opened_tabs(self) -> List[Tab]:
        """Every open page target, as :class:`Tab` objects (the same object per target)."""
        infos = self.send("Target.getTargets")["targetInfos"]
        tabs = []
        for info in infos:
            if info.get("type") != "page" or info.get("targetId") in self._closed_targets:
                continue
            try:
                tabs.append(self._tab_for(str(info["targetId"])))
            except CommandError as exc:  # closed between the listing and the attach
                logger.debug("skipping target %s: %s", info.get("targetId"), exc)
        return tabs

    def get_page(self) -> Tab:
        """The first open page, or a new one when there is none (the seed's ``get_page``).

        Attaches to that one page only, however many the browser has open.
        """
        infos = self.send("Target.getTargets")["targetInfos"]
        for info in infos:
            if info.get("type") != "page" or info.get("targetId") in self._closed_targets:
                continue
            try:
                return self._tab_for(str(info["targetId"]))
            except CommandError as exc:  # closed between the listing and the attach
                logger.debug("skipping target %s: %s", info.get("targetId"), exc)
        return self.new_tab()

    # -- contexts, cookies, downloads -------------------------------------------------------

    def create_browser_context(self, *, proxy_server: Optional[str] = None) -> str:
        """Create an isolated context (own cookies and storage, like an incognito window)."""
        params: Dict[str, Any] = {"disposeOnDetach": True}
        if proxy_server:
            params["proxyServer"] = proxy_server
        return str(self.send("Target.createBrowserContext", params)["browserContextId"])

    def delete_browser_context(self, browser_context_id: str) -> None:
        """Close a context and every tab in it."""
        self.send("Target.disposeBrowserContext", {"browserContextId": browser_context_id})

    def get_cookies(self, *, browser_context_id: Optional[str] = None) -> List[Dict[str, Any]]:
        """All cookies of the default (or the given) context."""
        params = {"browserContextId": browser_context_id} if browser_context_id else {}
        return list(self.send("Storage.getCookies", params)["cookies"])

    def set_cookies(
        self, cookies: Sequence[Dict[str, Any]], *, browser_context_id: Optional[str] = None
    ) -> None:
        """Set cookies (CDP ``CookieParam`` dicts: ``name``, ``value``, ``url`` or ``domain``...)."""
        if isinstance(cookies, dict) or not all(isinstance(c, dict) for c in cookies):
            raise InvalidCommand("cookies must be a list of dicts")
        params: Dict[str, Any] = {"cookies": list(cookies)}
        if browser_context_id:
            params["browserContextId"] = browser_context_id
        self.send("Storage.setCookies", params)

    def delete_all_cookies(self, *, browser_context_id: Optional[str] = None) -> None:
        """Remove every cookie of the default (or the given) context."""
        params = {"browserContextId": browser_context_id} if browser_context_id else {}
        self.send("Storage.clearCookies", params)

    def set_download_path(self, path: str) -> None:
        """Save downloads into ``path`` (created if missing) without asking."""
        path = os.path.abspath(path)
        os.makedirs(path, exist_ok=True)
        self.send(
            "Browser.setDownloadBehavior",
            {"behavior": "allow", "downloadPath": path, "eventsEnabled": True},
        )

    # -- lifecycle --------------------------------------------------------------------------

    def _close_connections(self) -> None:
        with self._tabs_lock:
            tabs = list(self._tabs.values())
        for tab in tabs:  # each leaves _tabs once released: a Ctrl-C leaves the rest listed
            try:
                tab._release()
            except Exception:  # pragma: no cover - best effort
                logger.debug("releasing %r failed", tab, exc_info=True)
        with self._tabs_lock:
            self._tabs.clear()
        if self._connection is not None:
            self._connection.close()

    def stop(self) -> None:
        """Disconnect from the browser (it keeps running: it is not ours to stop).

        Final: afterwards every method raises :class:`SyncdpError` saying so, rather than
        reconnecting; :func:`connect` again for a new connection. Idempotent.
        """
        self._stopped = True
        self._close_connections()

    def __enter__(self) -> "Browser":
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.stop()


def connect(
    endpoint: Union[int, str],
    *,
    headers: Optional[Mapping[str, str]] = None,
    dialog_policy: Optional[str] = None,
    connect_timeout: float = 10.0,
    transport: Optional[str] = None,
) -> Browser:
    """Attach to a running browser by port, ``http://host:port`` or ``ws://`` URL.

    The URL's query string and the headers are kept for every (re)connection. ``stop()``
    on the result only disconnects.

    Raises:
        InvalidCommand: an argument has the wrong type or value (the message names it).
        ConnectFailedError: nothing answers there.
    """
    _check_endpoint(endpoint)
    browser = Browser(
        endpoint,
        headers=headers,
        dialog_policy=dialog_policy,
        connect_timeout=connect_timeout,
        transport=transport,
    )
    browser.connection.connect()
    return browser


class Chrome(Browser):
    """Launch a local Chromium/Chrome and drive it; ``stop()`` ends it with no leftovers.

    ``Chrome()`` starts nothing: call :meth:`start` or use ``with Chrome() as browser:``.

    Args:
        binary_location: the browser executable (default: found automatically).
        headless: run without a window (default True).
        arguments: extra command-line flags.
        user_data_dir: a persistent profile directory (default: a fresh temporary one,
            removed on stop).
        window_size: ``(width, height)`` of the window/viewport.
        proxy: ``--proxy-server`` value.
        start_timeout: seconds allowed for the browser to expose its endpoint.
        dialog_policy: default dialog policy for tabs (``None``, ``"accept"``, ``"dismiss"``).
        transport: ``"sessions"`` or ``"sockets"`` (see :class:`Browser`).

    Raises:
        InvalidCommand: an argument has the wrong type or value (the message names it);
            checked here, before anything is launched.
    """

    def __init__(
        self,
        binary_location: Optional[str] = None,
        *,
        headless: bool = True,
        arguments: Sequence[str] = (),
        user_data_dir: Optional[str] = None,
        window_size: Optional[Tuple[int, int]] = (1280, 720),
        proxy: Optional[str] = None,
        start_timeout: float = 20.0,
        dialog_policy: Optional[str] = None,
        connect_timeout: float = 10.0,
        transport: Optional[str] = None,
    ) -> None:
        from syncdp.launcher import BrowserProcess, LaunchOptions

        # Every option is checked here, before anything is launched (InvalidCommand names
        # the bad one): the launch options by LaunchOptions, the others by Browser.
        options = LaunchOptions(
            binary_location=binary_location,
            headless=headless,
            arguments=cast(List[str], arguments),  # checked and made a list there
            user_data_dir=user_data_dir,
            window_size=window_size,
            proxy=proxy,
            start_timeout=start_timeout,
        )
        self._process = BrowserProcess(options)
        self._process_used = False  # start() launches a fresh BrowserProcess after the first
        self._start_lock = threading.Lock()
        # No endpoint before start(): ``connection`` raises a clear error until then.
        super().__init__(
            None, dialog_policy=dialog_policy, connect_timeout=connect_timeout, transport=transport
        )
        self._viewport = options.window_size

    @property
    def process(self) -> Any:
        """The :class:`syncdp.launcher.BrowserProcess` (pid, port, profile)."""
        return self._process

    @property
    def started(self) -> bool:
        """Whether the browser runs (started and not stopped)."""
        return (
            self._connection is not None and not self._stopped and self._process.is_running()
        )

    def _unusable_reason(self) -> str:
        if self._stopped:
            return "the browser was stopped by stop(): call start() to launch it again"
        return "the browser is not started: call start() first"

    def start(self) -> "Chrome":
        """Launch the browser and connect to it; returns ``self``.

        Does nothing while the browser runs. After :meth:`stop`, a failed start, or the
        browser exiting on its own (killed, crashed), it launches a new browser process,
        with a new temporary profile unless ``user_data_dir`` was given; tabs of the
        previous one are not carried over.

        Raises:
            BrowserNotFoundError: no executable.
            BrowserLaunchError: it did not start (the message has its stderr tail).
        """
        with self._start_lock:
            if self._connection is not None and not self._stopped and self._process.is_running():
                return self
            if self._process_used:
                from syncdp.launcher import BrowserProcess

                # A process is launched once: finish what an interrupted stop() left, then
                # start over with a new one.
                self._stop_locked(5.0)
                self._process = BrowserProcess(self._process.options)
                self._stopped = False  # until the launch succeeds: "not started"
            self._process_used = True
            self._process.start()
            try:
                self._endpoint = self._process.ws_url
                connection = ConnectionHandler(
                    self._endpoint, headers=self._headers, connect_timeout=self._connect_timeout
                )
                connection._protocol_provider = self._get_protocol
                connection.connect()
                self._connection = connection
            except BaseException:
                self._process.stop()
                raise
            return self

    def stop(self, timeout: float = 5.0) -> None:
        """Close the browser: gracefully, then kill its process group; remove a temporary
        profile. Idempotent; :meth:`start` launches a new browser afterwards.

        A ``user_data_dir`` profile keeps what the browser wrote (cookies, storage): it is
        asked to close (``Browser.close``) and given up to ``timeout`` s to exit by itself
        before what is left is killed.

        Interrupted (Ctrl-C), it raises ``KeyboardInterrupt``; calling it again, or the
        garbage collector or interpreter exit, finishes the job.
        """
        with self._start_lock:
            self._stop_locked(timeout)

    def _stop_locked(self, timeout: float) -> None:
        if self._process_used:
            self._stopped = True  # first: other threads get the clear error from now on
        connection = self._connection
        closing = False
        if connection is not None and connection.connected:
            # Closing the browser drops every socket: a deliberate end, not a loss.
            connection._expect_close()
            with self._tabs_lock:
                tab_connections = [t.connection for t in self._tabs.values()]
            for tab_connection in tab_connections:
                if isinstance(tab_connection, ConnectionHandler):
                    tab_connection._expect_close()
            closing = True
            try:
                connection.send("Browser.close", timeout=2)
            except (SyncdpError, OSError):
                pass  # the socket usually drops before the answer
        # Each step below may run again: a stop() interrupted anywhere is finished by the
        # next one (the connection is forgotten only once closed; the process's own
        # shutdown is resumable, see syncdp.launcher).
        self._close_connections()
        self._connection = None
        # closing: the browser writes its profile (cookies) on its way out; the process
        # is only signalled once it has exited or ``timeout`` has passed.
        self._process.stop(timeout, closing=closing)

    def __enter__(self) -> "Chrome":
        return self.start()
