"""Where syncdp's extra per-command time goes, against the fast endpoint (no browser).

Interleaved in rounds, each a sequential loop of ``Runtime.evaluate("1+1")``:

* ``bare``: websocket-client send + recv in the calling thread (the floor);
* ``bare+framereader``: the same, but reading with syncdp's ``FrameReader`` (one thread);
* ``handoff Future``: the caller sends; a second thread reads (``FrameReader``), parses, and
  completes a ``concurrent.futures.Future`` the caller waits on: syncdp's architecture
  with nothing else;
* ``handoff Lock``: the same with a pre-acquired ``threading.Lock`` released by the reader
  (the lightest wake-up CPython has);
* ``syncdp submit().result()`` and ``syncdp execute_command``.

Prints median round trip and CPU per command (``time.process_time()``), and the difference
to the line above it.

Run: ``python bench/decompose_latency.py [--rounds 5] [-n 5000]``
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from concurrent.futures import Future
from typing import Any, Callable, Dict, List, Optional

import websocket

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import EVAL, fast_endpoint, machine_lines, median  # noqa: E402

from syncdp import ConnectionHandler  # noqa: E402
from syncdp.transports.websocket import FrameReader  # noqa: E402


def connect(url: str) -> websocket.WebSocket:
    return websocket.create_connection(url, suppress_origin=True, skip_utf8_validation=True)


class Bare:
    def __init__(self, url: str) -> None:
        self.ws = connect(url)
        self.next_id = 0

    def one(self) -> None:
        self.next_id += 1
        self.ws.send(
            json.dumps({"id": self.next_id, "method": "Runtime.evaluate", "params": {"expression": "1+1"}})
        )
        json.loads(self.ws.recv())

    def close(self) -> None:
        self.ws.close()


class BareFrameReader(Bare):
    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.frames = FrameReader(self.ws.sock)

    def one(self) -> None:
        self.next_id += 1
        self.ws.send(
            json.dumps({"id": self.next_id, "method": "Runtime.evaluate", "params": {"expression": "1+1"}})
        )
        json.loads(self.frames.read_message()[1])


class Handoff(Bare):
    """A reader thread completes what the caller waits on."""

    def __init__(self, url: str, kind: str) -> None:
        super().__init__(url)
        self.kind = kind
        self.frames = FrameReader(self.ws.sock)
        self.pending: Dict[int, Any] = {}
        self.lock = threading.Lock()
        self.reader = threading.Thread(target=self.read, daemon=True)
        self.reader.start()

    def read(self) -> None:
        try:
            while True:
                message = json.loads(self.frames.read_message()[1])
                with self.lock:
                    waiter = self.pending.pop(message["id"])
                if self.kind == "future":
                    waiter.set_result(message)
                else:
                    waiter[1] = message
                    waiter[0].release()
        except Exception:
            return

    def one(self) -> None:
        self.next_id += 1
        cid = self.next_id
        if self.kind == "future":
            waiter: Any = Future()
        else:
            gate = threading.Lock()
            gate.acquire()
            waiter = [gate, None]
        with self.lock:
            self.pending[cid] = waiter
        self.ws.send(json.dumps({"id": cid, "method": "Runtime.evaluate", "params": {"expression": "1+1"}}))
        if self.kind == "future":
            waiter.result(10)
        else:
            waiter[0].acquire(True, 10)

    def close(self) -> None:
        self.ws.abort()
        self.reader.join(5)
        self.ws.close()


class SyncdpSubmit:
    def __init__(self, url: str) -> None:
        self.conn = ConnectionHandler(url)
        self.conn.connect()

    def one(self) -> None:
        self.conn.submit(EVAL).result(10)

    def close(self) -> None:
        self.conn.close()


class SyncdpExecute(SyncdpSubmit):
    def one(self) -> None:
        self.conn.execute_command(EVAL)


def run(c: Any, n: int) -> tuple:
    one = c.one
    perf = time.perf_counter
    samples = []
    c0 = time.process_time()
    for _ in range(n):
        t0 = perf()
        one()
        samples.append(perf() - t0)
    return median(samples), (time.process_time() - c0) / n


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("-n", type=int, default=5000)
    args = parser.parse_args(argv)
    for line in machine_lines():
        print(line)
    with fast_endpoint() as url:
        makers: Dict[str, Callable[[], Any]] = {
            "bare": lambda: Bare(url),
            "bare+framereader": lambda: BareFrameReader(url),
            "handoff Lock": lambda: Handoff(url, "lock"),
            "handoff Future": lambda: Handoff(url, "future"),
            "syncdp submit().result()": lambda: SyncdpSubmit(url),
            "syncdp execute_command": lambda: SyncdpExecute(url),
        }
        clients = {name: make() for name, make in makers.items()}
        lat: Dict[str, List[float]] = {k: [] for k in clients}
        cpu: Dict[str, List[float]] = {k: [] for k in clients}
        for c in clients.values():
            run(c, 500)
        for _ in range(args.rounds):
            for name, c in clients.items():
                rtt, per = run(c, args.n)
                lat[name].append(rtt)
                cpu[name].append(per)
        for c in clients.values():
            c.close()
    print()
    print("| variant | RTT median us | vs previous | CPU us/cmd | vs previous |")
    print("|---|---:|---:|---:|---:|")
    prev: Optional[tuple] = None
    for name in clients:
        rtt, per = median(lat[name]) * 1e6, median(cpu[name]) * 1e6
        print(
            "| %s | %.1f | %s | %.1f | %s |"
            % (
                name,
                rtt,
                "" if prev is None else "%+.1f" % (rtt - prev[0]),
                per,
                "" if prev is None else "%+.1f" % (per - prev[1]),
            )
        )
        prev = (rtt, per)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
