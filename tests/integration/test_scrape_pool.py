"""``examples/scrape_pool.py``: a ThreadPoolExecutor scraping local pages over one browser.

Run as a user would (a subprocess with a private ``TMPDIR``, so its browser processes and
temporary profile are found, and only those), and imported, to check every result against
the page it came from on both transports.
"""

from __future__ import annotations

import importlib.util
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import ModuleType
from typing import Iterator, List, Set

import pytest

from pages import REPO_ROOT, needs_chromium, pgrep_f, wait_until
from syncdp import Chrome
from syncdp.localserver import LocalServer

pytestmark = [pytest.mark.integration, needs_chromium, pytest.mark.timeout(150)]

SCRIPT = REPO_ROOT / "examples" / "scrape_pool.py"


def _load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("scrape_pool_example", str(SCRIPT))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A private, short TMPDIR (Chromium's singleton socket path must stay < 108 bytes)."""
    path = Path(tempfile.mkdtemp(prefix="sdsp-", dir="/tmp" if os.path.isdir("/tmp") else None))
    try:
        yield path
    finally:
        shutil.rmtree(str(path), ignore_errors=True)


def test_script_scrapes_every_page_and_leaves_nothing(short_tmp: Path) -> None:
    env = dict(os.environ, TMPDIR=str(short_tmp), PYTHONUNBUFFERED="1")
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--pages", "16", "--workers", "4"],
        cwd=str(REPO_ROOT),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    report = "--- stdout ---\n%s\n--- stderr ---\n%s" % (proc.stdout, proc.stderr)
    assert proc.returncode == 0, report
    assert "Traceback" not in proc.stderr, report
    lines = proc.stdout.splitlines()
    for n in range(16):
        if n == 7:  # the page without a price: a per-task error, the others go on
            expected = r"^/item/7\s+error: ElementNotFoundError: no element matches '#price'$"
        else:
            stock = "in stock" if n % 3 else "sold out"
            expected = r"^/item/%d\s+Item %d\s+price=%d\.%02d\s+%s$" % (n, n, 10 + n, n, stock)
        assert any(re.match(expected, line) for line in lines), (expected, report)
    assert re.search(
        r"^scraped 16 pages with 4 threads over one browser in [\d.]+ s \(1 error\)$",
        proc.stdout,
        re.M,
    ), report
    # Every task closed its tab: the browser has as many tabs at the end as at the start.
    assert "open tabs before: 1, after: 1" in lines, report
    # The browser and its temporary profile went with the script.
    wait_until(lambda: pgrep_f(str(short_tmp)) == [], 10, "browser processes left behind")
    wait_until(lambda: os.listdir(str(short_tmp)) == [], 10, "temporary files left behind")


def _dead_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _sample_threads(stop: threading.Event, seen: Set[str]) -> None:
    while not stop.wait(0.01):
        seen.update(t.name for t in threading.enumerate())


@pytest.mark.parametrize("transport", ["sessions", "sockets"])
def test_results_match_their_pages(transport: str) -> None:
    example = _load_example()
    rng = random.Random()
    count = 20
    titles = ["title-%d-%08x" % (n, rng.getrandbits(32)) for n in range(count)]
    prices = ["%d.%02d" % (rng.randrange(1, 999), rng.randrange(100)) for _ in range(count)]
    pages = {}
    for n in range(count):
        pages["/p/%d" % n] = example.PAGE.format(
            title=titles[n], price='<span id="price">%s</span>' % prices[n], stock="s%d" % n
        )
    pages["/missing"] = example.PAGE.format(title="no price", price="", stock="x")

    seen: Set[str] = set()
    stop = threading.Event()
    sampler = threading.Thread(target=_sample_threads, args=(stop, seen), name="test-sampler")
    with LocalServer(pages) as server, Chrome(tab_mode=transport) as browser:
        urls: List[str] = [server.url("/p/%d" % n) for n in range(count)]
        urls.insert(5, server.url("/missing"))
        urls.append("http://127.0.0.1:%d/refused" % _dead_port())
        before = example.count_pages(browser)
        sampler.start()
        try:
            started = time.monotonic()
            results = example.scrape(browser, urls, workers=5)
            elapsed = time.monotonic() - started
        finally:
            stop.set()
            sampler.join(5)
        after = example.count_pages(browser)

    assert [r.url for r in results] == urls  # one result per URL, in order
    good = [r for r in results if r.error is None]
    assert [(r.title, r.price, r.stock) for r in good] == [
        (titles[n], prices[n], "s%d" % n) for n in range(count)
    ]
    assert results[5].error is not None and "ElementNotFoundError" in results[5].error
    assert results[-1].error is not None and "NavigationError" in results[-1].error
    assert "ERR_CONNECTION_REFUSED" in results[-1].error
    assert before == after, "tabs were left open: %d before, %d after" % (before, after)
    # The pool really ran tasks in parallel threads...
    assert len({name for name in seen if name.startswith("scraper")}) >= 2, sorted(seen)
    readers = {name for name in seen if name.startswith("syncdp-reader")}
    if transport == "sessions":
        # ...over the browser's one socket: one reader thread, whatever the number of tabs.
        assert len(readers) == 1, sorted(readers)
    else:
        assert len(readers) > 1, sorted(readers)  # the design document's model: a socket per tab
    assert elapsed < 90
