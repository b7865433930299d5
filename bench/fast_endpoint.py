"""A fast loopback CDP-like websocket endpoint, run in its own process by the benchmarks.

It measures the *client*: every command is answered at once with a pre-encoded answer, so
what a client adds over the bare websocket-client loop is what is left. Single-threaded,
non-blocking, one ``selectors`` loop; every client frame read in one ``recv`` is answered in
one ``send``.

Methods it knows (anything else gets the ``Runtime.evaluate("1+1")`` answer):

* ``Bench.flood`` ``{"count": N}``: N pre-encoded ``Runtime.consoleAPICalled`` events, then
  the answer, all in one write (the frames are built once per N and cached).
* ``Bench.noreply``: never answered (for timeouts on purpose).
* ``Bench.big`` ``{"size": N}``: answered with a ``result.result.value`` string of N bytes.
* ``Target.attachToTarget``: a ``Target.attachedToTarget`` event, then ``{"sessionId": ...}``,
  so a client's flattened-session mode can be measured too. A command that carries a
  ``sessionId`` gets its events (the flood) with that ``sessionId``.

Run: ``python bench/fast_endpoint.py [--port 0]``; it prints ``PORT <n>`` and serves until
stdin closes (so it never outlives the harness that spawned it).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import re
import selectors
import socket
import struct
import sys
import threading
from typing import Dict, List, Optional, Tuple

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_ID = re.compile(rb'"id":\s*(\d+)')
_METHOD = re.compile(rb'"method":\s*"([^"]+)"')
_COUNT = re.compile(rb'"count":\s*(\d+)')
_SIZE = re.compile(rb'"size":\s*(\d+)')
_SESSION = re.compile(rb'"sessionId":\s*"([^"]+)"')
_TARGET = re.compile(rb'"targetId":\s*"([^"]+)"')

# A realistic console event (what Chromium sends for console.log(i)), ~330 bytes.
EVENT_MESSAGE = {
    "method": "Runtime.consoleAPICalled",
    "params": {
        "type": "log",
        "args": [{"type": "number", "value": 12345, "description": "12345"}],
        "executionContextId": 1,
        "timestamp": 1732550000000.123,
        "stackTrace": {
            "callFrames": [
                {
                    "functionName": "",
                    "scriptId": "5",
                    "url": "",
                    "lineNumber": 0,
                    "columnNumber": 33,
                }
            ]
        },
    },
}
EVENT = json.dumps(EVENT_MESSAGE, separators=(",", ":")).encode()

ANSWER_HEAD = b'{"id":'
ANSWER_TAIL = b',"result":{"result":{"type":"number","value":2,"description":"2"}}}'


def frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """One unmasked server frame."""
    n = len(payload)
    if n < 126:
        header = struct.pack("!BB", 0x80 | opcode, n)
    elif n < 65536:
        header = struct.pack("!BBH", 0x80 | opcode, 126, n)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 127, n)
    return header + payload


def _unmask(mask: bytes, data: bytes) -> bytes:
    n = len(data)
    if not n:
        return data
    key = int.from_bytes((mask * (n // 4 + 1))[:n], "big")
    return (int.from_bytes(data, "big") ^ key).to_bytes(n, "big")


class _Conn:
    __slots__ = ("sock", "inbuf", "out", "handshaken", "closing")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.inbuf = bytearray()
        self.out: List[memoryview] = []
        self.handshaken = False
        self.closing = False


class FastEndpoint:
    def __init__(self, port: int = 0) -> None:
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", port))
        self.listener.listen(64)
        self.listener.setblocking(False)
        self.port = self.listener.getsockname()[1]
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.listener, selectors.EVENT_READ, None)
        self.floods: Dict[Tuple[int, bytes], bytes] = {}
        self.bigs: Dict[int, bytes] = {}
        self.event_frame = frame(EVENT)
        self.stopped = False

    # -- answers

    def _flood(self, count: int, session: bytes) -> bytes:
        data = self.floods.get((count, session))
        if data is None:
            if session:
                message = dict(EVENT_MESSAGE, sessionId=session.decode())
                one = frame(json.dumps(message, separators=(",", ":")).encode())
            else:
                one = self.event_frame
            data = one * count
            if len(self.floods) > 8:
                self.floods.clear()
            self.floods[(count, session)] = data
        return data

    def _big(self, command_id: bytes, size: int) -> bytes:
        body = self.bigs.get(size)
        if body is None:
            body = b',"result":{"result":{"type":"string","value":"' + b"x" * size + b'"}}}'
            self.bigs = {size: body}
        return frame(ANSWER_HEAD + command_id + body)

    def _answer(self, payload: bytes, out: List[bytes]) -> None:
        found = _ID.search(payload)
        if found is None:
            return
        command_id = found.group(1)
        method = _METHOD.search(payload)
        name = method.group(1) if method else b""
        if name.startswith(b"Bench."):
            if name == b"Bench.noreply":
                return
            if name == b"Bench.flood":
                count = _COUNT.search(payload)
                session = _SESSION.search(payload)
                out.append(
                    self._flood(int(count.group(1)) if count else 0, session.group(1) if session else b"")
                )
            elif name == b"Bench.big":
                size = _SIZE.search(payload)
                out.append(self._big(command_id, int(size.group(1)) if size else 0))
                return
        elif name == b"Target.attachToTarget":
            target = _TARGET.search(payload)
            target_id = target.group(1).decode() if target else "page"
            session_id = "S%s" % command_id.decode()
            event = {
                "method": "Target.attachedToTarget",
                "params": {
                    "sessionId": session_id,
                    "targetInfo": {
                        "targetId": target_id,
                        "type": "page",
                        "title": "",
                        "url": "",
                        "attached": True,
                        "canAccessOpener": False,
                    },
                    "waitingForDebugger": False,
                },
            }
            out.append(frame(json.dumps(event).encode()))
            answer = {"id": int(command_id), "result": {"sessionId": session_id}}
            out.append(frame(json.dumps(answer).encode()))
            return
        out.append(frame(ANSWER_HEAD + command_id + ANSWER_TAIL))

    # -- the loop

    def _handshake(self, conn: _Conn) -> bool:
        end = conn.inbuf.find(b"\r\n\r\n")
        if end < 0:
            return False
        request = bytes(conn.inbuf[:end]).decode("latin-1")
        del conn.inbuf[: end + 4]
        key = ""
        for line in request.split("\r\n")[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "sec-websocket-key":
                key = value.strip()
        accept = base64.b64encode(hashlib.sha1(key.encode() + _GUID).digest()).decode()
        conn.out.append(
            memoryview(
                (
                    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                    "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n" % accept
                ).encode()
            )
        )
        conn.handshaken = True
        return True

    def _frames(self, conn: _Conn, out: List[bytes]) -> None:
        buf = conn.inbuf
        pos = 0
        end = len(buf)
        while end - pos >= 2:
            b0 = buf[pos]
            b1 = buf[pos + 1]
            length = b1 & 0x7F
            header = 2
            if length == 126:
                if end - pos < 4:
                    break
                length = struct.unpack_from("!H", buf, pos + 2)[0]
                header = 4
            elif length == 127:
                if end - pos < 10:
                    break
                length = struct.unpack_from("!Q", buf, pos + 2)[0]
                header = 10
            masked = b1 & 0x80
            if masked:
                header += 4
            if end - pos < header + length:
                break
            payload = bytes(buf[pos + header : pos + header + length])
            if masked:
                payload = _unmask(bytes(buf[pos + header - 4 : pos + header]), payload)
            pos += header + length
            opcode = b0 & 0x0F
            if opcode == 0x1 or opcode == 0x2:
                self._answer(payload, out)
            elif opcode == 0x8:
                out.append(frame(payload[:2], 0x8))
                conn.closing = True
                break
            elif opcode == 0x9:
                out.append(frame(payload, 0xA))
        del buf[:pos]

    def _flush(self, conn: _Conn) -> None:
        sock = conn.sock
        while conn.out:
            view = conn.out[0]
            try:
                sent = sock.send(view)
            except BlockingIOError:
                break
            except OSError:
                conn.out.clear()
                conn.closing = True
                break
            if sent == len(view):
                conn.out.pop(0)
            else:
                conn.out[0] = view[sent:]
                break
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if conn.out else 0)
        try:
            self.sel.modify(sock, events, conn)
        except (KeyError, ValueError):
            pass

    def _drop(self, conn: _Conn) -> None:
        try:
            self.sel.unregister(conn.sock)
        except (KeyError, ValueError):
            pass
        conn.sock.close()

    def serve(self) -> None:
        while not self.stopped:
            for key, mask in self.sel.select(0.5):
                if key.data is None:
                    try:
                        sock, _ = self.listener.accept()
                    except BlockingIOError:
                        continue
                    sock.setblocking(False)
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    self.sel.register(sock, selectors.EVENT_READ, _Conn(sock))
                    continue
                conn: _Conn = key.data
                if mask & selectors.EVENT_READ:
                    try:
                        data = conn.sock.recv(1 << 20)
                    except BlockingIOError:
                        data = None
                    except OSError:
                        data = b""
                    if data == b"":
                        self._drop(conn)
                        continue
                    if data:
                        conn.inbuf += data
                        if not conn.handshaken and not self._handshake(conn):
                            continue
                        out: List[bytes] = []
                        self._frames(conn, out)
                        if out:
                            conn.out.append(memoryview(b"".join(out)))
                self._flush(conn)
                if conn.closing and not conn.out:
                    self._drop(conn)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    endpoint = FastEndpoint(args.port)
    sys.stdout.write("PORT %d\n" % endpoint.port)
    sys.stdout.flush()

    def watch_stdin() -> None:
        sys.stdin.read()  # EOF: the harness is gone
        endpoint.stopped = True

    threading.Thread(target=watch_stdin, daemon=True).start()
    endpoint.serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
