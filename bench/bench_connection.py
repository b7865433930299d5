"""Connection benchmark: syncdp's ConnectionHandler against a bare websocket-client loop.

Both talk to the same page target of one headless Chromium, interleaved in rounds
(bare, syncdp, bare, syncdp, ...). Prints medians and ratios, never single absolute times:

* round trip of ``Runtime.evaluate("1+1")`` (median per command, and client CPU per command);
* events/s for a flood of ``Runtime.consoleAPICalled`` events delivered to a callback
  (and client CPU per event).

The bare loop is configured as well as websocket-client allows (``suppress_origin``,
``skip_utf8_validation``), as the issue asks.

Run: ``python bench/bench_connection.py [--rounds 5] [--commands 2000] [--events 20000]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from typing import Callable, Dict, List, Tuple

import websocket

from syncdp import ConnectionHandler
from syncdp.launcher import BrowserProcess, LaunchOptions

EVAL = {"method": "Runtime.evaluate", "params": {"expression": "1+1"}}


def flood_expression(n: int) -> str:
    return "for (let i = 0; i < %d; i++) console.log(i); %d" % (n, n)


# -- the bare loop ------------------------------------------------------------------------


class Bare:
    def __init__(self, url: str) -> None:
        self.ws = websocket.create_connection(url, suppress_origin=True, skip_utf8_validation=True)
        self.next_id = 0

    def call(self, method: str, params: Dict[str, object]) -> Dict[str, object]:
        self.next_id += 1
        cid = self.next_id
        self.ws.send(json.dumps({"id": cid, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == cid:
                return msg  # type: ignore[no-any-return]

    def latency(self, n: int) -> List[float]:
        out = []
        for _ in range(n):
            t0 = time.perf_counter()
            self.call("Runtime.evaluate", {"expression": "1+1"})
            out.append(time.perf_counter() - t0)
        return out

    def events(self, n: int) -> float:
        self.call("Runtime.enable", {})
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
        self.call("Runtime.disable", {})
        self.call("Runtime.discardConsoleEntries", {})
        return elapsed

    def close(self) -> None:
        self.ws.close()


# -- syncdp -------------------------------------------------------------------------------


class Syncdp:
    def __init__(self, url: str) -> None:
        self.conn = ConnectionHandler(url)
        self.conn.connect()

    def latency(self, n: int) -> List[float]:
        out = []
        execute = self.conn.execute_command
        for _ in range(n):
            t0 = time.perf_counter()
            execute(EVAL)
            out.append(time.perf_counter() - t0)
        return out

    def events(self, n: int) -> float:
        self.conn.send("Runtime.enable")
        done = threading.Event()
        count = [0]

        def on_console(event: Dict[str, object]) -> None:
            count[0] += 1
            if count[0] == n:
                done.set()

        cid = self.conn.register_callback("Runtime.consoleAPICalled", on_console)
        t0 = time.perf_counter()
        self.conn.submit({"method": "Runtime.evaluate", "params": {"expression": flood_expression(n)}})
        if not done.wait(120):
            raise RuntimeError("only %d of %d events arrived" % (count[0], n))
        elapsed = time.perf_counter() - t0
        self.conn.remove_callback(cid)
        self.conn.send("Runtime.disable")
        self.conn.send("Runtime.discardConsoleEntries")
        return elapsed

    def close(self) -> None:
        self.conn.close()


def timed(fn: Callable[[], object]) -> Tuple[object, float, float]:
    c0 = time.process_time()
    t0 = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - t0, time.process_time() - c0


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--commands", type=int, default=2000)
    parser.add_argument("--events", type=int, default=20000)
    args = parser.parse_args(argv)

    with BrowserProcess(LaunchOptions()) as browser:
        with ConnectionHandler(browser.ws_url) as root:
            target = root.send("Target.createTarget", {"url": "about:blank"})["targetId"]
            page_url = "ws://127.0.0.1:%d/devtools/page/%s" % (browser.port, target)
            contenders = {"bare": Bare(page_url), "syncdp": Syncdp(page_url)}
            lat: Dict[str, List[float]] = {k: [] for k in contenders}
            cpu_cmd: Dict[str, List[float]] = {k: [] for k in contenders}
            evs: Dict[str, List[float]] = {k: [] for k in contenders}
            cpu_ev: Dict[str, List[float]] = {k: [] for k in contenders}
            for c in contenders.values():  # warm-up
                c.latency(200)  # type: ignore[attr-defined]
            for r in range(args.rounds):
                for name, c in contenders.items():
                    samples, _wall, cpu = timed(lambda c=c: c.latency(args.commands))  # type: ignore[misc]
                    lat[name].append(statistics.median(samples))  # type: ignore[arg-type]
                    cpu_cmd[name].append(cpu / args.commands)
                for name, c in contenders.items():
                    elapsed, _wall, cpu = timed(lambda c=c: c.events(args.events))  # type: ignore[misc]
                    evs[name].append(args.events / elapsed)  # type: ignore[operator]
                    cpu_ev[name].append(cpu / args.events)
                sys.stderr.write("round %d done\n" % (r + 1))
            for c in contenders.values():
                c.close()  # type: ignore[attr-defined]

    med = statistics.median
    print("chromium: %s" % browser_version_note)
    print("rounds=%d commands/round=%d events/round=%d" % (args.rounds, args.commands, args.events))
    print("%-8s %14s %10s %14s %12s %10s %12s" % (
        "client", "rtt median us", "ratio", "cpu us/cmd", "events/s", "ratio", "cpu us/event"))
    for name in contenders:
        print("%-8s %14.1f %10.3f %14.1f %12.0f %10.3f %12.1f" % (
            name,
            med(lat[name]) * 1e6,
            med(lat[name]) / med(lat["bare"]),
            med(cpu_cmd[name]) * 1e6,
            med(evs[name]),
            med(evs[name]) / med(evs["bare"]),
            med(cpu_ev[name]) * 1e6,
        ))
    return 0


browser_version_note = "headless, launched by syncdp.launcher"

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
