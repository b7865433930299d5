"""ConnectionHandler events against the fake CDP endpoint: callbacks, waits, logs, dialogs."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any, Dict, List, Optional, Tuple

import pytest
from fake_cdp import FakeCDP, wait_until

from syncdp import ConnectionHandler, exceptions

pytestmark = pytest.mark.timeout(30)

Message = Dict[str, Any]


def emit(conn: ConnectionHandler, *events: Tuple[str, Any], delay: Optional[float] = None) -> None:
    """Have the fake send ``events`` (before its answer, or ``delay`` s after it)."""
    params: Dict[str, Any] = {"events": [{"method": m, "params": p} for m, p in events]}
    if delay is not None:
        params["delay"] = delay
    conn.execute_command({"method": "Test.emit", "params": params}, timeout=5)


def burst(conn: ConnectionHandler, method: str, n: int) -> None:
    """Have the fake send ``n`` events ``{"method": method, "params": {"i": i}}``."""
    conn.execute_command({"method": "Test.events", "params": {"n": n, "method": method}},
                         timeout=10)


def param(message: Message, key: str) -> Any:
    # The predicate's argument is not pinned down by the spec (whole message or params):
    # accept both shapes so the tests check matching, not the calling convention.
    params = message.get("params", message) if isinstance(message, dict) else {}
    return params.get(key) if isinstance(params, dict) else None


# -- callbacks ---------------------------------------------------------------------------


def test_callback_receives_full_event_messages(fake_cdp: FakeCDP) -> None:
    got: List[Message] = []
    with ConnectionHandler(fake_cdp.port) as conn:
        conn.register_callback("X.y", got.append)
        burst(conn, "X.y", 3)
        wait_until(lambda: len(got) == 3, 5)
    assert got == [{"method": "X.y", "params": {"i": i}} for i in range(3)]


def test_callbacks_only_get_their_event(fake_cdp: FakeCDP) -> None:
    a: List[Message] = []
    b: List[Message] = []
    with ConnectionHandler(fake_cdp.port) as conn:
        conn.register_callback("A.a", a.append)
        conn.register_callback("B.b", b.append)
        emit(conn, ("A.a", {"n": 1}), ("C.c", {}), ("B.b", {"n": 2}), ("A.a", {"n": 3}))
        wait_until(lambda: len(a) == 2 and len(b) == 1, 5)
    assert [m["params"]["n"] for m in a] == [1, 3]
    assert [m["params"]["n"] for m in b] == [2]


def test_callbacks_run_on_one_dispatcher_thread(fake_cdp: FakeCDP) -> None:
    names: List[str] = []

    def record(_: Message) -> None:
        names.append(threading.current_thread().name)

    with ConnectionHandler(fake_cdp.port) as conn:
        conn.register_callback("A.a", record)
        conn.register_callback("B.b", record)
        emit(conn, ("A.a", {}), ("B.b", {}), ("A.a", {}))
        burst(conn, "B.b", 5)
        wait_until(lambda: len(names) == 8, 5)
    assert len(set(names)) == 1
    assert names[0].startswith("syncdp-dispatcher-")


def test_callbacks_for_one_event_run_in_registration_order(fake_cdp: FakeCDP) -> None:
    log: List[Tuple[str, int]] = []
    with ConnectionHandler(fake_cdp.port) as conn:
        for tag in ("first", "second", "third"):
            conn.register_callback("X.y", lambda m, tag=tag: log.append((tag, m["params"]["i"])))
        burst(conn, "X.y", 4)
        wait_until(lambda: len(log) == 12, 5)
    assert log == [(tag, i) for i in range(4) for tag in ("first", "second", "third")]


def test_events_of_different_names_dispatched_in_arrival_order(fake_cdp: FakeCDP) -> None:
    seen: List[int] = []
    with ConnectionHandler(fake_cdp.port) as conn:
        for name in ("A.a", "B.b", "C.c"):
            conn.register_callback(name, lambda m: seen.append(m["params"]["seq"]))
        names = ["A.a", "B.b", "C.c", "C.c", "A.a", "B.b", "A.a"] * 5
        emit(conn, *[(name, {"seq": seq}) for seq, name in enumerate(names)])
        wait_until(lambda: len(seen) == len(names), 5)
    assert seen == list(range(len(names)))


def test_coroutine_callbacks_run_to_completion_in_order(fake_cdp: FakeCDP) -> None:
    log: List[Tuple[str, int, str]] = []

    async def async_cb(message: Message) -> None:
        await asyncio.sleep(0.01)  # a real suspension: the next callback must still wait
        log.append(("async", message["params"]["i"], threading.current_thread().name))

    def sync_cb(message: Message) -> None:
        log.append(("sync", message["params"]["i"], threading.current_thread().name))

    with ConnectionHandler(fake_cdp.port) as conn:
        conn.register_callback("X.y", async_cb)
        conn.register_callback("X.y", sync_cb)
        burst(conn, "X.y", 3)
        wait_until(lambda: len(log) == 6, 5)
    assert [(kind, i) for kind, i, _ in log] == [
        (kind, i) for i in range(3) for kind in ("async", "sync")
    ]
    assert all(name.startswith("syncdp-dispatcher-") for _, _, name in log)


def test_temporary_callback_fires_once(fake_cdp: FakeCDP) -> None:
    temporary: List[int] = []
    permanent: List[int] = []
    with ConnectionHandler(fake_cdp.port) as conn:
        conn.register_callback("X.y", lambda m: temporary.append(m["params"]["i"]), temporary=True)
        conn.register_callback("X.y", lambda m: permanent.append(m["params"]["i"]))
        burst(conn, "X.y", 3)
        burst(conn, "X.y", 2)
        wait_until(lambda: len(permanent) == 5, 5)
    assert temporary == [0]


def test_register_returns_distinct_ids_and_remove_callback(fake_cdp: FakeCDP) -> None:
    removed: List[Message] = []
    kept: List[Message] = []
    with ConnectionHandler(fake_cdp.port) as conn:
        first = conn.register_callback("X.y", removed.append)
        second = conn.register_callback("X.y", kept.append)
        assert isinstance(first, int) and isinstance(second, int) and first != second
        assert conn.remove_callback(first) is True
        assert conn.remove_callback(first) is False
        assert conn.remove_callback(max(first, second) + 1000) is False
        burst(conn, "X.y", 2)
        wait_until(lambda: len(kept) == 2, 5)  # same event, dispatched after `removed`'s slot
    assert removed == []


def test_clear_callbacks_removes_all(fake_cdp: FakeCDP) -> None:
    cleared: List[Message] = []
    barrier: List[Message] = []
    with ConnectionHandler(fake_cdp.port) as conn:
        conn.register_callback("A.a", cleared.append)
        conn.register_callback("B.b", cleared.append)
        assert conn.clear_callbacks() is None
        conn.register_callback("Z.z", barrier.append)
        emit(conn, ("A.a", {}), ("B.b", {}), ("Z.z", {}))
        wait_until(lambda: barrier, 5)  # dispatched strictly after A.a and B.b
    assert cleared == []


def test_register_callback_from_inside_callback(fake_cdp: FakeCDP) -> None:
    late: List[int] = []
    registered = threading.Event()
    with ConnectionHandler(fake_cdp.port) as conn:

        def first(message: Message) -> None:
            if not registered.is_set():
                conn.register_callback("X.y", lambda m: late.append(m["params"]["i"]))
                registered.set()

        conn.register_callback("X.y", first)
        burst(conn, "X.y", 1)
        assert registered.wait(5), "callback did not run (or register_callback deadlocked)"
        burst(conn, "X.y", 3)
        wait_until(lambda: late[-3:] == [0, 1, 2], 5)


def test_remove_callback_from_inside_callback(fake_cdp: FakeCDP) -> None:
    once: List[int] = []
    results: List[bool] = []
    barrier: List[int] = []
    with ConnectionHandler(fake_cdp.port) as conn:
        ids: List[int] = []

        def remove_myself(message: Message) -> None:
            once.append(message["params"]["i"])
            results.append(conn.remove_callback(ids[0]))

        ids.append(conn.register_callback("X.y", remove_myself))
        conn.register_callback("X.y", lambda m: barrier.append(m["params"]["i"]))
        burst(conn, "X.y", 3)
        wait_until(lambda: len(barrier) == 3, 5)
    assert once == [0]
    assert results == [True]


@pytest.mark.parametrize("kind", ["function", "coroutine"])
def test_raising_callback_is_logged_and_later_events_delivered(
    fake_cdp: FakeCDP, caplog: pytest.LogCaptureFixture, kind: str
) -> None:
    caplog.set_level(logging.ERROR)
    seen: List[int] = []

    def explode(message: Message) -> None:
        seen.append(message["params"]["i"])
        if message["params"]["i"] == 0:
            raise RuntimeError("kaboom-from-callback")

    async def explode_async(message: Message) -> None:
        await asyncio.sleep(0)
        explode(message)

    with ConnectionHandler(fake_cdp.port) as conn:
        conn.register_callback("X.y", explode if kind == "function" else explode_async)
        burst(conn, "X.y", 3)
        wait_until(lambda: len(seen) == 3, 5)
        records = wait_until(
            lambda: [r for r in caplog.records if r.exc_info and r.exc_info[0] is RuntimeError],
            5,
            message="the callback's exception was not logged with its traceback",
        )
        # the connection still works too
        assert conn.execute_command({"method": "A.b"})["result"]["method"] == "A.b"
    assert seen == [0, 1, 2]
    assert records[0].name.startswith("syncdp.connection")
    assert records[0].levelno >= logging.ERROR
    assert "kaboom-from-callback" in str(records[0].exc_info[1])


def test_callback_can_execute_commands(fake_cdp: FakeCDP) -> None:
    results: List[Any] = []
    with ConnectionHandler(fake_cdp.port) as conn:

        def call_back_in(message: Message) -> None:
            i = message["params"]["i"]
            response = conn.execute_command({"method": "Inner.cmd", "params": {"i": i}}, timeout=5)
            results.append(response["result"]["params"]["i"])
            results.append(conn.send("Inner.send", {"i": i}, timeout=5)["params"]["i"])

        conn.register_callback("X.y", call_back_in)
        burst(conn, "X.y", 3)
        wait_until(lambda: len(results) == 6, 10)
    assert results == [0, 0, 1, 1, 2, 2]


def test_slow_callback_does_not_delay_command_answers(fake_cdp: FakeCDP) -> None:
    entered = threading.Event()
    gate = threading.Event()
    with ConnectionHandler(fake_cdp.port) as conn:
        conn.register_callback("Slow.e", lambda m: (entered.set(), gate.wait(15)))
        try:
            emit(conn, ("Slow.e", {}))
            assert entered.wait(5)
            start = time.monotonic()
            for i in range(20):
                response = conn.execute_command({"method": "A.b", "params": {"i": i}}, timeout=5)
                assert response["result"]["params"] == {"i": i}
            # events keep arriving, and waits resolve, while the dispatcher is busy
            with conn.expect_event("Other.e", timeout=5) as ev:
                emit(conn, ("Other.e", {"n": 1}))
            assert ev.value == {"method": "Other.e", "params": {"n": 1}}
            assert time.monotonic() - start < 1.5
        finally:
            gate.set()


# -- expect_event / wait_for_event -------------------------------------------------------


def test_expect_event_returns_first_matching_message(fake_cdp: FakeCDP) -> None:
    with ConnectionHandler(fake_cdp.port) as conn:
        with conn.expect_event("X.y", predicate=lambda m: param(m, "i") == 2, timeout=5) as ev:
            burst(conn, "X.y", 5)
        assert ev.value == {"method": "X.y", "params": {"i": 2}}
        with conn.expect_event("X.y", timeout=5) as first:
            burst(conn, "X.y", 5)
        assert first.value == {"method": "X.y", "params": {"i": 0}}


def test_expect_event_timeout_raises_event_timeout_error(fake_cdp: FakeCDP) -> None:
    with ConnectionHandler(fake_cdp.port) as conn:
        start = time.monotonic()
        with pytest.raises(exceptions.EventTimeoutError) as info:
            with conn.expect_event("Never.happens", timeout=0.3):
                burst(conn, "X.y", 2)
        assert time.monotonic() - start < 3.0
        assert isinstance(info.value, TimeoutError)
        assert info.value.event == "Never.happens"
        assert conn.execute_command({"method": "A.b"})["result"]["method"] == "A.b"


def test_wait_for_event_returns_message(fake_cdp: FakeCDP) -> None:
    with ConnectionHandler(fake_cdp.port) as conn:
        emit(conn, ("Late.e", {"k": 1}), delay=0.3)
        assert conn.wait_for_event("Late.e", timeout=5) == {"method": "Late.e", "params": {"k": 1}}


def test_wait_for_event_with_predicate(fake_cdp: FakeCDP) -> None:
    with ConnectionHandler(fake_cdp.port) as conn:
        emit(conn, *[("Late.e", {"k": k}) for k in range(1, 5)], delay=0.3)
        message = conn.wait_for_event("Late.e", predicate=lambda m: param(m, "k") == 3, timeout=5)
    assert message == {"method": "Late.e", "params": {"k": 3}}


def test_wait_for_event_timeout(fake_cdp: FakeCDP) -> None:
    with ConnectionHandler(fake_cdp.port) as conn:
        conn.connect()
        start = time.monotonic()
        with pytest.raises(exceptions.EventTimeoutError) as info:
            conn.wait_for_event("Never.happens", timeout=0.3)
        elapsed = time.monotonic() - start
        assert 0.25 <= elapsed < 2.5
        assert isinstance(info.value, TimeoutError)
        assert conn.execute_command({"method": "A.b"})["result"]["method"] == "A.b"


def test_wait_for_event_inside_callback(fake_cdp: FakeCDP) -> None:
    got: List[Any] = []
    with ConnectionHandler(fake_cdp.port) as conn:

        def on_first(_: Message) -> None:
            try:
                got.append(conn.wait_for_event("Second.e", timeout=5))
            except Exception as exc:  # surfaced by the assertion below
                got.append(exc)

        conn.register_callback("First.e", on_first)
        emit(conn, ("First.e", {}))
        emit(conn, ("Second.e", {"n": 2}), delay=0.5)
        wait_until(lambda: got, 10)
    assert got == [{"method": "Second.e", "params": {"n": 2}}]


def test_expect_event_inside_callback(fake_cdp: FakeCDP) -> None:
    got: List[Any] = []
    with ConnectionHandler(fake_cdp.port) as conn:

        def on_first(_: Message) -> None:
            try:
                with conn.expect_event("Second.e", timeout=5) as ev:
                    emit(conn, ("Second.e", {"n": 2}))
                got.append(ev.value)
            except Exception as exc:
                got.append(exc)

        conn.register_callback("First.e", on_first)
        emit(conn, ("First.e", {}))
        wait_until(lambda: got, 10)
    assert got == [{"method": "Second.e", "params": {"n": 2}}]


# -- network_logs / dialog ---------------------------------------------------------------


def test_network_logs_collects_request_will_be_sent(fake_cdp: FakeCDP) -> None:
    first = {"requestId": "1", "request": {"url": "http://a.test/", "method": "GET"}}
    second = {"requestId": "2", "request": {"url": "http://b.test/", "method": "POST"}}
    with ConnectionHandler(fake_cdp.port) as conn:
        assert list(conn.network_logs) == []
        emit(
            conn,
            ("Network.requestWillBeSent", first),
            ("Network.responseReceived", {"requestId": "1"}),
            ("Network.requestWillBeSent", second),
        )
        logs = wait_until(lambda: list(conn.network_logs) if len(conn.network_logs) >= 2 else None,
                          5)
    assert logs == [
        {"method": "Network.requestWillBeSent", "params": first},
        {"method": "Network.requestWillBeSent", "params": second},
    ]


def test_dialog_tracks_open_and_closed(fake_cdp: FakeCDP) -> None:
    opening = {"url": "about:blank", "message": "hello", "type": "alert",
               "hasBrowserHandler": False, "defaultPrompt": ""}
    with ConnectionHandler(fake_cdp.port) as conn:
        assert not conn.dialog
        emit(conn, ("Page.javascriptDialogOpening", opening))
        wait_until(lambda: conn.dialog, 5)
        assert conn.dialog == {"method": "Page.javascriptDialogOpening", "params": opening}
        emit(conn, ("Page.javascriptDialogClosed", {"result": True, "userInput": ""}))
        wait_until(lambda: not conn.dialog, 5, message="dialog still set after it closed")


# -- wildcard listeners --------------------------------------------------------------------


def test_wildcard_callback_receives_every_event_in_wire_order(fake_cdp: FakeCDP) -> None:
    seen: List[str] = []
    with ConnectionHandler(fake_cdp.port) as conn:
        conn.register_callback("*", lambda event: seen.append(event["method"]))
        emit(conn, ("A.one", {}), ("B.two", {}), ("A.one", {}))
        wait_until(lambda: len(seen) == 3, 5)
    assert seen == ["A.one", "B.two", "A.one"]


def test_wildcard_callback_can_be_removed(fake_cdp: FakeCDP) -> None:
    seen: List[str] = []
    with ConnectionHandler(fake_cdp.port) as conn:
        callback_id = conn.register_callback("*", lambda event: seen.append(event["method"]))
        assert conn.remove_callback(callback_id) is True
        later: List[str] = []
        conn.register_callback("C.last", lambda event: later.append(event["method"]))
        emit(conn, ("A.one", {}), ("C.last", {}))
        wait_until(lambda: later, 5)
    assert seen == []


@pytest.mark.parametrize("name", ["", "nodot", ".", 5, None, b"A.b"])
def test_event_names_that_can_never_match_are_refused(fake_cdp: FakeCDP, name: Any) -> None:
    with ConnectionHandler(fake_cdp.port) as conn:
        with pytest.raises(exceptions.InvalidCommand, match="event_name"):
            conn.register_callback(name, lambda event: None)
        with pytest.raises(exceptions.InvalidCommand, match="event_name"):
            conn.expect_event(name)
