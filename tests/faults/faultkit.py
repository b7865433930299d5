"""Helpers of the fault suite: endpoints that misbehave on purpose, process and socket probes.

* :class:`Listener` — a loopback TCP listener that accepts and then stays silent, hangs up at
  once, or answers every request with a fixed raw HTTP response (a 403 to the websocket
  upgrade, a 404 to ``/json/version``, ...).
* :class:`RawWebSocketServer` — a minimal websocket server on a raw socket: one client, the
  test thread writes any frame it likes (invalid UTF-8, reserved opcodes, fragments) and
  reads the client's commands from a queue. Faster and less forgiving than ``FakeCDP``.
* :func:`non_loopback_ipv4`, :func:`listening_addresses`, :func:`pid_alive`,
  :func:`cmdline` — what the OS says, read from ``/proc`` (no psutil).
* :func:`copy_fake_browsers` — the fake browsers of ``tests/integration/fakebrowsers`` made
  runnable by this interpreter.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import os
import queue
import socket
import struct
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Set

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
FAKES_DIR = REPO_ROOT / "tests" / "integration" / "fakebrowsers"
CHROMIUM = os.environ.get("SYNCDP_TEST_CHROMIUM", "/usr/bin/chromium")
needs_chromium = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs " + CHROMIUM)

_WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


# -- waiting -----------------------------------------------------------------------------------


def stays(condition: Callable[[], Any], seconds: float, interval: float = 0.02) -> bool:
    """Whether ``condition`` holds at every poll for ``seconds`` (a negative check)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not condition():
            return False
        time.sleep(interval)
    return bool(condition())


def blocked_in(thread: threading.Thread, filename: str, function: str) -> bool:
    """Whether ``thread`` is now inside ``function`` of a file ending with ``filename``.

    Tells that a worker has reached its blocking wait without reading private state or
    sleeping (``sys._current_frames`` is CPython's documented debugging hook).
    """
    frame = sys._current_frames().get(thread.ident or -1)
    while frame is not None:
        code = frame.f_code
        if code.co_name == function and code.co_filename.endswith(filename):
            return True
        frame = frame.f_back
    return False


def run_in_thread(target: Callable[[], Any], name: str = "fault-worker") -> Dict[str, Any]:
    """Start ``target`` in a daemon thread; the dict gets ``value`` or ``error`` and ``at``
    (the monotonic time it ended), and ``thread``."""
    box: Dict[str, Any] = {}

    def body() -> None:
        try:
            box["value"] = target()
        except BaseException as exc:  # handed to the test through the box
            box["error"] = exc
        finally:
            box["at"] = time.monotonic()

    thread = threading.Thread(target=body, name=name, daemon=True)
    box["thread"] = thread
    thread.start()
    return box


def sha256(data: Any) -> str:
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.sha256(data).hexdigest()


# -- misbehaving TCP endpoints ---------------------------------------------------------------


class Listener:
    """A loopback TCP listener with one behaviour for every connection.

    Args:
        mode: ``"silent"`` (accept, read and never answer), ``"hangup"`` (accept and close at
            once) or ``"respond"`` (read the request head, write ``response``, close).
        response: the raw HTTP response for ``"respond"``.
    """

    def __init__(self, mode: str, response: bytes = b"") -> None:
        self.mode = mode
        self.response = response
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = int(self.sock.getsockname()[1])
        self.accepted = 0
        self.requests: List[bytes] = []
        self._held: List[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="fault-listener", daemon=True)

    def __enter__(self) -> "Listener":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self._thread.join(5)
        for conn in self._held:
            try:
                conn.close()
            except OSError:
                pass

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            if self.mode == "hangup":
                conn.close()
            elif self.mode == "silent":
                self._held.append(conn)
            else:
                conn.settimeout(5)
                head = b""
                try:
                    while b"\r\n\r\n" not in head:
                        chunk = conn.recv(4096)
                        if not chunk:
                            break
                        head += chunk
                    self.requests.append(head)
                    conn.sendall(self.response)
                except OSError:
                    pass
                finally:
                    conn.close()


def http_response(status: str, body: bytes, content_type: str = "application/json") -> bytes:
    return (
        "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
        % (status, content_type, len(body))
    ).encode("ascii") + body


# -- a minimal raw websocket server ------------------------------------------------------------


def encode_frame(payload: bytes, opcode: int = 0x1, fin: bool = True, rsv: int = 0) -> bytes:
    """One unmasked server-to-client frame."""
    head = bytearray([(0x80 if fin else 0) | (rsv & 0x7) << 4 | (opcode & 0x0F)])
    n = len(payload)
    if n < 126:
        head.append(n)
    elif n < 65536:
        head.append(126)
        head += struct.pack("!H", n)
    else:
        head.append(127)
        head += struct.pack("!Q", n)
    return bytes(head) + payload


class RawWebSocketServer:
    """One websocket client at a time on 127.0.0.1, frames written by hand.

    The client's text frames that parse as JSON objects land in :attr:`commands` (a queue),
    except commands whose method starts with :attr:`auto_answer`, which are answered at once
    with their params as result, and those named in :attr:`responders`, answered at once
    with the messages ``responders[method](command)`` returns; pings are answered; a close
    frame is echoed. :meth:`send` writes raw frame bytes.
    """

    auto_answer: Optional[str] = None

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = int(self.sock.getsockname()[1])
        self.commands: "queue.Queue[Dict[str, Any]]" = queue.Queue()
        self.connections = 0
        self.responders: Dict[str, Callable[[Dict[str, Any]], List[Dict[str, Any]]]] = {}
        self._client: Optional[socket.socket] = None
        self._client_ready = threading.Condition()
        self._send_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="fault-raw-ws", daemon=True)

    @property
    def url(self) -> str:
        return "ws://127.0.0.1:%d/devtools/browser/raw" % self.port

    def __enter__(self) -> "RawWebSocketServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        client = self._client
        if client is not None:
            try:
                client.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._thread.join(5)

    def send(self, data: bytes) -> None:
        with self._client_ready:
            self._client_ready.wait_for(lambda: self._client is not None, 5)
            client = self._client
        assert client is not None, "no websocket client connected"
        with self._send_lock:
            client.sendall(data)

    def send_text(self, text: str) -> None:
        self.send(encode_frame(text.encode("utf-8")))

    def send_json(self, message: Any) -> None:
        self.send_text(json.dumps(message))

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            try:
                self._handshake(client)
            except OSError:
                client.close()
                continue
            self.connections += 1
            with self._client_ready:
                self._client = client
                self._client_ready.notify_all()
            try:
                self._read_frames(client)
            except OSError:
                pass
            finally:
                with self._client_ready:
                    if self._client is client:
                        self._client = None
                client.close()

    @staticmethod
    def _handshake(client: socket.socket) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = client.recv(4096)
            if not chunk:
                raise OSError("client left during the handshake")
            head += chunk
        key = ""
        for line in head.decode("latin-1").split("\r\n"):
            name, _, value = line.partition(":")
            if name.strip().lower() == "sec-websocket-key":
                key = value.strip()
        accept = base64.b64encode(hashlib.sha1((key + _WS_GUID).encode()).digest()).decode()
        client.sendall(
            (
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n" % accept
            ).encode("ascii")
        )

    def _read_frames(self, client: socket.socket) -> None:
        buf = b""

        def need(n: int) -> bytes:
            nonlocal buf
            while len(buf) < n:
                chunk = client.recv(65536)
                if not chunk:
                    raise OSError("eof")
                buf += chunk
            out, buf = buf[:n], buf[n:]
            return out

        while True:
            b0, b1 = need(2)
            length = b1 & 0x7F
            if length == 126:
                length = struct.unpack("!H", need(2))[0]
            elif length == 127:
                length = struct.unpack("!Q", need(8))[0]
            mask = need(4) if b1 & 0x80 else b"\0\0\0\0"
            data = bytearray(need(length))
            for i in range(len(data)):
                data[i] ^= mask[i % 4]
            opcode = b0 & 0x0F
            if opcode == 0x8:
                with self._send_lock:
                    client.sendall(encode_frame(bytes(data[:2]), 0x8))
                return
            if opcode == 0x9:
                with self._send_lock:
                    client.sendall(encode_frame(bytes(data), 0xA))
                continue
            if opcode != 0x1:
                continue
            try:
                message = json.loads(data.decode("utf-8"))
            except ValueError:
                continue
            if not isinstance(message, dict):
                continue
            method = message.get("method")
            responder = self.responders.get(method) if isinstance(method, str) else None
            if responder is not None:
                replies = b"".join(
                    encode_frame(json.dumps(m).encode("utf-8")) for m in responder(message)
                )
                with self._send_lock:
                    client.sendall(replies)
                continue
            if self.auto_answer and isinstance(method, str) and method.startswith(self.auto_answer):
                reply = {"id": message.get("id"), "result": message.get("params") or {}}
                with self._send_lock:
                    client.sendall(encode_frame(json.dumps(reply).encode("utf-8")))
                continue
            self.commands.put(message)


# -- what the OS says ------------------------------------------------------------------------


def non_loopback_ipv4() -> Optional[str]:
    """An IPv4 address of this machine that is not 127.x, or None."""
    candidates: List[str] = []
    try:
        candidates.append(socket.gethostbyname(socket.gethostname()))
    except OSError:
        pass
    try:
        names = [name for _, name in socket.if_nameindex()]
    except OSError:
        names = []
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for name in names:
            try:
                packed = fcntl.ioctl(
                    probe.fileno(), 0x8915, struct.pack("256s", name[:15].encode())  # SIOCGIFADDR
                )
            except OSError:
                continue
            candidates.append(socket.inet_ntoa(packed[20:24]))
    finally:
        probe.close()
    for address in candidates:
        if not address.startswith("127.") and address != "0.0.0.0":
            return address
    return None


def _decode_proc_address(hex_address: str) -> str:
    raw = bytes.fromhex(hex_address)
    if len(raw) == 4:
        return socket.inet_ntop(socket.AF_INET, raw[::-1])
    # /proc/net/tcp6: four 32-bit words, each in host (little-endian) order.
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
    return socket.inet_ntop(socket.AF_INET6, words)


def listening_addresses(port: int) -> Set[str]:
    """The local addresses with a socket in LISTEN state on TCP ``port`` (IPv4 and IPv6)."""
    found: Set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as fh:
                lines = fh.read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, state = fields[1], fields[3]
            address, _, hex_port = local.partition(":")
            if state == "0A" and int(hex_port, 16) == port:
                found.add(_decode_proc_address(address))
    return found


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as fh:
            stat = fh.read()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def group_members(pgid: int) -> List[int]:
    """Live (non-zombie) processes whose process group is ``pgid``."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as fh:
                fields = fh.read().rsplit(")", 1)[-1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry))
    return members


def cmdline(pid: int) -> List[str]:
    with open("/proc/%d/cmdline" % pid, "rb") as fh:
        return [a.decode("utf-8", "replace") for a in fh.read().split(b"\0") if a]


def copy_fake_browsers(target: Path) -> Dict[str, str]:
    """The fake browsers copied to ``target``, made executable, run by this interpreter."""
    target.mkdir(parents=True, exist_ok=True)
    paths = {}
    for source in FAKES_DIR.iterdir():
        if not source.is_file():
            continue
        text = source.read_text()
        if source.suffix == ".py":
            text = "#!%s\n" % sys.executable + text.split("\n", 1)[1]
        dest = target / source.name
        dest.write_text(text)
        dest.chmod(0o755)
        paths[source.stem] = str(dest)
    return paths
