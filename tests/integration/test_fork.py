"""Fork safety with a real headless Chromium: what a forked child inherits works, and the parent
never notices.

* ``os.fork()`` while other threads have commands in flight: the child uses the inherited
  ``Chrome``, ``Tab`` and ``ConnectionHandler`` (its own socket and threads, the same
  browser); the parent's threads saw no error and everything still answers after the child
  exited normally or was SIGKILLed.
* A command the parent was waiting for fails in the child at once; the parent gets its answer.
* A child's exit (``with`` block, ``stop()``, garbage collection, atexit) never stops the
  parent's browser nor removes its profile.
* A connection that cannot be opened again in the child (a pipe) fails with an error that
  says why and what to do.
* ``multiprocessing``'s fork pool: ``map`` works with the parent's browser; an error raised in
  a pool process comes back with its fields.
* gevent's ``monkey.patch_all()`` applied after the browser started: a clear error, no hang.
* Celery prefork with the browser created at import time in the master: every pool process
  works with it, pool processes recycled by ``--max-tasks-per-child`` leave it running.
"""

from __future__ import annotations

import gc
import json
import multiprocessing
import os
import select
import signal
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional

import pytest

from pages import needs_chromium, run_python, wait_until
from syncdp import Chrome, CommandError, ConnectionHandler, Tab, connect
from syncdp.connection.forking import renew_locks
from syncdp.exceptions import ConnectionClosedError, SyncdpConnectionError
from syncdp.localserver import LocalServer
from syncdp.transports import connect_websocket

pytestmark = [
    pytest.mark.integration,
    needs_chromium,
    pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX only"),
    # 3.12+ warns about fork() in a process with threads: forking one is what is tested here.
    pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning"),
    pytest.mark.timeout(180),
]

CHILD_TIMEOUT = 90.0  # seconds a forked child may take before it is killed (loaded machine)
PAGES = {"/": "<!doctype html><title>parent page</title><p>fork</p>"}


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    with LocalServer(PAGES) as srv:
        yield srv


@pytest.fixture(scope="module", params=["sessions", "sockets"])
def browser(request: pytest.FixtureRequest) -> Iterator[Chrome]:
    with Chrome(tab_mode=request.param) as chrome:
        yield chrome


@pytest.fixture
def tab(browser: Chrome, server: LocalServer) -> Iterator[Tab]:
    new = browser.new_tab()
    try:
        new.go_to(server.url("/"))  # returns after the load event (new_tab(url) may not)
        yield new
    finally:
        new.close()


# -- a forked child that reports back -------------------------------------------------------


def _run_in_child(work: Callable[[], Any], write: int) -> None:
    """In the child: run ``work``, write its outcome as JSON, exit without any cleanup of
    the parent's (pytest's) process state."""
    code = 0
    try:
        try:
            outcome: Dict[str, Any] = {"value": work()}
        except BaseException as exc:  # reported to the parent, which fails the test
            outcome = {"error": type(exc).__name__, "message": str(exc)}
        data = json.dumps(outcome).encode()
        while data:
            data = data[os.write(write, data):]
    except BaseException:
        code = 1
    finally:
        os._exit(code)


class Child:
    """A forked child running ``work``; :meth:`outcome` waits for what it reported."""

    def __init__(self, work: Callable[[], Any]) -> None:
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child never returns
            os.close(read)
            _run_in_child(work, write)
        os.close(write)
        self.pid = pid
        self._read = read
        self.status: Optional[int] = None

    def outcome(self, timeout: float = CHILD_TIMEOUT) -> Dict[str, Any]:
        """The child's ``{"value": ...}`` or ``{"error": name, "message": ...}``; it is
        killed if it has not reported within ``timeout``."""
        deadline = time.monotonic() + timeout
        chunks = []
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError("the forked child reported nothing within %gs" % timeout)
                if select.select([self._read], [], [], min(remaining, 0.5))[0]:
                    chunk = os.read(self._read, 65536)
                    if not chunk:
                        break
                    chunks.append(chunk)
        finally:
            self.reap()
        report: Dict[str, Any] = json.loads(b"".join(chunks) or b"{}")
        return report

    def value(self) -> Any:
        """What ``work`` returned; fails the test with the child's error otherwise."""
        report = self.outcome()
        assert "value" in report, "the child failed: %r" % (report,)
        return report["value"]

    def kill(self) -> None:
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.reap()

    def reap(self) -> None:
        if self.status is not None:
            return
        try:
            if os.waitpid(self.pid, os.WNOHANG)[0] == 0:
                os.kill(self.pid, signal.SIGKILL)  # no report in time, or killed on purpose
                os.waitpid(self.pid, 0)
        except (ChildProcessError, ProcessLookupError):
            pass
        self.status = 0
        try:
            os.close(self._read)
        except OSError:
            pass


class Busy:
    """Threads sending commands in a loop on the given callables until stopped."""

    def __init__(self, *calls: Callable[[], Any]) -> None:
        self.errors: List[BaseException] = []
        self.rounds = 0
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._loop, args=(call,)) for call in calls]
        for thread in self._threads:
            thread.start()

    def _loop(self, call: Callable[[], Any]) -> None:
        while not self._stop.is_set():
            try:
                call()
                self.rounds += 1
            except BaseException as exc:
                self.errors.append(exc)
                return

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)
        assert not any(t.is_alive() for t in self._threads)


# -- the tests ------------------------------------------------------------------------------


def test_child_uses_inherited_chrome_tab_and_connection_while_parent_commands_are_in_flight(
    browser: Chrome, tab: Tab
) -> None:
    # ``remote``: a Browser that did not launch its browser (stop() only disconnects).
    with connect(browser.process.port) as remote, ConnectionHandler(browser.process.port) as conn:
        conn.send("Target.setDiscoverTargets", {"discover": True})  # an enable to replay
        busy = Busy(
            lambda: tab.execute_script("1 + 1"),
            lambda: conn.send("Browser.getVersion"),
            lambda: browser.send("Target.getTargets"),
            lambda: remote.version(),
        )
        try:
            wait_until(lambda: busy.rounds > 20, 30, "the busy threads never ran")

            def work() -> Dict[str, Any]:
                opened = browser.new_tab()
                try:
                    opened.go_to("data:text/html,<title>child tab</title>")
                    child_title = opened.title
                finally:
                    opened.close()
                return {
                    "title": tab.title,
                    "answer": tab.execute_script("6 * 7"),
                    "product": conn.send("Browser.getVersion")["product"],
                    "reconnected": conn.connection_count,
                    "child_tab": child_title,
                    "remote_tabs": [t.target_id for t in remote.get_opened_tabs()],
                    "pid": os.getpid(),
                }

            children = [Child(work) for _ in range(3)]  # three forks, each mid-traffic
            reports = [child.value() for child in children]
        finally:
            busy.stop()
        assert busy.errors == []
        for report, child in zip(reports, children):
            assert report["title"] == "parent page"
            assert report["answer"] == 42
            assert report["product"].startswith(("Chrome/", "HeadlessChrome/"))
            assert report["reconnected"] == 2  # its own socket: one more than the parent's
            assert report["child_tab"] == "child tab"
            assert tab.target_id in report["remote_tabs"]
            assert report["pid"] == child.pid
        # The parent's objects still work and never reconnected.
        assert conn.connection_count == 1
        assert tab.execute_script("2 + 3") == 5
        assert conn.send("Browser.getVersion")["product"] == reports[0]["product"]
        assert browser.process.is_running()
        assert remote.version()["product"] == reports[0]["product"]


def test_parent_keeps_working_after_its_forked_child_is_sigkilled(browser: Chrome, tab: Tab) -> None:
    ready_read, ready_write = os.pipe()

    def work() -> None:
        tab.execute_script("document.title")  # connected in the child now
        os.write(ready_write, b"x")
        threading.Event().wait(CHILD_TIMEOUT)  # until killed

    child = Child(work)
    os.close(ready_write)
    try:
        assert select.select([ready_read], [], [], CHILD_TIMEOUT)[0], "the child never connected"
        assert os.read(ready_read, 1) == b"x"
    finally:
        child.kill()
        os.close(ready_read)
    assert tab.title == "parent page"
    assert tab.execute_script("[1, 2].length") == 2
    assert browser.process.is_running()


def test_background_callbacks_of_an_inherited_tab_run_in_the_child(tab: Tab) -> None:
    """The parent's background pool has no threads in the child: the child gets its own."""
    seen: List[str] = []
    fired = threading.Event()

    def on_console(event: Dict[str, Any]) -> None:
        seen.append(str(event["params"]["args"][0].get("value")))
        fired.set()

    tab.send("Runtime.enable")
    tab.on("Runtime.consoleAPICalled", on_console, background=True)
    tab.execute_script("console.log('in the parent')")
    assert fired.wait(CHILD_TIMEOUT) and seen == ["in the parent"]

    def work() -> List[str]:
        tab.execute_script("console.log('in the child')")
        # (Runtime.enable, replayed on the child's own connection, may report the page's
        # earlier messages again first.)
        deadline = time.monotonic() + 20
        while "in the child" not in seen and time.monotonic() < deadline:
            fired.wait(0.1)
        return seen

    outcome = Child(work).outcome()
    assert "in the child" in outcome.get("value", []), outcome


def test_command_the_parent_waits_for_fails_in_the_child_and_is_answered_in_the_parent(
    browser: Chrome,
) -> None:
    with ConnectionHandler(browser.process.port, page_id=browser.get_page().target_id) as conn:
        pending = conn.submit({
            "method": "Runtime.evaluate",
            "params": {"expression": "new Promise(r => setTimeout(() => r('late'), 5000))",
                       "awaitPromise": True},
        })

        def work() -> Dict[str, str]:
            try:
                pending.result(timeout=30)
            except ConnectionClosedError as exc:
                return {"error": str(exc), "method": str(exc.method)}
            return {"error": "answered in the child"}

        report = Child(work).value()
        assert "forked" in report["error"], report
        assert report["method"] == "Runtime.evaluate"
        assert pending.result(timeout=30)["result"]["result"]["value"] == "late"


def test_child_exit_never_stops_the_parents_browser_nor_removes_its_profile(tmp_path: Path) -> None:
    # A real program: the child leaves a ``with Chrome()`` block, calls stop(), drops the
    # objects and exits with sys.exit(), so atexit hooks and finalizers run as they would.
    script = textwrap.dedent("""
        import gc, json, os, sys
        from syncdp import Chrome
        with Chrome() as browser:
            tab = browser.get_page()
            tab.go_to("data:text/html,<title>kept</title>")
            pid = os.fork()
            if pid == 0:
                assert tab.title == "kept"
                browser.stop()
                del tab, browser
                gc.collect()
                sys.exit(0)  # leaves the with block: __exit__, then atexit, in the child
            _, status = os.waitpid(pid, 0)
            print(json.dumps({
                "status": status,
                "running": browser.process.is_running(),
                "profile": os.path.isdir(browser.process.user_data_dir),
                "title": tab.title,
            }))
    """)
    process = run_python(script, tmp_path)
    try:
        out, err = process.communicate(timeout=CHILD_TIMEOUT)
    finally:
        process.kill()
        process.wait()
    assert process.returncode == 0, err
    report = json.loads(out.strip().splitlines()[-1])
    assert report == {"status": 0, "running": True, "profile": True, "title": "kept"}, err


def test_child_never_writes_on_the_parents_socket(fake_cdp: Any) -> None:
    # The fake endpoint records every frame of each connection: the child's commands, the
    # enable it replays and its end all happen on a connection of its own.
    with ConnectionHandler(fake_cdp.ws_url) as conn:
        conn.send("Page.enable")
        pending = conn.submit({"method": "Test.sleep", "params": {"seconds": 1}})
        parent_side = fake_cdp.wait_for_connections(1, timeout=30)[0]
        fake_cdp.wait_for_received(lambda m: m.get("method") == "Test.sleep", timeout=30)
        frames_before = len(parent_side.raw_received)

        def work() -> int:
            conn.send("Child.hello")
            return int(conn.connection_count)

        assert Child(work).value() == 2
        child_side = fake_cdp.wait_for_connections(2, timeout=30)[1]
        assert child_side.closed.wait(CHILD_TIMEOUT)  # the child exited: its socket ended
        assert [m["method"] for m in child_side.received] == ["Page.enable", "Child.hello"]
        assert pending.result(timeout=30)["result"] == {"slept": 1}  # answered in the parent
        assert conn.send("Parent.after")["method"] == "Parent.after"
        assert len(parent_side.raw_received) == frames_before + 1  # Parent.after, nothing else
        assert not parent_side.closed.is_set()
        assert conn.connection_count == 1


def test_connection_that_cannot_be_reopened_in_the_child_says_why(browser: Chrome) -> None:
    parent = os.getpid()

    def parent_only(url: str, timeout: float) -> Any:  # as a pipe: only one process may use it
        if os.getpid() != parent:
            raise SyncdpConnectionError("a pipe cannot be re-opened: start a new Chrome")
        return connect_websocket(url, timeout=timeout)

    with ConnectionHandler(browser.process.port, ws_connector=parent_only) as conn:
        conn.send("Browser.getVersion")

        def work() -> str:
            try:
                conn.send("Browser.getVersion")
            except SyncdpConnectionError as exc:
                return str(exc)
            return "no error"

        message = Child(work).value()
        assert "forked from pid %d" % parent in message
        assert "a pipe cannot be re-opened" in message
        assert "launch the browser in this process" in message
        assert conn.send("Browser.getVersion")["product"]


def test_lock_held_by_a_parent_thread_at_fork_is_free_in_the_child(browser: Chrome) -> None:
    # The browser's tab table lock, held by another thread at the moment of the fork, as a
    # thread adding a tab would hold it.
    lock = browser._tabs_lock  # held below on purpose: the lock a fork may catch held
    held, release = threading.Event(), threading.Event()

    def holder() -> None:
        with lock:
            held.set()
            release.wait(30)

    thread = threading.Thread(target=holder)
    thread.start()
    try:
        assert held.wait(30)
        titles = Child(lambda: [t.target_id for t in browser.get_opened_tabs()]).value()
    finally:
        release.set()
        thread.join(30)
    assert browser.get_page().target_id in titles


def test_renew_locks_shares_one_fresh_lock_where_one_lock_was_shared() -> None:
    class Holder:
        pass

    Holder.__module__ = "syncdp.fake"  # walked like syncdp's own objects
    shared = threading.Lock()
    first, second = Holder(), Holder()
    first.lock = second.lock = shared  # type: ignore[attr-defined]
    shared.acquire()
    try:
        assert renew_locks([first, second]) >= 1
        assert first.lock is second.lock  # type: ignore[attr-defined]
        assert first.lock is not shared  # type: ignore[attr-defined]
        assert not first.lock.locked()  # type: ignore[attr-defined]
    finally:
        shared.release()


# -- multiprocessing -------------------------------------------------------------------------

_pool_tab: Optional[Tab] = None  # the parent's tab, inherited by the pool's processes


def _evaluate(expression: str) -> Any:
    assert _pool_tab is not None
    return [_pool_tab.execute_script(expression), os.getpid()]


def _fail(method: str) -> Any:
    assert _pool_tab is not None
    return _pool_tab.send(method)


def test_multiprocessing_fork_pool_map_uses_the_parents_browser(tab: Tab) -> None:
    global _pool_tab
    _pool_tab = tab
    context = multiprocessing.get_context("fork")
    pool = context.Pool(2)
    try:
        results = pool.map(_evaluate, ["%d * %d" % (n, n) for n in range(12)], chunksize=1)
        assert [value for value, _pid in results] == [n * n for n in range(12)]
        assert os.getpid() not in {pid for _value, pid in results}
        with pytest.raises(CommandError) as info:
            pool.apply_async(_fail, ("Nonexistent.method",)).get(timeout=CHILD_TIMEOUT)
        assert info.value.method == "Nonexistent.method"
        assert info.value.code == -32601  # "method not found", kept across the pool's pickle
    finally:
        pool.terminate()
        pool.join()
        _pool_tab = None
        gc.collect()
    assert tab.execute_script("'parent ' + 1") == "parent 1"


# -- gevent ----------------------------------------------------------------------------------


def test_gevent_patch_after_the_browser_started_raises_a_clear_error(tmp_path: Path) -> None:
    pytest.importorskip("gevent", reason="gevent is not installed (pip install gevent)")
    script = textwrap.dedent("""
        import json
        from syncdp import Chrome
        from syncdp.exceptions import IncompatibleRuntimeError
        with Chrome() as browser:
            tab = browser.get_page()
            tab.execute_script("1")
            from gevent import monkey
            monkey.patch_all()
            import gevent

            def use():
                try:
                    return tab.execute_script("2")
                except IncompatibleRuntimeError as exc:
                    return str(exc)

            def open_tab():
                try:
                    return browser.new_tab().target_id
                except IncompatibleRuntimeError as exc:
                    return str(exc)

            jobs = [gevent.spawn(use), gevent.spawn(open_tab), gevent.spawn(open_tab)]
            gevent.joinall(jobs, timeout=60)
            print(json.dumps([job.value for job in jobs]))
    """)
    process = run_python(script, tmp_path)
    try:
        out, err = process.communicate(timeout=CHILD_TIMEOUT)
    finally:
        process.kill()
        process.wait()
    assert process.returncode == 0, err
    messages = json.loads(out.strip().splitlines()[-1])
    assert len(messages) == 3
    for message in messages:
        assert "before threading was monkey-patched" in message, messages
        assert "gevent.monkey.patch_all() before importing syncdp" in message


# -- Celery prefork with the browser created in the master -----------------------------------

FORKAPP = '''
"""A Celery app that launches its browser at import time, in the worker's master process."""
import os

from celery import Celery
from syncdp import Chrome

BROKER = os.environ["CELERY_BROKER_URL"]
app = Celery("forkapp", broker=BROKER, backend=BROKER)
app.conf.update(task_serializer="json", accept_content=["json"], result_serializer="json")
browser = Chrome().start()  # in the master: every pool process inherits it across fork


@app.task
def title(url):
    tab = browser.new_tab()
    try:
        tab.go_to(url)
        return {"title": tab.title, "worker_pid": os.getpid(), "browser_pid": browser.process.pid}
    finally:
        tab.close()
'''


@pytest.mark.workers
@pytest.mark.timeout(240)
def test_celery_prefork_pool_uses_the_browser_the_master_created_at_import(
    tmp_path: Path, server: LocalServer
) -> None:
    celery = pytest.importorskip("celery", reason="Celery is not installed (pip install 'celery[redis]')")
    pytest.importorskip("redis", reason="the redis client is not installed (pip install redis)")
    from worker_processes import REDIS_SERVER, REPO_ROOT, RedisServer, ServerProcess

    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    (tmp_path / "forkapp.py").write_text(FORKAPP)
    redis = RedisServer().start()
    worker: Optional[ServerProcess] = None
    client = None
    try:
        worker = ServerProcess(
            [sys.executable, "-m", "celery", "-A", "forkapp", "worker", "--pool", "prefork",
             "--concurrency", "2", "--max-tasks-per-child", "3", "--loglevel", "INFO",
             "--without-gossip", "--without-mingle", "--without-heartbeat",
             "--hostname", "fork@localhost"],
            cwd=str(tmp_path),
            env={"CELERY_BROKER_URL": redis.url,
                 "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), str(tmp_path)])},
            name="celery-fork",
        )
        worker.wait_for_log(r"\bready\.$", timeout=90)
        client = celery.Celery("forkapp", broker=redis.url, backend=redis.url)
        client.conf.update(task_serializer="json", accept_content=["json"], result_serializer="json")
        sent = [client.send_task("forkapp.title", args=[server.url("/")]) for _ in range(12)]
        results = [result.get(timeout=90) for result in sent]
        assert {r["title"] for r in results} == {"parent page"}
        assert len({r["browser_pid"] for r in results}) == 1  # the master's one browser
        # Several pool processes served them: recycled every 3 tasks, and the browser they
        # inherited outlived each of them.
        assert len({r["worker_pid"] for r in results}) >= 4, results
        assert worker.pid not in {r["worker_pid"] for r in results}
        assert worker.browsers() == [results[0]["browser_pid"]]
        assert worker.stop(signal.SIGTERM) == 0  # warm shutdown: the master stops its browser
        worker.assert_nothing_left()
    finally:
        if client is not None:
            client.close()
        if worker is not None:
            worker.close()
        redis.close()


def test_browser_spawned_without_watchdog_runs_on_after_the_child_stops_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from syncdp.launcher import process

    monkeypatch.setattr(process, "usable_python", lambda: None)  # the browser as a direct child
    with Chrome() as browser:
        assert type(browser.process._state.child).__name__ == "DirectChild"  # what is tested
        tab = browser.get_page()

        def work() -> List[Any]:
            seen = [browser.process.is_running(), tab.execute_script("3 * 3")]
            browser.stop()  # the child's: closes its own connection only
            return seen

        assert Child(work).value() == [True, 9]
        assert browser.process.is_running()
        assert tab.execute_script("4 * 4") == 16
