"""Faults on a live connection, against the fake CDP endpoint (tests/fake_cdp.py).

Scenarios 1-7, 10-16 and 25 of issue 8: resets, close frames, silence, error answers, bad
ids, garbage frames, huge messages, event floods, wire order, failing and re-entrant
callbacks, many threads, Ctrl-C and close(). "Fast" is under 1 s; each test records its
time to fail for the figure (tests/faults/conftest.py).
"""

from __future__ import annotations

import _thread
import base64
import logging
import os
import statistics
import threading
import time
import traceback
from concurrent.futures import Future
from typing import Any, Dict, List, Tuple

import pytest
from fake_cdp import FakeCDP, FakeConn, wait_until
from faultkit import run_in_thread, sha256

from syncdp import (
    CommandError,
    CommandTimeoutError,
    ConnectionClosedError,
    ConnectionHandler,
    SyncdpConnectionError,
)

Message = Dict[str, Any]
FAST = 1.0  # seconds: the "fails fast"


def readers() -> List[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("syncdp-reader-")]


def connect_and_get_reader(conn: ConnectionHandler) -> threading.Thread:
    before = set(readers())
    conn.connect()
    new = [t for t in readers() if t not in before]
    assert len(new) == 1, new
    return new[0]


def received(fake: FakeCDP, method: str) -> List[Message]:
    return [m for m in list(fake.received) if m.get("method") == method]


# -- 1. TCP reset ------------------------------------------------------------------------------


@pytest.mark.scenario("1", "TCP reset, 50 commands pending from 8 threads")
@pytest.mark.timeout(30)
def test_tcp_reset_fails_every_pending_command_fast(fake_cdp: FakeCDP, figure: Any) -> None:
    shares = [7, 7, 6, 6, 6, 6, 6, 6]
    assert sum(shares) == 50
    failures: List[Tuple[BaseException, float]] = []
    lock = threading.Lock()

    def note(exc: BaseException) -> None:
        with lock:
            failures.append((exc, time.monotonic()))

    with ConnectionHandler(fake_cdp.port) as conn:
        conn.connect()

        def worker(k: int) -> None:
            futures: List["Future[Message]"] = []
            for i in range(shares[k] - 1):
                future = conn.submit({"method": "Test.noAnswer", "params": {"w": k, "i": i}})
                future.add_done_callback(lambda f: note(f.exception() or AssertionError(f)))
                futures.append(future)
            try:
                conn.execute_command({"method": "Test.noAnswer", "params": {"w": k}}, timeout=30)
            except BaseException as exc:  # collected and asserted below
                note(exc)
            else:
                note(AssertionError("an unanswered command returned"))

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
        for thread in threads:
            thread.start()
        wait_until(lambda: len(received(fake_cdp, "Test.noAnswer")) == 50, 10)
        wait_until(lambda: conn.pending_commands == 50, 5)
        start = time.monotonic()
        fake_cdp.conns[0].drop()
        for thread in threads:
            thread.join(10)
        assert not any(t.is_alive() for t in threads), "a caller is still blocked"
        wait_until(lambda: len(failures) == 50, 5)
        slowest = max(at for _, at in failures) - start
        figure.time_to_fail(slowest)
        assert [type(e) for e, _ in failures] == [ConnectionClosedError] * 50, failures[:3]
        assert slowest < FAST, "the last pending command failed after %.3fs" % slowest
        assert conn.pending_commands == 0


# -- 2. close frame ----------------------------------------------------------------------------


@pytest.mark.scenario("2", "close frame with code and reason")
@pytest.mark.timeout(30)
def test_close_frame_code_and_reason_reach_the_error(fake_cdp: FakeCDP, figure: Any) -> None:
    with ConnectionHandler(fake_cdp.ws_url) as conn:
        other = conn.submit({"method": "Test.noAnswer"})
        start = time.monotonic()
        with pytest.raises(ConnectionClosedError) as info:
            conn.execute_command({"method": "Test.close"}, timeout=10)  # 4001 "bye"
        figure.time_to_fail(time.monotonic() - start)
        for error in (info.value, other.exception(timeout=5)):
            assert isinstance(error, ConnectionClosedError)
            assert (error.close_code, error.close_reason) == (4001, "bye")
            assert "4001" in str(error) and "bye" in str(error)
        assert time.monotonic() - start < FAST
        assert conn.pending_commands == 0


# -- 3. a command after close() ---------------------------------------------------------------


@pytest.mark.scenario("3", "command after close(): reconnects lazily or fails at once")
@pytest.mark.timeout(30)
def test_command_after_close_reconnects_or_fails_at_once(fake_cdp: FakeCDP, figure: Any) -> None:
    conn = ConnectionHandler(fake_cdp.port)
    try:
        conn.send("A.first")
        box = run_in_thread(
            lambda: conn.execute_command({"method": "Test.noAnswer"}, timeout=30)
        )
        wait_until(lambda: conn.pending_commands == 1, 5)
        start = time.monotonic()
        conn.close()
        box["thread"].join(5)
        assert isinstance(box.get("error"), ConnectionClosedError), box
        figure.time_to_fail(box["at"] - start)
        assert box["at"] - start < FAST, "a command pending across close() waited"
        start = time.monotonic()
        try:
            result = conn.send("A.again", {"n": 2}, timeout=5)
        except SyncdpConnectionError:
            elapsed = time.monotonic() - start
            figure.note("after close(): failed at once")
        else:
            elapsed = time.monotonic() - start
            # The documented behaviour: like a new handler, it connects lazily.
            assert result == {"method": "A.again", "params": {"n": 2}}
            assert len(fake_cdp.conns) == 2 and conn.connection_count == 2
            figure.note("after close(): reconnected in %.0f ms" % (elapsed * 1000))
        assert elapsed < FAST, "the command after close() took %.3fs" % elapsed
    finally:
        conn.close()


# -- 4. silence --------------------------------------------------------------------------------


@pytest.mark.scenario("4", "server never answers: timeout names the method; late answer dropped")
@pytest.mark.timeout(30)
def test_no_answer_times_out_and_a_late_answer_is_dropped(
    fake_cdp: FakeCDP, figure: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="syncdp.connection.commands")
    with ConnectionHandler(fake_cdp.ws_url) as conn:
        reader = connect_and_get_reader(conn)
        start = time.monotonic()
        with pytest.raises(CommandTimeoutError) as info:
            conn.execute_command({"method": "Test.noAnswer"}, timeout=0.3)
        elapsed = time.monotonic() - start
        figure.time_to_fail(elapsed)
        assert 0.3 <= elapsed < 0.3 + FAST
        assert info.value.method == "Test.noAnswer" and "Test.noAnswer" in str(info.value)
        assert isinstance(info.value, TimeoutError) and info.value.timeout == 0.3
        assert conn.pending_commands == 0
        # An answer that arrives after its caller gave up is dropped, not misdelivered.
        with pytest.raises(CommandTimeoutError):
            conn.execute_command({"method": "Test.sleep", "params": {"seconds": 0.4}}, timeout=0.1)
        late_id = wait_until(lambda: received(fake_cdp, "Test.sleep"), 5)[0]["id"]
        wait_until(
            lambda: any("expired command id %s" % late_id in r.getMessage() for r in caplog.records),
            5,
            message="the late answer was not seen (and dropped) by the reader",
        )
        assert conn.send("A.after", {"k": 1}) == {"method": "A.after", "params": {"k": 1}}
        assert reader.is_alive() and conn.connection_count == 1
        assert conn.pending_commands == 0


# -- 5. error answer ---------------------------------------------------------------------------


@pytest.mark.scenario("5", "error answer: CommandError fields; traceback shows the caller")
@pytest.mark.timeout(30)
def test_error_answer_keeps_fields_and_the_callers_traceback(fake_cdp: FakeCDP) -> None:
    with ConnectionHandler(fake_cdp.ws_url) as conn:
        with pytest.raises(CommandError) as info:
            conn.send("Test.error", {"x": 1})
        error = info.value
        assert (error.method, error.code, error.message, error.data) == (
            "Test.error", -32000, "boom", "extra"
        )
        assert "Test.error" in str(error) and "boom" in str(error) and "-32000" in str(error)
        frames = traceback.extract_tb(error.__traceback__)
        names = [frame.name for frame in frames]
        assert names[0] == "test_error_answer_keeps_fields_and_the_callers_traceback", names
        assert "_read_loop" not in names
        # An error created on the reader thread (connection lost) is raised on the caller's.
        with pytest.raises(ConnectionClosedError) as lost:
            conn.execute_command({"method": "Test.drop"}, timeout=10)
        names = [f.name for f in traceback.extract_tb(lost.value.__traceback__)]
        assert names[0] == "test_error_answer_keeps_fields_and_the_callers_traceback", names
        assert "_read_loop" not in names and "_teardown" not in names


# -- 6. unknown and duplicate ids --------------------------------------------------------------


@pytest.mark.scenario("6", "answers with unknown or duplicate ids: ignored, reader alive")
@pytest.mark.timeout(30)
def test_unknown_and_duplicate_ids_are_ignored(fake_cdp: FakeCDP) -> None:
    def handler(conn: FakeConn, message: Message) -> Any:
        if message["method"] == "Dup.x":
            cid = message["id"]
            conn.reply(cid + 1, {"premature": True})  # an id not sent yet
            conn.reply(cid, {"first": True})
            conn.reply(cid, {"second": True})  # duplicate
            conn.reply(10**9, {"ghost": True})
            conn.reply(-5, {"negative": True})
            conn.reply(0, {"zero": True})
            return None
        return FakeCDP.echo(conn, message)

    fake_cdp.handler = handler
    with ConnectionHandler(fake_cdp.ws_url) as conn:
        reader = connect_and_get_reader(conn)
        for k in range(3):
            assert conn.send("Dup.x") == {"first": True}
            assert conn.send("A.next", {"k": k}) == {"method": "A.next", "params": {"k": k}}
        assert reader.is_alive() and conn.connection_count == 1
        assert conn.pending_commands == 0


# -- 7. garbage frames -------------------------------------------------------------------------

JUNK: List[Any] = [
    "not json {",
    "",
    b"\x00\xffbinary",
    b"",
    "[1, 2, 3]",
    '"just a string"',
    "null",
    "42",
    '{"id": "7", "result": {}}',
    '{"id": 1.5, "result": {}}',
    '{"id": true, "result": {}}',
    '{"id": [1], "result": {}}',
    '{"id": {"a": 1}, "result": {}}',
    '{"method": 42, "params": {}}',
    '{"params": {}}',
]


@pytest.mark.scenario("7", "malformed, empty, binary, non-object frames, wrong id types")
@pytest.mark.timeout(30)
def test_garbage_frames_are_skipped_with_a_warning(
    fake_cdp: FakeCDP, caplog: pytest.LogCaptureFixture
) -> None:
    def handler(conn: FakeConn, message: Message) -> Any:
        if message["method"] == "Junk.x":
            for frame in JUNK:
                conn.send_raw(frame)
            return {"after": "junk"}
        return FakeCDP.echo(conn, message)

    fake_cdp.handler = handler
    caplog.set_level(logging.WARNING, logger="syncdp")
    with ConnectionHandler(fake_cdp.ws_url) as conn:
        reader = connect_and_get_reader(conn)
        assert conn.send("Junk.x") == {"after": "junk"}
        warnings = [
            r for r in caplog.records
            if r.name in ("syncdp.connection.router", "syncdp.transports.websocket")
            and r.levelno == logging.WARNING
        ]
        # One warning per skipped frame, logged before the answer that followed them.
        assert len(warnings) == len(JUNK), [r.getMessage()[:80] for r in warnings]
        assert sum("binary frame" in r.getMessage() for r in warnings) == 2
        assert conn.send("A.next") == {"method": "A.next", "params": {}}
        assert reader.is_alive() and conn.connection_count == 1


# -- 10. big messages --------------------------------------------------------------------------


@pytest.mark.scenario("10", "100 MB incoming message and 5 MB outgoing command, intact")
@pytest.mark.timeout(120)
def test_huge_messages_arrive_intact(fake_cdp: FakeCDP, figure: Any) -> None:
    down = base64.b64encode(os.urandom(75_000_000)).decode("ascii")  # 100,000,000 chars
    up = base64.b64encode(os.urandom(3_750_000)).decode("ascii")  # 5,000,000 chars
    assert len(down) == 100_000_000 and len(up) == 5_000_000

    def handler(conn: FakeConn, message: Message) -> Any:
        if message["method"] == "Big.down":
            return {"data": down}
        if message["method"] == "Big.up":
            data = message["params"]["data"]
            return {"sha256": sha256(data), "length": len(data)}
        return FakeCDP.echo(conn, message)

    fake_cdp.handler = handler
    with ConnectionHandler(fake_cdp.ws_url) as conn:
        start = time.monotonic()
        result = conn.send("Big.down", timeout=90)
        took_down = time.monotonic() - start
        assert len(result["data"]) == len(down) and sha256(result["data"]) == sha256(down)
        del result
        start = time.monotonic()
        echoed = conn.send("Big.up", {"data": up}, timeout=60)
        took_up = time.monotonic() - start
        assert echoed == {"sha256": sha256(up), "length": len(up)}
        assert conn.send("A.after") == {"method": "A.after", "params": {}}
        assert conn.connection_count == 1
    figure.note("100 MB in %.2f s, 5 MB up in %.2f s" % (took_down, took_up))


# -- 11. event flood with a slow callback ------------------------------------------------------


@pytest.mark.scenario("11", "10,000 events behind a slow callback: command latency")
@pytest.mark.timeout(60)
def test_event_backlog_does_not_delay_commands(fake_cdp: FakeCDP, figure: Any) -> None:
    gate = threading.Event()
    delivered: List[int] = []

    def slow(event: Message) -> None:
        gate.wait(30)  # the dispatcher is stuck here until the latencies are measured
        delivered.append(event["params"]["i"])

    def latencies_of(conn: ConnectionHandler, n: int) -> List[float]:
        out = []
        for i in range(n):
            start = time.monotonic()
            assert conn.send("Ping.x", {"i": i}) == {"method": "Ping.x", "params": {"i": i}}
            out.append(time.monotonic() - start)
        return out

    with ConnectionHandler(fake_cdp.ws_url) as conn:
        baseline = latencies_of(conn, 50)  # the same commands with no backlog
        conn.register_callback("Flood.e", slow)
        # The answer follows the 10,000 events on the wire: when it is back, all are queued.
        conn.execute_command(
            {"method": "Test.events", "params": {"n": 10_000, "method": "Flood.e"}}, timeout=30
        )
        latencies = latencies_of(conn, 50)
        backlog_held = not gate.is_set() and len(delivered) == 0
        gate.set()
        wait_until(lambda: len(delivered) == 10_000, 30)
        assert backlog_held, "the callback ran before the gate opened"
        assert delivered == list(range(10_000)), "events were delivered out of order"
    p90 = sorted(latencies)[int(len(latencies) * 0.9)]
    figure.note(
        "latency with 10k queued: median %.2f ms, p90 %.2f ms, max %.2f ms (idle median %.2f ms)"
        % (statistics.median(latencies) * 1000, p90 * 1000, max(latencies) * 1000,
           statistics.median(baseline) * 1000)
    )
    assert statistics.median(latencies) < 0.010, latencies
    assert p90 < 0.050, latencies


# -- 12. wire order ----------------------------------------------------------------------------


@pytest.mark.scenario("12", "events before and after a response: wire order")
@pytest.mark.timeout(30)
def test_events_are_observed_in_wire_order_around_the_response(fake_cdp: FakeCDP) -> None:
    seen: List[int] = []
    with ConnectionHandler(fake_cdp.ws_url) as conn:
        conn.register_callback("Seq.e", lambda e: seen.append(e["params"]["n"]))
        before = [
            {"method": "Seq.e", "params": {"n": 0}},
            {"method": "Network.requestWillBeSent", "params": {"requestId": "before"}},
            {"method": "Page.javascriptDialogOpening", "params": {"type": "alert", "message": "m"}},
            {"method": "Seq.e", "params": {"n": 1}},
        ]
        conn.execute_command({"method": "Test.emit", "params": {"events": before}})
        # Sent before the answer: observed by the time execute_command returns, no waiting.
        assert [e["params"]["requestId"] for e in conn.network_logs] == ["before"]
        assert conn.dialog["params"]["message"] == "m"
        after = [
            {"method": "Seq.e", "params": {"n": 2}},
            {"method": "Network.requestWillBeSent", "params": {"requestId": "after"}},
            {"method": "Seq.e", "params": {"n": 3}},
        ]
        conn.execute_command({"method": "Test.emit", "params": {"events": after, "delay": 0.2}})
        assert [e["params"]["requestId"] for e in conn.network_logs] == ["before"]
        wait_until(lambda: len(conn.network_logs) == 2, 5)
        wait_until(lambda: len(seen) == 4, 5)
        assert seen == [0, 1, 2, 3]
        assert [e["params"]["requestId"] for e in conn.network_logs] == ["before", "after"]


# -- 13. a callback that raises ----------------------------------------------------------------


@pytest.mark.scenario("13", "callback raises: logged with traceback; later events delivered")
@pytest.mark.timeout(30)
def test_raising_callback_is_logged_and_dispatch_goes_on(
    fake_cdp: FakeCDP, caplog: pytest.LogCaptureFixture, excepthook_records: List[Any]
) -> None:
    caplog.set_level(logging.ERROR, logger="syncdp")
    calls: List[int] = []
    others: List[int] = []

    def bad(event: Message) -> None:
        calls.append(event["params"]["n"])
        if event["params"]["n"] == 0:
            raise ValueError("kaboom-13")

    with ConnectionHandler(fake_cdp.ws_url) as conn:
        conn.register_callback("Boom.e", bad)
        conn.register_callback("Boom.e", lambda e: others.append(e["params"]["n"]))
        events = [{"method": "Boom.e", "params": {"n": n}} for n in (0, 1)]
        conn.execute_command({"method": "Test.emit", "params": {"events": events}})
        conn.execute_command(
            {"method": "Test.emit", "params": {"events": [{"method": "Boom.e", "params": {"n": 2}}]}}
        )
        wait_until(lambda: len(others) == 3, 5)
        assert calls == [0, 1, 2] and others == [0, 1, 2]
    failed = [r for r in caplog.records if r.exc_info and "kaboom-13" in str(r.exc_info[1])]
    assert len(failed) == 1, [r.getMessage() for r in caplog.records]
    record = failed[0]
    assert record.levelno == logging.ERROR and record.exc_info is not None
    assert record.exc_info[0] is ValueError and "Boom.e" in record.getMessage()
    text = logging.Formatter().format(record)
    assert "Traceback" in text and "in bad" in text and "kaboom-13" in text
    assert excepthook_records == []


# -- 14. re-entrant callback -------------------------------------------------------------------


@pytest.mark.scenario("14", "callback sends commands and waits for events: no deadlock")
@pytest.mark.timeout(30)
def test_callback_may_send_commands_and_wait_for_events(fake_cdp: FakeCDP) -> None:
    done = threading.Event()
    results: Dict[str, Any] = {}
    with ConnectionHandler(fake_cdp.ws_url) as conn:

        def on_trigger(event: Message) -> None:
            try:
                results["command"] = conn.send("Inner.cmd", {"k": 1}, timeout=5)
                with conn.expect_event("Inner.done", timeout=5) as expectation:
                    conn.execute_command(
                        {
                            "method": "Test.emit",
                            "params": {"events": [{"method": "Inner.done"}], "delay": 0.05},
                        },
                        timeout=5,
                    )
                results["event"] = expectation.value["method"]
                conn.execute_command(
                    {"method": "Test.emit", "params": {"events": [{"method": "Inner.w"}],
                                                       "delay": 0.05}},
                    timeout=5,
                )
                results["waited"] = conn.wait_for_event("Inner.w", timeout=5)["method"]
            except BaseException as exc:  # reported by the assertions below
                results["error"] = exc
            finally:
                done.set()

        conn.register_callback("Trigger.e", on_trigger)
        conn.execute_command({"method": "Test.emit", "params": {"events": [{"method": "Trigger.e"}]}})
        assert done.wait(15), "the callback deadlocked"
        assert "error" not in results, results
        assert results == {
            "command": {"method": "Inner.cmd", "params": {"k": 1}},
            "event": "Inner.done",
            "waited": "Inner.w",
        }
        assert conn.send("A.after") == {"method": "A.after", "params": {}}


# -- 15. many threads --------------------------------------------------------------------------


@pytest.mark.scenario("15", "16 threads x 1,000 commands: each answer once, to its caller")
@pytest.mark.timeout(120)
def test_16_threads_x_1000_commands(fake_cdp: FakeCDP, figure: Any) -> None:
    errors: List[BaseException] = []
    answers: List[int] = [0] * 16

    with ConnectionHandler(fake_cdp.ws_url) as conn:
        conn.connect()

        def worker(t: int) -> None:
            try:
                for i in range(1000):
                    params = {"t": t, "i": i}
                    assert conn.send("Echo.me", params, timeout=30) == {
                        "method": "Echo.me", "params": params
                    }
                    answers[t] += 1
            except BaseException as exc:  # asserted below
                errors.append(exc)

        start = time.monotonic()
        threads = [threading.Thread(target=worker, args=(t,)) for t in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(100)
        took = time.monotonic() - start
        assert not any(t.is_alive() for t in threads)
        assert errors == []
        assert answers == [1000] * 16
        ids = [m["id"] for m in fake_cdp.received]
        assert len(ids) == 16_000 and len(set(ids)) == 16_000
        # one answer each, all consumed (the server records a frame just after sending it)
        wait_until(lambda: len(fake_cdp.conns[0].sent) == 16_000, 5)
        assert conn.pending_commands == 0
    figure.note("%.0f commands/s" % (16_000 / took))


# -- 16. Ctrl-C --------------------------------------------------------------------------------


def _interrupt_after(delay: float, fired: List[float]) -> threading.Timer:
    def fire() -> None:
        fired.append(time.monotonic())
        _thread.interrupt_main()

    timer = threading.Timer(delay, fire)
    timer.name = "fault-interrupt"
    timer.start()
    return timer


@pytest.mark.scenario("16", "Ctrl-C during execute_command / wait_for_event")
@pytest.mark.parametrize("blocking", ["execute_command", "wait_for_event"])
@pytest.mark.timeout(30)
def test_ctrl_c_lands_promptly_and_the_connection_survives(
    fake_cdp: FakeCDP, figure: Any, blocking: str
) -> None:
    assert threading.current_thread() is threading.main_thread()
    fired: List[float] = []
    with ConnectionHandler(fake_cdp.ws_url) as conn:
        conn.connect()
        timer = _interrupt_after(0.3, fired)
        try:
            with pytest.raises(KeyboardInterrupt):
                if blocking == "execute_command":
                    conn.execute_command({"method": "Test.noAnswer"}, timeout=20)
                else:
                    conn.wait_for_event("Never.happens", timeout=20)
            landed = time.monotonic()
        finally:
            timer.join()
        figure.time_to_fail(landed - fired[0])
        assert landed - fired[0] < FAST
        assert conn.pending_commands == 0
        assert conn.send("A.after", {"ok": 1}) == {"method": "A.after", "params": {"ok": 1}}
        assert conn.connection_count == 1


# -- 25. close() -------------------------------------------------------------------------------


@pytest.mark.scenario("25", "close() twice, from 8 threads at once, after a disconnect")
@pytest.mark.timeout(30)
def test_close_is_idempotent_concurrent_and_prompt(fake_cdp: FakeCDP, figure: Any) -> None:
    conn = ConnectionHandler(fake_cdp.ws_url)
    conn.connect()
    start = time.monotonic()
    conn.close()
    conn.close()
    assert time.monotonic() - start < FAST
    assert not conn.connected

    conn.connect()
    barrier = threading.Barrier(8)
    errors: List[BaseException] = []
    durations: List[float] = []

    def closer() -> None:
        barrier.wait(5)
        began = time.monotonic()
        try:
            conn.close()
        except BaseException as exc:  # asserted below
            errors.append(exc)
        durations.append(time.monotonic() - began)

    threads = [threading.Thread(target=closer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert errors == [] and len(durations) == 8
    assert max(durations) < FAST, durations
    assert not conn.connected

    # After the peer dropped the connection.
    with pytest.raises(ConnectionClosedError):
        conn.execute_command({"method": "Test.drop"}, timeout=10)
    wait_until(lambda: not conn.connected, 5)
    start = time.monotonic()
    conn.close()
    conn.close()
    after_drop = time.monotonic() - start
    assert after_drop < FAST

    # From a callback, on the dispatcher thread itself.
    closed_in_callback = threading.Event()

    def close_from_callback(event: Message) -> None:
        conn.close()
        closed_in_callback.set()

    conn.register_callback("Close.me", close_from_callback)
    # "delay": the answer goes out first, so close() cannot fail this command itself.
    conn.execute_command(
        {"method": "Test.emit", "params": {"events": [{"method": "Close.me"}], "delay": 0.01}}
    )
    assert closed_in_callback.wait(5), "close() from a callback did not return"
    wait_until(lambda: not conn.connected, 5)
    conn.close()
    figure.note("slowest concurrent close %.1f ms" % (max(durations) * 1000))
