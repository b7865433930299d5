"""The Transport seam: any connector's object works, a transport can be wrapped, abort wakes."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from typing import Any, Dict, List, Tuple, Union

import pytest
import websocket
from fake_cdp import FakeCDP, wait_until

from syncdp import ConnectionHandler, exceptions
from syncdp.transports import (
    Transport,
    TransportClosed,
    WebSocketClientTransport,
    WebSocketTransport,
    as_transport,
    connect_websocket,
)
from syncdp.transports.websocket import encode_text_frame

pytestmark = pytest.mark.timeout(30)


class PlainSocket:
    """Only send/recv/close: what a minimal custom ws_connector may return."""

    def __init__(self, ws: websocket.WebSocket) -> None:
        self._ws = ws

    def send(self, payload: str) -> None:
        self._ws.send(payload)

    def recv(self) -> Union[str, bytes]:
        return self._ws.recv()  # type: ignore[no-any-return]

    def close(self) -> None:
        self._ws.close()


class Recording:
    """A transport wrapper that sees every message in both directions."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.log: List[Tuple[str, str]] = []

    def send(self, message: str) -> None:
        self.log.append(("->", message))
        self.inner.send(message)

    def receive(self) -> List[Union[str, bytes]]:
        messages = self.inner.receive()
        self.log.extend(("<-", m if isinstance(m, str) else m.decode()) for m in messages)
        return messages

    def close(self) -> None:
        self.inner.close()

    def abort(self) -> None:
        self.inner.abort()


def test_a_connector_returning_a_plain_object_is_wrapped(fake_cdp: FakeCDP) -> None:
    def connector(url: str, timeout: float, **kwargs: Any) -> PlainSocket:
        return PlainSocket(websocket.create_connection(url, timeout=timeout, suppress_origin=True))

    seen: List[Dict[str, Any]] = []
    with ConnectionHandler(fake_cdp.port, ws_connector=connector) as conn:
        conn.register_callback("A.e", seen.append)
        conn.execute_command({"method": "Test.emit",
                              "params": {"events": [{"method": "A.e", "params": {"i": 1}}]}})
        assert conn.send("A.b", {"x": 1}) == {"method": "A.b", "params": {"x": 1}}
        wait_until(lambda: seen, 5)
        assert conn.ping() is True  # no transport ping: a command answers
        fake_cdp.conns[0].drop()
        wait_until(lambda: not conn.connected, 5)
        assert conn.send("A.c") == {"method": "A.c", "params": {}}  # reconnected
        assert conn.connection_count == 2


def test_a_connector_returning_a_transport_is_used_as_is(fake_cdp: FakeCDP) -> None:
    recordings: List[Recording] = []

    def connector(url: str, timeout: float, **kwargs: Any) -> Recording:
        recording = Recording(as_transport(connect_websocket(url, timeout=timeout)))
        recordings.append(recording)
        return recording

    with ConnectionHandler(fake_cdp.port, ws_connector=connector) as conn:
        conn.send("A.b", {"n": 1})
    directions = [(d, '"A.b"' in m) for d, m in recordings[0].log]
    assert directions == [("->", True), ("<-", True)]


def test_as_transport_picks_the_fast_codec_for_websocket_client(fake_cdp: FakeCDP) -> None:
    ws = connect_websocket(fake_cdp.ws_url, timeout=5)
    transport = as_transport(ws)
    try:
        assert isinstance(transport, WebSocketTransport)
        assert isinstance(as_transport(PlainSocket(ws)), WebSocketClientTransport)
    finally:
        ws.close()


@pytest.mark.parametrize("wrap", [WebSocketTransport, lambda ws: WebSocketClientTransport(ws)])
def test_abort_wakes_a_blocked_receive(fake_cdp: FakeCDP, wrap: Any) -> None:
    transport = wrap(connect_websocket(fake_cdp.ws_url, timeout=5))
    outcome: List[BaseException] = []

    def read() -> None:
        try:
            transport.receive()
        except BaseException as exc:  # what ended the receive
            outcome.append(exc)

    reader = threading.Thread(target=read, name="test-reader")
    reader.start()
    wait_until(lambda: fake_cdp.conns, 5)
    transport.abort()
    reader.join(5)
    assert not reader.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], TransportClosed)
    assert isinstance(outcome[0], exceptions.SyncdpConnectionError)


def test_receive_reports_the_peers_close_code_and_reason(fake_cdp: FakeCDP) -> None:
    transport = WebSocketTransport(connect_websocket(fake_cdp.ws_url, timeout=5))
    transport.send('{"id": 1, "method": "Test.close"}')
    with pytest.raises(TransportClosed) as info:
        while True:
            transport.receive()
    assert (info.value.code, info.value.reason) == (4001, "bye")
    with pytest.raises(TransportClosed):  # and every later call too
        transport.receive()


def _unmasked(frame: bytes) -> Tuple[bytes, bytes]:
    """The masking key and the decoded payload of one short client frame."""
    assert frame[0] == 0x81 and frame[1] & 0x80  # final text frame, masked
    length = frame[1] & 0x7F
    assert length < 126
    key = frame[2:6]
    payload = bytes(b ^ key[i % 4] for i, b in enumerate(frame[6 : 6 + length]))
    return key, payload


def test_every_client_frame_gets_a_fresh_masking_key_and_decodes() -> None:
    text = '{"id":1,"method":"Runtime.evaluate"}'
    frames = [encode_text_frame(text) for _ in range(3000)]  # more than one pool of keys
    decoded = [_unmasked(frame) for frame in frames]
    assert all(payload == text.encode() for _key, payload in decoded)
    keys = [key for key, _payload in decoded]
    assert len(set(keys)) > 2900  # random 32-bit keys: a few repeats at most


_FORK_KEYS = """
import os
from syncdp.transports.websocket import encode_text_frame

encode_text_frame("{}")  # the pool of keys is filled before the fork
read_fd, write_fd = os.pipe()
pid = os.fork()
if pid == 0:
    os.write(write_fd, b"".join(encode_text_frame("{}")[2:6] for _ in range(8)))
    os._exit(0)
os.close(write_fd)
child = b""
while len(child) < 32:
    chunk = os.read(read_fd, 32)
    if not chunk:
        break
    child += chunk
os.waitpid(pid, 0)
parent = b"".join(encode_text_frame("{}")[2:6] for _ in range(8))
print("child-keys=%d same=%s" % (len(child), child == parent))
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork")
def test_a_forked_child_draws_masking_keys_of_its_own() -> None:
    # In a fresh interpreter: forking the test runner (threads running) is not safe.
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    out = subprocess.run(
        [sys.executable, "-c", _FORK_KEYS], capture_output=True, text=True, timeout=60, env=env
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["child-keys=32", "same=False"]  # not the parent's next keys
