"""ConnectionHandler: pydoll's connection object, blocking, on any transport.

The handler is the public face; the wire work (lazy connect, reader and dispatcher threads,
send, wait, close) is :class:`~syncdp.connection.core.ConnectionCore`, routing is
:class:`~syncdp.connection.router.Router`, the session table is
:class:`~syncdp.connection.targets.Targets` and what a new socket restores is in
:mod:`syncdp.connection.reconnect`.
"""

from __future__ import annotations

import logging
import math
import os
import ssl
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple, Union
from urllib.parse import urlsplit

from syncdp import discovery
from syncdp._types import Transport, TransportOpener, WsAddressResolver, WsConnector
from syncdp.connection.core import DISCONNECTED_EVENT, ConnectionCore, Link
from syncdp.connection.endpoint import EventExpectation, Number, _Endpoint
from syncdp.connection.router import Route
from syncdp.connection.session import Session
from syncdp.connection.targets import ATTACHED_EVENT, SessionRoute, Targets
from syncdp.connection.validation import check_timeout
from syncdp.exceptions import InvalidCommand, SyncdpError
from syncdp.transports import as_transport, connect_websocket, redact_url
from syncdp.transports.recording import Recorder

if TYPE_CHECKING:  # pragma: no cover
    from syncdp.protocol import Protocol

__all__ = ["ConnectionHandler", "EventExpectation", "DISCONNECTED_EVENT", "ATTACHED_EVENT"]

logger = logging.getLogger(__name__)


def _check_port(connection_port: Any) -> Union[int, str]:
    if isinstance(connection_port, bool) or not isinstance(connection_port, (int, str)):
        raise InvalidCommand(
            "connection_port must be a port number or a ws:// / http:// URL, got %r"
            % (connection_port,)
        )
    if isinstance(connection_port, int) and not 0 < connection_port < 65536:
        raise InvalidCommand("connection_port %r is not a TCP port" % (connection_port,))
    if isinstance(connection_port, str):
        if connection_port.isdigit():
            return int(connection_port)
        if urlsplit(connection_port).scheme not in ("ws", "wss", "http", "https"):
            raise InvalidCommand(
                "connection_port must be a port number or a ws://, wss://, http:// or "
                "https:// URL, got %r" % (connection_port,)
            )
    return connection_port


DEFAULT_PING_INTERVAL = 5.0
"""The heartbeat of connections to other hosts, in seconds (see ``ping_interval``)."""


def _check_ping_interval(value: object) -> Optional[float]:
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < 0
    ):
        raise InvalidCommand(
            "ping_interval must be None (automatic), 0 (off) or a positive number of seconds, "
            "got %r" % (value,)
        )
    return float(value)


class ConnectionHandler(_Endpoint):
    """A blocking connection to one CDP target (the browser, or one page).

    Nothing is opened until the first command (or :meth:`connect`). Any number of threads
    may use one handler at once.

    Args:
        connection_port: the DevTools port of a local browser, an ``http://host:port``
            endpoint, or a ``ws://`` / ``wss://`` websocket URL used as is. ``None`` with
            ``open_transport``.
        page_id: ``'browser'`` for the browser-level endpoint, or a target id for that
            target's own endpoint (``/devtools/page/<id>`` on the same host and port).
        ws_address_resolver: maps a port to the browser websocket URL (the default asks
            ``http://127.0.0.1:PORT/json/version``). Used for an int port and ``'browser'``.
        ws_connector: opens the websocket: ``ws_connector(url, timeout=...)`` (and
            ``headers=...`` when headers are given, ``ssl_context=...`` when TLS settings
            are). It may return websocket-client's
            ``WebSocket``, any object with ``send``/``recv``/``close``, or a
            :class:`~syncdp._types.Transport`. Default:
            :func:`syncdp.transports.connect_websocket`.
        connect_timeout: seconds allowed for discovery plus the handshake.
        headers: extra handshake headers (remote browsers put auth tokens there).
        network_logs_limit: how many ``Network.requestWillBeSent`` events to keep.
        replay_enables: after an automatic reconnection, send again every ``X.enable``
            command that succeeded before (a new socket starts with no domain enabled), and
            ``Target.setDiscoverTargets`` if it was on, so that registered callbacks keep
            receiving their events.
        ping_interval: the heartbeat, in seconds: after that long without a byte from the
            browser a websocket ping is sent, and without an answer for as long again the
            connection is declared lost (pending commands fail with
            ``ConnectionClosedError``; the next command reconnects). ``None`` (default):
            5 s for a browser on another host, off on loopback, where a dead browser always
            closes its socket at once; ``0``: off.
        ca_file: a PEM file of the CA to trust for ``https://`` / ``wss://`` endpoints.
        ssl_context: an ``ssl.SSLContext`` for them instead (not with ``ca_file``).
        record: write every message both ways into this file (JSON lines, redacted; see
            :mod:`syncdp.transports.recording`), or a :class:`~syncdp.transports.recording.Recorder`.
        record_bodies: with ``record``, keep long ``Fetch``/``Network`` bodies (else hashed).
        open_transport: a :data:`~syncdp._types.TransportOpener` for a wire that is not reached by HTTP
            discovery (a ``--remote-debugging-pipe``, a recording): the connection runs on
            what it returns, and ``.cdp`` takes the protocol from ``Browser.getVersion`` plus
            the caches or the pinned descriptor. ``connection_port``, ``ws_address_resolver``,
            ``ws_connector`` and ``headers`` are then not used: give ``connection_port=None``.

    Raises:
        InvalidCommand: a bad ``connection_port`` or ``page_id``; both or neither of
            ``connection_port`` and ``open_transport``.
    """

    def __init__(
        self,
        connection_port: Union[int, str, None],
        page_id: str = "browser",
        ws_address_resolver: WsAddressResolver = discovery.get_browser_ws_address,
        ws_connector: WsConnector = connect_websocket,
        *,
        connect_timeout: float = 10.0,
        headers: Optional[Dict[str, str]] = None,
        network_logs_limit: Optional[int] = 10_000,
        replay_enables: bool = True,
        ping_interval: Optional[float] = None,
        ca_file: Optional[str] = None,
        ssl_context: Optional[ssl.SSLContext] = None,
        record: Union[str, "os.PathLike[str]", Recorder, None] = None,
        record_bodies: bool = False,
        open_transport: Optional[TransportOpener] = None,
    ) -> None:
        if open_transport is None:
            connection_port = _check_port(connection_port)
        elif connection_port is not None:
            raise InvalidCommand(
                "give connection_port or open_transport, not both (got connection_port=%r)"
                % (connection_port,)
            )
        elif not callable(open_transport):
            raise InvalidCommand(
                "open_transport must be a callable returning a Transport, got %r" % (open_transport,)
            )
        self._open_transport_fn = open_transport
        self._ping_interval = _check_ping_interval(ping_interval)
        if open_transport is not None and self._ping_interval:
            raise InvalidCommand(
                "ping_interval is the websocket heartbeat: it does not apply to open_transport "
                "(a pipe ends with its browser; a replay has no link), got %r" % (ping_interval,)
            )
        self._ssl_context = discovery.make_ssl_context(ca_file, ssl_context)
        if not isinstance(page_id, str) or not page_id:
            raise InvalidCommand("page_id must be 'browser' or a target id, got %r" % (page_id,))
        self._connection_port = connection_port
        self._page_id = page_id
        self._ws_address_resolver = ws_address_resolver
        self._ws_connector = ws_connector
        self._connect_timeout = float(check_timeout(connect_timeout, "connect_timeout") or 10.0)
        self._headers = dict(headers) if headers else None
        self._network_logs_limit = network_logs_limit
        self._recorder: Optional[Recorder] = None
        if isinstance(record, Recorder):
            self._recorder = record
        elif record is not None:
            self._recorder = Recorder(record, record_bodies=record_bodies)
        routes: Dict[str, SessionRoute] = {}
        core = ConnectionCore(
            self._open_transport,
            Route(None, network_logs_limit),
            routes,
            self._connect_timeout,
            replay_enables,
        )
        targets = Targets(core, routes, self._child_session, network_logs_limit)
        super().__init__(core, targets, core.root, self._load_protocol)
        core.root.endpoint = self
        self._serial = core.serial  # the number in the thread names

    # -- public state ------------------------------------------------------------------------

    @property
    def page_id(self) -> str:
        """The target this handler talks to (``'browser'`` for the browser endpoint)."""
        return self._page_id

    @property
    def connected(self) -> bool:
        """Whether a connection is open right now."""
        return self._core.connected

    @property
    def connection_count(self) -> int:
        """How many connections this handler has opened (1 + automatic reconnections)."""
        return self._core.connection_count

    @property
    def ws_url(self) -> Optional[str]:
        """The websocket URL of the current (or last) connection, if any."""
        return self._core.url

    @property
    def sessions(self) -> List[Session]:
        """Every live flattened session on this connection."""
        return self._targets.sessions()

    @property
    def child_sessions(self) -> "List[Session]":
        """Live sessions auto-attached below this endpoint (iframes, workers)."""
        return [route.endpoint for route in self._targets.children_of(self._route)]

    @property
    def _link(self) -> Optional[Link]:  # the old attribute; tests drop a socket through it
        return self._core.link

    def __repr__(self) -> str:
        state = "connected" if self.connected else "not connected"
        target = self._core.url or self._connection_port
        where = redact_url(target) if isinstance(target, str) else repr(target)
        return "<ConnectionHandler %s page_id=%r %s>" % (where, self._page_id, state)

    # -- connecting --------------------------------------------------------------------------

    def connect(self) -> None:
        """Open the connection now instead of on the first command.

        Raises:
            ConnectFailedError: the endpoint cannot be reached or refused the handshake.
        """
        self._core.ensure_connected()

    def _ensure_link(self, method: Optional[str] = None) -> Link:
        return self._core.ensure_connected()

    def _open_transport(self) -> Tuple[Transport, str]:
        transport, url = self._open_wire()
        if self._recorder is not None:  # record=: every message both ways into the file
            transport = self._recorder.wrap(transport)
        return transport, url

    def _open_wire(self) -> Tuple[Transport, str]:
        if self._open_transport_fn is not None:
            transport = self._open_transport_fn()
            return transport, str(getattr(transport, "label", None) or type(transport).__name__)
        port = self._connection_port
        if port is None:  # pragma: no cover - __init__ requires one without open_transport
            raise InvalidCommand("connection_port is required without open_transport")
        url = discovery.resolve_ws_url(
            port,
            self._page_id,
            self._ws_address_resolver,
            timeout=self._connect_timeout,
            headers=self._headers,
            ssl_context=self._ssl_context,
        )
        options: Dict[str, Any] = {"timeout": self._connect_timeout}
        if self._headers:
            options["headers"] = self._headers
        if self._ssl_context is not None:
            options["ssl_context"] = self._ssl_context
        connected = self._ws_connector(url, **options)
        host = urlsplit(url).hostname or ""
        remote = bool(host) and not discovery.is_loopback(host)
        if self._core.connection_count == 0 and remote:
            logger.warning(
                "connected to a browser on %s: the DevTools protocol has no authentication; "
                "anyone who can reach that port controls the browser",
                host,
            )
        interval = self._ping_interval
        if interval is None:  # the default: a heartbeat where links can die silently
            interval = DEFAULT_PING_INTERVAL if remote else 0.0
        return as_transport(connected, interval or None), url

    def _load_protocol(self) -> "Protocol":
        from syncdp.protocol import load_browser_protocol, load_transport_protocol

        port = self._connection_port
        if port is None:  # open_transport: Browser.getVersion and the caches, no HTTP
            return load_transport_protocol(self._cdp_send, timeout=self._connect_timeout)
        return load_browser_protocol(
            port,
            self._cdp_send,
            headers=self._headers,
            timeout=self._connect_timeout,
            ssl_context=self._ssl_context,
        )

    # -- flattened sessions -----------------------------------------------------------------

    def attach(self, target_id: str, timeout: Optional[Number] = 10) -> Session:
        """Open a flattened session to ``target_id`` on this socket (``Target.attachToTarget``).

        The session has the same API as a connection but costs no thread and no socket.

        Raises:
            CommandError: no such target (CDP's "No target with given id found").
        """
        if not isinstance(target_id, str) or not target_id:
            raise InvalidCommand("target_id must be a non-empty string, got %r" % (target_id,))
        limit = check_timeout(timeout)
        self._core.ensure_connected()
        session_id, info = self._targets.attach_session_id(target_id, limit)
        route = SessionRoute(
            session_id, info, self._route, self._network_logs_limit, self._core.connection_count
        )
        registered = self._targets.register(route)
        if registered is route:
            return Session(self._core, self._targets, route, self, self._get_protocol)
        session: Session = registered.endpoint
        return session

    def _child_session(self, route: SessionRoute) -> Session:
        return Session(self._core, self._targets, route, route.parent.endpoint, self._get_protocol)

    # -- liveness and shutdown ---------------------------------------------------------------

    def ping(self, timeout: Number = 5) -> bool:
        """Whether the browser answers right now (a websocket ping). Never raises."""
        try:
            return self._core.ping(float(timeout))
        except (SyncdpError, OSError):
            return False

    def wait_closed(self, timeout: Optional[Number] = None) -> bool:
        """Block until the connection ends (lost, or closed from another thread); Ctrl-C
        interrupts the wait. Returns at once when no connection is open.

        Args:
            timeout: seconds to wait at most (0: just tell); ``None`` waits without limit.

        Returns:
            True if it ended, False if ``timeout`` passed first.
        """
        return self._core.wait_closed(check_timeout(timeout, allow_zero=True))

    def close(self) -> None:
        """Close the connection: idempotent, safe from any thread, also from a callback.

        Clears callbacks, closes the websocket, fails pending commands and waiters with
        ``ConnectionClosedError``, and stops and joins both threads (never the current one).
        The handler can be used again afterwards: like a new one, it connects lazily.
        """
        self._core.close()
        if self._recorder is not None:
            self._recorder.close()  # a later connection appends to it
        # Sessions kept for a lazy re-attach after a loss end here too.
        self._targets.end_all("the connection was closed by close()")

    def __enter__(self) -> "ConnectionHandler":
        return self
