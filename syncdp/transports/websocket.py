"""The websocket transport: today's handshake, a fast frame codec, and a wrapper for any
``ws_connector``'s object.

``connect_websocket`` opens a websocket-client ``WebSocket`` the way a DevTools endpoint
wants it: no ``Origin`` header (Chrome 111+ refuses unknown origins with HTTP 403), safe for
multithreaded sends, no UTF-8 re-validation (``json.loads`` validates the text anyway), and
never routed through an ``http_proxy`` from the environment when the host is loopback
(websocket-client 1.9 no longer exempts localhost by itself).

:class:`WebSocketTransport` runs the wire over websocket-client's raw socket: our own frame
encoder for sends, and :class:`FrameReader`, which decodes server frames with one buffered
``recv_into`` for many frames, so :meth:`WebSocketTransport.receive` hands the reader a batch.
:class:`WebSocketClientTransport` wraps any other object a custom ``ws_connector`` returns
(``send`` / ``recv`` / ``close``). :func:`as_transport` picks one.
"""

from __future__ import annotations

import logging
import os
import socket
import ssl
import struct
import threading
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple, Union
from urllib.parse import urlsplit

import websocket

from syncdp._types import Transport
from syncdp.discovery import is_loopback, redact_url
from syncdp.exceptions import ConnectFailedError, SyncdpConnectionError, format_seconds
from syncdp.transports.base import TransportClosed

__all__ = [
    "as_transport", "connect_websocket", "encode_frame", "encode_text_frame", "FrameReader",
    "PeerClosed", "redact_url", "WebSocketClientTransport", "WebSocketTransport",
    "OPCODE_TEXT", "OPCODE_BINARY", "OPCODE_CLOSE", "OPCODE_PING", "OPCODE_PONG",
]

logger = logging.getLogger(__name__)

OPCODE_CONT = 0x0
OPCODE_TEXT = 0x1
OPCODE_BINARY = 0x2
OPCODE_CLOSE = 0x8
OPCODE_PING = 0x9
OPCODE_PONG = 0xA

_BUFSIZE = 256 * 1024
_UNPACK_H = struct.Struct("!H").unpack_from
_UNPACK_Q = struct.Struct("!Q").unpack_from


def connect_websocket(
    url: str,
    *,
    timeout: float = 10.0,
    headers: Optional[Mapping[str, str]] = None,
    ssl_context: Optional[ssl.SSLContext] = None,
) -> websocket.WebSocket:
    """Open a websocket to a DevTools endpoint (the default ``ws_connector``).

    Args:
        url: a ``ws://`` or ``wss://`` URL; its query string is kept.
        timeout: seconds for the TCP connect and the handshake.
        headers: extra handshake headers (e.g. an auth token for a remote browser).
        ssl_context: TLS settings of a ``wss://`` endpoint (its CA); default: the system's.

    Returns:
        A connected websocket-client ``WebSocket`` in blocking mode.

    Raises:
        ConnectFailedError: refused, unreachable, timed out, or the handshake was rejected
            (the message says why and what to do).
    """
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss"):
        raise ConnectFailedError(url, None, "not a ws:// or wss:// URL")
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "wss" else 80)
    options: Dict[str, Any] = {
        "timeout": timeout,
        "suppress_origin": True,
        "enable_multithread": True,
        "skip_utf8_validation": True,
    }
    if headers:
        options["header"] = ["%s: %s" % (k, v) for k, v in headers.items()]
    if ssl_context is not None:
        options["sslopt"] = {"context": ssl_context}
    sock: Optional[socket.socket] = None
    try:
        if is_loopback(host) and parts.scheme == "ws":
            # Connect the TCP socket ourselves: websocket-client then skips its proxy logic.
            sock = socket.create_connection((host, port), timeout=timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            options["socket"] = sock
        ws = websocket.create_connection(url, **options)
    except websocket.WebSocketBadStatusException as exc:
        _close_quietly(sock)
        raise ConnectFailedError(host, port, _bad_status_advice(exc)) from exc
    except (websocket.WebSocketTimeoutException, socket.timeout) as exc:
        _close_quietly(sock)
        raise ConnectFailedError(
            host,
            port,
            "no websocket handshake within %ss (is this a DevTools endpoint?)"
            % format_seconds(timeout),
        ) from exc
    except ssl.SSLCertVerificationError as exc:
        _close_quietly(sock)
        raise ConnectFailedError(
            host,
            port,
            "TLS failed for %s: the server's certificate is not trusted (%s): pass ca_file= "
            "(the CA that signed it) or ssl_context=" % (redact_url(url), exc.verify_message),
        ) from exc
    except (OSError, websocket.WebSocketException) as exc:
        _close_quietly(sock)
        raise ConnectFailedError(host, port, "%s: %s" % (type(exc).__name__, exc)) from exc
    ws.settimeout(None)
    return ws


def _close_quietly(sock: Optional[socket.socket]) -> None:
    if sock is not None:
        try:
            sock.close()
        except OSError:
            pass


def _bad_status_advice(exc: websocket.WebSocketBadStatusException) -> str:
    status = getattr(exc, "status_code", None)
    body = getattr(exc, "resp_body", None) or b""
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    body = str(body).strip()[:300]
    if status == 403:
        return (
            "the browser refused the websocket handshake (HTTP 403%s). Chromium rejects "
            "clients whose Origin header it does not allow: syncdp's default connector sends "
            "none; a custom ws_connector must suppress Origin (websocket-client: "
            "suppress_origin=True), or start the browser with --remote-allow-origins=<origin>"
            % (": " + body if body else "")
        )
    if status == 404:
        return "no such DevTools target (HTTP 404): the tab or browser it named is gone"
    return "websocket handshake failed: HTTP %s %s" % (status, body)


PeerClosed = TransportClosed
"""The old name of :class:`~syncdp.transports.base.TransportClosed` (what FrameReader raises)."""


class FrameReader:
    """Decodes server-to-client websocket frames from a socket, buffered.

    ``read_message()`` returns ``(opcode, payload)`` for each complete text or binary
    message (fragments joined) and for ping/pong control frames; a close frame or EOF
    raises :class:`PeerClosed`.

    With ``on_idle`` (a heartbeat; the socket then has a timeout), a read that times out
    calls ``on_idle(rounds)`` (``rounds``: timeouts in a row since the last byte came in)
    and reads again; ``on_idle`` raises to end the connection.
    """

    def __init__(self, sock: socket.socket, on_idle: Optional[Callable[[int], None]] = None) -> None:
        self._sock = sock
        self._on_idle = on_idle
        self._idle_rounds = 0
        self._buf = bytearray(_BUFSIZE)
        self._view = memoryview(self._buf)
        self._start = 0
        self._end = 0
        self._fragments: List[bytes] = []
        self._fragment_opcode = 0

    def _fill(self, need: int) -> None:
        """Make at least ``need`` bytes available from ``_start``."""
        have = self._end - self._start
        if len(self._buf) - self._start < need:
            if need > len(self._buf):
                # One big message: grow once to fit it (plus room for what follows).
                new = bytearray(need + _BUFSIZE)
                new[:have] = self._view[self._start : self._end]
                self._view.release()
                self._buf = new
                self._view = memoryview(new)
            else:
                self._buf[:have] = self._view[self._start : self._end]
            self._start, self._end = 0, have
        recv_into = self._sock.recv_into
        view = self._view
        while self._end - self._start < need:
            try:
                n = recv_into(view[self._end :])
            except socket.timeout:  # only a heartbeat's socket has a timeout
                if self._on_idle is None:
                    raise
                self._idle_rounds += 1
                self._on_idle(self._idle_rounds)
                continue
            self._idle_rounds = 0
            if not n:
                raise PeerClosed(
                    None, None, "the browser closed the connection without a close frame"
                )
            self._end += n

    def _shrink(self) -> None:
        if len(self._buf) > 4 * _BUFSIZE and self._start == self._end:
            self._view.release()
            self._buf = bytearray(_BUFSIZE)
            self._view = memoryview(self._buf)
            self._start = self._end = 0

    def has_buffered_frame(self) -> bool:
        """Whether a whole frame is already buffered (the next read will not block)."""
        start = self._start
        avail = self._end - start
        if avail < 2:
            return False
        buf = self._buf
        b1 = buf[start + 1]
        length = b1 & 0x7F
        header = 2
        if length == 126:
            if avail < 4:
                return False
            header, length = 4, _UNPACK_H(buf, start + 2)[0]
        elif length == 127:
            if avail < 10:
                return False
            header, length = 10, _UNPACK_Q(buf, start + 2)[0]
        if b1 & 0x80:
            header += 4
        return bool(avail >= header + length)

    def _read_frame(self) -> Tuple[int, bytes]:
        """Block for one whole frame: its first header byte and its (unmasked) payload."""
        if self._end - self._start < 2:
            self._fill(2)
        buf = self._buf
        start = self._start
        b0 = buf[start]
        b1 = buf[start + 1]
        length = b1 & 0x7F
        header = 2
        if length == 126:
            header = 4
            if self._end - start < 4:
                self._fill(4)
                start = self._start
            length = _UNPACK_H(self._buf, start + 2)[0]
        elif length == 127:
            header = 10
            if self._end - start < 10:
                self._fill(10)
                start = self._start
            length = _UNPACK_Q(self._buf, start + 2)[0]
        mask: Optional[bytes] = None
        if b1 & 0x80:  # servers must not mask, but decode it if one does
            if self._end - start < header + 4:
                self._fill(header + 4)
                start = self._start
            mask = bytes(self._buf[start + header : start + header + 4])
            header += 4
        total = header + length
        if self._end - start < total:
            self._fill(total)
            start = self._start
        payload = bytes(self._view[start + header : start + total])
        self._start = start + total
        if self._start == self._end:
            self._start = self._end = 0
            self._shrink()
        if mask is not None:
            payload = _unmask(mask, payload)
        return b0, payload

    def read_message(self) -> Tuple[int, bytes]:
        """Block for the next message (fragments joined) or control frame.

        Raises:
            PeerClosed: a close frame (its code and reason) or the end of the stream.
        """
        while True:
            b0, payload = self._read_frame()
            opcode = b0 & 0x0F
            fin = b0 & 0x80
            if opcode >= 0x8:  # control frames are never fragmented
                if opcode == OPCODE_CLOSE:
                    raise _closed_by_peer(payload)
                return opcode, payload
            if opcode == OPCODE_CONT:
                self._fragments.append(payload)
                if fin:
                    data = b"".join(self._fragments)
                    self._fragments = []
                    return self._fragment_opcode, data
                continue
            if fin:
                return opcode, payload
            self._fragment_opcode = opcode
            self._fragments = [payload]


def _closed_by_peer(payload: bytes) -> TransportClosed:
    code: Optional[int] = None
    reason: Optional[str] = None
    if len(payload) >= 2:
        code = _UNPACK_H(payload, 0)[0]
        reason = payload[2:].decode("utf-8", "replace")
    return TransportClosed(code, reason, "the browser closed the connection")


_PACK_SHORT = struct.Struct("!BB").pack
_PACK_MEDIUM = struct.Struct("!BBH").pack
_PACK_LONG = struct.Struct("!BBQ").pack


def encode_text_frame(text: str) -> bytes:
    """One masked client-to-server text frame for ``text`` (RFC 6455 section 5.2).

    Several times cheaper than building websocket-client's ABNF object per message; the
    mask is random per frame, as the RFC asks of clients.
    """
    return encode_frame(OPCODE_TEXT, text.encode("utf-8"))


def encode_frame(opcode: int, data: bytes) -> bytes:
    """One masked, final client-to-server frame of ``opcode`` (text, ping, pong...)."""
    n = len(data)
    b0 = 0x80 | opcode
    if n < 126:
        header = _PACK_SHORT(b0, 0x80 | n)
    elif n < 65536:
        header = _PACK_MEDIUM(b0, 0xFE, n)
    else:
        header = _PACK_LONG(b0, 0xFF, n)
    mask = _next_mask()
    return header + mask + _unmask(mask, data)


# Masking keys from os.urandom, 1,024 per call: a getrandom call per frame cost ~0.7 us and
# released the GIL (to a waiting reader) on every send. list.pop is atomic: one frame per key.
_masks: List[bytes] = []


def _next_mask() -> bytes:
    while True:
        try:
            return _masks.pop()
        except IndexError:
            pool = os.urandom(4096)
            _masks.extend([pool[i : i + 4] for i in range(0, 4096, 4)])


if hasattr(os, "register_at_fork"):  # a forked child must not reuse the parent's keys
    os.register_at_fork(after_in_child=_masks.clear)


def _unmask(mask: bytes, data: bytes) -> bytes:
    n = len(data)
    key = int.from_bytes((mask * (n // 4 + 1))[:n], "big")
    return (int.from_bytes(data, "big") ^ key).to_bytes(n, "big")


def _skip_binary(size: int) -> None:
    logger.warning("skipping a binary frame of %d bytes", size)


class WebSocketTransport:
    """The wire over websocket-client's raw socket: our frame codec, batched receives.

    ``send`` may be called from any thread (one lock serializes whole frames); ``receive``
    only from the connection's reader thread. Pings from the peer are answered here; pongs
    wake :meth:`ping`.

    Heartbeat (``ping_interval``): a link that dies without a FIN (a cable, a VPN, a
    container host gone) would leave the reader blocked forever. With an interval, the socket
    gets that timeout: after ``ping_interval`` seconds without a byte from the peer the reader
    sends a websocket ping, and after another ``ping_interval`` without one it ends the
    connection (``TransportClosed``): pending commands then fail within ``2 x ping_interval``
    of the last byte heard. No extra thread: the reader's own blocked read is the timer, and
    a busy link (any byte in) sends no pings at all. A send that makes no progress for
    ``ping_interval`` seconds fails too.
    """

    def __init__(self, ws: websocket.WebSocket, ping_interval: Optional[float] = None) -> None:
        self._ws = ws
        sock = ws.sock
        if sock is None:
            raise SyncdpConnectionError("the websocket is not connected")
        self._sock: socket.socket = sock
        self.ping_interval = ping_interval
        self._frames = FrameReader(sock, self._idle if ping_interval else None)
        self._send_lock = threading.Lock()
        self._pong = threading.Event()
        self._ended: Optional[TransportClosed] = None  # raised by the next receive()
        if ping_interval:
            sock.settimeout(ping_interval)

    def send(self, message: str) -> None:
        """Send one text message (any thread)."""
        frame = encode_text_frame(message)
        with self._send_lock:
            self._send_bytes(frame)

    def _send_bytes(self, data: bytes) -> None:
        """Send ``data`` whole (the send lock held). With a heartbeat the socket has a
        timeout: keep going while bytes move, fail once none moved for a whole interval."""
        if not self.ping_interval:
            self._sock.sendall(data)
            return
        view = memoryview(data)
        sent = 0
        while sent < len(view):
            sent += self._sock.send(view[sent:])  # socket.timeout: no progress in an interval

    def _send_control(self, opcode: int, payload: bytes) -> None:
        frame = encode_frame(opcode, payload)
        with self._send_lock:
            self._send_bytes(frame)

    def _idle(self, rounds: int) -> None:
        """The reader heard nothing for ``rounds`` intervals in a row (reader thread)."""
        if rounds >= 2:
            raise TransportClosed(
                None,
                None,
                "the browser did not answer a websocket ping within %ss: the link is down "
                "(heartbeat, ping_interval=%s)"
                % (format_seconds(2 * (self.ping_interval or 0)), format_seconds(self.ping_interval or 0)),
            )
        logger.debug("nothing heard for %ss: pinging the browser", format_seconds(self.ping_interval or 0))
        self._send_control(OPCODE_PING, b"syncdp-heartbeat")

    def receive(self) -> List[Union[str, bytes]]:
        """Block for the next messages: every whole one already buffered, at least one.

        Raises:
            TransportClosed: the peer closed or the socket dropped (the socket is released).
        """
        if self._ended is not None:
            raise self._ended
        frames = self._frames
        messages: List[Union[str, bytes]] = []
        try:
            while not messages or frames.has_buffered_frame():
                opcode, payload = frames.read_message()
                if opcode == OPCODE_TEXT:
                    messages.append(payload)
                else:
                    self._control(opcode, payload)
        except TransportClosed as exc:
            self._end(exc, answer_close=exc.code is not None)
        except OSError as exc:
            self._end(TransportClosed(None, None, "the connection to the browser was lost (%s)" % exc))
        if self._ended is not None and not messages:
            raise self._ended
        return messages

    def _control(self, opcode: int, payload: bytes) -> None:
        if opcode == OPCODE_PONG:
            self._pong.set()
        elif opcode == OPCODE_PING:
            self._send_control(OPCODE_PONG, payload)
        elif opcode == OPCODE_BINARY:
            _skip_binary(len(payload))
        else:
            logger.debug("ignoring a frame with reserved opcode %d", opcode)

    def _end(self, error: TransportClosed, answer_close: bool = False) -> None:
        self._ended = error
        if answer_close:  # answer the close handshake (best effort; the peer may be gone)
            try:
                self.close()
            except Exception:
                pass
        # The reader is done with the socket: release it (only this thread reads it).
        try:
            self._ws.shutdown()  # type: ignore[no-untyped-call]
        except Exception:
            logger.debug("socket shutdown failed", exc_info=True)

    def close(self) -> None:
        """Send a close frame; the peer answers and ``receive`` then raises."""
        with self._send_lock:
            self._ws.send_close()

    def abort(self) -> None:
        """Wake a blocked ``receive`` at once (a socket shutdown; safe from any thread)."""
        try:
            self._ws.abort()  # type: ignore[no-untyped-call]
        except Exception:  # best effort: released already
            logger.debug("abort failed", exc_info=True)

    def ping(self, timeout: float) -> bool:
        """Whether the peer answers a websocket ping within ``timeout`` seconds."""
        self._pong.clear()
        try:
            self._send_control(OPCODE_PING, b"")
        except OSError:
            return False
        # Slices: Ctrl-C lands between them, and a socket that ends stops the wait.
        waited = 0.0
        while not self._pong.wait(0.1):
            waited += 0.1
            if self._ended is not None or waited >= timeout:
                return False
        return True


class WebSocketClientTransport:
    """Any websocket-like object (``send``, ``recv``, ``close``) a custom ``ws_connector``
    returns: one message per ``recv``."""

    def __init__(self, ws: Any) -> None:
        self._ws = ws
        self._send_lock = threading.Lock()

    def send(self, message: str) -> None:
        """Send one text message (any thread; serialized)."""
        with self._send_lock:
            self._ws.send(message)

    def receive(self) -> List[Union[str, bytes]]:
        """Block for the next text message.

        Raises:
            TransportClosed: the connection ended (the object is closed).
        """
        while True:
            try:
                data = self._ws.recv()
            except websocket.WebSocketConnectionClosedException:
                self._release()
                raise TransportClosed(None, None, "the connection to the browser was lost") from None
            except OSError as exc:
                self._release()
                raise TransportClosed(
                    None, None, "the connection to the browser was lost (%s)" % exc
                ) from exc
            if isinstance(data, str):
                return [data]
            if data:
                _skip_binary(len(data))

    def _release(self) -> None:
        release = getattr(self._ws, "shutdown", None) or self._ws.close
        try:
            release()
        except Exception:
            logger.debug("socket shutdown failed", exc_info=True)

    def close(self) -> None:
        """Send a close frame (``send_close``), or close the object if it has none."""
        with self._send_lock:
            send_close = getattr(self._ws, "send_close", None)
            if send_close is not None:
                send_close()
            else:
                self._ws.close()

    def abort(self) -> None:
        """Wake a blocked ``recv`` (``abort()``, or ``close()`` if the object has none)."""
        abort = getattr(self._ws, "abort", None) or self._ws.close
        try:
            abort()
        except Exception:  # best effort
            logger.debug("abort failed", exc_info=True)


def as_transport(connected: Any, ping_interval: Optional[float] = None) -> Transport:
    """The :class:`~syncdp._types.Transport` for what a ``ws_connector`` returned.

    A transport (it has ``receive``) is used as is; websocket-client's ``WebSocket`` gets the
    fast codec on its raw socket, with the heartbeat of ``ping_interval`` seconds (``None``:
    none); anything else with ``send``/``recv``/``close`` is wrapped, without a heartbeat (a
    warning says so when one was asked for).
    """
    if isinstance(connected, websocket.WebSocket) and connected.sock is not None:
        return WebSocketTransport(connected, ping_interval)
    if ping_interval:
        logger.warning(
            "no heartbeat on a %s (ping_interval=%s is for websocket-client's WebSocket): a "
            "dead link is noticed only by command timeouts",
            type(connected).__name__,
            format_seconds(ping_interval),
        )
    if callable(getattr(connected, "receive", None)):
        transport: Transport = connected
        return transport
    return WebSocketClientTransport(connected)
