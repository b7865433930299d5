"""Shared local pages and helpers for the browser-layer integration tests.

Everything is served by :class:`syncdp.localserver.LocalServer` on 127.0.0.1 (port 0): no
test touches the outside world. Helpers check processes through ``/proc`` and ``pgrep``
(no psutil) and wait by polling a condition with a deadline.
"""

from __future__ import annotations

import http.server
import os
import struct
import subprocess
import sys
import textwrap
import threading
import time
import zlib
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import pytest

CHROMIUM = os.environ.get("SYNCDP_TEST_CHROMIUM", "/usr/bin/chromium")
REPO_ROOT = Path(__file__).resolve().parents[2]

needs_chromium = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs " + CHROMIUM)


def _launches_a_headless_shell() -> bool:
    from syncdp.exceptions import BrowserNotFoundError
    from syncdp.launcher import find_browser
    from syncdp.launcher.find import is_headless_shell

    try:
        return is_headless_shell(find_browser())
    except BrowserNotFoundError:
        return False


#: Whether ``Chrome()`` launches a headless-only build here (tox's py310-py312 run the library
#: suite on chromium-headless-shell: SYNCDP_BROWSER).
HEADLESS_SHELL = _launches_a_headless_shell()

#: For tests of behaviour that full Chromium has and a headless-only build does not (the HTTP
#: auth prompt): they run where ``Chrome()`` launches full Chromium.
needs_full_chromium = pytest.mark.skipif(
    HEADLESS_SHELL, reason="chromium-headless-shell lacks this browser behaviour (see is_headless_shell)"
)

# -- pages -----------------------------------------------------------------------------------

INDEX = """<!doctype html>
<html><head><meta charset="utf-8"><title>syncdp index</title></head>
<body><h1 id="heading">Index page</h1><p class="marker">index-marker-7f3a</p></body></html>
"""

# The title changes in a load handler: right after go_to() it must read "loaded".
ONLOAD = """<!doctype html>
<html><head><meta charset="utf-8"><title>loading</title></head>
<body><p class="marker">onload-marker-91c2</p>
<script>window.addEventListener("load", () => { document.title = "loaded"; });</script>
</body></html>
"""

# Every load bumps a counter kept in sessionStorage (it survives a reload, not a new tab).
COUNTER = """<!doctype html>
<html><head><meta charset="utf-8"><title>counter</title>
<script>
  const n = Number(sessionStorage.getItem("loads") || "0") + 1;
  sessionStorage.setItem("loads", String(n));
  window.loads = n;
</script></head><body>counter</body></html>
"""

TALL = """<!doctype html>
<html><head><meta charset="utf-8"><title>tall</title>
<style>html, body { margin: 0; padding: 0; } #block { height: 3000px; width: 100px; }</style>
</head><body><div id="block">tall page</div></body></html>
"""
TALL_HEIGHT = 3000

# Fixed-size boxes at known places, for element screenshots: #box in the first viewport,
# #low (150x80) far below it.
BOX_WIDTH, BOX_HEIGHT = 200, 100
ELEMENTS = """<!doctype html>
<html><head><meta charset="utf-8"><title>elements</title>
<style>
  body { margin: 0; }
  #box { position: absolute; left: 40px; top: 60px; width: %dpx; height: %dpx;
         background: rgb(200, 30, 30); }
  #button { position: absolute; left: 40px; top: 200px; width: 120px; height: 40px; }
  #name { position: absolute; left: 40px; top: 260px; width: 200px; }
  #low { position: absolute; left: 300px; top: 2500px; width: 150px; height: 80px;
         background: rgb(10, 200, 30); }
</style></head>
<body>
  <div id="box" data-kind="box">Box text</div>
  <div id="low"></div>
  <button id="button" type="button">press me</button>
  <input id="name" type="text" value="">
  <ul id="list"><li class="item">one</li><li class="item">two</li><li class="item">three</li></ul>
  <p id="status">idle</p>
  <script>
    window.clicks = 0;
    window.inputEvents = 0;
    document.getElementById("button").addEventListener("click", (event) => {
      window.clicks += 1;
      window.clickTrusted = event.isTrusted;
      document.getElementById("status").textContent = "clicked " + window.clicks;
    });
    document.getElementById("name").addEventListener("input", () => { window.inputEvents += 1; });
  </script>
</body></html>
""" % (BOX_WIDTH, BOX_HEIGHT)

# addLater(ms) adds <span id="late"> ms milliseconds later (the test decides when).
DELAYED = """<!doctype html>
<html><head><meta charset="utf-8"><title>delayed</title></head>
<body><div id="root"></div>
<script>
  window.addLater = (ms) => setTimeout(() => {
    const el = document.createElement("span");
    el.id = "late";
    el.textContent = "arrived late";
    document.getElementById("root").appendChild(el);
  }, ms);
</script></body></html>
"""

DATA_JSON = '{"answer": 42, "source": "syncdp-test-data"}'

FETCHER = """<!doctype html>
<html><head><meta charset="utf-8"><title>fetcher</title></head><body>fetcher</body></html>
"""

DOWNLOAD_NAME = "report.txt"
DOWNLOAD_BODY = b"downloaded by syncdp integration test\n"
DOWNLOAD = """<!doctype html>
<html><head><meta charset="utf-8"><title>download</title></head>
<body><a id="dl" download="%s" href="/files/%s"
  style="display:block;width:200px;height:40px">get it</a></body></html>
""" % (DOWNLOAD_NAME, DOWNLOAD_NAME)

# A link that navigates a moment after the click (the query after it starts on this page),
# a plain link, and the page both lead to, where #dashboard appears 300 ms after the load.
NAVIGATES_LATER = """<!doctype html>
<html><head><meta charset="utf-8"><title>login</title></head>
<body><a id="go" href="#" style="display:block;width:200px;height:40px"
  onclick="setTimeout(() => { location.href = '/dashboard'; }, 300); return false">go</a>
<a id="plain" href="/dashboard" style="display:block;width:200px;height:40px">plain</a>
</body></html>
"""
DASHBOARD = """<!doctype html>
<html><head><meta charset="utf-8"><title>dashboard</title></head>
<body><script>
  setTimeout(() => {
    const el = document.createElement("div");
    el.id = "dashboard";
    el.textContent = "welcome";
    document.body.appendChild(el);
  }, 300);
</script></body></html>
"""

PAGES: Dict[str, Any] = {
    "/": INDEX,
    "/onload": ONLOAD,
    "/counter": COUNTER,
    "/tall": TALL,
    "/elements": ELEMENTS,
    "/delayed": DELAYED,
    "/fetcher": FETCHER,
    "/data.json": ("application/json", DATA_JSON),
    "/download": DOWNLOAD,
    "/files/" + DOWNLOAD_NAME: ("text/plain", DOWNLOAD_BODY),
    "/navigates-later": NAVIGATES_LATER,
    "/dashboard": DASHBOARD,
}


# -- helpers ---------------------------------------------------------------------------------


def wait_until(condition: Callable[[], Any], timeout: float, message: str = "",
               interval: float = 0.02) -> Any:
    """Poll ``condition`` until it returns something truthy and return it.

    Raises:
        AssertionError: it stayed falsy for ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(message or "condition not met within %gs" % timeout)
        time.sleep(interval)


def png_size(data: bytes) -> Tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk; fails the test if ``data`` is no PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG: %r" % (data[:16],)
    assert data[12:16] == b"IHDR", "PNG without a leading IHDR chunk"
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def png_pixel(data: bytes, x: int, y: int) -> Tuple[int, int, int]:
    """The (r, g, b) of pixel (x, y) of an 8-bit RGB or RGBA, non-interlaced PNG."""
    width, height = png_size(data)
    bit_depth, color_type, interlace = data[24], data[25], data[28]
    assert bit_depth == 8 and color_type in (2, 6) and interlace == 0, data[24:29]
    bpp = 3 if color_type == 2 else 4
    idat = b""
    pos = 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        if data[pos + 4:pos + 8] == b"IDAT":
            idat += data[pos + 8:pos + 8 + length]
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * bpp
    prev = bytearray(stride)
    for row in range(y + 1):
        start = row * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + a) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + b) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        prev = line
    assert 0 <= x < width and 0 <= y < height
    r, g, b = prev[x * bpp:x * bpp + 3]
    return r, g, b


def _stat_fields(pid: int) -> Optional[List[str]]:
    try:
        with open("/proc/%d/stat" % pid) as fh:
            data = fh.read()
    except OSError:
        return None
    return data.rsplit(")", 1)[1].split()


def alive(pid: int) -> bool:
    """True if ``pid`` exists and is not a zombie."""
    fields = _stat_fields(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def group_members(pgid: int) -> List[int]:
    """Live (non-zombie) processes in process group ``pgid``."""
    members = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(int(entry))
            if fields is not None and fields[0] not in ("Z", "X") and int(fields[2]) == pgid:
                members.append(int(entry))
    return members


def pgrep_f(pattern: str) -> List[int]:
    """Live pids whose command line contains ``pattern`` (``pgrep -f``), this one excluded."""
    result = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True, check=False)
    return [int(p) for p in result.stdout.split() if int(p) != os.getpid() and alive(int(p))]


def assert_browser_gone(pid: int, profile: str, timeout: float = 5.0) -> None:
    """The browser's process group, every process of its profile and the profile are gone."""
    wait_until(lambda: not alive(pid), timeout, "browser pid %d still alive" % pid)
    wait_until(lambda: group_members(pid) == [], timeout,
               "processes left in the browser's group: %s" % group_members(pid))
    wait_until(lambda: pgrep_f(profile) == [], timeout,
               "processes of profile %s left: %s" % (profile, pgrep_f(profile)))
    wait_until(lambda: not os.path.exists(profile), timeout, "profile %s left behind" % profile)


def run_python(script: str, tmpdir: Path, **popen: Any) -> "subprocess.Popen[str]":
    """Run ``script`` in a fresh interpreter (syncdp importable, temp files under ``tmpdir``).

    ``tempfile.tempdir`` (not $TMPDIR) is pointed at ``tmpdir``: Chromium derives its
    singleton socket path from $TMPDIR and a long one would exceed the socket path limit.
    """
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    prologue = "import tempfile\ntempfile.tempdir = %r\n" % str(tmpdir)
    return subprocess.Popen(
        [sys.executable, "-c", prologue + textwrap.dedent(script)],
        cwd=str(REPO_ROOT), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, **popen,
    )


class CountingServer:
    """An HTTP server on 127.0.0.1 (port 0) that counts the POST requests to each path.

    ``GET /`` serves a blank page; every POST is answered ``200 text/plain`` with a body
    that is not JSON (``not json``), so ``fetch(...).then(r => r.json())`` rejects with a
    SyntaxError after the request has reached the server.
    """

    def __init__(self) -> None:
        counts: Dict[str, int] = {}
        lock = threading.Lock()
        self._counts, self._lock = counts, lock

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                self._answer("text/html", b"<!doctype html><title>counting</title>")

            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with lock:
                    counts[self.path] = counts.get(self.path, 0) + 1
                self._answer("text/plain", b"not json")

            def _answer(self, content_type: str, body: bytes) -> None:
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="counting-server",
                                        kwargs={"poll_interval": 0.1}, daemon=True)

    def url(self, path: str = "/") -> str:
        """``http://127.0.0.1:PORT`` + ``path``."""
        return "http://127.0.0.1:%d%s" % (self._server.server_address[1], path)

    def posts(self, path: str) -> int:
        """How many POST requests reached ``path``."""
        with self._lock:
            return self._counts.get(path, 0)

    def __enter__(self) -> "CountingServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


def port_of(browser: Any) -> int:
    """The DevTools port of a launched ``Chrome``, for a test that needs a second client;
    skips the test when the browser runs on a pipe (``SYNCDP_PIPE=1``: it has no port)."""
    import pytest

    if browser.process.options.pipe:
        pytest.skip("needs a DevTools port for a second client; this browser runs on a pipe")
    return int(browser.process.port)
# -- frames, popups, console, waiting -----------------------------------------

# The outer page: a same-process iframe (name "same", 40px from the left, a 5px border) and a
# cross-site one (name "cross", on localhost: another process) whose src needs the port.
FRAME_INNER = """<!doctype html>
<html><head><meta charset="utf-8"><title>inner</title>
<style>body { margin: 0; } #b { position: absolute; left: 20px; top: 30px; width: 120px;
  height: 40px; border: 0; background: rgb(10, 200, 30); } #i { position: absolute; left: 20px; top: 90px; width: 120px; }</style></head>
<body><button id="b" type="button" onclick="window.clicks = (window.clicks || 0) + 1">press</button>
<input id="i" type="text" value=""><p class="item">one</p><p class="item">two</p>
<script>window.frameMarker = "marker of " + location.host;</script></body></html>
"""
FRAME_OUTER = """<!doctype html>
<html><head><meta charset="utf-8"><title>outer</title>
<style>body { margin: 0; } iframe { position: absolute; width: 300px; height: 200px; }</style></head>
<body><iframe name="same" src="/frames/inner" style="left: 40px; top: 10px; border: 5px solid"></iframe>
<iframe name="cross" id="cross" style="left: 400px; top: 10px; border: 0"></iframe>
<script>document.getElementById("cross").src =
  "http://localhost:" + location.port + "/frames/inner";</script></body></html>
"""
POPUP_OPENER = """<!doctype html>
<html><head><meta charset="utf-8"><title>opener</title></head><body>
<a id="blank" href="/popup/target" target="_blank" style="display:block;width:200px;height:40px">new</a>
<button id="open" style="display:block;width:200px;height:40px"
  onclick="window.open('/popup/target?by=open')">open</button></body></html>
"""
POPUP_TARGET = "<!doctype html><title>popup target</title><p id='here'>popup</p>"
CONSOLE_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>console</title></head><body>
<script>console.log("loaded", 42, {list: [1, 2]});</script></body></html>
"""
FEATURE_PAGES = {
    "/frames/outer": FRAME_OUTER,
    "/frames/inner": FRAME_INNER,
    "/popup/opener": POPUP_OPENER,
    "/popup/target": POPUP_TARGET,
    "/console": CONSOLE_PAGE,
    "/delayed": DELAYED,
    "/navigates-later": NAVIGATES_LATER,
    "/dashboard": DASHBOARD,
    "/first": "<!doctype html><title>first</title><p id='first'>first</p>",
    "/second": "<!doctype html><title>second</title><p id='second'>second</p>",
}
