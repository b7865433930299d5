"""The pipe contenders of bench_peers.py (issue 16): CDP over ``--remote-debugging-pipe``.

* "bare pipe loop": the floor. A Chromium spawned here (no syncdp) with the pipe at its fds
  3 and 4; one thread writes a command (``os.write``, NUL-terminated) and reads until its
  answer, splitting 1 MiB reads on NUL. Every message carries the ``sessionId`` of a
  flattened session on a page target: a pipe reaches the browser endpoint only.
* "two-thread handoff over a pipe": the floor of a reader-thread design on a pipe (the same
  handoff as bench_peers' ``Handoff``: a reader thread parses and releases a per-call lock).
* "syncdp pipe": ``Chrome(pipe=True)`` and a session on it (``browser.connection.attach``).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

from _common import CHROMIUM

from syncdp.launcher import DEFAULT_ARGS

BARE_PIPE = "bare pipe loop"
HANDOFF_PIPE = "two-thread handoff over a pipe"
SYNCDP_PIPE = "syncdp pipe"

Call = Callable[[str, Dict[str, Any], Optional[str]], Dict[str, Any]]


def _to_fds_3_and_4(into_read: int, out_write: int) -> Callable[[], None]:
    def setup() -> None:  # in the child, before exec
        import fcntl

        high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (into_read, out_write)]
        os.dup2(high[0], 3)  # os.dup2 makes inheritable copies
        os.dup2(high[1], 4)

    return setup


class PipeChromium:
    """A headless Chromium with ``--remote-debugging-pipe``, spawned without syncdp."""

    def __init__(self) -> None:
        into_read, into_write = os.pipe()
        out_read, out_write = os.pipe()
        self.profile = tempfile.mkdtemp(prefix="syncdp-bench-pipe-")
        argv = [CHROMIUM, *DEFAULT_ARGS, "--headless=new", "--no-sandbox", "--window-size=1280,720",
                "--remote-debugging-pipe", "--user-data-dir=%s" % self.profile, "about:blank"]
        self.process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            close_fds=False,  # every fd Python opens is non-inheritable: only 0-4 pass
            preexec_fn=_to_fds_3_and_4(into_read, out_write),
            start_new_session=True,
        )
        os.close(into_read)
        os.close(out_write)
        self.read_fd, self.write_fd = out_read, into_write

    def close(self) -> None:
        for fd in (self.write_fd, self.read_fd):
            try:
                os.close(fd)
            except OSError:
                pass
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except OSError:
            pass
        self.process.wait(10)
        shutil.rmtree(self.profile, ignore_errors=True)


class PipeReader:
    """NUL-split messages from a blocking fd: 1 MiB reads, a partial tail joined once."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.ready: List[bytes] = []
        self.partial: List[bytes] = []

    def next(self) -> Dict[str, Any]:
        while not self.ready:
            chunk = os.read(self.fd, 1 << 20)
            if not chunk:
                raise EOFError("the browser closed its pipe")
            if b"\0" not in chunk:
                self.partial.append(chunk)
                continue
            if self.partial:
                self.partial.append(chunk)
                chunk = b"".join(self.partial)
                self.partial = []
            parts = chunk.split(b"\0")
            tail = parts.pop()
            if tail:
                self.partial.append(tail)
            self.ready = parts[::-1]
        return json.loads(self.ready.pop())  # type: ignore[no-any-return]


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def prepare_page(call: Call, page_url: str) -> Tuple[str, str]:
    """A page target with ``page_url`` loaded and a 1280x720 viewport, attached as a
    flattened session: (target id, session id)."""
    target = call("Target.createTarget", {"url": page_url}, None)["result"]["targetId"]
    attached = call("Target.attachToTarget", {"targetId": target, "flatten": True}, None)
    session = attached["result"]["sessionId"]
    deadline = time.monotonic() + 30
    while True:
        params = {"expression": "document.readyState", "returnByValue": True}
        state = call("Runtime.evaluate", params, session)
        if state["result"]["result"].get("value") == "complete":
            break
        if time.monotonic() > deadline:
            raise RuntimeError("the bench page did not load on the pipe browser")
        time.sleep(0.05)
    call(
        "Emulation.setDeviceMetricsOverride",
        {"width": 1280, "height": 720, "deviceScaleFactor": 1, "mobile": False},
        session,
    )
    return target, session
