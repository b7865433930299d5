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
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FuturesTimeoutError
from types import TracebackType
from typing import Any, Callable, Dict, List, Optional, Tuple, Type, Union
from urllib.parse import urlsplit, urlunsplit

import websocket

from syncdp import discovery
from syncdp.connection.commands import CommandManager
from syncdp.connection.events import WAIT_SLICE, EventsHandler, EventWaiter, Predicate
from syncdp.exceptions import (
    CommandError,
    CommandTimeoutError,
    ConnectionClosedError,
    InvalidCommand,
    SyncdpError,
)
from syncdp.transport import (
    OPCODE_BINARY,
    OPCODE_PONG,
    OPCODE_TEXT,
    FrameReader,
    PeerClosed,
    connect_websocket,
    redact_url,
)

__all__ = ["ConnectionHandler", "EventExpectation", "DISCONNECTED_EVENT"]

logger = logging.getLogger(__name__)
wire_logger = logging.getLogger("syncdp.wire")

DISCONNECTED_EVENT = "Syncdp.disconnected"
"""A synthetic event dispatched once when the connection is lost (not on ``close()``)."""

_WIRE_LIMIT = 500
_STOP = object()
_serial = itertools.count(1)
_live: "weakref.WeakSet[ConnectionHandler]" = weakref.WeakSet()

Number = Union[int, float]


def _truncate(data: Union[str, bytes]) -> str:
    text = data if isinstance(data, str) else data.decode("utf-8", "replace")
    if len(text) > _WIRE_LIMIT:
        return "%s... (%d chars)" % (text[:_WIRE_LIMIT], len(text))
    return text


def _check_timeout(timeout: Optional[Number], what: str = "timeout") -> Optional[float]:
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise InvalidCommand(
            "%s must be a positive number of seconds or None, got %r" % (what, timeout)
        )
    return float(timeout)


class _Link:
    """One live websocket and the reader thread that owns its receiving side."""

    def __init__(self, ws: Any, url: str) -> None:
        self.ws = ws
        self.url = url
        self.alive = True
        self.closing = False  # close() asked for it: not a loss
        self.reader: Optional[threading.Thread] = None
        self.send_lock = threading.Lock()
        self.pong = threading.Event()
        sock = getattr(ws, "sock", None)
        # The fast decoder needs websocket-client's raw socket; any other connector's
        # object is read through its own recv().
        self.frames: Optional[FrameReader] = (
            FrameReader(sock) if isinstance(ws, websocket.WebSocket) and sock is not None else None
        )

    def send(self, payload: str) -> None:
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


class EventExpectation:
    """The result of :meth:`ConnectionHandler.expect_event`: a context manager.

    The waiter is registered on ``__enter__`` (before the trigger runs) and the wait happens
    on ``__exit__``, so an event that fires while the trigger is still running is not missed.
    ``value`` then holds the first matching event message.
    """

    def __init__(
        self, handler: "ConnectionHandler", waiter: EventWaiter, timeout: Optional[float]
    ) -> None:
        self._handler = handler
        self._waiter = waiter
        self._timeout = timeout
        self._done = False

    @property
    def value(self) -> Dict[str, Any]:
        """The matched event message (``{"method": ..., "params": ...}``).

        Raises:
            RuntimeError: read before the ``with`` block ended.
        """
        if self._waiter.value is None:
            raise RuntimeError("expect_event value is available once the with block has ended")
        return self._waiter.value

    @property
    def timeout(self) -> Optional[float]:
        """Seconds the wait on ``__exit__`` may last (settable inside the block)."""
        return self._timeout

    @timeout.setter
    def timeout(self, value: Optional[float]) -> None:
        self._timeout = _check_timeout(value)

    def cancel(self) -> None:
        """Stop waiting: ``__exit__`` then returns at once and ``value`` stays unset."""
        self._done = True
        self._handler._events_handler.remove_waiter(self._waiter)

    def wait(self) -> Dict[str, Any]:
        """Wait for the event now (also done by ``__exit__``)."""
        try:
            return self._waiter.wait(self._timeout)
        finally:
            self._done = True
            self._handler._events_handler.remove_waiter(self._waiter)

    def __enter__(self) -> "EventExpectation":
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        if exc_type is not None:
            self._handler._events_handler.remove_waiter(self._waiter)
            return
        if not self._done:
            self.wait()


class ConnectionHandler:
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
            command that succeeded before (a new socket starts with no domain enabled), so
            that registered callbacks keep receiving their events.
    """

    def __init__(
        self,
        connection_port: Union[int, str],
        page_id: str = "browser",
        ws_address_resolver: Callable[[int], str] = discovery.get_browser_ws_address,
        ws_connector: Callable[..., Any] = connect_websocket,
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
        self._replay_enables = replay_enables
        self._serial = next(_serial)
        self._command_manager = CommandManager()
        self._events_handler = EventsHandler(network_logs_limit)
        # _state_lock serializes connect, reconnect and close; commands never hold it on
        # the hot path (they read self._link, which is replaced, never mutated).
        self._state_lock = threading.RLock()
        self._link: Optional[_Link] = None
        self._dispatcher: Optional[threading.Thread] = None
        self._events: "queue.SimpleQueue[Any]" = queue.SimpleQueue()
        self._enabled: Dict[str, Dict[str, Any]] = {}
        # event name -> hooks run on the reader thread (library code only; see add_reader_hook)
        self._reader_hooks: Dict[str, Tuple[Callable[[Dict[str, Any]], None], ...]] = {}
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

    @property
    def network_logs(self) -> List[Dict[str, Any]]:
        """The ``Network.requestWillBeSent`` events seen (enable the Network domain first)."""
        return self._events_handler.network_logs

    def clear_network_logs(self) -> None:
        """Forget the recorded network events."""
        self._events_handler.clear_network_logs()

    @property
    def dialog(self) -> Dict[str, Any]:
        """The open JavaScript dialog's ``Page.javascriptDialogOpening`` event, or ``{}``."""
        return self._events_handler.dialog

    @property
    def pending_commands(self) -> int:
        """How many commands are awaiting their answer."""
        return self._command_manager.pending_count

    def __repr__(self) -> str:
        state = "connected" if self.connected else "not connected"
        where = self._ws_url and redact_url(self._ws_url) or repr(self._connection_port)
        return "<ConnectionHandler %s page_id=%r %s>" % (where, self._page_id, state)

    # -- connecting --------------------------------------------------------------------------

    def connect(self) -> None:
        """Open the connection now instead of on the first command.

        Raises:
            ConnectFailedError: the endpoint cannot be reached or refused the handshake.
        """
        self._ensure_connected()

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
        if link is not None and link.alive:
            return link
        with self._state_lock:
            link = self._link
            if link is not None and link.alive:
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
            self._ws_url = url
            self._connections += 1
            reconnect = self._connections > 1
            self._start_dispatcher()
            reader = threading.Thread(
                target=self._read_loop,
                args=(link,),
                name="syncdp-reader-%d" % self._serial,
                daemon=True,
            )
            link.reader = reader
            self._link = link
            reader.start()
            logger.info("%s to %s", "reconnected" if reconnect else "connected", redact_url(url))
            if reconnect and self._replay_enables and self._enabled:
                self._replay(link)
            return link

    def _replay(self, link: _Link) -> None:
        for method, params in list(self._enabled.items()):
            command: Dict[str, Any] = {"method": method}
            if params:
                command["params"] = params
            try:
                future, command_id = self._send_on(link, command)
                response = self._wait(future, command_id, method, self._connect_timeout)
                if "error" in response:
                    logger.warning(
                        "re-sending %s after reconnect failed: %s", method, response["error"]
                    )
            except SyncdpError as exc:
                logger.warning("re-sending %s after reconnect failed: %s", method, exc)

    def _start_dispatcher(self) -> None:
        dispatcher = self._dispatcher
        if dispatcher is not None and dispatcher.is_alive():
            return
        self._events = queue.SimpleQueue()
        dispatcher = threading.Thread(
            target=self._dispatch_loop,
            args=(self._events,),
            name="syncdp-dispatcher-%d" % self._serial,
            daemon=True,
        )
        self._dispatcher = dispatcher
        dispatcher.start()

    # -- the two threads ---------------------------------------------------------------------

    def _read_loop(self, link: _Link) -> None:
        code: Optional[int] = None
        reason: Optional[str] = None
        detail = "the connection to the browser was lost"
        resolve = self._command_manager.resolve_command
        observe = self._events_handler.observe
        hooks = self._reader_hooks
        put = self._events.put
        loads = json.loads
        wire_debug = wire_logger.isEnabledFor
        frames = link.frames
        try:
            while True:
                if frames is not None:
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
                except ValueError:
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
                if hooks:
                    self._run_reader_hooks(hooks.get(method), message)
                if observe(message):
                    put(message)
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
        self._events_handler.fail_waiters(
            lambda event: ConnectionClosedError(message + " while waiting for " + event, code, reason)
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
                self._events.put(
                    {
                        "method": DISCONNECTED_EVENT,
                        "params": {"code": code, "reason": reason, "detail": detail},
                    }
                )

    def _dispatch_loop(self, events: "queue.SimpleQueue[Any]") -> None:
        process = self._events_handler.process_event
        get = events.get
        try:
            while True:
                event = get()
                if event is _STOP:
                    return
                process(event)
        finally:
            self._events_handler.close_loop()

    def _run_reader_hooks(
        self, found: Optional[Tuple[Callable[[Dict[str, Any]], None], ...]], message: Dict[str, Any]
    ) -> None:
        for hook in found or ():
            try:
                hook(message)
            except Exception:
                logger.exception("reader hook %r failed", hook)

    def add_reader_hook(self, event_name: str, hook: Callable[[Dict[str, Any]], None]) -> None:
        """Run ``hook(event)`` on the reader thread, before callbacks and waiters see it.

        For library code that must react before anything else can (failing commands that a
        dialog or a crash will never answer). A hook must be quick and must never send a
        command and wait for it: the reader is the thread that would deliver the answer.
        """
        with self._state_lock:
            self._reader_hooks[event_name] = self._reader_hooks.get(event_name, ()) + (hook,)

    def remove_reader_hook(self, event_name: str, hook: Callable[[Dict[str, Any]], None]) -> None:
        """Remove a hook added by :meth:`add_reader_hook` (no error if absent)."""
        with self._state_lock:
            left = tuple(h for h in self._reader_hooks.get(event_name, ()) if h != hook)
            if left:
                self._reader_hooks[event_name] = left
            else:
                self._reader_hooks.pop(event_name, None)

    def fail_pending(
        self,
        make_error: Callable[[str], BaseException],
        predicate: Optional[Callable[[str], bool]] = None,
    ) -> int:
        """Fail pending commands (those whose method satisfies ``predicate``).

        Each caller raises its own ``make_error(method)`` at once; late answers are dropped.
        Returns how many commands were failed.
        """
        if predicate is None:
            return self._command_manager.fail_all(make_error)
        return self._command_manager.fail_matching(predicate, make_error)

    # -- commands ----------------------------------------------------------------------------

    def _send_on(
        self, link: _Link, command: Dict[str, Any]
    ) -> Tuple["Future[Dict[str, Any]]", int]:
        method = command["method"]
        command_id, future = self._command_manager.create_command_future(method)
        message = dict(command)
        message["id"] = command_id
        try:
            payload = json.dumps(message)
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

    def _wait(
        self,
        future: "Future[Dict[str, Any]]",
        command_id: int,
        method: str,
        timeout: Optional[float],
    ) -> Dict[str, Any]:
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while True:
                if deadline is None:
                    slice_: float = WAIT_SLICE
                else:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise CommandTimeoutError(method, timeout or 0.0)
                    slice_ = remaining if remaining < WAIT_SLICE else WAIT_SLICE
                try:
                    return future.result(slice_)
                except FuturesTimeoutError:
                    continue
        finally:
            if not future.done():
                self._command_manager.remove_pending_command(command_id)

    @staticmethod
    def _validate(command: Any) -> str:
        if not isinstance(command, dict):
            raise InvalidCommand("Command must be a dictionary, got %s" % type(command).__name__)
        method = command.get("method")
        if not isinstance(method, str) or not method:
            raise InvalidCommand(
                "Command must have a non-empty 'method' string, got %r" % (command,)
            )
        params = command.get("params")
        if params is not None and not isinstance(params, dict):
            raise InvalidCommand(
                "%s: 'params' must be a dictionary, got %s" % (method, type(params).__name__)
            )
        return method

    def execute_command(
        self, command: Dict[str, Any], timeout: Optional[Number] = 10
    ) -> Dict[str, Any]:
        """Send a command and block for its whole response (the seed's API).

        The handler assigns the ``id`` (whatever the dict holds), so concurrent callers never
        receive each other's answers; the caller's dict is not modified.

        Args:
            command: ``{"method": ..., "params": {...}}`` (``id`` optional, replaced).
            timeout: seconds to wait for the answer; ``None`` waits forever.

        Returns:
            The full response: ``{"id": ..., "result": {...}}`` or ``{"id": ..., "error": {...}}``.

        Raises:
            InvalidCommand: not a dict, no method, params not a dict or not serializable.
            CommandTimeoutError: no answer in time (also a ``TimeoutError``).
            ConnectionClosedError: the connection was lost while waiting (also a
                ``ConnectionError``); the next command reconnects.
            ConnectFailedError: the browser cannot be reached.
        """
        method = self._validate(command)
        limit = _check_timeout(timeout)
        future, command_id = self._send_on(self._ensure_connected(), command)
        response = self._wait(future, command_id, method, limit)
        if self._replay_enables and method.endswith((".enable", ".disable")):
            self._track_enable(method, command.get("params"), response)
        return response

    def _track_enable(self, method: str, params: Any, response: Dict[str, Any]) -> None:
        if "error" in response:
            return
        domain, _, verb = method.rpartition(".")
        if verb == "enable":
            self._enabled[method] = dict(params or {})
        else:
            self._enabled.pop(domain + ".enable", None)

    def send(
        self,
        method: str,
        params: Optional[Dict[str, Any]] = None,
        *,
        timeout: Optional[Number] = 10,
    ) -> Dict[str, Any]:
        """Send ``method`` with ``params`` and return the ``result`` only.

        Raises:
            CommandError: the browser answered with an error (``code``, ``message``,
                ``data`` and ``method`` are kept).
            InvalidCommand, CommandTimeoutError, ConnectionClosedError, ConnectFailedError:
                as :meth:`execute_command`.
        """
        command: Dict[str, Any] = {"method": method}
        if params is not None:
            command["params"] = params
        response = self.execute_command(command, timeout)
        error = response.get("error")
        if error is not None:
            raise _command_error(method, error)
        result = response.get("result")
        return result if isinstance(result, dict) else {}

    def submit(self, command: Dict[str, Any]) -> "Future[Dict[str, Any]]":
        """Send a command without waiting: pipelining, the sync answer to ``asyncio.gather``.

        Returns:
            A ``concurrent.futures.Future`` completed with the full response, or failed with
            ``ConnectionClosedError`` if the connection is lost first. Cancelling it forgets
            the command (a late answer is dropped).
        """
        self._validate(command)
        future, command_id = self._send_on(self._ensure_connected(), command)
        manager = self._command_manager

        def forget_if_cancelled(done: "Future[Dict[str, Any]]") -> None:
            if done.cancelled():
                manager.remove_pending_command(command_id)

        future.add_done_callback(forget_if_cancelled)
        return future

    # -- events ------------------------------------------------------------------------------

    def register_callback(
        self, event_name: str, callback: Callable[..., Any], temporary: bool = False
    ) -> int:
        """Call ``callback(event_message)`` for every ``event_name`` event.

        Callbacks run on the dispatcher thread, one at a time, in arrival order, and for one
        event in registration order. Coroutine functions are run to completion there too.
        A callback may send commands, wait for events, and register or remove callbacks.

        Args:
            event_name: e.g. ``"Page.loadEventFired"``; :data:`DISCONNECTED_EVENT` for loss.
            callback: a function or coroutine function taking the event message.
            temporary: remove it after its first call.

        Returns:
            The callback id, for :meth:`remove_callback`.
        """
        return self._events_handler.register_callback(event_name, callback, temporary)

    def remove_callback(self, callback_id: int) -> bool:
        """Remove a callback; returns False when no callback had that id."""
        return self._events_handler.remove_callback(callback_id)

    def clear_callbacks(self) -> None:
        """Remove every callback."""
        self._events_handler.clear_callbacks()

    def expect_event(
        self, event_name: str, predicate: Optional[Predicate] = None, timeout: Optional[Number] = 10
    ) -> EventExpectation:
        """Wait for an event caused by code run inside a ``with`` block, race-free::

            with conn.expect_event("Page.loadEventFired") as ev:
                conn.send("Page.navigate", {"url": url})
            print(ev.value["params"])

        Raises (on leaving the block):
            EventTimeoutError: nothing matched in time (also a ``TimeoutError``).
            ConnectionClosedError: the connection was lost meanwhile.
        """
        limit = _check_timeout(timeout)
        waiter = self._events_handler.add_waiter(event_name, predicate)
        return EventExpectation(self, waiter, limit)

    def wait_for_event(
        self, event_name: str, predicate: Optional[Predicate] = None, timeout: Optional[Number] = 10
    ) -> Dict[str, Any]:
        """Block for the next ``event_name`` event (matching ``predicate``, if given).

        Opens the connection if needed (an event can only come over a live socket).
        """
        self._ensure_connected()
        return self.expect_event(event_name, predicate, timeout).wait()

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
            link, self._link = self._link, None
            if link is not None and link.alive:
                link.closing = True
                try:
                    link.send_close()
                except Exception:
                    link.abort()
            if link is not None:
                self._join_reader(link)
                link.shutdown()
            dispatcher, self._dispatcher = self._dispatcher, None
            self._enabled.clear()
            if dispatcher is not None:
                self._events.put(_STOP)
        if dispatcher is not None and dispatcher is not threading.current_thread():
            dispatcher.join(10.0)
            if dispatcher.is_alive():
                logger.warning("a callback is still running on %s after close()", dispatcher.name)

    def __enter__(self) -> "ConnectionHandler":
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()


def _command_error(method: str, error: Any) -> CommandError:
    if isinstance(error, dict):
        code = error.get("code")
        return CommandError(
            method,
            code if isinstance(code, int) else None,
            str(error.get("message", "")),
            error.get("data"),
        )
    return CommandError(method, None, str(error))


@atexit.register
def _close_all() -> None:
    """Close every handler still open at interpreter exit (threads joined, sockets closed)."""
    for handler in list(_live):
        try:
            handler.close()
        except Exception:  # pragma: no cover - best effort at exit
            logger.debug("closing %r at exit failed", handler, exc_info=True)
