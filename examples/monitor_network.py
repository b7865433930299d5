"""Direct event monitoring: log every request a page makes, straight from CDP events.

Mirrors pydoll's design document, "Advanced Usage > Direct Event Monitoring" (``monitor_network``): a
callback on ``Network.requestWillBeSent`` prints each URL once ``Network.enable`` is sent,
and ``finally: connection.close()`` releases the connection.

Differences from pydoll's design document, so that the example ends on its own:

* pydoll's design connects to the browser endpoint (``ConnectionHandler(9222)``); Chromium reports
  a page's requests on that *page's* endpoint, so the handler gets ``page_id=...``;
* instead of ``while True: await asyncio.sleep(1)``, the page ``/resources.html`` of a local
  site is opened (it loads a stylesheet, a script, an image and some JSON) and the monitor
  stops as soon as all of them were requested, or after ``max_seconds``.

Run: ``python examples/monitor_network.py``
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Dict, Iterable, List

from _pages import RESOURCE_PATHS, say, serve

from syncdp import Chrome, ConnectionHandler


def monitor_network(
    port: int, page_id: str, url: str, expected: Iterable[str], max_seconds: float = 10
) -> List[str]:
    """Open ``url`` and print its requests until every URL in ``expected`` was requested.

    Returns:
        The URLs requested, in order.
    """
    connection = ConnectionHandler(port, page_id=page_id)
    requested: List[str] = []
    wanted = set(expected)
    missing = set(wanted)
    all_seen = threading.Event()

    # Runs on the connection's dispatcher thread, once per event, in arrival order.
    def log_request(event: Dict[str, Any]) -> None:
        request_url = event["params"]["request"]["url"]
        say("Request: %s" % request_url)
        requested.append(request_url)
        missing.discard(request_url)
        if not missing:
            all_seen.set()

    try:
        connection.register_callback("Network.requestWillBeSent", log_request)

        # Enable network events via a CDP command (no "id": the handler assigns one).
        connection.execute_command({"method": "Network.enable"})

        # Something to monitor: a page with sub-resources.
        response = connection.execute_command({"method": "Page.navigate", "params": {"url": url}})
        if response["result"].get("errorText"):
            raise RuntimeError("navigation failed: %s" % response["result"]["errorText"])

        # Keep running until everything was seen (or time is up) instead of forever.
        started = time.monotonic()
        if all_seen.wait(max_seconds):
            elapsed = time.monotonic() - started
            say("all %d expected URLs requested after %.2f s" % (len(wanted), elapsed))
        else:
            say("stopped after %g s; never requested: %s" % (max_seconds, sorted(missing)))
        # The handler records these events by itself too (pydoll's _network_logs).
        say("connection.network_logs holds %d entries" % len(connection.network_logs))
    finally:
        connection.close()
    say("connection closed: connected=%s" % connection.connected)
    return requested


def main() -> None:
    with serve("alpha") as site, Chrome() as browser:
        page_id = browser.get_page().target_id
        url = site.url("/resources.html")
        expected = [url] + [site.url(path) for path in RESOURCE_PATHS]
        requested = monitor_network(browser.process.port, page_id, url, expected)
    say("requests logged: %d" % len(requested))


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    main()
