"""syncdp against the CDP clients people use, on one headless Chromium and one page target.

Contenders: the floor (a bare websocket-client send/recv loop, ``suppress_origin=True,
skip_utf8_validation=True``, and a Node ``ws`` client run by subprocess), the floor of a
reader-thread design (a "two-thread handoff": the caller sends with websocket-client, a reader
thread reads with syncdp's ``FrameReader``, parses, and releases a per-call ``threading.Lock``
the caller blocks on: what any client with a reader thread pays), pychrome (threads),
pydoll (asyncio; its ``ConnectionHandler`` directly), Playwright's sync API through a
``CDPSession``, and syncdp on a per-target socket (``ConnectionHandler(page_ws_url)``) and as
a flattened session on the browser socket (``browser_conn.attach(target_id)``).

Figures, every contender interleaved in rounds (A B C ... A B C ...), medians over rounds:

1. sequential round trip of ``Runtime.evaluate("1+1")``: median per command, ratio to the
   bare loop, Python CPU per command (``time.process_time()``);
2. pipelined throughput: N commands in flight from one thread (syncdp ``submit``, pydoll
   ``gather``, Node ``Promise.all``), N commands from 8 threads (blocking calls), and N
   commands shared by 4 workers on one connection (blocking calls from 4 threads; pydoll: 4
   asyncio tasks, each awaiting its share sequentially);
3. events/s: N ``Runtime.consoleAPICalled`` delivered to a callback, Python CPU per event;
4. a 20 MB result (``Runtime.evaluate`` returning a long string) and a full-page screenshot;
5. launch to first command and stop to no process left (syncdp, pydoll, Playwright).

Run: ``python bench/bench_peers.py [--rounds 5] [--quick] [--plot docs/benchmarks.png]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import threading
import time
import traceback
from typing import Any, Callable, Dict, List, Optional, Tuple

import websocket

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import (  # noqa: E402
    CHROMIUM,
    EVAL,
    alive,
    browser_pids,
    child_pids_named,
    cpu_seconds,
    fmt,
    log,
    machine_lines,
    median,
    node_available,
    run_node,
    verdict,
    wait_until,
)
from _pipe import (  # noqa: E402
    BARE_PIPE,
    HANDOFF_PIPE,
    SYNCDP_PIPE,
    PipeChromium,
    PipeReader,
    prepare_page,
    write_all,
)

from syncdp import Chrome, ConnectionHandler  # noqa: E402
from syncdp.launcher import BrowserProcess, LaunchOptions  # noqa: E402
from syncdp.localserver import LocalServer  # noqa: E402
from syncdp.transports.websocket import OPCODE_TEXT, FrameReader  # noqa: E402

BIG_SIZE = 20 * 1024 * 1024
BIG_PARAMS = {"expression": "'x'.repeat(%d)" % BIG_SIZE, "returnByValue": True}
TALL_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>tall</title>
<style>body{margin:0;font:16px sans-serif} div{height:200px;padding:20px;
background:linear-gradient(90deg,#1f4e8c,#f4a261)}</style></head><body>%s</body></html>""" % "".join(
    '<div style="filter:hue-rotate(%ddeg)"><h2>Section %d</h2><p>%s</p></div>'
    % (i * 17, i, "lorem ipsum dolor sit amet " * 12)
    for i in range(20)
)
SHOT_PARAMS = {
    "format": "png",
    "captureBeyondViewport": True,
    "clip": {"x": 0, "y": 0, "width": 1280, "height": 4800, "scale": 1},
}


def flood_expression(n: int) -> str:
    return "for (let i = 0; i < %d; i++) console.log(i); %d" % (n, n)


class NotApplicable(Exception):
    """The contender has no such mode (reported as n/a)."""


# -- contenders ---------------------------------------------------------------------------
#
# Each has: latency(n) -> [seconds per command]; pipelined(n) -> seconds (one thread, n in
# flight); threads(n, k) -> seconds (k threads, n commands in all); shared(n, k) -> seconds
# (k workers on one connection, n commands in all: threads, or pydoll's asyncio tasks);
# events(n) -> seconds; call(method, params, reps) -> [seconds]; begin_round()/end_round();
# close(). A mode a contender lacks raises NotApplicable (reported as n/a).
# ``python_cpu`` says whether time.process_time() deltas mean anything for it.


class Contender:
    name = "?"
    python_cpu = True

    def begin_round(self) -> None:
        pass

    def end_round(self) -> None:
        pass

    def extra_cpu(self) -> float:
        """CPU seconds of a helper process that works for this contender (Playwright's driver)."""
        return 0.0

    def latency(self, n: int) -> List[float]:
        raise NotImplementedError

    def pipelined(self, n: int) -> float:
        raise NotApplicable

    def threads(self, n: int, k: int) -> float:
        raise NotApplicable

    def shared(self, n: int, k: int) -> float:
        """n blocking commands shared by k workers on one connection; threads by default."""
        return self.threads(n, k)

    def events(self, n: int) -> float:
        raise NotApplicable

    def call(self, method: str, params: Dict[str, Any], reps: int) -> List[float]:
        raise NotApplicable

    def close(self) -> None:
        pass


class Bare(Contender):
    name = "bare websocket-client"

    def __init__(self, url: str) -> None:
        self.ws = websocket.create_connection(url, suppress_origin=True, skip_utf8_validation=True)
        self.next_id = 0

    def _call(self, method: str, params: Dict[str, Any]) -> Dict[str, Any]:
        self.next_id += 1
        cid = self.next_id
        self.ws.send(json.dumps({"id": cid, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == cid:
                if "error" in msg:
                    raise RuntimeError(msg["error"])
                return msg  # type: ignore[no-any-return]

    def latency(self, n: int) -> List[float]:
        out = []
        perf = time.perf_counter
        for _ in range(n):
            t0 = perf()
            self._call("Runtime.evaluate", {"expression": "1+1"})
            out.append(perf() - t0)
        return out

    def events(self, n: int) -> float:
        self._call("Runtime.enable", {})
        self.next_id += 1
        t0 = time.perf_counter()
        self.ws.send(
            json.dumps(
                {
                    "id": self.next_id,
                    "method": "Runtime.evaluate",
                    "params": {"expression": flood_expression(n)},
                }
            )
        )
        seen = 0
        while seen < n:
            msg = json.loads(self.ws.recv())
            if msg.get("method") == "Runtime.consoleAPICalled":
                seen += 1
        elapsed = time.perf_counter() - t0
        self._call("Runtime.disable", {})
        self._call("Runtime.discardConsoleEntries", {})
        return elapsed

    def call(self, method: str, params: Dict[str, Any], reps: int) -> List[float]:
        out = []
        for _ in range(reps):
            t0 = time.perf_counter()
            self._call(method, params)
            out.append(time.perf_counter() - t0)
        return out

    def close(self) -> None:
        self.ws.close()


class BareSession(Bare):
    """The floor for syncdp's sessions mode: the same bare loop on the browser socket, every
    message carrying the ``sessionId`` of a flattened ``Target.attachToTarget`` session (the
    browser process routes each message: a cost no client can avoid)."""

    name = "bare, flattened session"

    def __init__(self, browser_ws: str, target_id: str) -> None:
        super().__init__(browser_ws)
        self.session_id: Optional[str] = None
        answer = self._call("Target.attachToTarget", {"targetId": target_id, "flatten": True})
        self.session_id = answer["result"]["sessionId"]

    def _call(self, method: str, params: Dict[str, Any]) -> Dict[str, Any]:
        self.next_id += 1
        cid = self.next_id
        message: Dict[str, Any] = {"id": cid, "method": method, "params": params}
        if self.session_id is not None:
            message["sessionId"] = self.session_id
        self.ws.send(json.dumps(message))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == cid:
                if "error" in msg:
                    raise RuntimeError(msg["error"])
                return msg  # type: ignore[no-any-return]

    def events(self, n: int) -> float:
        self._call("Runtime.enable", {})
        self.next_id += 1
        t0 = time.perf_counter()
        self.ws.send(
            json.dumps(
                {
                    "id": self.next_id,
                    "method": "Runtime.evaluate",
                    "params": {"expression": flood_expression(n)},
                    "sessionId": self.session_id,
                }
            )
        )
        seen = 0
        while seen < n:
            msg = json.loads(self.ws.recv())
            if msg.get("method") == "Runtime.consoleAPICalled":
                seen += 1
        elapsed = time.perf_counter() - t0
        self._call("Runtime.disable", {})
        self._call("Runtime.discardConsoleEntries", {})
        return elapsed


HANDOFF = "two-thread handoff (floor of the design)"


class Handoff(Contender):
    """The floor of any design with a reader thread (syncdp's architecture mandates one):
    callers send with websocket-client (its send lock makes that thread-safe); one reader
    thread reads with syncdp's ``FrameReader``, parses, pops the id from a dict under a
    ``threading.Lock`` and releases the caller's pre-acquired per-call ``threading.Lock``
    (the lightest wake-up CPython has). No events, no timeouts beyond a 10 s wait."""

    name = HANDOFF

    def __init__(self, url: str) -> None:
        self.ws = websocket.create_connection(url, suppress_origin=True, skip_utf8_validation=True)
        assert self.ws.sock is not None
        self.frames = FrameReader(self.ws.sock)
        self.next_id = 0
        self.pending: Dict[int, List[Any]] = {}
        self.lock = threading.Lock()
        self.reader = threading.Thread(target=self._read, name="handoff-reader", daemon=True)
        self.reader.start()

    def _read(self) -> None:
        try:
            read = self.frames.read_message
            while True:
                opcode, payload = read()
                if opcode != OPCODE_TEXT:  # a ping or pong: nothing to hand off
                    continue
                message = json.loads(payload)
                with self.lock:
                    waiter = self.pending.pop(message.get("id"), None)
                if waiter is not None:
                    waiter[1] = message
                    waiter[0].release()
        except Exception:  # the socket closed under it (close()) or the browser went away
            return

    def _call(self, method: str, params: Dict[str, Any]) -> Dict[str, Any]:
        gate = threading.Lock()
        gate.acquire()
        waiter: List[Any] = [gate, None]
        with self.lock:
            self.next_id += 1
            cid = self.next_id
            self.pending[cid] = waiter
        self.ws.send(json.dumps({"id": cid, "method": method, "params": params}))
        if not gate.acquire(True, 10):
            raise RuntimeError("handoff: no answer to command %d in 10 s" % cid)
        msg: Dict[str, Any] = waiter[1]
        if "error" in msg:
            raise RuntimeError(msg["error"])
        return msg

    def latency(self, n: int) -> List[float]:
        out = []
        call = self._call
        perf = time.perf_counter
        for _ in range(n):
            t0 = perf()
            call("Runtime.evaluate", {"expression": "1+1"})
            out.append(perf() - t0)
        return out

    def threads(self, n: int, k: int) -> float:
        call = self._call

        def work(count: int) -> None:
            for _ in range(count):
                call("Runtime.evaluate", {"expression": "1+1"})

        return _run_threads(work, n, k)

    def close(self) -> None:
        self.ws.abort()  # type: ignore[no-untyped-call]  # wakes the reader: its recv returns EOF
        self.reader.join(5)
        self.ws.close()


class BarePipe(Contender):
    """The bare loop on a ``--remote-debugging-pipe`` (a flattened session on a page target):
    the floor of ``Chrome(pipe=True)``. See bench/_pipe.py."""

    name = BARE_PIPE

    def __init__(self, page_url: str) -> None:
        self.browser = PipeChromium()
        self.reader = PipeReader(self.browser.read_fd)
        self.next_id = 0
        self.session_id: Optional[str] = None
        _, self.session_id = prepare_page(self._call_in, page_url)

    def _call_in(self, method: str, params: Dict[str, Any], session_id: Optional[str]) -> Dict[str, Any]:
        self.next_id += 1
        cid = self.next_id
        message: Dict[str, Any] = {"id": cid, "method": method, "params": params}
        if session_id is not None:
            message["sessionId"] = session_id
        write_all(self.browser.write_fd, json.dumps(message).encode() + b"\0")
        while True:
            msg = self.reader.next()
            if msg.get("id") == cid:
                if "error" in msg:
                    raise RuntimeError(msg["error"])
                return msg

    def _call(self, method: str, params: Dict[str, Any]) -> Dict[str, Any]:
        return self._call_in(method, params, self.session_id)

    def latency(self, n: int) -> List[float]:
        out = []
        call = self._call
        perf = time.perf_counter
        for _ in range(n):
            t0 = perf()
            call("Runtime.evaluate", {"expression": "1+1"})
            out.append(perf() - t0)
        return out

    def events(self, n: int) -> float:
        self._call("Runtime.enable", {})
        self.next_id += 1
        message = {"id": self.next_id, "method": "Runtime.evaluate",
                   "params": {"expression": flood_expression(n)}, "sessionId": self.session_id}
        t0 = time.perf_counter()
        write_all(self.browser.write_fd, json.dumps(message).encode() + b"\0")
        seen = 0
        while seen < n:
            if self.reader.next().get("method") == "Runtime.consoleAPICalled":
                seen += 1
        elapsed = time.perf_counter() - t0
        self._call("Runtime.disable", {})
        self._call("Runtime.discardConsoleEntries", {})
        return elapsed

    def call(self, method: str, params: Dict[str, Any], reps: int) -> List[float]:
        out = []
        for _ in range(reps):
            t0 = time.perf_counter()
            self._call(method, params)
            out.append(time.perf_counter() - t0)
        return out

    def close(self) -> None:
        self.browser.close()


class HandoffPipe(Contender):
    """The two-thread handoff (see :class:`Handoff`) on a pipe: the floor of a reader-thread
    client over ``--remote-debugging-pipe``."""

    name = HANDOFF_PIPE

    def __init__(self, page_url: str) -> None:
        self.browser = PipeChromium()
        self.next_id = 0
        self.pending: Dict[int, List[Any]] = {}
        self.lock = threading.Lock()
        self.send_lock = threading.Lock()
        self.session_id: Optional[str] = None
        self.reader = threading.Thread(target=self._read, name="handoff-pipe-reader", daemon=True)
        self.reader.start()
        _, self.session_id = prepare_page(self._call_in, page_url)

    def _read(self) -> None:
        reader = PipeReader(self.browser.read_fd)
        try:
            while True:
                message = reader.next()
                with self.lock:
                    waiter = self.pending.pop(message.get("id"), None)  # type: ignore[arg-type]
                if waiter is not None:
                    waiter[1] = message
                    waiter[0].release()
        except (EOFError, OSError):  # close() closed the pipe, or the browser went away
            return

    def _call_in(self, method: str, params: Dict[str, Any], session_id: Optional[str]) -> Dict[str, Any]:
        gate = threading.Lock()
        gate.acquire()
        waiter: List[Any] = [gate, None]
        with self.lock:
            self.next_id += 1
            cid = self.next_id
            self.pending[cid] = waiter
        message: Dict[str, Any] = {"id": cid, "method": method, "params": params}
        if session_id is not None:
            message["sessionId"] = session_id
        data = json.dumps(message).encode() + b"\0"
        with self.send_lock:
            write_all(self.browser.write_fd, data)
        if not gate.acquire(True, 30):
            raise RuntimeError("handoff pipe: no answer to command %d in 30 s" % cid)
        msg: Dict[str, Any] = waiter[1]
        if "error" in msg:
            raise RuntimeError(msg["error"])
        return msg

    def latency(self, n: int) -> List[float]:
        out = []
        call = self._call_in
        session = self.session_id
        perf = time.perf_counter
        for _ in range(n):
            t0 = perf()
            call("Runtime.evaluate", {"expression": "1+1"}, session)
            out.append(perf() - t0)
        return out

    def threads(self, n: int, k: int) -> float:
        call = self._call_in
        session = self.session_id

        def work(count: int) -> None:
            for _ in range(count):
                call("Runtime.evaluate", {"expression": "1+1"}, session)

        return _run_threads(work, n, k)

    def close(self) -> None:
        self.browser.close()  # the reader sees EOF once the browser is gone
        self.reader.join(5)


class Node(Contender):
    name = "node ws"
    python_cpu = False

    def __init__(self, url: str) -> None:
        self.url = url

    def latency(self, n: int) -> List[float]:
        return list(run_node({"url": self.url, "mode": "latency", "n": n})["samples"])

    def pipelined(self, n: int) -> float:
        return float(run_node({"url": self.url, "mode": "pipelined", "n": n})["seconds"])

    def events(self, n: int) -> float:
        job = {"url": self.url, "mode": "events", "n": n, "disable": True}
        job["expression"] = flood_expression(n)
        return float(run_node(job)["seconds"])

    def call(self, method: str, params: Dict[str, Any], reps: int) -> List[float]:
        job = {"url": self.url, "mode": "call", "n": reps, "method": method, "params": params}
        return list(run_node(job)["samples"])


class Pychrome(Contender):
    name = "pychrome"

    def __init__(self, url: str, target_id: str) -> None:
        import pychrome

        self.tab = pychrome.Tab(id=target_id, type="page", webSocketDebuggerUrl=url)
        self.tab.start()

    def latency(self, n: int) -> List[float]:
        out = []
        call = self.tab.call_method
        perf = time.perf_counter
        for _ in range(n):
            t0 = perf()
            call("Runtime.evaluate", expression="1+1", _timeout=30)
            out.append(perf() - t0)
        return out

    def threads(self, n: int, k: int) -> float:
        failures = [0]

        def work(count: int) -> None:
            for _ in range(count):
                try:
                    self.tab.call_method("Runtime.evaluate", expression="1+1", _timeout=10)
                except Exception:
                    failures[0] += 1

        elapsed = _run_threads(work, n, k)
        if failures[0]:
            log("pychrome: %d of %d calls from %d threads failed" % (failures[0], n, k))
        return elapsed

    def events(self, n: int) -> float:
        done = threading.Event()
        count = [0]

        def on_console(**params: Any) -> None:
            count[0] += 1
            if count[0] == n:
                done.set()

        self.tab.call_method("Runtime.enable", _timeout=30)
        self.tab.set_listener("Runtime.consoleAPICalled", on_console)
        t0 = time.perf_counter()
        self.tab.call_method("Runtime.evaluate", expression=flood_expression(n), _timeout=120)
        if not done.wait(120):
            raise RuntimeError("pychrome: only %d of %d events" % (count[0], n))
        elapsed = time.perf_counter() - t0
        self.tab.set_listener("Runtime.consoleAPICalled", None)
        self.tab.call_method("Runtime.disable", _timeout=30)
        self.tab.call_method("Runtime.discardConsoleEntries", _timeout=30)
        return elapsed

    def call(self, method: str, params: Dict[str, Any], reps: int) -> List[float]:
        out = []
        for _ in range(reps):
            t0 = time.perf_counter()
            self.tab.call_method(method, _timeout=120, **params)
            out.append(time.perf_counter() - t0)
        return out

    def close(self) -> None:
        self.tab.stop()


class Pydoll(Contender):
    name = "pydoll"

    def __init__(self, url: str) -> None:
        from pydoll.connection import ConnectionHandler as PydollConnectionHandler

        # Its own thread and loop: Playwright's sync API owns the main thread's running loop.
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="pydoll-loop", daemon=True)
        self.thread.start()
        self.conn = PydollConnectionHandler(ws_address=url)
        self.run(self.conn.execute_command({"method": "Runtime.evaluate", "params": {"expression": "1"}}))

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def latency(self, n: int) -> List[float]:
        async def go() -> List[float]:
            out = []
            execute = self.conn.execute_command
            perf = time.perf_counter
            for _ in range(n):
                t0 = perf()
                await execute({"method": "Runtime.evaluate", "params": {"expression": "1+1"}})
                out.append(perf() - t0)
            return out

        return self.run(go())  # type: ignore[no-any-return]

    def pipelined(self, n: int) -> float:
        async def go() -> float:
            t0 = time.perf_counter()
            await asyncio.gather(
                *(
                    self.conn.execute_command({"method": "Runtime.evaluate", "params": {"expression": "1+1"}})
                    for _ in range(n)
                )
            )
            return time.perf_counter() - t0

        return self.run(go())  # type: ignore[no-any-return]

    def shared(self, n: int, k: int) -> float:
        """k concurrent asyncio tasks on the one ConnectionHandler, each awaiting its share of
        the n commands sequentially (pydoll's counterpart of k blocking threads)."""
        shares = [n // k + (1 if i < n % k else 0) for i in range(k)]

        async def work(count: int) -> None:
            execute = self.conn.execute_command
            for _ in range(count):
                await execute({"method": "Runtime.evaluate", "params": {"expression": "1+1"}})

        async def go() -> float:
            t0 = time.perf_counter()
            await asyncio.gather(*(work(s) for s in shares))
            return time.perf_counter() - t0

        return self.run(go())  # type: ignore[no-any-return]

    def events(self, n: int) -> float:
        async def go() -> float:
            done = asyncio.Event()
            count = [0]

            def on_console(event: Dict[str, Any]) -> None:
                count[0] += 1
                if count[0] == n:
                    done.set()

            await self.conn.execute_command({"method": "Runtime.enable", "params": {}})
            cid = await self.conn.register_callback("Runtime.consoleAPICalled", on_console)
            t0 = time.perf_counter()
            await self.conn.execute_command(
                {"method": "Runtime.evaluate", "params": {"expression": flood_expression(n)}},
                timeout=120,
            )
            await asyncio.wait_for(done.wait(), 120)
            elapsed = time.perf_counter() - t0
            await self.conn.remove_callback(cid)
            await self.conn.execute_command({"method": "Runtime.disable", "params": {}})
            await self.conn.execute_command({"method": "Runtime.discardConsoleEntries", "params": {}})
            return elapsed

        return self.run(go())  # type: ignore[no-any-return]

    def call(self, method: str, params: Dict[str, Any], reps: int) -> List[float]:
        async def go() -> List[float]:
            out = []
            for _ in range(reps):
                t0 = time.perf_counter()
                await self.conn.execute_command({"method": method, "params": params}, timeout=120)
                out.append(time.perf_counter() - t0)
            return out

        return self.run(go())  # type: ignore[no-any-return]

    def close(self) -> None:
        self.run(self.conn.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


class Playwright(Contender):
    """Playwright's sync API, a CDPSession on the same page (connect_over_cdp per round:
    a connected Playwright keeps Runtime enabled on the page, which would also send every
    other contender's console flood to its driver)."""

    name = "playwright CDPSession"

    def __init__(self, browser_ws: str, target_id: str) -> None:
        from playwright.sync_api import sync_playwright

        self.browser_ws = browser_ws
        self.target_id = target_id
        self.pw = sync_playwright().start()
        drivers = child_pids_named("node")
        self.driver_pid = drivers[0] if drivers else None
        self.browser: Any = None
        self.page: Any = None
        self.cdp: Any = None

    def extra_cpu(self) -> float:
        return cpu_seconds(self.driver_pid) if self.driver_pid else 0.0

    def begin_round(self) -> None:
        self.browser = self.pw.chromium.connect_over_cdp(self.browser_ws)
        for context in self.browser.contexts:
            for page in context.pages:
                session = context.new_cdp_session(page)
                info = session.send("Target.getTargetInfo")["targetInfo"]
                if info["targetId"] == self.target_id:
                    self.page, self.cdp = page, session
                    return
                session.detach()
        raise RuntimeError("playwright: the benchmark page is not among %r" % self.browser.contexts)

    def end_round(self) -> None:
        if self.cdp is not None:
            self.cdp.detach()
        if self.browser is not None:
            self.browser.close()  # connected over CDP: disconnects, the browser keeps running
        self.browser = self.page = self.cdp = None

    def latency(self, n: int) -> List[float]:
        out = []
        send = self.cdp.send
        perf = time.perf_counter
        for _ in range(n):
            t0 = perf()
            send("Runtime.evaluate", {"expression": "1+1"})
            out.append(perf() - t0)
        return out

    def events(self, n: int) -> float:
        count = [0]

        def on_console(params: Dict[str, Any]) -> None:
            count[0] += 1

        self.cdp.send("Runtime.enable")
        self.cdp.on("Runtime.consoleAPICalled", on_console)
        t0 = time.perf_counter()
        self.cdp.send("Runtime.evaluate", {"expression": flood_expression(n)})
        deadline = time.monotonic() + 120
        while count[0] < n:  # events are delivered while Playwright's loop runs
            if time.monotonic() > deadline:
                raise RuntimeError("playwright: only %d of %d events" % (count[0], n))
            self.page.wait_for_timeout(1)
        elapsed = time.perf_counter() - t0
        self.cdp.remove_listener("Runtime.consoleAPICalled", on_console)
        self.cdp.send("Runtime.disable")
        self.cdp.send("Runtime.discardConsoleEntries")
        return elapsed

    def call(self, method: str, params: Dict[str, Any], reps: int) -> List[float]:
        out = []
        for _ in range(reps):
            t0 = time.perf_counter()
            self.cdp.send(method, params)
            out.append(time.perf_counter() - t0)
        return out

    def close(self) -> None:
        self.end_round()
        self.pw.stop()


class Syncdp(Contender):
    def __init__(self, name: str, endpoint: Any, owner: Optional[Any] = None) -> None:
        self.name = name
        self.conn = endpoint
        self.owner = owner
        self.conn.connect()

    def latency(self, n: int) -> List[float]:
        out = []
        execute = self.conn.execute_command
        perf = time.perf_counter
        for _ in range(n):
            t0 = perf()
            execute(EVAL)
            out.append(perf() - t0)
        return out

    def pipelined(self, n: int) -> float:
        submit = self.conn.submit
        t0 = time.perf_counter()
        futures = [submit(EVAL) for _ in range(n)]
        for future in futures:
            future.result(60)
        return time.perf_counter() - t0

    def threads(self, n: int, k: int) -> float:
        execute = self.conn.execute_command

        def work(count: int) -> None:
            for _ in range(count):
                execute(EVAL)

        return _run_threads(work, n, k)

    def events(self, n: int) -> float:
        self.conn.send("Runtime.enable")
        done = threading.Event()
        count = [0]

        def on_console(event: Dict[str, Any]) -> None:
            count[0] += 1
            if count[0] == n:
                done.set()

        cid = self.conn.register_callback("Runtime.consoleAPICalled", on_console)
        t0 = time.perf_counter()
        self.conn.submit({"method": "Runtime.evaluate", "params": {"expression": flood_expression(n)}})
        if not done.wait(120):
            raise RuntimeError("syncdp: only %d of %d events" % (count[0], n))
        elapsed = time.perf_counter() - t0
        self.conn.remove_callback(cid)
        self.conn.send("Runtime.disable")
        self.conn.send("Runtime.discardConsoleEntries")
        return elapsed

    def call(self, method: str, params: Dict[str, Any], reps: int) -> List[float]:
        out = []
        command = {"method": method, "params": params}
        for _ in range(reps):
            t0 = time.perf_counter()
            response = self.conn.execute_command(command, timeout=120)
            if "error" in response:
                raise RuntimeError(response["error"])
            out.append(time.perf_counter() - t0)
        return out

    def close(self) -> None:
        self.conn.close()
        if isinstance(self.owner, Chrome):
            self.owner.stop()
        elif self.owner is not None:
            self.owner.close()


def _syncdp_pipe(page_url: str) -> Syncdp:
    chrome = Chrome(binary_location=CHROMIUM, pipe=True).start()
    connection = chrome.connection
    target = connection.send("Target.createTarget", {"url": page_url})["targetId"]
    session = connection.attach(target)
    deadline = time.monotonic() + 30
    while session.send("Runtime.evaluate", {"expression": "document.readyState", "returnByValue": True})[
        "result"
    ].get("value") != "complete":
        if time.monotonic() > deadline:
            raise RuntimeError("the bench page did not load on the syncdp pipe browser")
        time.sleep(0.05)
    session.send(
        "Emulation.setDeviceMetricsOverride",
        {"width": 1280, "height": 720, "deviceScaleFactor": 1, "mobile": False},
    )
    return Syncdp(SYNCDP_PIPE, session, owner=chrome)


def _run_threads(work: Callable[[int], None], n: int, k: int) -> float:
    barrier = threading.Barrier(k + 1)
    shares = [n // k + (1 if i < n % k else 0) for i in range(k)]

    def run(count: int) -> None:
        barrier.wait()
        work(count)

    threads = [threading.Thread(target=run, args=(s,), name="bench-worker") for s in shares]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    return time.perf_counter() - t0


# -- measuring ------------------------------------------------------------------------------


class Results:
    """name -> figure -> list of per-round values."""

    def __init__(self) -> None:
        self.data: Dict[str, Dict[str, List[float]]] = {}
        self.errors: Dict[str, List[str]] = {}

    def add(self, name: str, figure: str, value: float) -> None:
        self.data.setdefault(name, {}).setdefault(figure, []).append(value)

    def med(self, name: str, figure: str) -> Optional[float]:
        values = self.data.get(name, {}).get(figure)
        return median(values) if values else None


def measure(c: Contender, results: Results, figure: str, fn: Callable[[], Any], per: int) -> Any:
    """Run fn; record wall-clock-derived value via the caller and CPU per item here."""
    c0 = time.process_time()
    x0 = c.extra_cpu()
    try:
        value = fn()
    except NotApplicable:
        return None
    except Exception as exc:
        results.errors.setdefault(c.name, []).append("%s: %s" % (figure, exc))
        log("%s %s failed: %s" % (c.name, figure, traceback.format_exc(limit=3)))
        return None
    if c.python_cpu and per:
        results.add(c.name, figure + ".cpu", (time.process_time() - c0) / per)
        extra = c.extra_cpu() - x0
        if extra:
            results.add(c.name, figure + ".cpu_helper", extra / per)
    return value


def run_round(c: Contender, results: Results, sizes: Dict[str, int]) -> None:
    name = c.name
    c.begin_round()
    try:
        c.latency(min(200, sizes["commands"]))  # warm-up
        samples = measure(c, results, "latency", lambda: c.latency(sizes["commands"]), sizes["commands"])
        if samples:
            results.add(name, "latency", median(samples))
        n = sizes["pipelined"]
        seconds = measure(c, results, "pipelined", lambda: c.pipelined(n), n)
        if seconds:
            results.add(name, "pipelined", n / seconds)
        seconds = measure(c, results, "threads8", lambda: c.threads(n, 8), n)
        if seconds:
            results.add(name, "threads8", n / seconds)
        seconds = measure(c, results, "threads4", lambda: c.shared(n, 4), n)
        if seconds:
            results.add(name, "threads4", n / seconds)
        n = sizes["events"]
        seconds = measure(c, results, "events", lambda: c.events(n), n)
        if seconds:
            results.add(name, "events", n / seconds)
        samples = measure(c, results, "big", lambda: c.call("Runtime.evaluate", BIG_PARAMS, sizes["big"]), 0)
        if samples:
            results.add(name, "big", median(samples))
        samples = measure(
            c, results, "shot", lambda: c.call("Page.captureScreenshot", SHOT_PARAMS, sizes["shots"]), 0
        )
        if samples:
            results.add(name, "shot", median(samples))
    finally:
        c.end_round()


def connection_suite(args: argparse.Namespace, results: Results) -> List[str]:
    sizes = {
        "commands": args.commands,
        "pipelined": args.pipelined,
        "events": args.events,
        "big": args.big,
        "shots": args.shots,
    }
    server = LocalServer({"/tall": TALL_PAGE}).start()
    try:
        with BrowserProcess(LaunchOptions(binary_location=CHROMIUM)) as browser:
            admin = ConnectionHandler(browser.ws_url)
            target = admin.send("Target.createTarget", {"url": "about:blank"})["targetId"]
            page_url = "ws://127.0.0.1:%d/devtools/page/%s" % (browser.port, target)
            # The page every contender drives: tall, for the full-page screenshot.
            setup = ConnectionHandler(page_url)
            setup.send("Page.enable")
            with setup.expect_event("Page.loadEventFired", timeout=30):
                setup.send("Page.navigate", {"url": server.url("/tall")})
            setup.send(
                "Emulation.setDeviceMetricsOverride",
                {"width": 1280, "height": 720, "deviceScaleFactor": 1, "mobile": False},
            )
            setup.close()

            contenders: List[Contender] = [
                Bare(page_url),
                BareSession(browser.ws_url, target),
                Handoff(page_url),
            ]
            if node_available() and not args.skip_node:
                contenders.append(Node(page_url))
            else:
                log("node ws client not available: run `npm install` in bench/node")
            for make in () if args.skip_peers else (
                lambda: Pychrome(page_url, target),
                lambda: Pydoll(page_url),
                lambda: Playwright(browser.ws_url, target),
            ):
                try:
                    contenders.append(make())
                except Exception as exc:
                    log("peer not available: %s" % exc)
            contenders.append(Syncdp("syncdp sockets", ConnectionHandler(page_url)))
            root = ConnectionHandler(browser.ws_url)
            contenders.append(Syncdp("syncdp sessions", root.attach(target), owner=root))
            if not args.skip_pipe:  # each on a browser of its own: a pipe has one client
                contenders[2:2] = [BarePipe(server.url("/tall")), HandoffPipe(server.url("/tall"))]
                contenders.append(_syncdp_pipe(server.url("/tall")))
            if args.contenders:  # a subset, e.g. to profile one figure: the rest is closed
                wanted = [w.lower() for w in args.contenders]
                for c in [c for c in contenders if not any(w in c.name.lower() for w in wanted)]:
                    contenders.remove(c)
                    c.close()
            names = [c.name for c in contenders]
            for r in range(args.rounds):
                for c in contenders:
                    t0 = time.perf_counter()
                    run_round(c, results, sizes)
                    log("round %d/%d %s: %.1fs" % (r + 1, args.rounds, c.name, time.perf_counter() - t0))
            for c in contenders:
                try:
                    c.close()
                except Exception as exc:
                    log("closing %s: %s" % (c.name, exc))
            admin.close()
    finally:
        server.stop()
    return names


# -- figure 5: launch and stop --------------------------------------------------------------


def _gone(pids: Any) -> float:
    return wait_until(lambda: not alive(pids), 30)


def launch_syncdp(pipe: bool = False) -> Tuple[float, float, float]:
    t0 = time.perf_counter()
    browser = Chrome(binary_location=CHROMIUM, pipe=pipe).start()
    tab = browser.get_page()
    tab.execute_script("1+1")
    first = time.perf_counter() - t0
    pids = browser_pids()
    t1 = time.perf_counter()
    browser.stop()
    stop_call = time.perf_counter() - t1
    return first, stop_call, stop_call + _gone(pids)


def launch_pydoll() -> Tuple[float, float, float]:
    from pydoll.browser.chromium import Chrome as PydollChrome
    from pydoll.browser.options import ChromiumOptions

    async def go() -> Tuple[float, float, float]:
        options = ChromiumOptions()
        options.binary_location = CHROMIUM
        options.headless = True
        options.add_argument("--no-sandbox")
        t0 = time.perf_counter()
        browser = PydollChrome(options=options)
        tab = await browser.start()
        await tab.execute_script("1+1")
        first = time.perf_counter() - t0
        pids = browser_pids()
        t1 = time.perf_counter()
        await browser.stop()
        await tab._connection_handler.close()
        stop_call = time.perf_counter() - t1
        return first, stop_call, stop_call + _gone(pids)

    # In a thread of its own: Playwright's sync API owns the main thread's running loop.
    out: List[Any] = []

    def run() -> None:
        try:
            out.append(asyncio.run(go()))
        except BaseException as exc:  # re-raised in the caller
            out.append(exc)

    thread = threading.Thread(target=run, name="pydoll-launch")
    thread.start()
    thread.join()
    if isinstance(out[0], BaseException):
        raise out[0]
    return out[0]  # type: ignore[no-any-return]


class _PlaywrightLauncher:
    def __init__(self) -> None:
        from playwright.sync_api import sync_playwright

        self.pw = sync_playwright().start()

    def __call__(self) -> Tuple[float, float, float]:
        t0 = time.perf_counter()
        browser = self.pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page()
        page.evaluate("1+1")
        first = time.perf_counter() - t0
        pids = browser_pids()
        t1 = time.perf_counter()
        browser.close()
        stop_call = time.perf_counter() - t1
        return first, stop_call, stop_call + _gone(pids)

    def close(self) -> None:
        self.pw.stop()


def launch_suite(args: argparse.Namespace, results: Results) -> List[str]:
    launchers: List[Tuple[str, Callable[[], Tuple[float, float, float]]]] = [("syncdp", launch_syncdp)]
    if not args.skip_pipe:
        launchers.append((SYNCDP_PIPE, lambda: launch_syncdp(pipe=True)))
    if args.skip_peers:
        return _launch_rounds(args, results, launchers)
    try:
        import pydoll  # noqa: F401

        launchers.append(("pydoll", launch_pydoll))
    except ImportError:
        log("pydoll not installed")
    pw: Optional[_PlaywrightLauncher] = None
    try:
        pw = _PlaywrightLauncher()
        launchers.append(("playwright", pw))
    except Exception as exc:
        log("playwright not available: %s" % exc)
    try:
        return _launch_rounds(args, results, launchers)
    finally:
        if pw is not None:
            pw.close()


def _launch_rounds(
    args: argparse.Namespace,
    results: Results,
    launchers: List[Tuple[str, Callable[[], Tuple[float, float, float]]]],
) -> List[str]:
    for r in range(args.launch_rounds):
        # Every other round in reverse order: the one launched right after another browser
        # stopped is not always the same one.
        for name, launch in launchers if r % 2 == 0 else launchers[::-1]:
            try:
                first, stop_call, gone = launch()
            except Exception:
                results.errors.setdefault(name, []).append("launch: " + traceback.format_exc(limit=2))
                log("%s launch failed: %s" % (name, traceback.format_exc(limit=4)))
                continue
            results.add("launch:" + name, "first", first)
            results.add("launch:" + name, "stop", stop_call)
            results.add("launch:" + name, "gone", gone)
            log(
                "launch round %d %s: first %.3fs stop %.3fs gone %.3fs"
                % (r + 1, name, first, stop_call, gone)
            )
    return [name for name, _ in launchers]


# -- report ---------------------------------------------------------------------------------


def report(
    args: argparse.Namespace, results: Results, names: List[str], launch_names: List[str]
) -> Dict[str, Any]:
    m = results.med
    bare = "bare websocket-client"
    node = "node ws"
    us = lambda v: None if v is None else v * 1e6  # noqa: E731
    ratio = lambda a, b: None if a is None or b is None else a / b  # noqa: E731
    print()
    print("### 1-3. Round trip, pipelining, events (headless Chromium, one page target)")
    print()
    print(
        "Medians over %d rounds; per round: %d sequential commands, %d pipelined, %d from 8 "
        "threads, %d from 4 threads on one connection, %d events."
        % (args.rounds, args.commands, args.pipelined, args.pipelined, args.pipelined, args.events)
    )
    print()
    print(
        "| contender | RTT median us | x bare | CPU us/cmd | x bare | pipelined 1 thread cmd/s "
        "| x bare seq. rate | 8 threads cmd/s | x bare seq. rate | 4 threads cmd/s | x bare seq. rate "
        "| events/s | x bare | x node | CPU us/event | x bare |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    bare_lat = m(bare, "latency")
    bare_rate = None if not bare_lat else 1.0 / bare_lat
    for name in names:
        lat = m(name, "latency")
        cpu = m(name, "latency.cpu")
        helper = m(name, "latency.cpu_helper")
        cpu_text = fmt(us(cpu))
        if helper:
            cpu_text += " (+%s driver)" % fmt(us(helper))
        ecpu = m(name, "events.cpu")
        ehelper = m(name, "events.cpu_helper")
        ecpu_text = fmt(us(ecpu))
        if ehelper:
            ecpu_text += " (+%s driver)" % fmt(us(ehelper))
        print(
            "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |"
            % (
                name,
                fmt(us(lat)),
                fmt(ratio(lat, bare_lat), "%.2f"),
                cpu_text,
                fmt(ratio(cpu, m(bare, "latency.cpu")), "%.2f"),
                fmt(m(name, "pipelined"), "%.0f"),
                fmt(ratio(m(name, "pipelined"), bare_rate), "%.2f"),
                fmt(m(name, "threads8"), "%.0f"),
                fmt(ratio(m(name, "threads8"), bare_rate), "%.2f"),
                fmt(m(name, "threads4"), "%.0f"),
                fmt(ratio(m(name, "threads4"), bare_rate), "%.2f"),
                fmt(m(name, "events"), "%.0f"),
                fmt(ratio(m(name, "events"), m(bare, "events")), "%.2f"),
                fmt(ratio(m(name, "events"), m(node, "events")), "%.2f"),
                ecpu_text,
                fmt(ratio(ecpu, m(bare, "events.cpu")), "%.2f"),
            )
        )
    print()
    print(
        "x bare seq. rate: cmd/s divided by 1 / (the bare loop's median RTT). 4 threads: %d blocking "
        "calls shared by 4 threads on one connection; pydoll: 4 asyncio tasks on its one "
        "ConnectionHandler, each awaiting its share sequentially." % args.pipelined
    )
    print()
    print("### 4. Large messages")
    print()
    print("Median per call over rounds (%d calls per round each)." % args.big)
    print()
    print("| contender | 20 MB result ms | x bare | full-page screenshot ms | x bare |")
    print("|---|---:|---:|---:|---:|")
    for name in names:
        big, shot = m(name, "big"), m(name, "shot")
        print(
            "| %s | %s | %s | %s | %s |"
            % (
                name,
                fmt(None if big is None else big * 1e3),
                fmt(ratio(big, m(bare, "big")), "%.2f"),
                fmt(None if shot is None else shot * 1e3),
                fmt(ratio(shot, m(bare, "shot")), "%.2f"),
            )
        )
    if launch_names:
        print()
        print("### 5. Launch and stop (%d rounds, interleaved)" % args.launch_rounds)
        print()
        print("| library | launch to first command ms | stop() returns ms | stop to no process left ms |")
        print("|---|---:|---:|---:|")
        for name in launch_names:
            key = "launch:" + name
            print(
                "| %s | %s | %s | %s |"
                % (
                    name,
                    fmt(None if m(key, "first") is None else m(key, "first") * 1e3, "%.0f"),  # type: ignore[operator]
                    fmt(None if m(key, "stop") is None else m(key, "stop") * 1e3, "%.0f"),  # type: ignore[operator]
                    fmt(None if m(key, "gone") is None else m(key, "gone") * 1e3, "%.0f"),  # type: ignore[operator]
                )
            )

    # Targets of issue 7 (Chromium part). "bare" is the bare loop on the page's own socket,
    # as the issue states; sessions mode is also judged against its own floor, the same
    # bare loop on the browser socket with a flattened session.
    print()
    print("### Targets (Chromium)")
    print()
    print(
        "| target | syncdp sockets vs bare | syncdp sessions vs bare "
        "| syncdp sessions vs bare flattened session |"
    )
    print("|---|---|---|---|")
    floor_session = "bare, flattened session"
    floors = (bare, bare, floor_session)
    floors_all = (node, HANDOFF)
    peers = [n for n in names if not n.startswith(("syncdp", "bare")) and n not in floors_all]

    def lat_ok(s: str, floor: str) -> Optional[bool]:
        lat, base = m(s, "latency"), m(floor, "latency")
        if lat is None or base is None:
            return None
        peer_lats = [m(p, "latency") for p in peers if m(p, "latency") is not None]
        return lat <= 1.05 * base and all(lat < p for p in peer_lats)  # type: ignore[operator]

    def ev_ok(s: str, floor: str) -> Optional[bool]:
        ev, base = m(s, "events"), m(floor, "events")
        if ev is None or base is None:
            return None
        ok = ev >= 0.95 * base
        if m(node, "events") is not None:
            ok = ok and ev >= 0.95 * m(node, "events")  # type: ignore[operator]
        return ok

    def thr_ok(s: str, floor: str, figure: str = "threads8") -> Optional[bool]:
        rate, base = m(s, figure), m(floor, "latency")
        return None if rate is None or not base else rate >= 3 / base

    def thr4_ok(s: str, floor: str) -> Optional[bool]:
        return thr_ok(s, floor, "threads4")

    def big_ok(s: str, floor: str) -> Optional[bool]:
        big, base = m(s, "big"), m(floor, "big")
        return None if big is None or base is None else big <= 1.1 * base

    def cpu_cmd_ok(s: str, floor: str) -> Optional[bool]:
        cpu, base = m(s, "latency.cpu"), m(floor, "latency.cpu")
        return None if cpu is None or base is None else cpu <= 1.1 * base

    def cpu_ev_ok(s: str, floor: str) -> Optional[bool]:
        cpu, base = m(s, "events.cpu"), m(floor, "events.cpu")
        return None if cpu is None or base is None else cpu <= 1.3 * base

    rows: List[Tuple[str, Callable[[str, str], Optional[bool]]]] = [
        ("RTT <= 1.05x floor and below every peer", lat_ok),
        ("events/s >= 0.95x floor and node", ev_ok),
        ("8 threads >= 3x floor's sequential rate", thr_ok),
        ("4 threads on one connection >= 3x floor's sequential rate", thr4_ok),
        ("20 MB result <= 1.1x floor", big_ok),
        ("Python CPU per command <= 1.1x floor", cpu_cmd_ok),
        ("Python CPU per event <= 1.3x floor", cpu_ev_ok),
    ]
    who = ("syncdp sockets", "syncdp sessions", "syncdp sessions")
    for label, check in rows:
        print("| %s | %s |" % (label, " | ".join(verdict(check(w, f)) for w, f in zip(who, floors))))
    if launch_names:
        first = m("launch:syncdp", "first")
        others = [m("launch:" + n, "first") for n in launch_names if n != "syncdp"]
        ok = None if first is None else all(first <= o for o in others if o is not None)
        print("| launch to first command <= pydoll and playwright | %s | (same) | (same) |" % verdict(ok))
    if m(SYNCDP_PIPE, "latency") is not None:
        pipe_targets(results, launch_names)
    if results.errors:
        print()
        print("Errors:")
        for name, errs in results.errors.items():
            for e in errs:
                print("- %s: %s" % (name, e.strip().splitlines()[-1]))
    return {"rounds": args.rounds, "data": results.data, "errors": results.errors, "names": names}


def pipe_targets(results: Results, launch_names: List[str]) -> None:
    """Issue 16's targets for ``Chrome(pipe=True)``, each with its figures."""
    m = results.med
    bare = "bare websocket-client"

    def row(label: str, value: Optional[float], base: Optional[float], ok: Callable[[float], bool]) -> None:
        r = None if value is None or base is None or not base else value / base
        print("| %s | %s | %s |" % (label, fmt(r, "%.3fx"), verdict(None if r is None else ok(r))))

    print()
    print("### Targets of issue 16 (syncdp pipe = Chrome(pipe=True), a session on the pipe)")
    print()
    print("| target | ratio | verdict |")
    print("|---|---:|---|")
    lat = m(SYNCDP_PIPE, "latency")
    row("RTT <= bare websocket-client loop (1.0x)", lat, m(bare, "latency"), lambda r: r <= 1.0)
    handoff = m(HANDOFF_PIPE, "latency")
    row("RTT within 5% of the reader-thread-over-pipe floor", lat, handoff, lambda r: r <= 1.05)
    row("(RTT vs the bare pipe loop, for information)", lat, m(BARE_PIPE, "latency"), lambda r: True)
    row(
        "Python CPU/command >= 10% below syncdp sessions over websocket",
        m(SYNCDP_PIPE, "latency.cpu"),
        m("syncdp sessions", "latency.cpu"),
        lambda r: r <= 0.9,
    )
    events = m(SYNCDP_PIPE, "events")
    row("events/s >= the bare websocket loop's", events, m(bare, "events"), lambda r: r >= 1.0)
    if SYNCDP_PIPE in launch_names:
        row(
            "launch to first command <= with a port",
            m("launch:" + SYNCDP_PIPE, "first"),
            m("launch:syncdp", "first"),
            lambda r: r <= 1.0,
        )
    floor = m(BARE_PIPE, "latency")
    ws_floor = m(bare, "latency")
    if floor and ws_floor:
        print()
        print("bare pipe loop vs bare websocket loop: RTT %.3fx, CPU/command %s" % (
            floor / ws_floor, fmt(ratio_of(m(BARE_PIPE, "latency.cpu"), m(bare, "latency.cpu")), "%.3fx")))


def ratio_of(a: Optional[float], b: Optional[float]) -> Optional[float]:
    return None if a is None or not b else a / b


def plot(path: str, results: Results, names: List[str]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    m = results.med
    lat_names = [n for n in names if m(n, "latency") is not None]
    ev_names = [n for n in names if m(n, "events") is not None]

    def colors(ns: List[str]) -> List[str]:
        # syncdp blue, the floors grey, the peers orange
        floor = ("bare", "node ws", HANDOFF)
        return [
            "#1f4e8c" if n.startswith("syncdp") else "#999999" if n.startswith(floor) else "#f4a261"
            for n in ns
        ]

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13.5, 4.8))
    ax1.barh(lat_names, [m(n, "latency") * 1e6 for n in lat_names], color=colors(lat_names))  # type: ignore[operator]
    ax1.set_xlabel('median round trip of Runtime.evaluate("1+1"), us (lower is better)')
    ax1.invert_yaxis()
    ax2.barh(ev_names, [m(n, "events") / 1000 for n in ev_names], color=colors(ev_names))  # type: ignore[operator]
    ax2.set_xlabel("Runtime.consoleAPICalled to a callback, 1000 events/s (higher is better)")
    ax2.invert_yaxis()
    for ax in (ax1, ax2):
        ax.grid(axis="x", alpha=0.3)
        for patch in ax.patches:
            ax.annotate(
                "%.0f" % patch.get_width(),
                (patch.get_width(), patch.get_y() + patch.get_height() / 2),
                xytext=(3, 0),
                textcoords="offset points",
                va="center",
                fontsize=8,
            )
    fig.suptitle(
        "syncdp vs CDP clients, headless Chromium (%d cores, medians of rounds)" % (os.cpu_count() or 0)
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    log("chart written to %s" % path)


def _quiet_pychrome_stop() -> None:
    """pychrome's reader thread raises JSONDecodeError when its own stop() closes the socket
    under it (a pychrome bug); keep that out of the output, report anything else."""
    default = threading.excepthook

    def hook(hook_args: Any) -> None:
        thread = hook_args.thread
        if thread is not None and "_recv_loop" in thread.name and isinstance(hook_args.exc_value, ValueError):
            return
        default(hook_args)

    threading.excepthook = hook


def main(argv: List[str]) -> int:
    _quiet_pychrome_stop()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--commands", type=int, default=2000)
    parser.add_argument("--pipelined", type=int, default=10000)
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--big", type=int, default=3, help="20 MB calls per round")
    parser.add_argument("--shots", type=int, default=3, help="screenshots per round")
    parser.add_argument("--launch-rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test, not figures")
    parser.add_argument("--skip-node", action="store_true")
    parser.add_argument("--skip-pipe", action="store_true", help="no --remote-debugging-pipe rows")
    parser.add_argument("--skip-peers", action="store_true", help="no pychrome, pydoll, playwright")
    parser.add_argument("--only", choices=("connection", "launch"), default=None)
    parser.add_argument(
        "--contenders", nargs="+", metavar="NAME",
        help="run only the contenders whose name contains one of these (case-insensitive)",
    )
    parser.add_argument("--json", help="also write the raw per-round values here")
    parser.add_argument("--plot", help="write the latency/events chart (matplotlib) here")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.commands, args.pipelined, args.events = 1, 200, 500, 1000
        args.big, args.shots, args.launch_rounds = 1, 1, 1
    for line in machine_lines():
        print(line)
    print("command: python bench/bench_peers.py %s" % " ".join(argv))
    results = Results()
    names: List[str] = []
    launch_names: List[str] = []
    if args.only in (None, "connection"):
        names = connection_suite(args, results)
    if args.only in (None, "launch"):
        launch_names = launch_suite(args, results)
    data = report(args, results, names, launch_names)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(data, f, indent=1)
    if args.plot and names:
        plot(args.plot, results, names)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
