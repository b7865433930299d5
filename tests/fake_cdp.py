"""A real, scriptable fake Chrome DevTools Protocol endpoint for the tests.

:class:`FakeCDP` is a websocket server (``websockets.sync.server``) bound to
``127.0.0.1`` on an ephemeral port, served from a background thread. Like Chromium it
also answers plain HTTP ``GET`` on the discovery endpoints, through websockets'
``process_request`` hook:

* ``/json/version`` -> ``{"Browser": ..., "Protocol-Version": ..., "webSocketDebuggerUrl":
  "ws://127.0.0.1:PORT/devtools/browser/fake-browser", ...}``
* ``/json/list`` (and ``/json``) -> one page target ``PAGE1``
* ``/json/protocol`` -> a small protocol descriptor

Websocket connections are accepted on ``/devtools/browser/<anything>`` and
``/devtools/page/<id>``; anything else is answered 404. Every accepted connection becomes
a :class:`FakeConn` in :attr:`FakeCDP.conns`, recording the path and the handshake
headers (lower-cased names) it used.

Scripting. Every text frame that parses as a JSON object is appended to
:attr:`FakeCDP.received` (and to the connection's own ``received``) and then:

* methods starting with ``Test.`` run a built-in behaviour (see :data:`BUILTINS` and the
  ``_builtin_*`` functions below), so most tests need no custom code:

  ===================  ==================================================================
  ``Test.noAnswer``    never answers
  ``Test.error``       CDP error ``{"code": -32000, "message": "boom", "data": "extra"}``
  ``Test.events``      ``{"n": N, "method": "X.y"}``: N events ``{"method": "X.y",
                       "params": {"i": i}}``, then the answer ``{"sent": N}``
  ``Test.emit``        ``{"events": [{"method": ..., "params": ...}, ...], "delay": s}``:
                       without ``delay`` the events are sent before the answer; with it
                       the answer comes at once and the events ``s`` seconds later
  ``Test.drop``        drops the TCP connection (no close frame, RST)
  ``Test.close``       clean close frame, code 4001 reason ``"bye"``
  ``Test.big``         ``{"size": n}``: answers ``{"data": "x" * n}``
  ``Test.sleep``       ``{"seconds": s}``: answers ``{"slept": s}`` after ``s`` seconds,
                       from a timer thread (other commands keep being answered)
  ===================  ==================================================================

* everything else goes to :attr:`FakeCDP.handler` ``(conn, message)``. The default
  handler echoes: ``{"id": id, "result": {"method": m, "params": p}}`` (``p`` is ``{}``
  when the command had no params). A custom handler may answer through ``conn.reply`` /
  ``conn.error`` / ``conn.event`` / ``conn.send_raw`` / ``conn.close`` / ``conn.drop``,
  or simply return a value: anything but ``None`` is sent as the command's ``result``.
  A custom handler can fall back to the echo with ``FakeCDP.echo(conn, message)``.

Handlers run on the connection's own thread (one per connection, in arrival order);
:class:`FakeConn` helpers are thread-safe and may also be called from the test thread.

Example::

    with FakeCDP() as fake:
        ws = websocket.create_connection(fake.ws_url)
        ws.send('{"id": 1, "method": "Test.events", "params": {"n": 2, "method": "A.b"}}')
        ...
"""

from __future__ import annotations

import json
import logging
import socket
import struct
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import Server, ServerConnection, serve

__all__ = ["FakeCDP", "FakeConn", "wait_until"]

logger = logging.getLogger("tests.fake_cdp")

BROWSER_ID = "fake-browser"
PAGE_ID = "PAGE1"
PROTOCOL_VERSION = "1.3"
BROWSER_NAME = "FakeChrome/1.0"

PROTOCOL_DESCRIPTOR = {
    "version": {"major": "1", "minor": "3"},
    "domains": [
        {
            "domain": "Browser",
            "commands": [{"name": "getVersion"}, {"name": "close"}],
            "events": [],
        },
        {
            "domain": "Runtime",
            "commands": [{"name": "enable"}, {"name": "evaluate"}],
            "events": [{"name": "consoleAPICalled"}],
        },
    ],
}

Handler = Callable[["FakeConn", Dict[str, Any]], Any]


def wait_until(
    condition: Callable[[], Any], timeout: float = 5.0, interval: float = 0.01, message: str = ""
) -> Any:
    """Poll ``condition`` until it returns something truthy; return that value.

    Raises:
        AssertionError: the condition stayed falsy for ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(message or "condition not met within %gs" % timeout)
        time.sleep(interval)


class FakeConn:
    """One accepted websocket connection, as seen by the server.

    Attributes:
        path: the request path, e.g. ``/devtools/page/PAGE1``.
        headers: the handshake request headers, names lower-cased (``"origin" in
            conn.headers`` tells whether an Origin header was sent).
        received: the JSON commands received on this connection, in order.
        raw_received: every frame received (str or bytes), parsed or not.
        sent: every frame sent to the client (str or bytes), in order.
        closed: set once the connection has ended (either side).
    """

    def __init__(self, fake: "FakeCDP", ws: ServerConnection) -> None:
        self._fake = fake
        self.ws = ws
        self.path: str = ws.request.path if ws.request is not None else ""
        self.headers: Dict[str, str] = {}
        if ws.request is not None:
            for name, value in ws.request.headers.raw_items():
                self.headers[name.lower()] = value
        self.received: List[Dict[str, Any]] = []
        self.raw_received: List[Union[str, bytes]] = []
        self.sent: List[Union[str, bytes]] = []
        self.closed = threading.Event()
        self._send_lock = threading.Lock()

    def __repr__(self) -> str:
        return "<FakeConn %s%s>" % (self.path, " closed" if self.closed.is_set() else "")

    # -- sending ------------------------------------------------------------------------

    def send_raw(self, data: Union[str, bytes]) -> bool:
        """Send one frame as is: ``str`` -> text frame, ``bytes`` -> binary frame.

        Returns:
            False (instead of raising) when the connection is already closed.
        """
        with self._send_lock:
            try:
                self.ws.send(data)
            except ConnectionClosed:
                return False
            self.sent.append(data)
            return True

    def send_json(self, message: Any) -> bool:
        """Send ``message`` serialized as JSON in a text frame."""
        return self.send_raw(json.dumps(message))

    def reply(self, id: Any, result: Any = None, session_id: Optional[str] = None) -> bool:
        """Answer command ``id`` with ``result`` (``{}`` when None)."""
        message: Dict[str, Any] = {"id": id, "result": {} if result is None else result}
        if session_id is not None:
            message["sessionId"] = session_id
        return self.send_json(message)

    def error(self, id: Any, code: int, message: str, data: Any = None) -> bool:
        """Answer command ``id`` with a CDP error response."""
        err: Dict[str, Any] = {"code": code, "message": message}
        if data is not None:
            err["data"] = data
        return self.send_json({"id": id, "error": err})

    def event(self, method: str, params: Any = None) -> bool:
        """Send the event ``{"method": method, "params": params or {}}``."""
        return self.send_json({"method": method, "params": {} if params is None else params})

    # -- closing ------------------------------------------------------------------------

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Send a clean close frame with ``code``/``reason`` and finish the handshake.

        Waits (at most the server's close timeout) for the client's close frame.
        """
        try:
            self.ws.close(code, reason)
        except Exception:  # pragma: no cover - already gone
            logger.debug("close failed", exc_info=True)

    def drop(self) -> None:
        """Kill the TCP connection abruptly: no close frame, the peer sees a reset."""
        sock = self.ws.socket
        try:
            # SO_LINGER on with a 0 timeout: close() discards the buffers and sends RST.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        # close_socket() wakes websockets' own reader thread, which then ends the handler.
        self.ws.close_socket()


class FakeCDP:
    """A scriptable fake CDP endpoint on ``127.0.0.1:<ephemeral port>``.

    Use as a context manager or call :meth:`start` / :meth:`stop`.

    Attributes:
        host: always ``"127.0.0.1"``.
        port: the bound port (valid after :meth:`start`).
        ws_url: the browser websocket endpoint, as ``/json/version`` reports it.
        page_ws_url: the websocket endpoint of the page target ``PAGE1``.
        handler: called as ``handler(conn, message)`` for every non-``Test.*`` command.
        conns: every accepted websocket connection, in order (closed ones too).
        received: every JSON command received, on all connections, in order.
        http_requests: ``(path, headers)`` of every plain HTTP request, headers lower-cased.
        reject_origin: when True, refuse websocket handshakes carrying an Origin header
            with HTTP 403, as Chromium does without ``--remote-allow-origins``.
    """

    host = "127.0.0.1"

    def __init__(self, handler: Optional[Handler] = None, *, close_timeout: float = 1.0) -> None:
        self.handler: Handler = handler if handler is not None else FakeCDP.echo
        self.port = 0
        self.conns: List[FakeConn] = []
        self.received: List[Dict[str, Any]] = []
        self.http_requests: List[Tuple[str, Dict[str, str]]] = []
        self.reject_origin = False
        self._close_timeout = close_timeout
        self._cond = threading.Condition()
        self._server: Optional[Server] = None
        self._thread: Optional[threading.Thread] = None
        self._timers: List[threading.Timer] = []
        self._stopped = False

    # -- lifecycle ----------------------------------------------------------------------

    def __enter__(self) -> "FakeCDP":
        self.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    def start(self) -> "FakeCDP":
        """Bind the port and start serving in a background thread."""
        if self._server is not None:
            return self
        self._server = serve(
            self._serve_connection,
            self.host,
            0,
            process_request=self._process_request,
            compression=None,
            max_size=None,
            max_queue=None,
            ping_interval=None,
            close_timeout=self._close_timeout,
            server_header=BROWSER_NAME,
        )
        self.port = self._server.socket.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, name="fake-cdp-server", daemon=True)
        self._thread.start()
        return self

    def _serve(self) -> None:
        assert self._server is not None
        try:
            self._server.serve_forever()
        except OSError:
            # websockets' serve_forever races a stop() right after start(): the socket can
            # close between its fileno() and the selector's register (EBADF). Stopping anyway.
            if not self._stopped:
                raise

    def stop(self) -> None:
        """Stop accepting, close every connection (code 1001), join the server thread.

        Idempotent. Pending ``Test.sleep`` answers are cancelled.
        """
        if self._stopped or self._server is None:
            self._stopped = True
            return
        self._stopped = True
        with self._cond:
            timers = list(self._timers)
        for timer in timers:
            timer.cancel()
        # websockets >= 15.1: shutdown() also closes open connections (1001) and waits for
        # their handler threads. Older versions only stop accepting: close them ourselves.
        self._server.shutdown()
        closers = [
            threading.Thread(target=conn.close, args=(1001, ""), name="fake-cdp-closer")
            for conn in self.conns
            if not conn.closed.is_set()
        ]
        for closer in closers:
            closer.start()
        for closer in closers:
            closer.join(self._close_timeout + 5)
        for conn in self.conns:
            conn.closed.wait(self._close_timeout + 5)
        for timer in timers:
            timer.join(5)
        if self._thread is not None:
            self._thread.join(5)
        for conn in self.conns:
            conn.closed.set()

    @property
    def ws_url(self) -> str:
        return "ws://%s:%d/devtools/browser/%s" % (self.host, self.port, BROWSER_ID)

    @property
    def page_ws_url(self) -> str:
        return "ws://%s:%d/devtools/page/%s" % (self.host, self.port, PAGE_ID)

    # -- test-side helpers --------------------------------------------------------------

    def wait_for_connections(self, n: int, timeout: float = 5.0) -> List[FakeConn]:
        """Block until at least ``n`` connections were accepted; return :attr:`conns`.

        Raises:
            AssertionError: fewer than ``n`` connections after ``timeout`` seconds.
        """
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.conns) >= n, timeout):
                raise AssertionError(
                    "expected %d connection(s), got %d within %gs" % (n, len(self.conns), timeout)
                )
            return list(self.conns)

    def wait_for_received(
        self, predicate: Callable[[Dict[str, Any]], bool], timeout: float = 5.0
    ) -> Dict[str, Any]:
        """Block until a received command matches ``predicate``; return it."""
        with self._cond:
            found: List[Dict[str, Any]] = []

            def check() -> bool:
                found[:] = [m for m in self.received if predicate(m)]
                return bool(found)

            if not self._cond.wait_for(check, timeout):
                raise AssertionError("no matching command received within %gs" % timeout)
            return found[0]

    def received_methods(self) -> List[str]:
        with self._cond:
            return [m.get("method") for m in self.received]

    def later(self, seconds: float, fn: Callable[..., Any], *args: Any) -> threading.Timer:
        """Run ``fn(*args)`` after ``seconds`` on a timer thread that :meth:`stop` cancels."""
        timer = threading.Timer(seconds, fn, args)
        timer.name = "fake-cdp-timer"
        timer.daemon = True
        with self._cond:
            self._timers.append(timer)
        timer.start()
        return timer

    # -- default behaviour --------------------------------------------------------------

    @staticmethod
    def echo(conn: FakeConn, message: Dict[str, Any]) -> Any:
        """The default handler: ``result = {"method": m, "params": p}``."""
        return {"method": message.get("method"), "params": message.get("params", {})}

    # -- server internals ---------------------------------------------------------------

    def _json_response(self, connection: ServerConnection, status: int, body: Any) -> Any:
        response = connection.respond(status, json.dumps(body, indent=2) + "\n")
        del response.headers["Content-Type"]
        response.headers["Content-Type"] = "application/json; charset=UTF-8"
        return response

    def _process_request(self, connection: ServerConnection, request: Any) -> Any:
        path = request.path.split("?", 1)[0]
        headers = {name.lower(): value for name, value in request.headers.raw_items()}
        if path.startswith("/devtools/browser/") or path.startswith("/devtools/page/"):
            if self.reject_origin and "origin" in headers:
                return connection.respond(403, "Rejected an incoming WebSocket connection")
            return None  # proceed with the websocket handshake
        with self._cond:
            self.http_requests.append((request.path, headers))
        if path == "/json/version":
            return self._json_response(
                connection,
                200,
                {
                    "Browser": BROWSER_NAME,
                    "Protocol-Version": PROTOCOL_VERSION,
                    "User-Agent": "Mozilla/5.0 FakeChrome/1.0",
                    "V8-Version": "0.0",
                    "WebKit-Version": "0.0",
                    "webSocketDebuggerUrl": self.ws_url,
                },
            )
        if path in ("/json/list", "/json"):
            return self._json_response(
                connection,
                200,
                [
                    {
                        "description": "",
                        "devtoolsFrontendUrl": "/devtools/inspector.html?ws=%s:%d/devtools/page/%s"
                        % (self.host, self.port, PAGE_ID),
                        "id": PAGE_ID,
                        "title": "about:blank",
                        "type": "page",
                        "url": "about:blank",
                        "webSocketDebuggerUrl": self.page_ws_url,
                    }
                ],
            )
        if path == "/json/protocol":
            return self._json_response(connection, 200, PROTOCOL_DESCRIPTOR)
        return connection.respond(404, "Unknown path: %s\n" % path)

    def _serve_connection(self, ws: ServerConnection) -> None:
        conn = FakeConn(self, ws)
        with self._cond:
            self.conns.append(conn)
            self._cond.notify_all()
        try:
            while True:
                try:
                    frame = ws.recv()
                except ConnectionClosed:
                    break
                conn.raw_received.append(frame)
                if isinstance(frame, bytes):
                    continue
                try:
                    message = json.loads(frame)
                except ValueError:
                    continue
                if not isinstance(message, dict):
                    continue
                with self._cond:
                    conn.received.append(message)
                    self.received.append(message)
                    self._cond.notify_all()
                try:
                    self._dispatch(conn, message)
                except Exception:
                    logger.exception("fake CDP handler failed on %r", message)
        finally:
            conn.closed.set()

    def _dispatch(self, conn: FakeConn, message: Dict[str, Any]) -> None:
        method = message.get("method")
        if isinstance(method, str) and method.startswith("Test."):
            builtin = BUILTINS.get(method)
            if builtin is not None:
                builtin(self, conn, message)
                return
        result = self.handler(conn, message)
        if result is not None:
            conn.reply(message.get("id"), result, message.get("sessionId"))


def attach_or_detach(conn: "FakeConn", message: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    """Chromium's ``Target.attachToTarget``/``Target.detachFromTarget`` for a handler: the
    event first, then the answer (returned; session ids are ``"S-" + targetId``). None for
    any other method."""
    method = message.get("method")
    params = message.get("params") or {}
    if method == "Target.attachToTarget":
        session_id = "S-" + params["targetId"]
        conn.send_json({"method": "Target.attachedToTarget", "params": {
            "sessionId": session_id, "waitingForDebugger": False,
            "targetInfo": {"targetId": params["targetId"], "type": "page"}}})
        return {"sessionId": session_id}
    if method == "Target.detachFromTarget":
        conn.send_json({"method": "Target.detachedFromTarget",
                        "params": {"sessionId": params["sessionId"]}})
        return {}
    return None


# -- built-in behaviours ---------------------------------------------------------------


def _params(message: Dict[str, Any]) -> Dict[str, Any]:
    params = message.get("params")
    return params if isinstance(params, dict) else {}


def _builtin_no_answer(fake: FakeCDP, conn: FakeConn, message: Dict[str, Any]) -> None:
    pass


def _builtin_error(fake: FakeCDP, conn: FakeConn, message: Dict[str, Any]) -> None:
    conn.error(message.get("id"), -32000, "boom", "extra")


def _builtin_events(fake: FakeCDP, conn: FakeConn, message: Dict[str, Any]) -> None:
    params = _params(message)
    n = int(params.get("n", 1))
    method = params.get("method", "Test.event")
    for i in range(n):
        conn.event(method, {"i": i})
    conn.reply(message.get("id"), {"sent": n})


def _builtin_emit(fake: FakeCDP, conn: FakeConn, message: Dict[str, Any]) -> None:
    params = _params(message)
    events = params.get("events", [])
    delay = params.get("delay")

    def emit() -> None:
        for ev in events:
            conn.event(ev["method"], ev.get("params"))

    if delay is None:
        emit()
        conn.reply(message.get("id"), {"sent": len(events)})
    else:
        conn.reply(message.get("id"), {"sent": len(events)})
        fake.later(float(delay), emit)


def _builtin_drop(fake: FakeCDP, conn: FakeConn, message: Dict[str, Any]) -> None:
    conn.drop()


def _builtin_close(fake: FakeCDP, conn: FakeConn, message: Dict[str, Any]) -> None:
    conn.close(4001, "bye")


def _builtin_big(fake: FakeCDP, conn: FakeConn, message: Dict[str, Any]) -> None:
    size = int(_params(message).get("size", 0))
    conn.reply(message.get("id"), {"data": "x" * size})


def _builtin_sleep(fake: FakeCDP, conn: FakeConn, message: Dict[str, Any]) -> None:
    seconds = float(_params(message).get("seconds", 0))
    fake.later(seconds, conn.reply, message.get("id"), {"slept": seconds})


BUILTINS: Dict[str, Callable[[FakeCDP, FakeConn, Dict[str, Any]], None]] = {
    "Test.noAnswer": _builtin_no_answer,
    "Test.error": _builtin_error,
    "Test.events": _builtin_events,
    "Test.emit": _builtin_emit,
    "Test.drop": _builtin_drop,
    "Test.close": _builtin_close,
    "Test.big": _builtin_big,
    "Test.sleep": _builtin_sleep,
}
