"""ConnectionHandler under load and abuse: many threads, many events, garbage frames, 32 MB."""

from __future__ import annotations

import threading
from typing import Any, Dict, List, Union

import pytest
from fake_cdp import FakeCDP, FakeConn, wait_until

from syncdp import ConnectionHandler

pytestmark = pytest.mark.timeout(60)

Message = Dict[str, Any]


def run_threads(n: int, target: Any) -> List[BaseException]:
    errors: List[BaseException] = []

    def wrapped(index: int) -> None:
        try:
            target(index)
        except BaseException as exc:  # collected and asserted by the caller
            errors.append(exc)

    threads = [threading.Thread(target=wrapped, args=(i,), name="test-worker-%d" % i)
               for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(50)
    assert not any(t.is_alive() for t in threads), "worker threads hung"
    return errors


def test_16_threads_x_100_commands_get_their_own_answers(fake_cdp: FakeCDP) -> None:
    with ConnectionHandler(fake_cdp.port) as conn:

        def worker(t: int) -> None:
            for i in range(100):
                params = {"thread": t, "seq": i}
                response = conn.execute_command({"method": "Echo.me", "params": params},
                                                timeout=20)
                assert response["result"] == {"method": "Echo.me", "params": params}

        errors = run_threads(16, worker)
    assert errors == []
    wire_ids = [m["id"] for m in fake_cdp.received]
    assert len(wire_ids) == 1600 and len(set(wire_ids)) == 1600
    assert len(fake_cdp.conns) == 1


def test_concurrent_send_and_submit_mix(fake_cdp: FakeCDP) -> None:
    with ConnectionHandler(fake_cdp.port) as conn:

        def worker(t: int) -> None:
            futures = [conn.submit({"method": "Sub.mit", "params": {"t": t, "i": i}})
                       for i in range(50)]
            for i in range(50):
                result = conn.send("Se.nd", {"t": t, "i": i}, timeout=20)
                assert result["params"] == {"t": t, "i": i}
            for i, future in enumerate(futures):
                assert future.result(timeout=20)["result"]["params"] == {"t": t, "i": i}

        errors = run_threads(8, worker)
    assert errors == []


def test_first_commands_from_many_threads_open_one_connection(fake_cdp: FakeCDP) -> None:
    barrier = threading.Barrier(16)
    with ConnectionHandler(fake_cdp.port) as conn:

        def worker(t: int) -> None:
            barrier.wait(10)
            response = conn.execute_command({"method": "Race.me", "params": {"t": t}}, timeout=20)
            assert response["result"]["params"] == {"t": t}

        errors = run_threads(16, worker)
    assert errors == []
    assert len(fake_cdp.conns) == 1


def test_1000_events_delivered_in_order(fake_cdp: FakeCDP) -> None:
    seen: List[int] = []
    with ConnectionHandler(fake_cdp.port) as conn:
        conn.register_callback("Many.e", lambda m: seen.append(m["params"]["i"]))
        conn.execute_command({"method": "Test.events", "params": {"n": 1000, "method": "Many.e"}},
                             timeout=20)
        wait_until(lambda: len(seen) >= 1000, 20)
    assert seen == list(range(1000))


GARBAGE: Dict[str, Union[str, bytes]] = {
    "malformed-json": '{"id": 1, "result": ',
    "not-json": "hello there",
    "binary-frame": b"\x00\xff\xfe binary \x80",
    "empty-binary-frame": b"",
    "empty-text-frame": "",
    "json-array": "[1, 2, 3]",
    "json-null": "null",
    "json-string": '"just a string"',
    "no-id-no-method": '{"foo": "bar"}',
    "unknown-id-answer": '{"id": 987654321, "result": {"stray": true}}',
    "unknown-id-error": '{"id": 987654322, "error": {"code": -1, "message": "stray"}}',
}


@pytest.mark.parametrize("frame", list(GARBAGE.values()), ids=list(GARBAGE))
def test_garbage_frames_are_skipped(fake_cdp: FakeCDP, frame: Union[str, bytes]) -> None:
    def handler(conn: FakeConn, message: Message) -> Any:
        if message["method"] == "Garbage.first":
            conn.send_raw(frame)
            conn.event("After.garbage", {"ok": True})
        return FakeCDP.echo(conn, message)

    fake_cdp.handler = handler
    events: List[Message] = []
    with ConnectionHandler(fake_cdp.port) as conn:
        conn.register_callback("After.garbage", events.append)
        response = conn.execute_command({"method": "Garbage.first", "params": {"n": 1}},
                                        timeout=5)
        assert response["result"] == {"method": "Garbage.first", "params": {"n": 1}}
        for n in range(3):
            response = conn.execute_command({"method": "Next.cmd", "params": {"n": n}}, timeout=5)
            assert response["result"]["params"] == {"n": n}
        wait_until(lambda: events, 5)
        assert conn.connected is True
    assert events == [{"method": "After.garbage", "params": {"ok": True}}]
    assert len(fake_cdp.conns) == 1  # no reconnect was needed


def test_32mb_answer_delivered_intact(fake_cdp: FakeCDP) -> None:
    size = 32 * 1024 * 1024 + 7
    with ConnectionHandler(fake_cdp.port) as conn:
        response = conn.execute_command({"method": "Test.big", "params": {"size": size}},
                                        timeout=50)
        data = response["result"]["data"]
        assert len(data) == size
        assert data.count("x") == size
        assert conn.execute_command({"method": "A.b"}, timeout=5)["result"]["method"] == "A.b"


def test_32mb_command_sent_intact(fake_cdp: FakeCDP) -> None:
    blob = "0123456789abcdef" * (2 * 1024 * 1024) + "end"  # 32 MB + 3
    with ConnectionHandler(fake_cdp.port) as conn:
        response = conn.execute_command({"method": "Big.cmd", "params": {"blob": blob}},
                                        timeout=50)
    assert fake_cdp.received[-1]["params"]["blob"] == blob
    assert response["result"]["params"]["blob"] == blob
