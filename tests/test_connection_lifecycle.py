"""ConnectionHandler lifecycle: threads, connection loss, reconnect, connect failures, ping,
close, Ctrl-C."""

from __future__ import annotations

import _thread
import re
import socket
import threading
import time
from concurrent.futures import Future
from typing import Any, Dict, List

import pytest
from fake_cdp import FakeCDP, wait_until

from syncdp import ConnectionHandler, exceptions

pytestmark = pytest.mark.timeout(30)

Message = Dict[str, Any]


def syncdp_threads() -> List[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("syncdp-") and t.is_alive()]


def future_error(future: "Future[Any]", timeout: float) -> BaseException:
    error = future.exception(timeout=timeout)
    assert error is not None, "the future succeeded: %r" % (future.result(),)
    return error


# -- threads -----------------------------------------------------------------------------


def test_connect_starts_named_daemon_reader_and_dispatcher(fake_cdp: FakeCDP) -> None:
    before = set(syncdp_threads())
    with ConnectionHandler(fake_cdp.port) as conn:
        assert set(syncdp_threads()) == before  # never in __init__
        conn.connect()
        new = set(syncdp_threads()) - before
        names = sorted(t.name for t in new)
        assert len(new) == 2, names
        assert re.fullmatch(r"syncdp-dispatcher-\d+", names[0]), names
        assert re.fullmatch(r"syncdp-reader-\d+", names[1]), names
        assert all(t.daemon for t in new)
    assert not any(t.is_alive() for t in new)


def test_close_is_idempotent_and_joins_threads(fake_cdp: FakeCDP) -> None:
    before = set(syncdp_threads())
    conn = ConnectionHandler(fake_cdp.port)
    conn.connect()
    conn.close()
    assert set(syncdp_threads()) - before == set()  # joined, not merely signalled
    assert conn.connected is False
    conn.close()
    conn.close()
    wait_until(lambda: fake_cdp.conns[0].closed.is_set(), 3)
    assert len(fake_cdp.conns) == 1


def test_close_fails_pending_commands(fake_cdp: FakeCDP) -> None:
    conn = ConnectionHandler(fake_cdp.port)
    outcome: List[BaseException] = []

    def blocked() -> None:
        try:
            conn.execute_command({"method": "Test.noAnswer"}, timeout=20)
        except BaseException as exc:
            outcome.append(exc)

    try:
        future = conn.submit({"method": "Test.noAnswer"})
        worker = threading.Thread(target=blocked, name="test-blocked")
        worker.start()
        wait_until(lambda: fake_cdp.received_methods().count("Test.noAnswer") == 2, 5)
        start = time.monotonic()
    finally:
        conn.close()
    assert isinstance(future_error(future, 2), exceptions.ConnectionClosedError)
    worker.join(3)
    assert not worker.is_alive()
    assert time.monotonic() - start < 3
    assert len(outcome) == 1 and isinstance(outcome[0], exceptions.ConnectionClosedError)


def test_close_from_inside_callback_does_not_hang(fake_cdp: FakeCDP) -> None:
    before = set(syncdp_threads())
    returned = threading.Event()
    conn = ConnectionHandler(fake_cdp.port)
    try:

        def close_now(_: Message) -> None:
            conn.close()
            returned.set()

        conn.register_callback("Close.me", close_now)
        # delay: the answer must arrive before the event whose callback closes the connection
        conn.execute_command(
            {"method": "Test.emit", "params": {"events": [{"method": "Close.me"}], "delay": 0.1}},
            timeout=5,
        )
        assert returned.wait(5), "close() called from a callback did not return"
        wait_until(lambda: not conn.connected, 3)
        wait_until(lambda: not (set(syncdp_threads()) - before), 3,
                   message="threads still alive after close() from a callback")
    finally:
        conn.close()


# -- connection loss ---------------------------------------------------------------------


def test_drop_fails_pending_commands_at_once(fake_cdp: FakeCDP) -> None:
    with ConnectionHandler(fake_cdp.port) as conn:
        pending = [conn.submit({"method": "Test.noAnswer"}) for _ in range(3)]
        fake_cdp.wait_for_received(lambda m: m["method"] == "Test.noAnswer")
        start = time.monotonic()
        with pytest.raises(exceptions.ConnectionClosedError) as info:
            conn.execute_command({"method": "Test.drop"}, timeout=20)
        assert time.monotonic() - start < 2.0
        assert isinstance(info.value, ConnectionError)
        assert info.value.close_code in (None, 1006)
        for future in pending:
            assert isinstance(future_error(future, 2), exceptions.ConnectionClosedError)
        wait_until(lambda: not conn.connected, 3)


def test_close_frame_code_and_reason_reach_pending_commands(fake_cdp: FakeCDP) -> None:
    with ConnectionHandler(fake_cdp.port) as conn:
        pending = conn.submit({"method": "Test.noAnswer"})
        fake_cdp.wait_for_received(lambda m: m["method"] == "Test.noAnswer")
        start = time.monotonic()
        with pytest.raises(exceptions.ConnectionClosedError) as info:
            conn.execute_command({"method": "Test.close"}, timeout=20)
        assert time.monotonic() - start < 2.0
        assert info.value.close_code == 4001
        assert info.value.close_reason == "bye"
        other = future_error(pending, 2)
        assert isinstance(other, exceptions.ConnectionClosedError)
        assert other.close_code == 4001 and other.close_reason == "bye"


def test_server_shutdown_fails_pending_commands(fake_cdp: FakeCDP) -> None:
    with ConnectionHandler(fake_cdp.port) as conn:
        pending = conn.submit({"method": "Test.noAnswer"})
        fake_cdp.wait_for_received(lambda m: m["method"] == "Test.noAnswer")
        fake_cdp.stop()  # clean close, code 1001
        error = future_error(pending, 3)
        assert isinstance(error, exceptions.ConnectionClosedError)
        assert error.close_code == 1001


def test_drop_fails_pending_wait_for_event(fake_cdp: FakeCDP) -> None:
    with ConnectionHandler(fake_cdp.port) as conn:
        conn.connect()
        server = fake_cdp.wait_for_connections(1)[0]
        fake_cdp.later(0.3, server.drop)
        start = time.monotonic()
        with pytest.raises(exceptions.ConnectionClosedError):
            conn.wait_for_event("Never.happens", timeout=20)
        assert time.monotonic() - start < 3.0


def test_close_frame_fails_pending_expect_event(fake_cdp: FakeCDP) -> None:
    with ConnectionHandler(fake_cdp.port) as conn:
        conn.connect()
        server = fake_cdp.wait_for_connections(1)[0]
        start = time.monotonic()
        with pytest.raises(exceptions.ConnectionClosedError) as info:
            with conn.expect_event("Never.happens", timeout=20):
                fake_cdp.later(0.2, server.close, 4002, "going")
        assert time.monotonic() - start < 3.0
        assert info.value.close_code == 4002


@pytest.mark.parametrize("how", ["Test.drop", "Test.close"])
def test_next_command_reconnects_and_callbacks_survive(fake_cdp: FakeCDP, how: str) -> None:
    got: List[Message] = []
    with ConnectionHandler(fake_cdp.port) as conn:
        conn.register_callback("X.y", got.append)
        with pytest.raises(exceptions.ConnectionClosedError):
            conn.execute_command({"method": how}, timeout=10)
        wait_until(lambda: not conn.connected, 3)
        response = conn.execute_command({"method": "A.again", "params": {"n": 1}}, timeout=5)
        assert response["result"]["params"] == {"n": 1}
        assert conn.connected is True
        conns = fake_cdp.wait_for_connections(2)
        assert len(conns) == 2 and conns[1].path == conns[0].path
        conn.execute_command(
            {"method": "Test.events", "params": {"n": 2, "method": "X.y"}}, timeout=5
        )
        wait_until(lambda: len(got) == 2, 5, message="callbacks lost after reconnect")
    assert got == [{"method": "X.y", "params": {"i": i}} for i in range(2)]


def test_reconnect_leaves_one_pair_of_threads(fake_cdp: FakeCDP) -> None:
    before = set(syncdp_threads())
    with ConnectionHandler(fake_cdp.port) as conn:
        for _ in range(3):
            with pytest.raises(exceptions.ConnectionClosedError):
                conn.execute_command({"method": "Test.drop"}, timeout=10)
            conn.execute_command({"method": "A.b"}, timeout=5)
        wait_until(lambda: len(set(syncdp_threads()) - before) == 2, 3,
                   message="old connections' threads were not cleaned up")


# -- connect failures --------------------------------------------------------------------


@pytest.mark.parametrize("address", ["port", "page", "ws-url"])
def test_unreachable_browser_raises_connect_failed(dead_port: int, address: str) -> None:
    if address == "port":
        conn = ConnectionHandler(dead_port, connect_timeout=2)
    elif address == "page":
        conn = ConnectionHandler(dead_port, page_id="PAGE1", connect_timeout=2)
    else:
        conn = ConnectionHandler("ws://127.0.0.1:%d/devtools/browser/x" % dead_port,
                                 connect_timeout=2)
    with conn:
        start = time.monotonic()
        with pytest.raises(exceptions.ConnectFailedError) as info:
            conn.connect()
        assert time.monotonic() - start < 3.0
        assert isinstance(info.value, ConnectionError)
        assert "127.0.0.1" in str(info.value) and str(dead_port) in str(info.value)
        assert info.value.host == "127.0.0.1" and info.value.port == dead_port
        assert conn.connected is False
        # the first command reports the same failure
        with pytest.raises(exceptions.ConnectFailedError):
            conn.execute_command({"method": "A.b"}, timeout=5)


def test_handshake_to_silent_endpoint_bounded_by_connect_timeout() -> None:
    # Listens but never accepts: TCP connects, the websocket handshake never answers.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        url = "ws://127.0.0.1:%d/devtools/browser/silent" % port
        with ConnectionHandler(url, connect_timeout=1.0) as conn:
            start = time.monotonic()
            with pytest.raises(exceptions.ConnectFailedError) as info:
                conn.connect()
            assert time.monotonic() - start < 3.0
        assert info.value.host == "127.0.0.1" and info.value.port == port


def test_discovery_on_silent_endpoint_bounded_by_connect_timeout() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        with ConnectionHandler(port, connect_timeout=1.0) as conn:
            start = time.monotonic()
            with pytest.raises(exceptions.SyncdpConnectionError) as info:
                conn.execute_command({"method": "A.b"})
            assert time.monotonic() - start < 3.0
        assert str(port) in str(info.value)


def test_reconnect_to_vanished_browser_raises_connect_failed(fake_cdp: FakeCDP) -> None:
    with ConnectionHandler(fake_cdp.port, connect_timeout=2) as conn:
        conn.execute_command({"method": "A.b"})
        fake_cdp.stop()
        wait_until(lambda: not conn.connected, 3)
        start = time.monotonic()
        with pytest.raises(exceptions.ConnectFailedError):
            conn.execute_command({"method": "A.b"}, timeout=5)
        assert time.monotonic() - start < 3.0


# -- ping --------------------------------------------------------------------------------


def test_ping_true_when_connected_false_when_gone(fake_cdp: FakeCDP) -> None:
    with ConnectionHandler(fake_cdp.port, connect_timeout=2) as conn:
        conn.connect()
        assert conn.ping() is True
        fake_cdp.stop()
        start = time.monotonic()
        assert wait_until(lambda: conn.ping() is False, 5)
        assert time.monotonic() - start < 5.0
        assert conn.ping() is False


def test_ping_false_when_nothing_listens(dead_port: int) -> None:
    with ConnectionHandler(dead_port, connect_timeout=1) as conn:
        assert conn.ping() is False


# -- Ctrl-C ------------------------------------------------------------------------------


def _interrupt_soon(delay: float = 0.3) -> threading.Timer:
    timer = threading.Timer(delay, _thread.interrupt_main)
    timer.name = "test-interrupt"
    timer.start()
    return timer


@pytest.mark.timeout(60)
def test_ctrl_c_interrupts_execute_command_promptly(fake_cdp: FakeCDP) -> None:
    assert threading.current_thread() is threading.main_thread()
    with ConnectionHandler(fake_cdp.port) as conn:
        conn.connect()
        timer = _interrupt_soon()
        start = time.monotonic()
        try:
            with pytest.raises(KeyboardInterrupt):
                # answered (late) after 1.5 s, long after the interrupt
                conn.execute_command({"method": "Test.sleep", "params": {"seconds": 1.5}},
                                     timeout=30)
        finally:
            timer.join()
        assert time.monotonic() - start < 1.3
        response = conn.execute_command({"method": "A.after", "params": {"ok": 1}}, timeout=5)
        assert response["result"]["params"] == {"ok": 1}
        # the interrupted command's late answer is dropped; later commands get their own
        server = fake_cdp.conns[0]
        wait_until(lambda: any('"slept"' in str(frame) for frame in server.sent), 5)
        response = conn.execute_command({"method": "A.later", "params": {"ok": 2}}, timeout=5)
        assert response["result"]["params"] == {"ok": 2}
        assert len(fake_cdp.conns) == 1


@pytest.mark.timeout(60)
def test_ctrl_c_interrupts_wait_for_event_promptly(fake_cdp: FakeCDP) -> None:
    assert threading.current_thread() is threading.main_thread()
    with ConnectionHandler(fake_cdp.port) as conn:
        conn.connect()
        timer = _interrupt_soon()
        start = time.monotonic()
        try:
            with pytest.raises(KeyboardInterrupt):
                conn.wait_for_event("Never.happens", timeout=30)
        finally:
            timer.join()
        assert time.monotonic() - start < 1.3
        response = conn.execute_command({"method": "A.after", "params": {"ok": 2}}, timeout=5)
        assert response["result"]["params"] == {"ok": 2}
        conn.execute_command(
            {"method": "Test.emit", "params": {"events": [{"method": "Late.e"}], "delay": 0.3}}
        )
        assert conn.wait_for_event("Late.e", timeout=5)["method"] == "Late.e"
