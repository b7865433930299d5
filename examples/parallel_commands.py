"""Several CDP commands in flight at once on one connection, waited for together.

Mirrors pydoll's design document, "Advanced Concurrency Patterns > Parallel Command Execution"
(``get_page_metrics`` with ``asyncio.gather``). Two blocking equivalents:

1. threads: a ``ThreadPoolExecutor`` calls ``execute_command`` from several threads at
   once (one handler may be used by any number of threads);
2. pipelining without threads: ``submit()`` sends a command and returns a
   ``concurrent.futures.Future`` at once; ``concurrent.futures.wait`` then waits for all.

the design document's fixed ids 1, 2, 3 are left out: the handler assigns ids, so commands sent by
different threads never collide. the design document's ``Network.getResponseBody`` takes
``{"requestId": "..."}``, a placeholder; here it gets a real request id, the one of the
page's own document, captured (with ``Network.enable``) while the page was loading.
``Performance.getMetrics`` needs ``Performance.enable`` first, so that is sent too.

Run: ``python examples/parallel_commands.py``
"""

from __future__ import annotations

import concurrent.futures
import logging
import time
from typing import Any, Dict, List

from _pages import navigate, serve

from syncdp import Chrome, ConnectionHandler


def page_commands(request_id: str) -> List[Dict[str, Any]]:
    return [
        {"method": "Performance.getMetrics"},
        {"method": "Network.getResponseBody", "params": {"requestId": request_id}},
        {"method": "DOM.getDocument"},
    ]


def get_page_metrics_threads(
    connection: ConnectionHandler, request_id: str
) -> List[Dict[str, Any]]:
    """``asyncio.gather`` as threads: each ``execute_command`` blocks its own thread."""
    commands = page_commands(request_id)
    with concurrent.futures.ThreadPoolExecutor(len(commands), thread_name_prefix="gather") as pool:
        # map() keeps the order of ``commands``, like gather.
        return list(pool.map(connection.execute_command, commands))


def get_page_metrics_submit(
    connection: ConnectionHandler, request_id: str
) -> List[Dict[str, Any]]:
    """``asyncio.gather`` as pipelining: send all, then wait for all, on one thread."""
    futures = [connection.submit(command) for command in page_commands(request_id)]
    done, not_done = concurrent.futures.wait(futures, timeout=10)
    if not_done:
        for future in not_done:
            future.cancel()  # forgets the command; a late answer is dropped
        raise TimeoutError("%d command(s) got no answer within 10 s" % len(not_done))
    return [future.result() for future in futures]


def describe(results: List[Dict[str, Any]]) -> None:
    for response in results:
        if "error" in response:  # a full response may hold a CDP error instead of a result
            raise RuntimeError("command %s failed: %s" % (response["id"], response["error"]))
    metrics, body, document = (r["result"] for r in results)
    names = {m["name"]: m["value"] for m in metrics["metrics"]}
    print("  Performance.getMetrics: %d metrics, e.g. Nodes=%s" % (len(names), names.get("Nodes")))
    text = body["body"]
    print("  Network.getResponseBody: %d characters, starts %r" % (len(text), text[:15]))
    root = document["root"]
    children = root.get("childNodeCount")
    print("  DOM.getDocument: %s with %s child node(s)" % (root["nodeName"], children))


def main() -> None:
    with serve("alpha") as site, Chrome() as browser:
        port = browser.process.port
        page_id = browser.get_page().target_id
        url = site.url("/")
        with ConnectionHandler(port, page_id=page_id) as connection:
            connection.send("Network.enable")
            connection.send("Performance.enable")
            navigate(connection, url)
            # The real request id of the document just loaded (Network.requestWillBeSent).
            request_id = next(
                event["params"]["requestId"]
                for event in connection.network_logs
                if event["params"]["request"]["url"] == url
            )
            print("request id of %s: %s" % (url, request_id))

            started = time.monotonic()
            results = get_page_metrics_threads(connection, request_id)
            print("threads + execute_command (%.3f s):" % (time.monotonic() - started))
            describe(results)

            started = time.monotonic()
            results = get_page_metrics_submit(connection, request_id)
            print("submit() + concurrent.futures.wait (%.3f s):" % (time.monotonic() - started))
            describe(results)


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    main()
