"""Scrape many pages with a thread pool over ONE browser: one tab per task.

This is the shape legacy and threaded code already has: a
``concurrent.futures.ThreadPoolExecutor`` and a plain function per item. syncdp is
thread-safe, so every worker shares one :class:`syncdp.Chrome`; each task opens its own tab
(``browser.new_tab()``), reads what it needs and closes the tab in ``finally``. With the
default ``sessions`` transport a tab costs no thread and no socket: the pool's workers are
the only extra threads.

The pages are served by :class:`syncdp.localserver.LocalServer` on 127.0.0.1 (no internet):
``/item/N`` has a ``<title>`` and a price in ``<span id="price">``; one page deliberately has
no price, to show how a per-task error comes back without stopping the others.

Run: ``python examples/scrape_pool.py [--pages 24] [--workers 4]``

Importable: :func:`scrape` takes a browser and URLs and returns one :class:`Result` per URL,
in order; :func:`make_pages` builds the demo site.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, List, NamedTuple, Optional, Sequence

from syncdp import Browser, SyncdpError
from syncdp.localserver import LocalServer

__all__ = ["Result", "make_pages", "scrape_one", "scrape", "count_pages", "main"]

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>{title}</title></head>
<body>
  <h1>{title}</h1>
  {price}
  <script>
    // Part of the page is built by script, as on real sites: the scraper waits for it.
    setTimeout(() => {{
      const p = document.createElement("p");
      p.id = "stock";
      p.textContent = "{stock}";
      document.body.appendChild(p);
    }}, 20);
  </script>
</body></html>
"""


class Result(NamedTuple):
    """What one task found: ``title`` and ``price`` (``None`` on error), or an ``error``."""

    url: str
    title: Optional[str]
    price: Optional[str]
    stock: Optional[str]
    error: Optional[str] = None


def make_pages(count: int, missing: Sequence[int] = (7,)) -> Dict[str, str]:
    """``/item/0`` ... ``/item/{count-1}``; the items in ``missing`` have no price element."""
    pages = {}
    for n in range(count):
        price = "" if n in missing else '<span id="price">%d.%02d</span>' % (10 + n, n)
        stock = "in stock" if n % 3 else "sold out"
        pages["/item/%d" % n] = PAGE.format(title="Item %d" % n, price=price, stock=stock)
    return pages


def scrape_one(browser: Browser, url: str, timeout: float = 30) -> Result:
    """Open a tab, load ``url``, read title, price and stock, close the tab (always).

    syncdp errors (navigation, missing element, timeouts) become the result's ``error``; a
    bug in this function still raises, as it should.
    """
    tab = browser.new_tab()
    try:
        tab.go_to(url, timeout=timeout)
        title = tab.title
        # query(timeout=...) waits for script-built content (a MutationObserver in the page,
        # no polling loop here).
        stock = tab.query("#stock", timeout=5).text
        price = tab.query("#price").text  # no timeout: absent means absent
        return Result(url, title, price, stock)
    except SyncdpError as exc:
        return Result(url, None, None, None, "%s: %s" % (type(exc).__name__, exc))
    finally:
        tab.close()


def scrape(browser: Browser, urls: Sequence[str], workers: int = 4) -> List[Result]:
    """Scrape ``urls`` with ``workers`` threads sharing ``browser``; results in URL order."""
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="scraper") as pool:
        return list(pool.map(lambda url: scrape_one(browser, url), urls))


def count_pages(browser: Browser) -> int:
    """How many page targets (tabs) the browser has open now."""
    targets = browser.send("Target.getTargets")["targetInfos"]
    return sum(1 for target in targets if target["type"] == "page")


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=24, help="how many pages to scrape")
    parser.add_argument("--workers", type=int, default=4, help="threads in the pool")
    args = parser.parse_args(argv)
    if args.pages < 1 or args.workers < 1:
        parser.error("--pages and --workers must be at least 1")

    from syncdp import Chrome

    with LocalServer(make_pages(args.pages)) as server, Chrome() as browser:
        urls = [server.url("/item/%d" % n) for n in range(args.pages)]
        pages_before = count_pages(browser)
        started = time.monotonic()
        results = scrape(browser, urls, args.workers)
        elapsed = time.monotonic() - started
        pages_after = count_pages(browser)

    for result in results:
        path = result.url.split("/", 3)[-1]
        if result.error is None:
            print("/%-10s %-8s price=%-6s %s" % (path, result.title, result.price, result.stock))
        else:
            print("/%-10s error: %s" % (path, result.error.splitlines()[0]))
    failed = sum(1 for r in results if r.error is not None)
    print(
        "scraped %d pages with %d threads over one browser in %.2f s (%d error%s)"
        % (len(results), args.workers, elapsed, failed, "" if failed == 1 else "s")
    )
    print("open tabs before: %d, after: %d" % (pages_before, pages_after))
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    sys.exit(main())
