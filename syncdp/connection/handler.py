"""ConnectionHandler: one websocket to a CDP target, a reader and a dispatcher thread.

::

    caller threads ──execute_command/send/submit──▶ send lock ──▶ websocket
                           ▲ Future                                  │
                           │                                          ▼
                     CommandManager ◀── response ── reader thread (recv, json.loads once)
                                                          │ event
                     EventsHandler.observe ◀──────────────┤ (logs, dialog, waiters)
                                                          ▼
                                         queue ──▶ dispatcher thread ──▶ callbacks, in order

* The reader is the only thread that reads the socket. It never runs user code: it completes
  futures, feeds event waiters and queues events. Its ``finally`` is the one teardown point of
  a socket: it fails every pending command and waiter with ``ConnectionClosedError``.
* The dispatcher is the only thread that runs callbacks. It never completes futures, which is
  why a callback may call ``execute_command`` (and even ``wait_for_event``) without deadlock.
* Sends from any number of threads are serialized by one lock.
"""

from __future__ import annotations

import atexit
import itertools
import json
import logging
import queue
import threading
import time
import weakref
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple, Union
from urllib.parse import urlsplit, urlunsplit

import websocket

from syncdp import discovery
from syncdp._types import WsAddressResolver, WsConnector
from syncdp.connection.commands import CommandFuture, CommandManager
from syncdp.connection.endpoint import EventExpectation, Number, _check_timeout, _Endpoint
from syncdp.connection.events import WAIT_SLICE, cancel_awaitables_on, close_thread_loop
from syncdp.exceptions import (
    ConnectionClosedError,
    InvalidCommand,
    SyncdpError,
    TargetClosedError,
)
from syncdp.transport import (
    OPCODE_BINARY,
    OPCODE_PONG,
    OPCODE_TEXT,
    FrameReader,
    PeerClosed,
    connect_websocket,
    encode_text_frame,
    redact_url,
)

if TYPE_CHECKING:  # pragma: no cover
    from syncdp.connection.session import Session
    from syncdp.protocol import Protocol

__all__ = ["ConnectionHandler", "EventExpectation", "DISCONNECTED_EVENT", "ATTACHED_EVENT"]

logger = logging.getLogger(__name__)
wire_logger = logging.getLogger("syncdp.wire")

DISCONNECTED_EVENT = "Syncdp.disconnected"
"""A synthetic event dispatched once when the connection is lost (not on ``close()``)."""

ATTACHED_EVENT = "Syncdp.attachedToTarget"
"""A synthetic event dispatched on an endpoint with auto-attach on, once per new child
session: ``params`` holds ``session`` (the :class:`Session`), ``targetInfo`` and
``waitingForDebugger``. Callbacks run before the child is resumed, so they can enable
domains (``Runtime.enable`` for a worker's console) without missing its first events."""

_WIRE_LIMIT = 500
_STOP = object()
# One encoder for every command; NaN and Infinity are refused, as they are not JSON.
_encode = json.JSONEncoder(allow_nan=False).encode
_serial = itertools.count(1)
_live: "weakref.WeakSet[ConnectionHandler]" = weakref.WeakSet()


def _truncate(data: Union[str, bytes]) -> str:
    text = data if isinstance(data, str) else data.decode("utf-8", "replace")
    if len(text) > _WIRE_LIMIT:
        return "%s... (%d chars)" % (text[:_WIRE_LIMIT], len(text))
    return text


class _Link:
    """One live websocket and the reader thread that owns its receiving side."""

    def __init__(self, ws: Any, url: str) -> None:
        self.ws = ws
        self.url = url
        self.alive = True
        self.closing = False  # close() asked for it: not a loss
        self.reader: Optional[threading.Thread] = None
        self.ready = True  # False until the enables of a reconnect are replayed
        # The dispatcher queue of this socket's epoch (a lost socket stops its dispatcher).
        self.events: "queue.SimpleQueue[Any]" = queue.SimpleQueue()
        self.send_lock = threading.Lock()
        self.pong = threading.Event()
        sock = getattr(ws, "sock", None)
        # The fast decoder needs websocket-client's raw socket; any other connector's
        # object is read through its own recv().
        self.frames: Optional[FrameReader] = (
            FrameReader(sock) if isinstance(ws, websocket.WebSocket) and sock is not None else None
        )

    def send(self, payload: str) -> None:
        if self.frames is not None:
            # Our own frame encoder on websocket-client's socket (see transport.py).
            frame = encode_text_frame(payload)
            with self.send_lock:
                self.ws.sock.sendall(frame)
        else:
            with self.send_lock:
                self.ws.send(payload)

    def send_ping(self) -> None:
        with self.send_lock:
            self.ws.ping()

    def send_pong(self, payload: bytes) -> None:
        with self.send_lock:
            self.ws.pong(payload)

    def send_close(self) -> None:
        with self.send_lock:
            send_close = getattr(self.ws, "send_close", None)
            if send_close is not None:
                send_close()
            else:
                self.ws.close()

    def abort(self) -> None:
        """Wake a reader blocked in recv at once (shutdown, not close: see STYLE 4)."""
        abort = getattr(self.ws, "abort", None)
        if abort is not None:
            try:
                abort()
            except Exception:  # best effort
                logger.debug("abort failed", exc_info=True)
        else:
            try:
                self.ws.close()
            except Exception:
                logger.debug("close failed", exc_info=True)

    def shutdown(self) -> None:
        """Release the socket (only once the reader is done with it)."""
        shutdown = getattr(self.ws, "shutdown", None)
        try:
            if shutdown is not None:
                shutdown()
            else:
                self.ws.close()
        except Exception:
            logger.debug("socket shutdown failed", exc_info=True)


class ConnectionHandler(_Endpoint):
    """A blocking connection to one CDP target (the browser, or one page).

    Nothing is opened until the first command (or :meth:`connect`). Any number of threads
    may use one handler at once.

    Args:
        connection_port: the DevTools port of a local browser, an ``http://host:port``
            endpoint, or a ``ws://`` / ``wss://`` websocket URL used as is.
        page_id: ``'browser'`` for the browser-level endpoint, or a target id for that
            target's own endpoint (``/devtools/page/<id>`` on the same host and port).
        ws_address_resolver: maps a port to the browser websocket URL (the default asks
            ``http://127.0.0.1:PORT/json/version``). Used for an int port and ``'browser'``.
        ws_connector: opens the websocket: ``ws_connector(url, timeout=...)`` (and
            ``headers=...`` when headers are given).
            Default: :func:`syncdp.transport.connect_websocket`.
        connect_timeout: seconds allowed for discovery plus the handshake.
        headers: extra handshake headers (remote browsers put auth tokens there).
        network_logs_limit: how many ``Network.requestWillBeSent`` events to keep.
        replay_enables: after an automatic reconnection, send again every ``X.enable``
            command that succeeded before (a new socket starts with no domain enabled), and
            ``Target.setDiscoverTargets`` if it was on, so that registered callbacks keep
            receiving their events.
    """

    def __init__(
        self,
        connection_port: Union[int, str],
        page_id: str = "browser",
        ws_address_resolver: WsAddressResolver = discovery.get_browser_ws_address,
        ws_connector: WsConnector = connect_websocket,
        *,
        connect_timeout: float = 10.0,
        headers: Optional[Dict[str, str]] = None,
        network_logs_limit: Optional[int] = 10_000,
        replay_enables: bool = True,
    ) -> None:
        if isinstance(connection_port, bool) or not isinstance(connection_port, (int, str)):
            raise InvalidCommand(
                "connection_port must be a port number or a ws:// / http:// URL, got %r"
                % (connection_port,)
            )
        if isinstance(connection_port, int) and not 0 < connection_port < 65536:
            raise InvalidCommand("connection_port %r is not a TCP port" % (connection_port,))
        if isinstance(connection_port, str):
            scheme = urlsplit(connection_port).scheme
            if connection_port.isdigit():
                connection_port = int(connection_port)
            elif scheme not in ("ws", "wss", "http", "https"):
                raise InvalidCommand(
                    "connection_port must be a port number or a ws://, wss://, http:// or "
                    "https:// URL, got %r" % (connection_port,)
                )
        if not isinstance(page_id, str) or not page_id:
            raise InvalidCommand("page_id must be 'browser' or a target id, got %r" % (page_id,))
        self._connection_port = connection_port
        self._page_id = page_id
        self._ws_address_resolver = ws_address_resolver
        self._ws_connector = ws_connector
        self._connect_timeout = float(_check_timeout(connect_timeout, "connect_timeout") or 10.0)
        self._headers = dict(headers) if headers else None
        super().__init__(network_logs_limit, replay_enables)
        self._root = self
        self._session_id = None
        self._network_logs_limit = network_logs_limit
        self._serial = next(_serial)
        self._command_manager = CommandManager()
        # sessionId -> Session: flattened sessions multiplexed on this socket (see attach()).
        # Read lock-free by the reader; changed under _sessions_lock.
        self._sessions: Dict[str, Session] = {}
        self._sessions_lock = threading.Lock()
        self._install_target_hooks(self)
        # _state_lock serializes connect, reconnect and close; commands never hold it on
        # the hot path (they read self._link, which is replaced, never mutated).
        self._state_lock = threading.RLock()
        self._link: Optional[_Link] = None
        self._dispatcher: Optional[threading.Thread] = None
        self._dispatcher_stopping = False  # told to stop after its socket was lost
        # Dispatchers of lost sockets still finishing their queue (see _start_dispatcher).
        self._draining: List[threading.Thread] = []
        self._events: "queue.SimpleQueue[Any]" = queue.SimpleQueue()
        self._ws_url: Optional[str] = None
        self._connections = 0
        _live.add(self)

    # -- public state ------------------------------------------------------------------------

    @property
    def page_id(self) -> str:
        """The target this handler talks to (``'browser'`` for the browser endpoint)."""
        return self._page_id

    @property
    def connected(self) -> bool:
        """Whether a websocket is open right now."""
        link = self._link
        return link is not None and link.alive

    @property
    def connection_count(self) -> int:
        """How many websockets this handler has opened (1 + automatic reconnections)."""
        return self._connections

    @property
    def ws_url(self) -> Optional[str]:
        """The websocket URL of the current (or last) connection, if any."""
        return self._ws_url

    def __repr__(self) -> str:
        state = "connected" if self.connected else "not connected"
        target = self._ws_url or self._connection_port
        where = redact_url(target) if isinstance(target, str) else repr(target)
        return "<ConnectionHandler %s page_id=%r %s>" % (where, self._page_id, state)

    # -- connecting --------------------------------------------------------------------------

    def connect(self) -> None:
        """Open the connection now instead of on the first command.

        Raises:
            ConnectFailedError: the endpoint cannot be reached or refused the handshake.
        """
        self._ensure_connected()

    def _ensure_link(self, method: Optional[str] = None) -> _Link:
        return self._ensure_connected()

    def _resolve_url(self) -> str:
        target = self._connection_port
        if isinstance(target, int):
            if self._page_id == "browser":
                if self._ws_address_resolver is discovery.get_browser_ws_address:
                    return discovery.get_browser_ws_address(
                        target, timeout=self._connect_timeout, headers=self._headers
                    )
                return self._ws_address_resolver(target)
            return discovery.get_page_ws_address(target, self._page_id)
        parts = urlsplit(target)
        if parts.scheme in ("http", "https"):
            host = parts.hostname or discovery.DEFAULT_HOST
            port = parts.port or (443 if parts.scheme == "https" else 80)
            if self._page_id == "browser":
                url = discovery.get_browser_ws_address(
                    port,
                    host,
                    timeout=self._connect_timeout,
                    headers=self._headers,
                    scheme=parts.scheme,
                )
                if parts.query and "?" not in url:
                    url += "?" + parts.query
                return url
            ws_scheme = "wss" if parts.scheme == "https" else "ws"
            return urlunsplit(
                (ws_scheme, parts.netloc, "/devtools/page/" + self._page_id, parts.query, "")
            )
        if self._page_id == "browser":
            return target
        # A page of the browser behind a ws:// URL: same host, port and query string.
        return urlunsplit(
            (parts.scheme, parts.netloc, "/devtools/page/" + self._page_id, parts.query, "")
        )

    def _ensure_connected(self) -> _Link:
        link = self._link
        if link is not None and link.alive and link.ready:
            return link
        with self._state_lock:
            link = self._link
            if link is not None and link.alive:
                if not link.ready:  # a replay interrupted (Ctrl-C) before it finished
                    self._replay_enabled(link)
                    link.ready = True
                return link
            if link is not None:
                # The old reader's teardown must be over before new commands are
                # registered, or its fail_all could fail them.
                self._join_reader(link)
            url = self._resolve_url()
            if self._headers:
                ws = self._ws_connector(url, timeout=self._connect_timeout, headers=self._headers)
            else:
                ws = self._ws_connector(url, timeout=self._connect_timeout)
            link = _Link(ws, url)
            # Commands wait (on _state_lock) until the X.enable replay is done, and the next
            # one redoes it if it was interrupted.
            link.ready = not (self._connections > 0 and self._replay_enables and self._enabled)
            self._ws_url = url
            self._connections += 1
            reconnect = self._connections > 1
            link.events = self._start_dispatcher()
            reader = threading.Thread(
                target=self._read_loop,
                args=(link,),
                name="syncdp-reader-%d" % self._serial,
                daemon=True,
            )
            link.reader = reader
            reader.start()  # before publishing the link: a live link always has a reader
            self._link = link
            logger.info("%s to %s", "reconnected" if reconnect else "connected", redact_url(url))
            host = urlsplit(url).hostname or ""
            if not reconnect and host and not discovery.is_loopback(host):
                logger.warning(
                    "connected to a browser on %s: the DevTools protocol has no authentication; "
                    "anyone who can reach that port controls the browser",
                    host,
                )
            if not link.ready:
                self._replay_enabled(link)
                link.ready = True
            return link

    def _start_dispatcher(self) -> "queue.SimpleQueue[Any]":
        """The dispatcher queue for a new socket: the running dispatcher's, or a new one.

        A dispatcher ends when its socket is lost (so a handler left unused after a loss
        keeps no thread); the next connection starts a new one, which first waits for the
        old one to finish its queue, so callbacks still run one at a time in wire order.
        """
        previous = self._dispatcher
        if previous is not None and previous.is_alive() and not self._dispatcher_stopping:
            return self._events
        events: "queue.SimpleQueue[Any]" = queue.SimpleQueue()
        if previous is not None and previous.is_alive():
            self._draining = [d for d in self._draining if d.is_alive()] + [previous]
        else:
            previous = None
        dispatcher = threading.Thread(
            target=self._dispatch_loop,
            args=(events, previous),
            name="syncdp-dispatcher-%d" % self._serial,
            daemon=True,
        )
        self._events = events
        self._dispatcher = dispatcher
        self._dispatcher_stopping = False
        dispatcher.start()
        return events

    # -- the two threads ---------------------------------------------------------------------

    def _read_loop(self, link: _Link) -> None:
        code: Optional[int] = None
        reason: Optional[str] = None
        detail = "the connection to the browser was lost"
        resolve = self._command_manager.resolve_command
        observe = self._events_handler.observe
        process = self._events_handler.process_event
        hooks = self._reader_hooks
        sessions = self._sessions
        put = self._events.put
        loads = json.loads
        wire_debug = wire_logger.isEnabledFor
        frames = link.frames
        # Events read from one buffered recv are queued as one batch: one queue hand-off and
        # at most one dispatcher wake-up per read instead of per event.
        batch: List[Any] = []
        queue_event = batch.append if frames is not None else put
        try:
            while True:
                if frames is not None:
                    if batch and not frames.has_buffered_frame():
                        put(batch[:])  # about to block on the socket: hand over what we have
                        batch.clear()
                    opcode, payload = frames.read_message()
                    if opcode != OPCODE_TEXT:
                        if opcode == OPCODE_PONG:
                            link.pong.set()
                        elif opcode == OPCODE_BINARY:
                            logger.warning("skipping a binary frame of %d bytes", len(payload))
                        else:  # ping
                            link.send_pong(payload)
                        continue
                    data: Union[str, bytes] = payload
                else:
                    data = link.ws.recv()
                    if not isinstance(data, str):
                        if data:
                            logger.warning("skipping a binary frame of %d bytes", len(data))
                        continue
                if wire_debug(logging.DEBUG):
                    wire_logger.debug("<- %s", _truncate(data))
                try:
                    message = loads(data)
                except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
                    logger.warning("skipping a message that is not JSON: %s", _truncate(data))
                    continue
                if type(message) is not dict:
                    logger.warning(
                        "skipping a JSON message that is not an object: %s", _truncate(data)
                    )
                    continue
                command_id = message.get("id")
                if command_id is not None:
                    if type(command_id) is int:
                        resolve(command_id, message)
                    else:
                        logger.warning(
                            "skipping an answer with a non-integer id: %s", _truncate(data)
                        )
                    continue
                method = message.get("method")
                if type(method) is not str:
                    logger.warning(
                        "skipping a message with neither id nor method: %s", _truncate(data)
                    )
                    continue
                session_id = message.get("sessionId")
                if session_id is None:
                    found = hooks.get(method) if hooks else None
                    if found:
                        if batch:  # a hook may queue work: keep it behind earlier events
                            put(batch[:])
                            batch.clear()
                        self._run_reader_hooks(found, message)
                    if observe(message):
                        queue_event((process, message))
                    continue
                if type(session_id) is not str:
                    logger.warning(
                        "skipping an event with a non-string sessionId: %s", _truncate(data)
                    )
                    continue
                session = sessions.get(session_id)
                if session is None:
                    logger.debug("dropping %s for unknown session %s", method, session_id)
                    continue
                found = session._reader_hooks.get(method) if session._reader_hooks else None
                if found:
                    if batch:
                        put(batch[:])
                        batch.clear()
                    session._run_reader_hooks(found, message)
                if session._events_handler.observe(message):
                    queue_event((session._events_handler.process_event, message))
        except PeerClosed as exc:
            code, reason, detail = exc.code, exc.reason, exc.detail
            if code is not None:
                # Answer the close handshake (best effort; the peer may already be gone).
                try:
                    link.send_close()
                except Exception:
                    pass
        except websocket.WebSocketConnectionClosedException:
            pass
        except OSError as exc:
            if not link.closing:
                detail = "the connection to the browser was lost (%s)" % exc
        except Exception:
            logger.exception("reader thread failed; closing the connection")
        finally:
            if batch:
                put(batch[:])  # events that arrived before the end are still delivered
            self._teardown(link, code, reason, detail)

    def _teardown(
        self, link: _Link, code: Optional[int], reason: Optional[str], detail: str
    ) -> None:
        """The one teardown point of a socket (reader thread): fail what waits on it."""
        link.alive = False
        message = "the connection was closed by close()" if link.closing else detail

        def make_error(method: Optional[str]) -> ConnectionClosedError:
            return ConnectionClosedError(message, code, reason, method)

        failed = self._command_manager.fail_all(make_error)
        for session in list(self._sessions.values()):
            if session.auto_attached or link.closing:
                session._lost_with_connection(message)
                continue
            session._events_handler.fail_waiters(
                lambda event: ConnectionClosedError(
                    message + " while waiting for " + event, code, reason
                )
            )
        self._events_handler.fail_waiters(
            lambda event: ConnectionClosedError(
                message + " while waiting for " + event, code, reason
            )
        )
        link.shutdown()
        if link.closing:
            logger.info("connection to %s closed", redact_url(link.url))
        else:
            logger.warning(
                "%s (%s; close code %s); %d pending command(s) failed; the next command reconnects",
                detail,
                redact_url(link.url),
                code,
                failed,
            )
            if self._events_handler.has_callbacks(DISCONNECTED_EVENT):
                event = {
                    "method": DISCONNECTED_EVENT,
                    "params": {"code": code, "reason": reason, "detail": detail},
                }
                link.events.put((self._events_handler.process_event, event))
            # The dispatcher ends once it has run what this socket queued; the next
            # connection starts another (see _start_dispatcher).
            self._dispatcher_stopping = True
            link.events.put(_STOP)

    def _dispatch_loop(
        self, events: "queue.SimpleQueue[Any]", previous: Optional[threading.Thread]
    ) -> None:
        # Items are (function, argument): an events handler's process_event and an event
        # (the root's or a session's, all in wire order), or a session announcement.
        try:
            if previous is not None:
                previous.join()  # the lost socket's dispatcher finishes its queue first
            get = events.get
            while True:
                item = get()
                if item is _STOP:
                    return
                if type(item) is list:  # a batch of events from one read, in order
                    for function, argument in item:
                        function(argument)
                    continue
                function, argument = item
                function(argument)
        finally:
            close_thread_loop()

    # -- flattened sessions -----------------------------------------------------------------

    def attach(self, target_id: str, timeout: Optional[Number] = 10) -> "Session":
        """Open a flattened session to ``target_id`` on this socket (``Target.attachToTarget``).

        The session has the same API as a connection but costs no thread and no socket.

        Raises:
            CommandError: no such target (CDP's "No target with given id found").
        """
        from syncdp.connection.session import Session

        if not isinstance(target_id, str) or not target_id:
            raise InvalidCommand("target_id must be a non-empty string, got %r" % (target_id,))
        session_id, info = self._attach_session_id(target_id, _check_timeout(timeout))
        with self._sessions_lock:
            session = self._sessions.get(session_id)
            if session is None:
                session = Session(self, session_id, info, self)
                self._install_target_hooks(session)
                self._sessions[session_id] = session
        return session

    def _attach_session_id(
        self, target_id: str, timeout: Optional[float]
    ) -> Tuple[str, Dict[str, Any]]:
        def for_target(event: Dict[str, Any]) -> bool:
            info = (event.get("params") or {}).get("targetInfo") or {}
            return bool(info.get("targetId") == target_id)

        # Chromium sends Target.attachedToTarget (with the TargetInfo) before the answer.
        with self.expect_event("Target.attachedToTarget", for_target, timeout) as attached:
            result = self.send(
                "Target.attachToTarget", {"targetId": target_id, "flatten": True}, timeout=timeout
            )
        info = dict((attached.value.get("params") or {}).get("targetInfo") or {})
        return str(result["sessionId"]), info

    def _install_target_hooks(self, endpoint: _Endpoint) -> None:
        def attached(event: Dict[str, Any]) -> None:
            self._on_attached(endpoint, event)

        endpoint.add_reader_hook("Target.attachedToTarget", attached)
        endpoint.add_reader_hook("Target.detachedFromTarget", self._on_detached)
        if endpoint is self:
            self.add_reader_hook("Target.targetDestroyed", self._on_target_destroyed)
            self.add_reader_hook("Target.targetCrashed", self._on_target_crashed)
        else:
            session = endpoint

            def crashed(event: Dict[str, Any]) -> None:
                session._crashed()  # type: ignore[attr-defined]

            endpoint.add_reader_hook("Inspector.targetCrashed", crashed)

    # Reader hooks (reader thread): quick, never wait for an answer.

    def _on_attached(self, parent: _Endpoint, event: Dict[str, Any]) -> None:
        from syncdp.connection.session import Session

        if parent._auto_attach is None:
            return  # an explicit attach(): it registers the session itself
        params = event.get("params") or {}
        session_id = params.get("sessionId")
        if not isinstance(session_id, str):
            return
        with self._sessions_lock:
            if session_id in self._sessions:
                return
            child = Session(
                self, session_id, dict(params.get("targetInfo") or {}), parent, auto_attached=True
            )
            self._install_target_hooks(child)
            self._sessions[session_id] = child
        waiting = bool(params.get("waitingForDebugger"))
        self._events.put((self._announce, (parent, child, waiting)))

    def _on_detached(self, event: Dict[str, Any]) -> None:
        params = event.get("params") or {}
        session = self._sessions.get(str(params.get("sessionId")))
        if session is not None:
            target = session.target_id
            session._end(
                lambda method: TargetClosedError(method, "the target %s detached" % target)
            )

    def _on_target_destroyed(self, event: Dict[str, Any]) -> None:
        target = (event.get("params") or {}).get("targetId")
        for session in list(self._sessions.values()):
            if session.target_id == target:
                session._end(
                    lambda method: TargetClosedError(method, "the target %s was destroyed" % target)
                )

    def _on_target_crashed(self, event: Dict[str, Any]) -> None:
        target = (event.get("params") or {}).get("targetId")
        for session in list(self._sessions.values()):
            if session.target_id == target:
                session._crashed()

    # Dispatcher side.

    def _announce(self, item: Tuple[_Endpoint, "Session", bool]) -> None:
        parent, child, waiting = item
        if parent._events_handler.has_callbacks(ATTACHED_EVENT):
            parent._events_handler.process_event(
                {
                    "method": ATTACHED_EVENT,
                    "params": {
                        "session": child,
                        "targetInfo": child.target_info,
                        "waitingForDebugger": waiting,
                    },
                }
            )
        auto = parent._auto_attach
        if auto is not None and not child.detached:
            child._auto_attach = dict(auto)
            try:
                child.send("Target.setAutoAttach", dict(auto))
            except SyncdpError as exc:
                logger.debug("auto-attach below %r not possible: %s", child, exc)
        if waiting and not child.detached:
            try:
                child.send("Runtime.runIfWaitingForDebugger")
            except SyncdpError as exc:
                logger.warning("resuming %r failed: %s", child, exc)

    def _set_auto_attach(self, endpoint: _Endpoint, enabled: bool, wait_for_debugger: bool) -> None:
        params = {
            "autoAttach": bool(enabled),
            "waitForDebuggerOnStart": bool(enabled and wait_for_debugger),
            "flatten": True,
        }
        # Set before sending: the children that exist already are announced at once.
        endpoint._auto_attach = params if enabled else None
        endpoint.send("Target.setAutoAttach", params)

    def _children_of(self, endpoint: _Endpoint) -> List["Session"]:
        return [s for s in list(self._sessions.values()) if s.parent is endpoint and not s.detached]

    def _forget_session(self, session: "Session") -> None:
        with self._sessions_lock:
            if self._sessions.get(str(session._session_id)) is session:
                del self._sessions[str(session._session_id)]

    def _rekey_session(self, session: "Session", old: Optional[str], new: str) -> None:
        with self._sessions_lock:
            if old is not None and self._sessions.get(old) is session:
                del self._sessions[old]
            session._session_id = new
            self._sessions[new] = session

    def _load_protocol(self) -> "Protocol":
        from syncdp.protocol import load_protocol

        endpoint = self._connection_port
        version = None
        if isinstance(endpoint, str) and endpoint.startswith(("ws://", "wss://")):
            # Keys the caches even when the endpoint has no HTTP discovery.
            version = self.send("Browser.getVersion")
        return load_protocol(
            endpoint, headers=self._headers, timeout=self._connect_timeout, version=version
        )

    @property
    def sessions(self) -> List["Session"]:
        """Every live flattened session on this connection."""
        return [s for s in list(self._sessions.values()) if not s.detached]

    # -- sending ------------------------------------------------------------------------------

    def _send_on(
        self, link: _Link, command: Dict[str, Any], session_id: Optional[str] = None
    ) -> Tuple[CommandFuture, int]:
        method = command["method"]
        command_id, future = self._command_manager.create_command_future(method, session_id)
        message = dict(command)
        message["id"] = command_id
        if session_id is not None:
            message["sessionId"] = session_id
        else:
            message.pop("sessionId", None)
        try:
            payload = _encode(message)
        except (TypeError, ValueError) as exc:
            self._command_manager.remove_pending_command(command_id)
            raise InvalidCommand(
                "%s: parameters are not JSON-serializable: %s" % (method, exc)
            ) from exc
        if wire_logger.isEnabledFor(logging.DEBUG):
            wire_logger.debug("-> %s", _truncate(payload))
        try:
            link.send(payload)
        except Exception as exc:
            self._command_manager.remove_pending_command(command_id)
            link.abort()  # let the reader notice and tear down
            raise ConnectionClosedError("sending failed: %s" % (exc,), method=method) from exc
        if not link.alive:
            # Registered after the reader's teardown may have run: fail it here.
            if self._command_manager.remove_pending_command(command_id):
                raise ConnectionClosedError(method=method)
        return future, command_id

    # -- liveness and shutdown ---------------------------------------------------------------

    def ping(self, timeout: Number = 5) -> bool:
        """Whether the browser answers right now (a websocket ping). Never raises."""
        try:
            link = self._ensure_connected()
            if link.frames is None:
                self.execute_command(
                    {"method": "Runtime.evaluate", "params": {"expression": "1"}}, timeout
                )
                return True
            link.pong.clear()
            link.send_ping()
            deadline = time.monotonic() + float(timeout)
            while not link.pong.wait(WAIT_SLICE):
                if not link.alive or time.monotonic() > deadline:
                    return False
            return True
        except (SyncdpError, OSError, websocket.WebSocketException):
            return False

    def _wait_ended_by_peer(self, timeout: float) -> bool:
        link = self._link
        if link is None or link.reader is None:
            return True
        link.reader.join(timeout)  # the reader ends when the browser drops the socket
        return not link.reader.is_alive()

    def _expect_close(self) -> None:
        """The peer is about to close on purpose (``Browser.close``): not a loss.

        The socket's end is then logged at INFO and no disconnected event fires.
        """
        link = self._link
        if link is not None:
            link.closing = True

    def _join_reader(self, link: _Link, timeout: float = 2.0) -> None:
        reader = link.reader
        if reader is None or reader is threading.current_thread():
            return
        reader.join(timeout)
        if reader.is_alive():
            link.abort()
            reader.join(timeout)
            if reader.is_alive():
                logger.warning("reader thread %s did not stop", reader.name)

    def close(self) -> None:
        """Close the connection: idempotent, safe from any thread, also from a callback.

        Clears callbacks, closes the websocket, fails pending commands and waiters with
        ``ConnectionClosedError``, and stops and joins both threads (never the current one).
        The handler can be used again afterwards: like a new one, it connects lazily.
        """
        with self._state_lock:
            self._events_handler.clear_callbacks()
            # _link is dropped only once its reader is joined: a Ctrl-C during the join
            # leaves it for the next close() to finish.
            link = self._link
            if link is not None and link.alive:
                link.closing = True
                try:
                    link.send_close()
                except Exception:
                    link.abort()
            if link is not None:
                self._join_reader(link)
                link.shutdown()
                if self._link is link:
                    self._link = None
            # Sessions kept for a lazy re-attach after a loss end here too.
            for session in list(self._sessions.values()):
                session._lost_with_connection("the connection was closed by close()")
            dispatcher, self._dispatcher = self._dispatcher, None
            self._enabled.clear()
            if dispatcher is not None:
                self._events.put(_STOP)
        draining = [d for d in self._draining if d.is_alive()]
        for thread in draining + ([dispatcher] if dispatcher is not None else []):
            cancel_awaitables_on(thread)
        current = threading.current_thread()
        # Not from a dispatcher of this handler: the newest one waits for the older ones.
        if dispatcher is not None and dispatcher is not current and current not in draining:
            dispatcher.join(10.0)
            if dispatcher.is_alive():
                logger.warning("a callback is still running on %s after close()", dispatcher.name)

    def __enter__(self) -> "ConnectionHandler":
        return self


@atexit.register
def _close_all() -> None:
    """Close every handler still open at interpreter exit (threads joined, sockets closed)."""
    for handler in list(_live):
        try:
            handler.close()
        except Exception:  # pragma: no cover - best effort at exit
            logger.debug("closing %r at exit failed", handler, exc_info=True)
