"""``Tab.on(..., background=True)``: slow callbacks that do not hold back other events.

Mirrors pydoll's design document, "Sequential Execution Model" paragraph on the higher layer: the
connection runs callbacks one at a time (predictable order), while ``Tab.on()`` can make a
callback non-blocking. pydoll wraps it in ``asyncio.create_task()``; syncdp's
``tab.on(event, callback, background=True)`` hands each call to a small worker pool.

The same slow callback (0.3 s per event) is registered for the requests of a page that
loads five URLs:

* normally: the calls run one after another on the dispatcher thread, in arrival order,
  and take about 5 x 0.3 s; every other callback of the tab waits behind them;
* with ``background=True``: the calls overlap on the ``syncdp-background`` workers and the
  dispatcher is free at once. Their order is then not guaranteed.

Run: ``python examples/non_blocking_tab_on.py``
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Dict, List, Tuple

from _pages import RESOURCE_PATHS, serve

from syncdp import Chrome, Tab

DELAY = 0.3


def run(tab: Tab, url: str, background: bool) -> Tuple[float, float, List[str], List[str]]:
    """Load ``url`` with a slow request callback.

    Returns:
        (seconds until every slow call ended, seconds until a normal ``Page.loadEventFired``
        callback ran, threads that ran the slow calls, resources in the order handled).
    """
    base = url.rsplit("/", 1)[0]
    wanted = {url} | {base + path for path in RESOURCE_PATHS}  # the page and its resources
    expected = len(wanted)
    lock = threading.Lock()
    threads: List[str] = []
    handled: List[str] = []
    all_done = threading.Event()
    load_seen: List[float] = []

    def slow_callback(event: Dict[str, Any]) -> None:
        request_url = event["params"]["request"]["url"]
        if request_url not in wanted:
            return  # e.g. the browser's own /favicon.ico request: not part of the demo
        time.sleep(DELAY)  # stands in for slow work: I/O, parsing, a database write...
        with lock:
            threads.append(threading.current_thread().name)
            handled.append(request_url.rsplit("/", 1)[-1])
            if len(handled) == expected:
                all_done.set()

    # A quick, normal callback: it runs on the dispatcher thread, so it waits behind any
    # slow normal callback queued before it.
    def on_load(event: Dict[str, Any]) -> None:
        load_seen.append(time.monotonic() - started)

    started = time.monotonic()
    callback_id = tab.on("Network.requestWillBeSent", slow_callback, background=background)
    load_id = tab.on("Page.loadEventFired", on_load, temporary=True)
    try:
        tab.go_to(url)
        if not all_done.wait(expected * DELAY + 10):
            raise RuntimeError("only %d of %d callbacks ran" % (len(handled), expected))
        elapsed = time.monotonic() - started
    finally:
        tab.remove_callback(callback_id)
        tab.remove_callback(load_id)
    if not load_seen:
        raise RuntimeError("the Page.loadEventFired callback did not run")
    return elapsed, load_seen[0], threads, handled


def main() -> None:
    with serve("alpha") as site, Chrome() as browser:
        tab = browser.get_page()
        tab.enable_network_events()
        url = site.url("/resources.html")
        for background in (False, True):
            seconds, load_after, threads, handled = run(tab, url, background)
            label = "tab.on(..., background=True)" if background else "tab.on(...) (normal)"
            print("%s: %d slow calls done after %.2f s" % (label, len(handled), seconds))
            print("  the load callback ran after %.2f s" % load_after)
            print("  threads: %s" % ", ".join(sorted(set(threads))))
            print("  order handled: %s" % ", ".join(handled))
        print("title: %r" % tab.title)


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    main()
