"""Fetch two sites at once, each with its own browser: threads instead of asyncio tasks.

Mirrors pydoll's design document, "Asynchronous Programming Model > Understanding Async/Await" example
(``fetch_page_data(url)`` run twice with ``asyncio.create_task``). syncdp is blocking, so
the concurrency comes from two threads of a ``ThreadPoolExecutor``: while one thread waits
for its browser to start or its page to load, the other makes progress. The same work is
then done sequentially, and both wall times are printed.

The two "sites" are two local servers (see ``_pages.py``), not example.com and github.com,
so this runs offline.

Run: ``python examples/fetch_two_sites.py``
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, List

from _pages import say, serve

from syncdp import Chrome


def fetch_page_data(url: str) -> Dict[str, str]:
    """Launch a browser, open ``url``, read its title and meta description, stop."""
    say("Starting fetch for %s" % url)
    # ``with`` = the design document's ``await browser.start()`` ... ``await browser.stop()``, and the
    # browser is stopped (no process left) even if a step raises.
    with Chrome() as browser:
        page = browser.get_page()

        # Navigation takes time: this thread blocks here, the other one keeps working.
        page.go_to(url)

        title = page.execute_script("return document.title")
        description = page.execute_script(
            "return document.querySelector('meta[name=\"description\"]')?.content || ''"
        )
    say("Completed fetch for %s" % url)
    return {"url": url, "title": title, "description": description}


def main() -> None:
    with serve("alpha") as alpha, serve("beta") as beta:
        urls = [alpha.url("/"), beta.url("/")]

        # Concurrently: the sync counterpart of two asyncio.create_task() + await.
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="fetch") as pool:
            task1 = pool.submit(fetch_page_data, urls[0])
            task2 = pool.submit(fetch_page_data, urls[1])
            # .result() blocks for each and re-raises an exception of its thread.
            results: List[Dict[str, str]] = [task1.result(), task2.result()]
        concurrent_time = time.monotonic() - started

        # Sequentially, for comparison.
        started = time.monotonic()
        sequential_results = [fetch_page_data(url) for url in urls]
        sequential_time = time.monotonic() - started

    if results != sequential_results:
        raise RuntimeError("the two runs disagree: %r != %r" % (results, sequential_results))
    print()
    for result in results:
        print("title: %r" % result["title"])
        print("  description: %r" % result["description"])
        print("  url: %s" % result["url"])
    print()
    print("concurrent (2 threads): %.2f s" % concurrent_time)
    print("sequential:             %.2f s" % sequential_time)
    print("time saved by threads:  %.2f s" % (sequential_time - concurrent_time))


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    main()
