"""Connection-layer behaviour found by driving syncdp like a user: bad commands refused
before they reach the wire, switches replayed after a reconnect, no idle threads left after
a loss, a coroutine callback that never ends cannot hold close() hostage."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any, Dict, List

import pytest
from fake_cdp import FakeCDP, wait_until

from syncdp import DISCONNECTED_EVENT, ConnectionHandler, exceptions
from syncdp.exceptions import format_seconds

pytestmark = pytest.mark.timeout(30)

Message = Dict[str, Any]


def syncdp_threads() -> List[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("syncdp-") and t.is_alive()]


# -- commands the browser would answer without an id ------------------------------------


@pytest.mark.parametrize(
    "command, words",
    [
        ({"method": "Browser.getVersion", "foo": 1}, ["'foo'", "params"]),
        ({"method": "A.b", "parms": {"x": 1}, "other": 2}, ["'other'", "'parms'"]),
        ({"method": "A.b", "sessionId": "S1"}, ["sessionId", "attach"]),
        ({"method": "A.b", "params": {"x": float("nan")}}, ["A.b", "JSON"]),
        ({"method": "A.b", "params": {"x": float("inf")}}, ["A.b", "JSON"]),
    ],
)
def test_commands_the_browser_cannot_answer_by_id_are_refused_before_sending(
    fake_cdp: FakeCDP, command: Message, words: List[str]
) -> None:
    with ConnectionHandler(fake_cdp.port) as conn:
        conn.execute_command({"method": "First.one"})
        start = time.monotonic()
        with pytest.raises(exceptions.InvalidCommand) as info:
            conn.execute_command(command, timeout=5)
        assert time.monotonic() - start < 1.0
        for word in words:
            assert word in str(info.value)
        with pytest.raises(exceptions.InvalidCommand):
            conn.submit(command)
        conn.execute_command({"method": "Last.one"})
        assert fake_cdp.received_methods() == ["First.one", "Last.one"]  # nothing else sent
        assert conn.pending_commands == 0


def test_id_in_a_command_is_still_accepted_and_replaced(fake_cdp: FakeCDP) -> None:
    with ConnectionHandler(fake_cdp.port) as conn:
        command = {"id": 999, "method": "A.b", "params": {"n": 1}}
        response = conn.execute_command(command)
        assert response["result"]["params"] == {"n": 1}
        assert command["id"] == 999  # the caller's dict is not modified


# -- what a reconnect restores -----------------------------------------------------------


def test_discover_targets_is_replayed_after_a_reconnect(fake_cdp: FakeCDP) -> None:
    with ConnectionHandler(fake_cdp.port) as conn:
        conn.execute_command({"method": "Target.setDiscoverTargets", "params": {"discover": True}})
        with pytest.raises(exceptions.ConnectionClosedError):
            conn.execute_command({"method": "Test.drop"})
        conn.execute_command({"method": "A.b"})
        second = fake_cdp.wait_for_connections(2)[1]
        fake_cdp.wait_for_received(lambda m: m.get("method") == "A.b", 5)
        methods = [m.get("method") for m in second.received]
        assert methods[:2] == ["Target.setDiscoverTargets", "A.b"]
        assert second.received[0].get("params") == {"discover": True}


def test_discover_targets_switched_off_is_not_replayed(fake_cdp: FakeCDP) -> None:
    with ConnectionHandler(fake_cdp.port) as conn:
        conn.execute_command({"method": "Target.setDiscoverTargets", "params": {"discover": True}})
        conn.execute_command({"method": "Target.setDiscoverTargets", "params": {"discover": False}})
        with pytest.raises(exceptions.ConnectionClosedError):
            conn.execute_command({"method": "Test.drop"})
        conn.execute_command({"method": "A.b"})
        second = fake_cdp.wait_for_connections(2)[1]
        assert [m.get("method") for m in second.received] == ["A.b"]


# -- threads after a loss ----------------------------------------------------------------


def test_a_lost_connection_left_unused_keeps_no_thread(fake_cdp: FakeCDP) -> None:
    before = set(syncdp_threads())
    conn = ConnectionHandler(fake_cdp.port)
    try:
        conn.execute_command({"method": "A.b"})
        assert len(set(syncdp_threads()) - before) == 2
        fake_cdp.stop()  # the browser goes away; nobody calls close()
        wait_until(lambda: set(syncdp_threads()) == before, 5,
                   message="reader or dispatcher still running after the loss")
    finally:
        conn.close()


def test_callbacks_keep_their_order_across_a_reconnect_made_from_a_callback(
    fake_cdp: FakeCDP,
) -> None:
    seen: List[Any] = []
    with ConnectionHandler(fake_cdp.port) as conn:
        conn.register_callback("X.y", lambda e: seen.append(e["params"]["i"]))

        def on_lost(event: Message) -> None:
            seen.append("lost")
            # Reconnects from the old dispatcher; the new one must wait for this to end.
            conn.execute_command({"method": "Test.events", "params": {"n": 3, "method": "X.y"}})
            time.sleep(0.2)
            seen.append("lost-done")

        conn.register_callback(DISCONNECTED_EVENT, on_lost)
        conn.execute_command({"method": "A.b"})
        with pytest.raises(exceptions.ConnectionClosedError):
            conn.execute_command({"method": "Test.drop"})
        wait_until(lambda: len(seen) == 5, 5, message="events lost after the reconnect")
        assert seen == ["lost", "lost-done", 0, 1, 2]
        assert len([t for t in syncdp_threads() if "dispatcher" in t.name]) >= 1
    assert not [t for t in syncdp_threads() if t.name.endswith("-%d" % conn._serial)]


# -- a coroutine callback that never ends -------------------------------------------------


def test_close_cancels_a_coroutine_callback_that_never_returns(fake_cdp: FakeCDP) -> None:
    started = threading.Event()
    cancelled = threading.Event()

    async def forever(event: Message) -> None:
        started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    before = set(syncdp_threads())
    conn = ConnectionHandler(fake_cdp.port)
    conn.register_callback("X.y", forever)
    conn.execute_command({"method": "Test.events", "params": {"n": 1, "method": "X.y"}})
    assert started.wait(5)
    start = time.monotonic()
    conn.close()
    assert time.monotonic() - start < 2.0
    assert cancelled.is_set()
    assert set(syncdp_threads()) == before


# -- messages ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "seconds, text", [(7.94865, "7.95"), (30.0, "30"), (0.5, "0.5"), (0.001, "0.001"), (120, "120")]
)
def test_timeouts_are_written_as_people_write_them(seconds: float, text: str) -> None:
    assert format_seconds(seconds) == text
    assert str(exceptions.CommandTimeoutError("A.b", seconds)).startswith(
        "A.b got no answer within %ss;" % text
    )


def test_timeout_errors_say_which_argument_sets_the_limit() -> None:
    for error in (exceptions.CommandTimeoutError("A.b", 2), exceptions.EventTimeoutError("A.c", 2)):
        text = str(error)
        assert "timeout=" in text and "timeout=None waits without limit" in text, text


# -- submit() futures ----------------------------------------------------------------------


def test_cancelling_a_submitted_command_forgets_it(fake_cdp: FakeCDP) -> None:
    with ConnectionHandler(fake_cdp.port) as conn:
        futures = [conn.submit({"method": "Test.noAnswer"}) for _ in range(5)]
        assert conn.pending_commands == 5
        assert all(f.cancel() for f in futures[:3])
        assert conn.pending_commands == 2
        assert futures[0].cancelled()
        answered = conn.submit({"method": "A.b"})
        assert answered.result(5)["result"]["method"] == "A.b"
        assert not answered.cancel()  # done: nothing to forget
        assert conn.pending_commands == 2


def test_submitted_futures_work_with_the_standard_library(fake_cdp: FakeCDP) -> None:
    from concurrent.futures import as_completed

    with ConnectionHandler(fake_cdp.port) as conn:
        futures = [conn.submit({"method": "A.b", "params": {"i": i}}) for i in range(50)]
        seen = sorted(f.result()["result"]["params"]["i"] for f in as_completed(futures, timeout=10))
        assert seen == list(range(50))
        done: List[int] = []
        late = conn.submit({"method": "A.b", "params": {"i": 99}})
        late.add_done_callback(lambda f: done.append(f.result()["result"]["params"]["i"]))
        wait_until(lambda: done == [99], 5)


def test_close_from_the_old_dispatcher_after_a_reconnect_returns_at_once(fake_cdp: FakeCDP) -> None:
    closed_in: List[float] = []
    before = set(syncdp_threads())
    conn = ConnectionHandler(fake_cdp.port)

    def on_lost(event: Message) -> None:
        conn.execute_command({"method": "A.b"})  # reconnects: a new dispatcher waits for us
        start = time.monotonic()
        conn.close()
        closed_in.append(time.monotonic() - start)

    conn.register_callback(DISCONNECTED_EVENT, on_lost)
    conn.execute_command({"method": "A.b"})
    with pytest.raises(exceptions.ConnectionClosedError):
        conn.execute_command({"method": "Test.drop"})
    wait_until(lambda: closed_in, 15, message="close() from the callback did not return")
    assert closed_in[0] < 2.0
    wait_until(lambda: set(syncdp_threads()) == before, 5, message="threads left")


def test_a_replay_interrupted_by_ctrl_c_is_redone_by_the_next_command(fake_cdp: FakeCDP) -> None:
    import _thread

    held: List[Message] = []

    def handler(conn: Any, message: Message) -> Any:
        # The first X.enable replayed on the second socket is never answered.
        if message.get("method") == "X.enable" and len(fake_cdp.conns) == 2 and not held:
            held.append(message)
            return None
        return FakeCDP.echo(conn, message)

    fake_cdp.handler = handler
    with ConnectionHandler(fake_cdp.port) as conn:
        conn.execute_command({"method": "X.enable"})
        with pytest.raises(exceptions.ConnectionClosedError):
            conn.execute_command({"method": "Test.drop"})
        timer = threading.Timer(0.5, _thread.interrupt_main)
        timer.start()
        try:
            with pytest.raises(KeyboardInterrupt):
                conn.execute_command({"method": "A.b"}, timeout=20)  # stuck in the replay
        finally:
            timer.cancel()
        conn.execute_command({"method": "A.c"}, timeout=5)  # redoes the replay first
        second = fake_cdp.wait_for_connections(2)[1]
        fake_cdp.wait_for_received(lambda m: m.get("method") == "A.c", 5)
        methods = [m.get("method") for m in second.received]
        assert methods == ["X.enable", "X.enable", "A.c"], methods
