"""syncdp in a real Jupyter kernel (ipykernel, driven by jupyter_client / nbclient).

* ``examples/quickstart.ipynb`` runs top to bottom under nbclient: the screenshot cell
  produces an ``image/png`` output of the page, the callback cell prints live, nothing of
  the browser is left once the kernel has stopped.
* A kernel interrupt (the notebook's Stop button: SIGINT from the kernel manager) during a
  60 s ``wait_for_event`` or a pending command raises ``KeyboardInterrupt`` at once, and the
  tab keeps working in the next cell.
* Shutting the kernel down, restarting it or killing it without ``browser.stop()`` leaves
  no browser process and no temporary profile.
* Callback output reaches the running cell while it runs, and syncdp leaves the kernel's
  asyncio event loop alone.

Every kernel runs with a private ``TMPDIR``, so the browser it launches keeps its profile
(``syncdp-profile-*``) there and its processes carry that path on their command lines:
``pgrep -f <TMPDIR>/syncdp-profile-`` finds exactly this test's browsers, never another
test's or another user's. The kernel is started from a kernel spec written for this
interpreter (``sys.executable -m ipykernel_launcher``), not whatever ``python`` is on PATH.
"""

from __future__ import annotations

import base64
import json
import os
import queue
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest
from pages import REPO_ROOT, needs_chromium, pgrep_f, png_pixel, png_size, wait_until

try:
    with warnings.catch_warnings():
        # jupyter_core < 6 warns at import about its coming platformdirs paths.
        warnings.simplefilter("ignore", DeprecationWarning)
        import ipykernel  # the kernel itself must be importable here
        import nbclient
        import nbformat
        from jupyter_client import AsyncKernelManager, KernelManager
        from jupyter_client.kernelspec import KernelSpecManager
except ImportError as exc:  # pragma: no cover - depends on the environment
    if os.environ.get("CI"):
        raise  # CI installs them (tox.ini): a missing one is a broken set-up, not a skip
    pytest.skip("needs nbclient, nbformat and ipykernel: %s" % exc, allow_module_level=True)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.programs,
    needs_chromium,
    pytest.mark.timeout(240),
    # Jupyter's own deprecation notices (platformdirs migration, datetime.utcnow, zmq
    # event loops) are not syncdp's business.
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::PendingDeprecationWarning"),
    pytest.mark.filterwarnings("ignore::RuntimeWarning:jupyter_client"),
]

NOTEBOOK = REPO_ROOT / "examples" / "quickstart.ipynb"
KERNEL_NAME = "syncdp-test-python"
PROFILE_PREFIX = "syncdp-profile-"

# Kernel code shared by the tests: a page, a server and a browser with one tab.
SETUP = """
import os, threading, time
from syncdp import Chrome
from syncdp.localserver import LocalServer

server = LocalServer({
    "/": "<!doctype html><title>kernel page</title><h1>kernel page</h1>",
    "/second": "<!doctype html><title>second</title><p>second</p>",
}).start()
browser = Chrome().start()
tab = browser.get_page()
tab.go_to(server.url("/"))
print(browser.process.pid, browser.process.user_data_dir)
"""


# -- kernel plumbing --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def kernel_spec_manager(tmp_path_factory: pytest.TempPathFactory) -> KernelSpecManager:
    """A kernel spec for *this* interpreter (the test env has syncdp and ipykernel)."""
    root = tmp_path_factory.mktemp("kernels")
    spec_dir = root / KERNEL_NAME
    spec_dir.mkdir()
    (spec_dir / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "syncdp test kernel",
        "language": "python",
        "interrupt_mode": "signal",
    }))
    return KernelSpecManager(kernel_dirs=[str(root)])


@pytest.fixture
def private_tmp() -> Iterator[Path]:
    """The kernel's TMPDIR: short (Chromium's socket path limit), private, removed after."""
    path = Path(tempfile.mkdtemp(prefix="sdnb-", dir="/tmp" if os.path.isdir("/tmp") else None))
    try:
        yield path
    finally:
        for pid in pgrep_f(str(path)):  # only this test's own leftovers, after a failure
            try:
                os.kill(pid, 9)
            except OSError:
                pass
        shutil.rmtree(str(path), ignore_errors=True)


def kernel_env(tmp: Path) -> Dict[str, str]:
    env = dict(os.environ, TMPDIR=str(tmp), PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return env


def browsers_in(tmp: Path) -> List[int]:
    """Live processes of browsers whose profile is in ``tmp`` (``pgrep -f``)."""
    return pgrep_f(os.path.join(str(tmp), PROFILE_PREFIX))


def assert_nothing_left(tmp: Path, timeout: float = 15) -> None:
    wait_until(lambda: browsers_in(tmp) == [], timeout,
               "browser processes left behind: %s" % browsers_in(tmp))
    wait_until(lambda: [p for p in os.listdir(str(tmp)) if p.startswith(PROFILE_PREFIX)] == [],
               timeout, "temporary profile left behind: %s" % os.listdir(str(tmp)))


class Result:
    """What one executed cell produced (messages whose parent is its execute request)."""

    def __init__(self, msg_id: str) -> None:
        self.msg_id = msg_id
        self.status = ""
        self.ename: Optional[str] = None
        self.stdout = ""
        self.streams: List[Tuple[float, str]] = []  # (arrival time, text)
        # Every stream message that arrived while the cell ran, whichever cell it was for:
        # (arrival time, msg_id of the cell it is attached to, text).
        self.all_streams: List[Tuple[float, str, str]] = []
        self.data: List[Dict[str, Any]] = []
        self.started = time.monotonic()
        self.finished = 0.0
        self.interrupted_at: Optional[float] = None
        self.error_at: Optional[float] = None

    def __repr__(self) -> str:
        return "<Result %s %s stdout=%r>" % (self.status, self.ename, self.stdout[-500:])


class Kernel:
    """A real ipykernel with a blocking client: run cells, interrupt, restart, shut down."""

    def __init__(self, ksm: KernelSpecManager, tmp: Path) -> None:
        self.manager = KernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=ksm)
        self.tmp = tmp
        self.client: Any = None

    def start(self) -> "Kernel":
        self.manager.start_kernel(env=kernel_env(self.tmp), cwd=str(self.tmp))
        self._connect()
        return self

    def _connect(self) -> None:
        self.client = self.manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=60)

    def run(self, code: str, timeout: float = 60, interrupt_after: Optional[float] = None) -> Result:
        msg_id = self.client.execute(code)
        result = Result(msg_id)
        deadline = result.started + timeout
        while True:
            now = time.monotonic()
            if interrupt_after is not None and result.interrupted_at is None \
                    and now - result.started >= interrupt_after:
                self.manager.interrupt_kernel()
                result.interrupted_at = time.monotonic()
            if now > deadline:
                raise AssertionError("cell did not finish within %gs: %r" % (timeout, result))
            try:
                msg = self.client.get_iopub_msg(timeout=0.05)
            except queue.Empty:
                continue
            kind, content = msg["msg_type"], msg["content"]
            parent = msg["parent_header"].get("msg_id", "")
            if kind == "stream":
                result.all_streams.append((time.monotonic(), parent, content["text"]))
            if parent != msg_id:
                continue
            if kind == "stream":
                result.streams.append((time.monotonic(), content["text"]))
                if content["name"] == "stdout":
                    result.stdout += content["text"]
            elif kind in ("execute_result", "display_data"):
                result.data.append(content["data"])
            elif kind == "error":
                result.ename = content["ename"]
                result.error_at = time.monotonic()
                result.stdout += "\n".join(content.get("traceback", []))
            elif kind == "status" and content["execution_state"] == "idle":
                result.finished = time.monotonic()
                break
        reply = self.client.get_shell_msg(timeout=30)
        while reply["parent_header"].get("msg_id") != msg_id:
            reply = self.client.get_shell_msg(timeout=30)
        result.status = reply["content"]["status"]
        return result

    def ok(self, code: str, timeout: float = 60) -> Result:
        result = self.run(code, timeout)
        assert result.status == "ok", result
        return result

    def value(self, expression: str) -> str:
        """The ``text/plain`` repr of ``expression`` evaluated in the kernel."""
        result = self.ok(expression)
        assert result.data, result
        return str(result.data[-1]["text/plain"])

    def restart(self, now: bool = False) -> None:
        self.client.stop_channels()
        self.manager.restart_kernel(now=now, env=kernel_env(self.tmp), cwd=str(self.tmp))
        self._connect()

    def shutdown(self, now: bool = False) -> None:
        if self.client is not None:
            self.client.stop_channels()
            self.client = None
        if self.manager.has_kernel:
            self.manager.shutdown_kernel(now=now)


@pytest.fixture
def kernel(kernel_spec_manager: KernelSpecManager, private_tmp: Path) -> Iterator[Kernel]:
    k = Kernel(kernel_spec_manager, private_tmp).start()
    try:
        yield k
    finally:
        k.shutdown(now=True)
        k.manager.cleanup_resources()


def launch_in(kernel: Kernel) -> Tuple[int, str, str]:
    """Run :data:`SETUP`; returns the browser's pid and profile (checked to be ours) and the
    msg_id of the cell that ran it."""
    result = kernel.ok(SETUP)
    out = result.stdout.split()
    pid, profile = int(out[0]), out[1]
    assert Path(profile).parent == kernel.tmp, profile
    assert pid in browsers_in(kernel.tmp)
    return pid, profile, result.msg_id


# -- the quickstart notebook ----------------------------------------------------------------


def _cell(nb: Any, tag: str) -> Any:
    cells = [c for c in nb.cells if tag in c.get("metadata", {}).get("tags", [])]
    assert len(cells) == 1, "expected one cell tagged %r" % tag
    return cells[0]


def _text_of(cell: Any) -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")


def test_quickstart_notebook_runs_in_a_real_kernel(
    kernel_spec_manager: KernelSpecManager, private_tmp: Path
) -> None:
    nb = nbformat.read(str(NOTEBOOK), as_version=4)
    nbformat.validate(nb)
    manager = AsyncKernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=kernel_spec_manager)
    client = nbclient.NotebookClient(
        nb, km=manager, kernel_name=KERNEL_NAME, timeout=90, allow_errors=False,
        shutdown_kernel="graceful", resources={"metadata": {"path": str(private_tmp)}},
    )
    # Raises CellExecutionError on any error. cleanup_kc: shut the kernel down at the end
    # (a shutdown_request) and close the client's sockets, although the manager is ours.
    client.execute(env=kernel_env(private_tmp), cleanup_kc=True)
    assert not manager.has_kernel
    assert_nothing_left(private_tmp)

    # The screenshot cell's last expression rendered as a PNG of the page.
    shot = _cell(nb, "screenshot")
    images = [o for o in shot.outputs if "image/png" in o.get("data", {})]
    assert len(images) == 1, shot.outputs
    png = base64.b64decode(images[0]["data"]["image/png"])
    assert png_size(png) == (1280, 720)  # Chrome()'s default window size
    assert png_pixel(png, 5, 5) == (0xF4, 0xF7, 0xFB)  # the page's background colour

    assert "syncdp in a notebook" in _cell(nb, "launch").outputs[0]["data"]["text/html"]
    # The callback ran for every message (the cell's job_done.wait() returned True)...
    callback = _cell(nb, "callback")
    assert callback.outputs[-1]["data"]["text/plain"] == "True"
    # ...and printed under the running cell (ipykernel 7). ipykernel 6 attaches a thread's
    # output to the cell that started the thread (the launch cell), which nbclient, running
    # another cell then, does not record: test_callback_output_reaches_the_notebook_live
    # checks where the lines go with either version.
    progress = ["console: progress 1/3", "console: progress 2/3", "console: progress 3/3"]
    if ipykernel.version_info >= (7,):
        assert _text_of(callback).splitlines() == progress
    else:
        assert _text_of(callback).splitlines() in ([], progress)
    expect = _cell(nb, "expect-event")
    assert _text_of(expect).startswith("load event at ")
    assert expect.outputs[-1]["data"]["text/plain"] == "'second page'"
    assert "did not arrive within 0.5s" in _text_of(_cell(nb, "timeout"))
    assert "HeadlessChrome" in _cell(nb, "cdp").outputs[-1]["data"]["text/plain"]
    assert _cell(nb, "asyncio").outputs[-1]["data"]["text/plain"] == "'second page'"
    # No cell wrote to stderr (a traceback from a callback would land there).
    assert [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
            if o.output_type == "stream" and o.name == "stderr"] == []


# -- interrupts -------------------------------------------------------------------------------


@pytest.mark.parametrize("cell", [
    'tab.wait_for_event("Never.happens", timeout=60)',
    'tab.execute_script("new Promise(() => {})", timeout=60)',  # a command never answered
], ids=["wait_for_event", "pending-command"])
def test_interrupt_during_a_long_wait(kernel: Kernel, cell: str) -> None:
    launch_in(kernel)
    result = kernel.run(cell, timeout=45, interrupt_after=1.0)
    assert result.ename == "KeyboardInterrupt", result
    assert result.status == "error"
    assert result.interrupted_at is not None and result.error_at is not None
    # The interrupt ended the wait, far before its 60 s timeout (waits happen in 0.1 s slices;
    # IPython's first traceback takes seconds more on a loaded machine: 7 s was seen).
    assert result.error_at - result.interrupted_at < 20.0, result.error_at - result.interrupted_at
    assert result.finished - result.started < 30

    # The tab is still usable, and so are waits.
    assert kernel.value("tab.title") == "'kernel page'"
    kernel.ok(
        'with tab.expect_event("Page.loadEventFired", timeout=10):\n'
        '    tab.query("html").call("function() { location.href = \'/second\'; }")\n'
        'assert tab.title == "second", tab.title'
    )
    # Interrupting again works the same way.
    again = kernel.run(cell, timeout=30, interrupt_after=0.5)
    assert again.ename == "KeyboardInterrupt", again
    assert kernel.value("tab.title") == "'second'"
    kernel.ok("browser.stop(); server.stop()")
    assert_nothing_left(kernel.tmp)


# -- kernel shutdown, restart, kill ------------------------------------------------------------


def test_kernel_shutdown_leaves_no_browser(kernel: Kernel) -> None:
    assert browsers_in(kernel.tmp) == []
    launch_in(kernel)  # and never stopped
    kernel.shutdown(now=False)  # a shutdown_request: the kernel exits normally
    assert_nothing_left(kernel.tmp)


def test_kernel_restart_then_kill_leave_no_browser(kernel: Kernel) -> None:
    assert browsers_in(kernel.tmp) == []
    first_pid, first_profile, _ = launch_in(kernel)
    kernel.restart(now=False)
    assert_nothing_left(kernel.tmp)
    assert not os.path.exists(first_profile)

    # The restarted kernel launches a new browser; the kernel is then killed outright
    # (SIGKILL: no atexit, no finalizer), and syncdp's launcher watchdog cleans up.
    second_pid, second_profile, _ = launch_in(kernel)
    assert second_pid != first_pid
    kernel.shutdown(now=True)
    assert_nothing_left(kernel.tmp)
    assert not os.path.exists(second_profile)


# -- live output and the event loop --------------------------------------------------------


def test_callback_output_reaches_the_notebook_live(kernel: Kernel) -> None:
    """A callback's prints are sent while the cell that waits for them still runs.

    Which cell they are attached to depends on ipykernel: 7 attaches a thread's output to the
    cell running at that moment; 6.x attaches it to the cell that started the thread (or its
    oldest ancestor), here the cell whose first command started syncdp's threads.
    """
    _, _, launch_cell = launch_in(kernel)
    result = kernel.ok(
        "done = threading.Event()\n"
        "def on_console(event):\n"
        "    text = event['params']['args'][0]['value']\n"
        "    print('got', text)\n"
        "    if text == 'step 3':\n"
        "        done.set()\n"
        "tab.send('Runtime.enable')\n"
        "tab.on('Runtime.consoleAPICalled', on_console)\n"
        "tab.execute_script('for (let i = 1; i <= 3; i++) "
        "setTimeout(() => console.log(\"step \" + i), 400 * i)')\n"
        "assert done.wait(10)\n"
    )
    got = [(at, parent, text) for at, parent, text in result.all_streams if "got step" in text]
    assert "".join(text for _, _, text in got).splitlines() == [
        "got step 1", "got step 2", "got step 3"
    ], result.all_streams
    cells = {parent for _, parent, _ in got}
    kernel_version = tuple(int(p) for p in kernel.value(
        "import ipykernel; ipykernel.__version__").strip("'").split(".")[:2])
    if kernel_version >= (7, 0):
        assert cells == {result.msg_id}, (kernel_version, cells)
    else:
        assert cells in ({result.msg_id}, {launch_cell}), (kernel_version, cells)
    # "step 1" is printed 0.8 s before "step 3" ends the cell: it must be sent while the cell
    # still runs, not be held back until the end.
    first_arrival = min(at for at, _, text in got if "step 1" in text)
    assert result.finished - first_arrival > 0.3, (result.finished - first_arrival, result)


def test_syncdp_leaves_the_notebook_event_loop_alone(kernel: Kernel) -> None:
    launch_in(kernel)
    kernel.ok(
        "import asyncio\n"
        "loop = asyncio.get_event_loop()\n"
        "policy = asyncio.get_event_loop_policy()\n"
        "assert loop.is_running()  # ipykernel runs cells inside its asyncio loop\n"
    )
    result = kernel.ok(
        "seen = []\n"
        "async def on_load(event):  # a coroutine callback: run on syncdp's own loop\n"
        "    await asyncio.sleep(0.01)\n"
        "    seen.append((asyncio.get_running_loop(), threading.current_thread().name))\n"
        "tab.on('Page.loadEventFired', on_load)\n"
        "tab.go_to(server.url('/second'))\n"
        "deadline = time.monotonic() + 10\n"
        "while not seen and time.monotonic() < deadline:\n"
        "    time.sleep(0.02)\n"
        "callback_loop, callback_thread = seen[0]\n"
        "assert callback_loop is not loop, 'the callback ran on the notebook loop'\n"
        "assert callback_thread.startswith('syncdp-dispatcher'), callback_thread\n"
        "assert asyncio.get_event_loop() is loop and loop.is_running()\n"
        "assert asyncio.get_event_loop_policy() is policy\n"
        "await asyncio.sleep(0.01)  # top-level await still works in the same cell\n"
        "print('title:', tab.title)\n"
    )
    assert result.stdout.strip() == "title: second"
    # And in the next cell: the kernel's loop is the same, still running, still usable.
    kernel.ok(
        "assert asyncio.get_event_loop() is loop and loop.is_running()\n"
        "await asyncio.sleep(0)\n"
        "browser.stop(); server.stop()\n"
    )
    assert_nothing_left(kernel.tmp)
