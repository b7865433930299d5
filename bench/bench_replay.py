"""Replay speed: a 10,000-message recording, and the README quickstart replayed vs live.

    PYTHONPATH=. python bench/bench_replay.py            # both
    PYTHONPATH=. python bench/bench_replay.py --synthetic  # no browser needed

1. A synthetic recording of 10,000 messages (2,500 commands, their 2,500 answers and 5,000
   events, two events after each answer) is replayed through a ``ConnectionHandler`` on the
   replay transport: every command sent and matched, every answer and event delivered (a
   ``'*'`` callback counts the events). The time covers reading the file, connecting, all
   commands and the close.
2. The README quickstart (launch, navigate, click, read, screenshot) is run live with
   ``Chrome(record=...)``, then replayed with ``Chrome(replay=...)``; the page server runs in
   this process for both, so the URLs match.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import threading
import time
from typing import Any, Dict

from syncdp import Chrome, ConnectionHandler
from syncdp.localserver import DEMO_PAGE, LocalServer
from syncdp.transports.recording import FORMAT
from syncdp.transports.replay import ReplayTransport

COMMANDS = 2500
EVENTS_PER_COMMAND = 2


def write_synthetic(path: str) -> int:
    lines = [FORMAT]
    t = 0.0
    for n in range(1, COMMANDS + 1):
        t += 0.0001
        lines.append({"dir": "send", "session": None, "t": t,
                      "msg": {"id": n, "method": "Runtime.evaluate",
                              "params": {"expression": "%d + 1" % n, "returnByValue": True}}})
        lines.append({"dir": "recv", "session": None, "t": t,
                      "msg": {"id": n, "result": {"result": {"type": "number", "value": n + 1}}}})
        for i in range(EVENTS_PER_COMMAND):
            lines.append({"dir": "recv", "session": None, "t": t,
                          "msg": {"method": "Runtime.consoleAPICalled",
                                  "params": {"type": "log", "args": [{"value": i}]}}})
    with open(path, "w", encoding="utf-8") as fh:
        for line in lines:
            fh.write(json.dumps(line, separators=(",", ":")) + "\n")
    return len(lines) - 1


def bench_synthetic() -> float:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "synthetic.cdp.jsonl")
        messages = write_synthetic(path)
        events = threading.Semaphore(0)
        started = time.perf_counter()
        cpu = time.process_time()
        transport = ReplayTransport(path)
        handler = ConnectionHandler(None, open_transport=lambda: transport)
        handler.register_callback("*", lambda event: events.release())
        try:
            for n in range(1, COMMANDS + 1):
                result = handler.send("Runtime.evaluate", {"expression": "%d + 1" % n, "returnByValue": True})
                assert result["result"]["value"] == n + 1
            for _ in range(COMMANDS * EVENTS_PER_COMMAND):
                if not events.acquire(timeout=30):
                    raise AssertionError("an event was not delivered")
        finally:
            handler.close()
        transport.finish()
        seconds = time.perf_counter() - started
        cpu = time.process_time() - cpu
    print("synthetic recording: %d messages replayed in %.3f s (%.3f s of CPU, all threads; "
          "%.0f messages/s)" % (messages, seconds, cpu, messages / seconds))
    return seconds


def quickstart(browser: Chrome, server: LocalServer) -> Dict[str, Any]:
    tab = browser.get_page()
    tab.go_to(server.url("/"))
    title = tab.title
    tab.query("#go").click()
    text = tab.query("#go").text
    shot = tab.take_screenshot()
    return {"title": title, "text": text, "screenshot": len(shot)}


def bench_quickstart() -> None:
    with tempfile.TemporaryDirectory() as tmp, LocalServer({"/": DEMO_PAGE}) as server:
        path = os.path.join(tmp, "quickstart.cdp.jsonl.gz")
        started = time.perf_counter()
        with Chrome(record=path) as browser:
            live = quickstart(browser, server)
        live_seconds = time.perf_counter() - started
        started = time.perf_counter()
        with Chrome(replay=path) as browser:
            replayed = quickstart(browser, server)
        replay_seconds = time.perf_counter() - started
    assert replayed == live, (replayed, live)
    print("README quickstart: live %.3f s (launch included), replayed %.3f s: %.0fx faster"
          % (live_seconds, replay_seconds, live_seconds / replay_seconds))


if __name__ == "__main__":
    bench_synthetic()
    if "--synthetic" not in sys.argv[1:]:
        bench_quickstart()
