"""PipeTransport on a real pair of OS pipes (no browser): how it cuts the byte stream into
messages, waits for the pipe, and ends.

The "browser" side is this test writing into the pipe the transport reads, and reading the
pipe the transport writes.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import Iterator, List, Tuple, Union

import pytest

from syncdp.transports import PipeTransport, TransportClosed
from syncdp.transports.base import Parsed

pytestmark = pytest.mark.skipif(not hasattr(os, "pipe") or os.name != "posix", reason="POSIX pipes")

Wire = Tuple[PipeTransport, int, int]  # the transport, the browser's write end, its read end


@pytest.fixture
def wire() -> Iterator[Wire]:
    out_read, out_write = os.pipe()  # browser -> us
    into_read, into_write = os.pipe()  # us -> browser
    transport = PipeTransport(out_read, into_write, label="test-pipe")
    try:
        yield transport, out_write, into_read
    finally:
        transport.close()
        transport.abort()
        for fd in (out_write, into_read):
            try:
                os.close(fd)
            except OSError:
                pass


def _receive_all(transport: PipeTransport, count: int) -> List[Union[str, bytes]]:
    got: List[Union[str, bytes]] = []
    while len(got) < count:
        got.extend(transport.receive())
    return got


def _write_in_thread(fd: int, data: bytes) -> threading.Thread:
    """Write ``data`` from another thread (it may exceed the pipe's buffer)."""

    def write() -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]

    writer = threading.Thread(target=write)
    writer.start()
    return writer


def _wait_polling(thread: threading.Thread, transport: PipeTransport) -> None:
    """Until ``thread`` is blocked waiting for the pipe (inside the transport's poll)."""
    wait = type(transport)._wait_readable.__code__
    deadline = time.monotonic() + 10
    while True:
        frame = sys._current_frames().get(thread.ident or -1)
        while frame is not None and frame.f_code is not wait:
            frame = frame.f_back
        if frame is not None:
            return
        assert thread.is_alive() and time.monotonic() < deadline, "receive() never waited"
        time.sleep(0.001)


def test_messages_of_one_write_come_as_one_batch(wire: Wire) -> None:
    transport, browser_out, _ = wire
    os.write(browser_out, b'{"id":1}\0{"id":2}\0{"method":"X.y"}\0')
    assert transport.receive() == [b'{"id":1}', b'{"id":2}', b'{"method":"X.y"}']


def test_a_message_split_across_reads_is_joined(wire: Wire) -> None:
    transport, browser_out, _ = wire
    got: List[Union[str, bytes]] = []
    reader = threading.Thread(target=lambda: got.extend(transport.receive()))
    os.write(browser_out, b'{"id":1,"res')
    reader.start()
    _wait_polling(reader, transport)  # it read the first part and waits for the rest
    os.write(browser_out, b'ult":{}}\0{"id":2')
    reader.join(10)
    assert got == [b'{"id":1,"result":{}}']
    os.write(browser_out, b"}\0")
    assert transport.receive() == [b'{"id":2}']


def test_messages_larger_than_the_pipe_buffer_arrive_whole(wire: Wire) -> None:
    transport, browser_out, _ = wire
    big = b'{"id":1,"result":{"value":"' + b"x" * (3 * 1024 * 1024) + b'"}}'
    small = [b'{"method":"E.%d"}' % i for i in range(1000)]
    writer = _write_in_thread(browser_out, big + b"\0" + b"\0".join(small) + b"\0")
    got = _receive_all(transport, 1001)
    writer.join(30)
    assert got[0] == big
    assert got[1:] == small


def test_receive_waits_for_the_pipe_and_wakes_when_data_comes(wire: Wire) -> None:
    transport, browser_out, _ = wire
    got: List[Union[str, bytes]] = []
    reader = threading.Thread(target=lambda: got.extend(transport.receive()))
    reader.start()
    _wait_polling(reader, transport)
    assert got == []
    os.write(browser_out, b'{"id":7}\0')
    reader.join(10)
    assert got == [b'{"id":7}']


def test_abort_wakes_a_blocked_receive_and_every_later_one_raises(wire: Wire) -> None:
    transport, _, _ = wire
    errors: List[BaseException] = []

    def receive() -> None:
        try:
            transport.receive()
        except TransportClosed as exc:
            errors.append(exc)

    reader = threading.Thread(target=receive)
    reader.start()
    _wait_polling(reader, transport)
    transport.abort()
    reader.join(10)
    assert not reader.is_alive()
    assert len(errors) == 1 and "aborted" in errors[0].detail
    with pytest.raises(TransportClosed):
        transport.receive()
    transport.abort()  # idempotent after the end


def test_the_browser_closing_its_end_ends_the_wire_after_the_last_messages(wire: Wire) -> None:
    transport, browser_out, _ = wire
    os.write(browser_out, b'{"id":1}\0{"id":2')  # the second one is cut off
    os.close(browser_out)
    assert transport.receive() == [b'{"id":1}']
    with pytest.raises(TransportClosed) as info:
        transport.receive()
    assert "closed its end" in info.value.detail


def test_send_writes_each_message_with_its_nul(wire: Wire) -> None:
    transport, _, browser_in = wire
    transport.send('{"id":1,"method":"A.b"}')
    transport.send('{"id":2,"method":"\u00e9"}')
    expected = '{"id":1,"method":"A.b"}\0{"id":2,"method":"\u00e9"}\0'.encode()
    data = b""
    deadline = time.monotonic() + 10
    while len(data) < len(expected) and time.monotonic() < deadline:
        data += os.read(browser_in, 4096)
    assert data == expected


def test_a_whole_message_is_delivered_before_its_nul_arrives(wire: Wire) -> None:
    # The browser writes a message and its NUL with two write() calls.
    transport, browser_out, _ = wire
    os.write(browser_out, b'{"id":1,"result":{"v":"\\u00e9"}}')
    (message,) = transport.receive()
    assert isinstance(message, Parsed) and message.value == {"id": 1, "result": {"v": "\u00e9"}}
    assert message == '{"id":1,"result":{"v":"\\u00e9"}}'
    os.write(browser_out, b'\0{"id":2}\0')  # its NUL, then the next message: no empty one
    assert transport.receive() == [b'{"id":2}']


def test_a_whole_message_after_others_in_one_read_comes_in_the_same_batch(wire: Wire) -> None:
    transport, browser_out, _ = wire
    os.write(browser_out, b'{"id":1}\0{"method":"A.b","params":{}}')
    first, second = transport.receive()
    assert first == b'{"id":1}'
    assert isinstance(second, Parsed) and second.value == {"method": "A.b", "params": {}}


@pytest.mark.parametrize(
    "start, rest",
    [
        (b'{"id":1,"result":{}', b"}"),
        (b'{"id":1,"result":"}', b'"}'),
        (b'{"id":1,"result":{"a":[]}', b"}"),
    ],
    ids=["inner object closed", "brace in a string", "nested"],
)
def test_a_start_that_ends_in_a_brace_waits_for_the_rest(wire: Wire, start: bytes, rest: bytes) -> None:
    transport, browser_out, _ = wire
    got: List[Union[str, bytes]] = []
    reader = threading.Thread(target=lambda: got.extend(transport.receive()))
    os.write(browser_out, start)
    reader.start()
    _wait_polling(reader, transport)  # it read the start, saw it is not whole, and waits
    os.write(browser_out, rest + b"\0")
    reader.join(10)
    assert got == [start + rest]
