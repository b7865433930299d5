"""CommandFuture: a real ``concurrent.futures.Future`` whose Condition is built on first use.

The reader completes it without a Condition while nobody else has looked at it; these tests
check that every way of looking at it (from other threads too) still sees one consistent
Future, as the standard library's own functions expect.
"""

from __future__ import annotations

import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, CancelledError, Future, InvalidStateError, wait
from concurrent.futures import TimeoutError as FuturesTimeoutError
from typing import Any, List

import pytest

from syncdp.connection.commands import CommandFuture, CommandManager

ANSWER = {"id": 1, "result": {}}


def test_is_a_future_completed_without_a_condition() -> None:
    future = CommandFuture()
    assert isinstance(future, Future)
    future.set_result(ANSWER)
    assert "_condition" not in vars(future)  # the cheap path was taken
    assert future.completed.acquire(False)  # the blocked caller's lock was released
    assert future.outcome() is ANSWER
    # Future's own API works afterwards (and builds the Condition then).
    assert future.done() and not future.cancelled() and future.result(0) is ANSWER
    with pytest.raises(InvalidStateError):
        future.set_result(ANSWER)


def test_exception_path_raises_the_callers_exception() -> None:
    future = CommandFuture()
    error = ConnectionError("gone")
    future.set_exception(error)
    assert future.completed.acquire(False)
    with pytest.raises(ConnectionError) as info:
        future.outcome()
    assert info.value is error
    assert future.exception(0) is error


def _blocked_in_result(thread: threading.Thread) -> bool:
    frame = sys._current_frames().get(thread.ident or -1)
    while frame is not None:
        if frame.f_code is CommandFuture.result.__code__:
            return True
        frame = frame.f_back
    return False


def _wait_blocked(threads: List[threading.Thread]) -> None:
    deadline = time.monotonic() + 10
    while not all(_blocked_in_result(t) for t in threads):
        assert time.monotonic() < deadline, "the waiters never blocked in result()"
        time.sleep(0.001)


def test_result_of_a_finished_future_builds_no_condition() -> None:
    future = CommandFuture()
    future.set_result(ANSWER)
    assert future.done() and future.result() is ANSWER and future.result(0) is ANSWER
    assert "_condition" not in vars(future)


def test_every_waiter_in_other_threads_is_woken() -> None:
    future = CommandFuture()
    got: List[Any] = []
    waiters = [threading.Thread(target=lambda: got.append(future.result(30))) for _ in range(3)]
    for waiter in waiters:
        waiter.start()
    _wait_blocked(waiters)
    future.set_result(ANSWER)
    for waiter in waiters:
        waiter.join(30)
    assert got == [ANSWER] * 3
    assert "_condition" not in vars(future)  # completed on the cheap path, waiters woken


def test_cancel_wakes_a_waiter_with_cancelled_error() -> None:
    future = CommandFuture()
    errors: List[BaseException] = []

    def wait_for_it() -> None:
        try:
            future.result(30)
        except Exception as exc:  # the test records what was raised
            errors.append(exc)

    waiter = threading.Thread(target=wait_for_it)
    waiter.start()
    _wait_blocked([waiter])
    assert future.cancel()
    waiter.join(30)
    assert len(errors) == 1 and isinstance(errors[0], CancelledError)


def test_result_times_out_with_the_futures_timeout_error() -> None:
    future = CommandFuture()
    with pytest.raises(FuturesTimeoutError):
        future.result(0.01)
    with pytest.raises(FuturesTimeoutError):
        future.result(0)
    assert not future.done()
    future.set_result(ANSWER)  # a timed-out wait leaves it usable
    assert future.result(0) is ANSWER


def test_result_raises_the_exception_it_failed_with() -> None:
    future = CommandFuture()
    error = ConnectionError("gone")
    future.set_exception(error)
    with pytest.raises(ConnectionError) as info:
        future.result(5)
    assert info.value is error


def test_done_callbacks_run_on_either_path() -> None:
    seen: List[Any] = []
    before = CommandFuture()
    before.add_done_callback(lambda f: seen.append(("before", f.result(0))))
    before.set_result(ANSWER)
    after = CommandFuture()
    after.set_result(ANSWER)
    after.add_done_callback(lambda f: seen.append(("after", f.result(0))))
    assert seen == [("before", ANSWER), ("after", ANSWER)]


def test_cancel_then_set_result_is_refused_and_the_caller_released() -> None:
    future = CommandFuture()
    assert future.cancel()
    assert future.completed.acquire(False)
    with pytest.raises(InvalidStateError):
        future.set_result(ANSWER)
    with pytest.raises(CancelledError):
        future.outcome()


def test_set_result_then_cancel_is_refused() -> None:
    future = CommandFuture()
    future.set_result(ANSWER)
    assert not future.cancel()
    assert future.outcome() is ANSWER


def test_concurrent_futures_wait_sees_completion() -> None:
    futures = [CommandFuture() for _ in range(3)]
    timer = threading.Timer(0.05, futures[1].set_result, args=(ANSWER,))
    timer.start()
    done, not_done = wait(futures, timeout=5, return_when=FIRST_COMPLETED)
    timer.join()
    assert done == {futures[1]} and len(not_done) == 2


def test_racing_completion_and_observers_agree() -> None:
    """Completer and observers race on fresh futures; each future ends finished exactly once
    and every observer sees the one answer."""
    manager = CommandManager()
    rounds = 2000
    results: List[Any] = []
    callbacks: List[Any] = []
    pairs = [manager.create_command_future("Runtime.evaluate") for _ in range(rounds)]
    start = threading.Barrier(2)

    def complete() -> None:
        start.wait()
        for command_id, _future in pairs:
            manager.resolve_command(command_id, {"id": command_id})

    def observe() -> None:
        start.wait()
        for _command_id, future in pairs:
            future.add_done_callback(lambda f: callbacks.append(f.result(0)["id"]))
            results.append(future.result(5)["id"])

    threads = [threading.Thread(target=complete), threading.Thread(target=observe)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    expected = [command_id for command_id, _f in pairs]
    assert results == expected
    assert sorted(callbacks) == expected
    assert manager.pending_count == 0


def test_completing_twice_raises_instead_of_deadlocking() -> None:
    future = CommandFuture()
    future.set_result(ANSWER)
    with pytest.raises(InvalidStateError):
        future.set_exception(RuntimeError("late"))
    with pytest.raises(InvalidStateError):
        future.set_result(ANSWER)
    other = CommandFuture()  # the module-wide lock is free again
    other.set_result(ANSWER)
    assert other.outcome() is ANSWER
