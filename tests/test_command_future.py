"""CommandFuture: a real ``concurrent.futures.Future`` whose Condition is built on first use.

The reader completes it without a Condition while nobody else has looked at it; these tests
check that every way of looking at it (from other threads too) still sees one consistent
Future, as the standard library's own functions expect.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import FIRST_COMPLETED, CancelledError, Future, InvalidStateError, wait
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


def test_waiter_in_another_thread_is_woken() -> None:
    future = CommandFuture()
    got: List[Any] = []
    waiter = threading.Thread(target=lambda: got.append(future.result(5)))
    waiter.start()
    deadline = time.monotonic() + 5
    while "_condition" not in vars(future) and time.monotonic() < deadline:
        time.sleep(0.001)  # result() has built the Condition and waits on it
    future.set_result(ANSWER)
    waiter.join(5)
    assert got == [ANSWER]


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
