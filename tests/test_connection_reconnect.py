"""One reconnection path: epochs, dispatcher hand-over, wait_closed, interpreter exit."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from concurrent.futures import Future
from typing import Any, List

import pytest
from fake_cdp import FakeCDP, wait_until

from syncdp import ConnectionHandler, exceptions

pytestmark = pytest.mark.timeout(60)


def test_a_late_teardown_of_an_old_socket_does_not_stop_the_new_dispatcher(
    fake_cdp: FakeCDP,
) -> None:
    seen: List[int] = []
    gate = threading.Event()
    with ConnectionHandler(fake_cdp.port) as conn:
        conn.register_callback("A.e", lambda event: seen.append(event["params"]["i"]))
        stuck = conn.submit({"method": "Test.noAnswer"})
        # A done-callback runs on the thread that fails the future: the old reader's
        # teardown stalls there, past the reconnect's bounded join of that reader.
        stuck.add_done_callback(lambda future: gate.wait(30))
        fake_cdp.conns[0].drop()
        wait_until(lambda: not conn.connected, 5)
        conn.send("A.b")  # reconnects; the old teardown is still running
        assert conn.connection_count == 2
        gate.set()
        wait_until(stuck.done, 10)  # the old teardown is over
        conn.execute_command({"method": "Test.emit",
                              "params": {"events": [{"method": "A.e", "params": {"i": 1}}]}})
        wait_until(lambda: seen == [1], 5, message="the new socket's events were not dispatched")
        assert isinstance(stuck.exception(0), exceptions.ConnectionClosedError)


def test_wait_closed_returns_at_once_when_nothing_is_open(fake_cdp: FakeCDP) -> None:
    conn = ConnectionHandler(fake_cdp.port)
    assert conn.wait_closed(timeout=5) is True
    with pytest.raises(exceptions.InvalidCommand, match="timeout"):
        conn.wait_closed(timeout=-1)


def test_wait_closed_times_out_with_false_while_the_connection_lives(fake_cdp: FakeCDP) -> None:
    with ConnectionHandler(fake_cdp.port) as conn:
        conn.connect()
        started = time.monotonic()
        assert conn.wait_closed(timeout=0.3) is False
        assert time.monotonic() - started >= 0.29
        assert conn.connected


@pytest.mark.parametrize("end", ["lost", "closed"])
def test_wait_closed_returns_true_when_the_connection_ends(fake_cdp: FakeCDP, end: str) -> None:
    with ConnectionHandler(fake_cdp.port) as conn:
        conn.connect()
        result: "Future[bool]" = Future()
        waiter = threading.Thread(target=lambda: result.set_result(conn.wait_closed()))
        waiter.start()
        if end == "lost":
            fake_cdp.conns[0].drop()
        else:
            conn.close()
        assert result.result(10) is True
        waiter.join(5)


_EXIT_SCRIPT = """
import sys, threading, time
from syncdp import ConnectionHandler

conn = ConnectionHandler(%d)
conn.connect()
mode = sys.argv[1]

def worker():
    try:
        if mode == "command":
            conn.execute_command({"method": "Test.noAnswer"}, timeout=None)
        elif mode == "event":
            conn.wait_for_event("Never.fired", timeout=None)
        else:  # bounded work that outlives the main thread
            for n in range(10):
                conn.send("Test.sleep", {"seconds": 0.05}, timeout=5)
            print("worker: finished 10 commands", flush=True)
    except Exception as exc:
        print("worker:", type(exc).__name__, exc, flush=True)

threading.Thread(target=worker, name="user-worker").start()  # not a daemon
deadline = time.monotonic() + 10
while not conn.pending_commands and mode != "event" and time.monotonic() < deadline:
    time.sleep(0.01)
print("main: done", flush=True)
"""


def run_exit_script(port: int, mode: str) -> "subprocess.CompletedProcess[str]":
    script = textwrap.dedent(_EXIT_SCRIPT % port)
    return subprocess.run([sys.executable, "-c", script, mode], capture_output=True, text=True,
                          timeout=30, env=_env_with_syncdp())


@pytest.mark.parametrize("mode", ["command", "event"])
def test_a_thread_waiting_without_timeout_does_not_keep_python_from_exiting(
    fake_cdp: FakeCDP, mode: str
) -> None:
    done = run_exit_script(fake_cdp.port, mode)
    assert done.returncode == 0, done.stderr
    assert "main: done" in done.stdout
    assert "worker: ConnectionClosedError" in done.stdout, done.stdout
    assert "interpreter exit" in done.stdout


def test_bounded_work_in_a_thread_still_completes_after_the_main_thread_ends(
    fake_cdp: FakeCDP,
) -> None:
    done = run_exit_script(fake_cdp.port, "bounded")
    assert done.returncode == 0, done.stderr
    assert "worker: finished 10 commands" in done.stdout, done.stdout


def _env_with_syncdp() -> Any:
    import os

    import syncdp

    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(syncdp.__file__)))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    return env
