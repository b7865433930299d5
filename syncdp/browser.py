"""Browser (attach to a running one) and Chrome (launch one): tabs, contexts, cookies."""

from __future__ import annotations

import collections
import logging
import ssl
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

from syncdp._types import TransportOpener
from syncdp.connection import ConnectionHandler, Session, forking
from syncdp.connection.endpoint import _Endpoint
from syncdp.discovery import make_ssl_context
from syncdp.exceptions import CommandError, ReplayMismatchError, SyncdpError
from syncdp.page.browser_control import BrowserControl
from syncdp.page.host import TabHost
from syncdp.page.options import (
    TAB_MODES,
    TRANSPORTS,
    check_endpoint,
    check_headers,
    check_options,
    check_transport_mode,
    resolve_pipe,
    resolve_tab_mode,
    warn_deprecated,
)
from syncdp.page.popups import BrowserTabs
from syncdp.page.recorded import MatchFunction, RecordedRun
from syncdp.tab import Tab
from syncdp.transports import redact_url

if TYPE_CHECKING:  # pragma: no cover
    from syncdp.cdp_types import CDP as TypedCDP
    from syncdp.protocol import CDP, Protocol

__all__ = ["Browser", "Chrome", "connect", "TAB_MODES", "TRANSPORTS"]

logger = logging.getLogger(__name__)


class Browser(BrowserControl, BrowserTabs[Tab]):
    """A browser reached over CDP: its tabs, contexts, cookies and browser-level events.

    Use :func:`connect` for a browser that runs already and :class:`Chrome` to launch one.

    Args:
        endpoint: a DevTools port on 127.0.0.1, ``http://host:port`` or a ``ws://`` URL.
        headers: handshake headers for every connection (remote services' auth tokens).
        dialog_policy: default dialog policy of new :class:`Tab` objects.
        connect_timeout: seconds for discovery and each websocket handshake.
        tab_mode: how tabs reach the browser. ``"sessions"`` (default; the
            ``SYNCDP_TAB_MODE`` environment variable overrides the default): every tab is a
            flattened CDP session on the browser's one websocket, served by one reader and
            one dispatcher thread; ``"sockets"``: pydoll's design, each tab its own
            websocket and two threads.
        transport: the old name of ``tab_mode`` (and ``SYNCDP_TRANSPORT`` of
            ``SYNCDP_TAB_MODE``): still accepted with a ``DeprecationWarning`` until 0.2.
        ping_interval, ca_file, ssl_context: every connection's heartbeat and TLS settings,
            as :class:`~syncdp.connection.ConnectionHandler` takes them (docs/remote.md).
        open_transport: for a wire without HTTP discovery (a pipe, a recording), with
            ``endpoint=None``: a :data:`~syncdp._types.TransportOpener`. Tabs are then
            sessions on that wire (``tab_mode="sockets"`` is refused).
        record, record_bodies: record the browser connection into a file (:class:`ConnectionHandler`).

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
        tab_mode: Optional[str] = None,
        transport: Optional[str] = None,
        ping_interval: Optional[float] = None,
        ca_file: Optional[str] = None,
        ssl_context: Optional[ssl.SSLContext] = None,
        open_transport: Optional[TransportOpener] = None,
        record: Optional[str] = None, record_bodies: bool = False,
    ) -> None:
        if endpoint is not None:
            check_endpoint(endpoint)
        checked_headers = check_headers(headers)
        check_options(dialog_policy, connect_timeout)
        self.tab_mode = resolve_tab_mode(tab_mode, transport)
        if open_transport is not None:
            check_transport_mode(endpoint, self.tab_mode)
        recorder = RecordedRun(record, record_bodies, None, None, "params", self.tab_mode).recorder
        # Set by stop(): from then on every method says so instead of reconnecting.
        self._stopped = False
        # Set by Chrome from window_size: headless Chromium keeps part of the window for its
        # own UI (and an infobar when --no-sandbox), so tabs pin their viewport to this.
        self._viewport: Optional[Tuple[int, int]] = None
        self._endpoint: Union[int, str, None] = endpoint
        self._headers = checked_headers
        self._dialog_policy = dialog_policy
        self._connect_timeout = connect_timeout
        # What every ConnectionHandler of this browser gets (the browser's, sockets-mode tabs').
        tls = make_ssl_context(ca_file, ssl_context)
        self._link_options: Dict[str, Any] = {"headers": checked_headers, "connect_timeout": connect_timeout}
        self._link_options.update(ping_interval=ping_interval, ssl_context=tls)
        self._tabs: Dict[str, Tab] = {}
        # Each tab's way to let go of its connection (Tab._release), handed over by the tab.
        self._tab_releases: Dict[str, Callable[[], None]] = {}
        self._tab_host = TabHost(
            connection=lambda: self.connection,
            root=lambda: self._connection,
            open_connection=self._open_tab_connection,
            unusable_reason=lambda: self._unusable_reason() if self._stopped else None,
            viewport=lambda: self._viewport,
            get_protocol=self._get_protocol,
            adopt=self._adopt_tab,
            released=self._forget_tab,
            tab_for=self._tab_for,
        )
        # Targets closed by Tab.close(): the browser may list one for a moment after it.
        self._closed_targets: Deque[str] = collections.deque(maxlen=1024)
        self._tabs_lock = threading.Lock()
        self._connection: Optional[ConnectionHandler] = None
        self._protocol: Optional["Protocol"] = None
        self._protocol_error: Optional[SyncdpError] = None
        self._protocol_lock = threading.Lock()
        self._cdp: Optional["CDP"] = None
        forking.track(self)  # a forked child gets fresh locks (its tabs' too)
        if endpoint is not None or open_transport is not None:
            self._connection = ConnectionHandler(
                endpoint, open_transport=open_transport, record=recorder, **self._link_options
            )
            # One protocol load per browser.
            self._connection.hooks.set_protocol_provider(self._get_protocol)

    # -- basics -----------------------------------------------------------------------------

    @property
    def transport(self) -> str:
        """Deprecated (until 0.2): the old name of :attr:`tab_mode`."""
        warn_deprecated("Browser.transport is deprecated and will be removed in 0.2: use tab_mode")
        return self.tab_mode

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
        connected = self._connection is not None and self._connection.connected
        endpoint = self._endpoint
        return "<%s %r %s, %d tab(s) open here>" % (
            type(self).__name__, redact_url(endpoint) if isinstance(endpoint, str) else endpoint,
            "connected" if connected else "not connected", len(self._tabs))

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
                if self._connection is None:
                    raise SyncdpError("the browser is not started: call start() first")
                from syncdp.protocol import load_browser_protocol, load_transport_protocol

                endpoint, send, timeout = self._endpoint, self._cdp_send, self._connect_timeout
                options = self._link_options  # headers, TLS: as the connections have them
                try:  # no endpoint (a pipe): Browser.getVersion and the caches, no HTTP
                    self._protocol = (
                        load_transport_protocol(send, timeout=timeout)
                        if endpoint is None
                        else load_browser_protocol(
                            endpoint, send, headers=options["headers"], timeout=timeout,
                            ssl_context=options["ssl_context"],
                        )
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

    def _open_tab_connection(self, target_id: str) -> _Endpoint:
        """A new connection to page ``target_id``, as the tab mode says."""
        if self.tab_mode == "sessions":
            # One flattened session on the browser's socket: no thread, no socket.
            session: Session = self.connection.attach(target_id)
            return session
        endpoint = self._endpoint
        if endpoint is None:
            raise SyncdpError("the browser is not started: call start() first")
        # pydoll's design: the page's own websocket (and two threads).
        handler = ConnectionHandler(endpoint, page_id=target_id, **self._link_options)
        # One protocol load per browser serves every tab (syncdp.protocol).
        handler.hooks.set_protocol_provider(self._get_protocol)
        return handler

    def _tab_for(self, target_id: str) -> Tab:
        with self._tabs_lock:
            tab = self._tabs.get(target_id)
            if tab is None or tab.closed:
                tab = Tab(self._tab_host, target_id, dialog_policy=self._dialog_policy)
                self._tabs[target_id] = tab
            return tab

    def _adopt_tab(self, target_id: str, release: Callable[[], None]) -> None:
        self._tab_releases[target_id] = release

    def _forget_tab(self, tab: Tab) -> None:
        with self._tabs_lock:
            if self._tabs.get(tab.target_id) is tab:
                del self._tabs[tab.target_id]
                self._tab_releases.pop(tab.target_id, None)
            if tab.closed:
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
        """The first open page, or a new one when there is none (pydoll's ``get_page``).

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

    # -- lifecycle --------------------------------------------------------------------------

    def _close_connections(self) -> None:
        with self._tabs_lock:
            releases = [self._tab_releases.get(t) for t in self._tabs]
        for release in releases:  # each leaves _tabs once released: a Ctrl-C leaves the rest
            if release is None:
                continue
            try:
                release()
            except Exception:  # pragma: no cover - best effort
                logger.debug("releasing a tab failed", exc_info=True)
        with self._tabs_lock:
            self._tabs.clear()
            self._tab_releases.clear()
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

    def __exit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        try:
            self.stop()
        except ReplayMismatchError as error:  # a replay's commands never sent (Chrome); with
            # another error on its way out, that one is the news (this one its __context__)
            raise error if exc is None else exc  # noqa: B904


def connect(
    endpoint: Union[int, str],
    *,
    headers: Optional[Mapping[str, str]] = None,
    dialog_policy: Optional[str] = None,
    connect_timeout: float = 10.0,
    tab_mode: Optional[str] = None,
    transport: Optional[str] = None,
    ping_interval: Optional[float] = None,
    ca_file: Optional[str] = None,
    ssl_context: Optional[ssl.SSLContext] = None,
    record: Optional[str] = None, record_bodies: bool = False,
) -> Browser:
    """Attach to a running browser by port, ``http(s)://host:port`` or ``ws(s)://`` URL.

    The URL's query string and the headers are kept for every (re)connection and discovery
    request. ``stop()`` on the result only disconnects. ``tab_mode`` (``transport``,
    deprecated), ``record`` and ``record_bodies``: see :class:`Browser`. ``ping_interval``
    (heartbeat: 5 s for another host, off on loopback; 0: off), ``ca_file`` / ``ssl_context``
    (TLS): see docs/remote.md.

    Raises:
        InvalidCommand: an argument has the wrong type or value (the message names it).
        ConnectFailedError: nothing answers there, its TLS certificate is not trusted, or it
            refused the credentials (the message names the HTTP status).
    """
    check_endpoint(endpoint)
    options: Dict[str, Any] = dict(dialog_policy=dialog_policy, connect_timeout=connect_timeout,
                                   record=record, record_bodies=record_bodies)
    options.update(ping_interval=ping_interval, ca_file=ca_file, ssl_context=ssl_context)
    browser = Browser(endpoint, headers=headers, tab_mode=tab_mode, transport=transport, **options)
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
        tab_mode: ``"sessions"`` or ``"sockets"`` (see :class:`Browser`).
        transport: deprecated (until 0.2) name of ``tab_mode``.
        record, record_bodies, replay, replay_speed, replay_match: record the session into a
            file, or replay one launching nothing (docs/testing.md; ``stop()`` checks its end).
        pipe: talk CDP over ``--remote-debugging-pipe``: no TCP port at all (no other local
            process can connect), tabs as sessions; a lost pipe is not reconnected. ``None``:
            the ``SYNCDP_PIPE`` environment variable (``1``/``0``) with the sessions tab mode.

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
        tab_mode: Optional[str] = None,
        transport: Optional[str] = None,
        record: Optional[str] = None, record_bodies: bool = False,
        replay: Optional[str] = None, replay_speed: Optional[float] = None,
        replay_match: Union[str, MatchFunction] = "params",
        pipe: Optional[bool] = None,
    ) -> None:
        from syncdp.launcher import BrowserProcess, LaunchOptions

        # Options are checked before anything is launched: by LaunchOptions, then Browser.
        options = LaunchOptions(  # arguments: checked and made a list there
            binary_location=binary_location, headless=headless, arguments=cast(List[str], arguments),
            user_data_dir=user_data_dir, window_size=window_size, proxy=proxy, start_timeout=start_timeout)
        self._process = BrowserProcess(options)
        self._process_used = False  # start() launches a fresh BrowserProcess after the first
        self._start_lock = threading.Lock()
        # No endpoint before start(): ``connection`` raises a clear error until then.
        super().__init__(None, dialog_policy=dialog_policy, connect_timeout=connect_timeout,
                         tab_mode=tab_mode, transport=transport)
        options.pipe = resolve_pipe(pipe, self.tab_mode)  # a pipe serves the sessions mode only
        self._viewport = options.window_size
        self._run = RecordedRun(record, record_bodies, replay, replay_speed, replay_match, self.tab_mode)

    @property
    def process(self) -> Any:
        """The :class:`syncdp.launcher.BrowserProcess` (pid, port, profile)."""
        return self._process

    @property
    def started(self) -> bool:
        """Whether the browser runs (started and not stopped)."""
        return self._connection is not None and not self._stopped and (
            self._process.is_running() or self._run.replay is not None)

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
            if self.started:
                return self
            if self._process_used:
                from syncdp.launcher import BrowserProcess

                # A process is launched once: finish what an interrupted stop() left, then
                # start over with a new one.
                self._stop_locked(5.0)
                self._process = BrowserProcess(self._process.options)
                self._stopped = False  # until the launch succeeds: "not started"
            self._process_used = True
            if self._run.replay is None:
                self._process.start()  # a replay launches nothing
            try:
                pipe = self._process.pipe if self._run.replay is None else self._run.open_replay()
                self._endpoint = None if pipe is not None else self._process.ws_url
                connection = ConnectionHandler(
                    self._endpoint, record=self._run.recorder, open_transport=pipe,
                    **self._link_options,
                )
                connection.hooks.set_protocol_provider(self._get_protocol)
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
            self._run.finish()  # the recording's end; a replay's commands never sent raise

    def _stop_locked(self, timeout: float) -> None:
        if self._process_used:
            self._stopped = True  # first: other threads get the clear error from now on
        connection = self._connection
        closing = False
        if connection is not None and connection.connected and self._process.owned:
            # (A forked child never closes its parent's browser.)
            # Closing the browser drops every socket: a deliberate end, not a loss.
            connection.hooks.expect_close()
            with self._tabs_lock:
                tab_connections = [t.connection for t in self._tabs.values()]
            for tab_connection in tab_connections:
                if isinstance(tab_connection, ConnectionHandler):
                    tab_connection.hooks.expect_close()
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
