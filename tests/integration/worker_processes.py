"""Helpers for the tests that run syncdp where legacy code runs: Celery and gunicorn workers.

* :class:`RedisServer`: Debian's ``redis-server`` on a free loopback port, no persistence,
  its files in a temporary directory, stopped by pid.
* :class:`ServerProcess`: a worker or server started as a user would (its own process
  group, a private short ``TMPDIR``, a marker variable in its environment, its log in a
  file). Every process it starts (pool processes, the launcher's watchdog, Chromium and all
  of Chromium's children, even those that leave its process group) inherits that
  environment, so :meth:`ServerProcess.processes` finds them all in ``/proc``, and
  :meth:`ServerProcess.assert_nothing_left` checks that none is alive and that the
  ``TMPDIR`` (where the temporary profiles live) is empty.
* :class:`HangingPage`: a loopback page whose first request hangs until released, so a
  test knows a render is in progress.
* PDF and PNG checks.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from pages import alive, png_size

REDIS_SERVER = shutil.which("redis-server")
MARKER_VAR = "SYNCDP_WORKERS_RUN"
SHORT_TMP_ROOT = "/tmp" if os.path.isdir("/tmp") else None


def free_port() -> int:
    """A loopback port nothing listens on now (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError:  # gone meanwhile
        return b""


# -- Redis ----------------------------------------------------------------------------------


class RedisServer:
    """``redis-server`` on 127.0.0.1:<free port>, in-memory only; ``url`` for Celery."""

    def __init__(self) -> None:
        self.directory = tempfile.mkdtemp(prefix="sdredis-", dir=SHORT_TMP_ROOT)
        self.process: Optional["subprocess.Popen[bytes]"] = None
        self.port = 0

    @property
    def url(self) -> str:
        return "redis://127.0.0.1:%d/0" % self.port

    def start(self) -> "RedisServer":
        assert REDIS_SERVER is not None
        for _ in range(5):  # the free port may be taken between the probe and the bind
            self.port = free_port()
            log = open(os.path.join(self.directory, "redis.log"), "wb")
            with log:
                self.process = subprocess.Popen(
                    [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1",
                     "--save", "", "--appendonly", "no", "--dir", self.directory,
                     "--protected-mode", "yes"],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                )
            if self._wait_ready():
                return self
            self.stop()
        raise RuntimeError("redis-server did not start: %s" % self.log()[-2000:])

    def _wait_ready(self, timeout: float = 15.0) -> bool:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return True
            except OSError:
                pass
            time.sleep(0.05)
        return False

    def log(self) -> str:
        return _read(os.path.join(self.directory, "redis.log")).decode("utf-8", "replace")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.process = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


# -- a worker or server process ------------------------------------------------------------


class ServerProcess:
    """A long-running process (Celery worker, gunicorn) started for one test.

    Args:
        argv: the command.
        cwd: its working directory.
        env: extra environment variables.
        name: a short name for its log file and temporary directory.
    """

    def __init__(self, argv: Sequence[str], cwd: str, env: Dict[str, str], name: str) -> None:
        self.tmpdir = tempfile.mkdtemp(prefix="sd%s-" % name[:4], dir=SHORT_TMP_ROOT)
        # The log lives outside TMPDIR: TMPDIR must end up empty.
        self.log_dir = tempfile.mkdtemp(prefix="sdlog-")
        self.log_path = os.path.join(self.log_dir, name + ".log")
        self.marker = os.path.basename(self.tmpdir)
        full_env = dict(os.environ, TMPDIR=self.tmpdir, PYTHONUNBUFFERED="1")
        full_env[MARKER_VAR] = self.marker
        full_env.update(env)
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                list(argv), cwd=cwd, env=full_env, stdin=subprocess.DEVNULL,
                stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: the cleanup kills it whole
            )
        self.pid = self.process.pid

    def log(self) -> str:
        return _read(self.log_path).decode("utf-8", "replace")

    def wait_for_log(self, pattern: str, timeout: float = 60.0) -> "re.Match[str]":
        """The first match of ``pattern`` in the log; fails if the process exits first."""
        regex = re.compile(pattern, re.M)
        deadline = time.monotonic() + timeout
        while True:
            match = regex.search(self.log())
            if match is not None:
                return match
            if self.process.poll() is not None:
                raise AssertionError("exited with %s before logging %r:\n%s"
                                     % (self.process.returncode, pattern, self.log()[-6000:]))
            if time.monotonic() > deadline:
                raise AssertionError("no %r in the log after %gs:\n%s"
                                     % (pattern, timeout, self.log()[-6000:]))
            time.sleep(0.05)

    def processes(self) -> List[Tuple[int, str]]:
        """(pid, command line) of every live process started by this one (itself included)."""
        in_env = ("%s=%s" % (MARKER_VAR, self.marker)).encode()
        in_cmdline = self.tmpdir.encode()  # a browser's --user-data-dir is in TMPDIR
        found = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == os.getpid():
                continue
            cmdline = _read("/proc/%s/cmdline" % entry)
            # Either is enough: /proc/PID/environ reads empty for a moment around an exec.
            ours = in_env in _read("/proc/%s/environ" % entry).split(b"\0") or in_cmdline in cmdline
            if ours and alive(int(entry)):
                found.append((int(entry), cmdline.replace(b"\0", b" ").decode("utf-8", "replace")))
        return found

    def browsers(self) -> List[int]:
        """Pids of the live browser main processes (not their renderers or helpers)."""
        return [pid for pid, cmdline in self.processes()
                if "--remote-debugging" in cmdline and "--type=" not in cmdline
                and "python" not in cmdline.split(" ", 1)[0]]  # not the launcher's watchdog

    def leftovers(self, ignore: Sequence[str] = ()) -> List[str]:
        """What is left of the run: live processes, and files in its TMPDIR whose names do
        not start with one of ``ignore``."""
        left = ["pid %d: %s" % (pid, cmd[:150]) for pid, cmd in self.processes()]
        try:
            names = os.listdir(self.tmpdir)
        except FileNotFoundError:
            names = []
        left += ["file %s" % name for name in names if not name.startswith(tuple(ignore))]
        return left

    def stop(self, sig: int, timeout: float = 60.0) -> int:
        """Send ``sig`` to the main process (only) and wait for it to exit: its exit code."""
        self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError("did not exit within %gs of signal %d:\n%s"
                                 % (timeout, sig, self.log()[-6000:])) from None

    def assert_nothing_left(self, timeout: float = 20.0, ignore: Sequence[str] = ()) -> float:
        """Wait until no process of the run lives and TMPDIR is empty (but for names that
        start with one of ``ignore``); the seconds it took."""
        started = time.monotonic()
        while True:
            left = self.leftovers(ignore)
            if not left:
                return time.monotonic() - started
            if time.monotonic() - started > timeout:
                raise AssertionError("left behind %gs after the end: %s" % (timeout, left))
            time.sleep(0.05)

    def close(self) -> None:
        """Kill whatever is left (the process group and every marked process), remove dirs."""
        deadline = time.monotonic() + 15
        while True:
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            left = self.processes()
            for pid, _cmd in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            if self.process.poll() is None:
                try:
                    self.process.wait(0.2)
                except subprocess.TimeoutExpired:
                    pass
            # Only once nothing of the run lives: a dying browser may still write its profile.
            if (not left and self.process.poll() is not None) or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        shutil.rmtree(self.tmpdir, ignore_errors=True)
        shutil.rmtree(self.log_dir, ignore_errors=True)


# -- a page that hangs ---------------------------------------------------------------------


class HangingPage:
    """``url`` serves a page; its first request waits until :meth:`release` (or 30 s).

    ``requests`` counts the requests for ``url`` (not the browser's ``/favicon.ico``).
    """

    def __init__(self, title: str) -> None:
        self.arrived = threading.Event()
        self._release = threading.Event()
        self.requests = 0
        body = ("<!doctype html><title>%s</title><h1>%s</h1>" % (title, title)).encode()
        page = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                if self.path != "/slow":  # /favicon.ico
                    self.send_error(404)
                    return
                page.requests += 1
                if page.requests == 1:
                    page.arrived.set()
                    page._release.wait(30)
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html; charset=utf-8")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:  # the browser that asked was killed meanwhile
                    pass

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = "http://127.0.0.1:%d/slow" % self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def release(self) -> None:
        self._release.set()

    def close(self) -> None:
        self.release()
        self._server.shutdown()
        self._thread.join(10)
        self._server.server_close()


# -- results --------------------------------------------------------------------------------


def pdf_title(pdf: bytes) -> Optional[str]:
    """The information dictionary's ``/Title`` (Chromium copies the page's ``<title>``)."""
    literal = re.search(rb"/Title\s*\(((?:\\.|[^\\)])*)\)", pdf)
    if literal:
        return re.sub(rb"\\(.)", rb"\1", literal.group(1)).decode("latin-1")
    hexed = re.search(rb"/Title\s*<([0-9A-Fa-f\s]*)>", pdf)
    if hexed:
        return bytes.fromhex(hexed.group(1).decode("ascii")).decode("utf-16")
    return None


def assert_pdf(data: bytes, title: Optional[str] = None) -> None:
    """A complete PDF (header, trailer, a real size) with ``title`` if given."""
    assert data.startswith(b"%PDF-"), data[:20]
    assert data.rstrip().endswith(b"%%EOF"), data[-20:]
    assert len(data) > 1000, len(data)
    if title is not None:
        assert pdf_title(data) == title, (pdf_title(data), title)


def assert_png(data: bytes, size: Tuple[int, int]) -> None:
    """A PNG of ``size`` (width, height)."""
    assert png_size(data) == size
    assert len(data) > 500, len(data)


def page(title: str) -> str:
    """A small document with ``title`` and some text."""
    return ("<!doctype html><html><head><meta charset='utf-8'><title>%s</title></head>"
            "<body><h1>%s</h1><p>%s</p></body></html>" % (title, title, "lorem ipsum " * 60))


REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = REPO_ROOT / "examples"
