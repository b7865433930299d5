"""``examples/celery_tasks``: Celery workers rendering PDFs and screenshots with syncdp.

Real everything: Debian's ``redis-server`` (broker and result backend) on a free loopback
port, ``celery -A celery_tasks worker`` started as a user starts it, headless Chromium.
This process is the Celery client: it sends tasks and checks every result.

* prefork pool, concurrency 2: one browser per pool process (two in all), launched at
  ``worker_process_init``; 20 tasks; a task's error reaches the caller typed, with fields.
* threads pool, concurrency 4: one browser for the whole worker; 20 tasks.
* warm shutdown (SIGTERM) and SIGKILL of the worker's main process: no browser process,
  watchdog, pool process or profile is left (every process the worker started carries a
  marker in its environment; the temporary profiles live in the worker's private TMPDIR).
* a browser killed while a task renders: the task fails with ConnectionClosedError, is
  retried (``autoretry_for``) and succeeds on a relaunched browser.
"""

from __future__ import annotations

import gc
import importlib
import os
import signal
import sys
import time
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest

from pages import needs_chromium, wait_until
from syncdp import NavigationError
from syncdp.localserver import LocalServer
from worker_processes import (
    EXAMPLES,
    REDIS_SERVER,
    REPO_ROOT,
    HangingPage,
    RedisServer,
    ServerProcess,
    assert_pdf,
    assert_png,
    page,
)

celery = pytest.importorskip("celery", reason="Celery is not installed (pip install 'celery[redis]')")
pytest.importorskip("redis", reason="the redis client is not installed (pip install redis)")

pytestmark = [
    pytest.mark.integration,
    pytest.mark.workers,
    needs_chromium,
    pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server is not installed "
                       "(apt-get install redis-server)"),
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the leak checks read /proc"),
    pytest.mark.timeout(150),
]

TASKS = 20
WINDOW = (1280, 720)  # syncdp.Chrome's default window size: the screenshots' size


# Session scope: Celery's AsyncResult unsubscribes from Redis when it is garbage-collected,
# which fails (an "unraisable" error in whatever test runs then) once Redis is stopped.
@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    server = RedisServer().start()
    try:
        yield server.url
    finally:
        server.close()


@pytest.fixture(scope="session")
def tasks(redis_url: str) -> Any:
    """The example's tasks module, its app pointed at the session's Redis."""
    sys.path.insert(0, str(EXAMPLES))
    try:
        module = importlib.import_module("celery_tasks.tasks")
    finally:
        sys.path.remove(str(EXAMPLES))
    module.app.conf.update(broker_url=redis_url, result_backend=redis_url)
    yield module
    gc.collect()  # the AsyncResults go while Redis still answers
    module.app.close()


@pytest.fixture(scope="module")
def site() -> Iterator[LocalServer]:
    pages = {"/doc/%d" % n: page("doc-%02d" % n) for n in range(TASKS)}
    with LocalServer(pages) as server:
        yield server


@pytest.fixture
def start_worker(redis_url: str) -> Iterator[Any]:
    started: List[ServerProcess] = []

    def start(pool: str, concurrency: int) -> ServerProcess:
        worker = ServerProcess(
            [sys.executable, "-m", "celery", "-A", "celery_tasks", "worker",
             "--pool", pool, "--concurrency", str(concurrency), "--loglevel", "INFO",
             "--without-gossip", "--without-mingle", "--without-heartbeat",
             "--hostname", "%s-%d@localhost" % (pool, len(started))],
            cwd=str(EXAMPLES),
            env={"CELERY_BROKER_URL": redis_url,
                 "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), str(EXAMPLES)])},
            name="celery-" + pool,
        )
        started.append(worker)
        worker.wait_for_log(r"\bready\.$")
        return worker

    yield start
    for worker in started:
        worker.close()


def _exactly(count: int, pids: List[int]) -> Optional[List[int]]:
    return pids if len(pids) == count else None


def _run_batch(tasks: Any, site: LocalServer) -> List[Tuple[str, Dict[str, Any]]]:
    """TASKS tasks, PDFs and screenshots alternating: (kind, result) each, all checked."""
    started = time.monotonic()
    sent = []
    for n in range(TASKS):
        if n % 2 == 0:
            sent.append(("pdf", n, tasks.render_pdf.delay(url=site.url("/doc/%d" % n))))
        else:
            sent.append(("png", n, tasks.take_screenshot.delay(url=site.url("/doc/%d" % n))))
    results = []
    for kind, n, result in sent:
        value = result.get(timeout=90)
        if kind == "pdf":
            assert_pdf(value["data"], title="doc-%02d" % n)
        else:
            assert_png(value["data"], WINDOW)
        assert value["retries"] == 0
        results.append((kind, value))
    print("%d tasks done in %.1f s" % (TASKS, time.monotonic() - started))
    return results


def test_prefork_pool_renders_with_one_browser_per_process(
    start_worker: Any, tasks: Any, site: LocalServer
) -> None:
    worker = start_worker("prefork", 2)
    # Launched at worker_process_init, before any task: one per pool process.
    launched = set(wait_until(lambda: _exactly(2, worker.browsers()), 60,
                              "expected 2 browsers:\n%s" % worker.log()[-3000:]))

    results = _run_batch(tasks, site)
    pairs = {(r["worker_pid"], r["browser_pid"]) for _, r in results}
    assert len({w for w, _ in pairs}) == 2, pairs  # both pool processes worked
    assert len(pairs) == 2, pairs  # each always with its own one browser
    assert {b for _, b in pairs} == launched, worker.log()[-6000:]
    assert worker.pid not in {w for w, _ in pairs}  # never in the master

    # An error crosses the result backend typed, with its fields.
    with LocalServer({}) as gone:
        dead_url = gone.url("/")
    with pytest.raises(NavigationError) as info:
        tasks.render_pdf.delay(url=dead_url).get(timeout=60)
    assert info.value.url == dead_url
    assert info.value.error_text == "net::ERR_CONNECTION_REFUSED"

    assert worker.stop(signal.SIGTERM) == 0  # warm shutdown
    assert "stopping the browser of process" in worker.log()
    worker.assert_nothing_left()


def test_threads_pool_shares_one_browser(start_worker: Any, tasks: Any, site: LocalServer) -> None:
    worker = start_worker("threads", 4)
    results = _run_batch(tasks, site)
    pairs = {(r["worker_pid"], r["browser_pid"]) for _, r in results}
    assert len(pairs) == 1, pairs
    assert pairs.pop()[0] == worker.pid  # the threads run in the worker's own process
    assert len(worker.browsers()) == 1

    assert worker.stop(signal.SIGTERM) == 0
    assert "stopping the browser of process %d" % worker.pid in worker.log()  # worker_shutdown
    worker.assert_nothing_left()


@pytest.mark.parametrize("pool, concurrency", [("prefork", 2), ("threads", 4)])
def test_sigkilled_worker_leaves_no_browser_and_no_profile(
    start_worker: Any, tasks: Any, site: LocalServer, pool: str, concurrency: int
) -> None:
    worker = start_worker(pool, concurrency)
    for n in range(2):  # the browsers are up and have rendered
        assert_pdf(tasks.render_pdf.delay(url=site.url("/doc/%d" % n)).get(timeout=90)["data"])
    assert worker.browsers()
    assert any("syncdp-profile-" in name for name in os.listdir(worker.tmpdir))

    assert worker.stop(signal.SIGKILL) == -signal.SIGKILL  # the main process only
    # Pool processes see their master gone and exit; each launcher watchdog sees its
    # owner gone and kills the browser's process group and removes the profile. (The
    # master's own multiprocessing directory, pymp-*, is removed only by the master.)
    took = worker.assert_nothing_left(timeout=30, ignore=["pymp-"])
    print("%s: everything gone %.1f s after SIGKILL" % (pool, took))


def test_task_whose_browser_crashed_is_retried_on_a_relaunched_browser(
    start_worker: Any, tasks: Any
) -> None:
    worker = start_worker("threads", 4)
    slow = HangingPage("after-the-crash")
    try:
        result = tasks.render_pdf.delay(url=slow.url, timeout=60)
        assert slow.arrived.wait(60), "the task never loaded the page"
        # The task is inside go_to(): its browser is waiting for the page.
        info = wait_until(lambda: result.info if result.state == "RENDERING" else None, 30,
                          "the task did not report its browser")
        crashed = info["browser_pid"]
        assert worker.browsers() == [crashed]
        os.kill(crashed, signal.SIGKILL)
        started = time.monotonic()
        slow.release()
        value = result.get(timeout=90)
        print("retried and rendered %.1f s after the crash" % (time.monotonic() - started))
    finally:
        slow.close()
    assert value["retries"] == 1
    assert value["browser_pid"] != crashed
    assert value["worker_pid"] == worker.pid
    assert_pdf(value["data"], title="after-the-crash")
    assert slow.requests == 2
    assert "ConnectionClosedError" in worker.log()  # what the first attempt failed with
    assert worker.browsers() == [value["browser_pid"]]  # the crashed one is gone

    assert worker.stop(signal.SIGTERM) == 0
    worker.assert_nothing_left()
