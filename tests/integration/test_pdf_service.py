"""``examples/pdf_service.py``: a ThreadingHTTPServer rendering posted HTML with one browser.

* 16 concurrent clients each post a document with a unique ``<title>`` and its own number
  of pages; every answer must be a well-formed PDF whose ``/Title`` (Chromium copies the
  document's ``<title>`` into the PDF's information dictionary) and page count (``/Count``
  of the page tree) are that client's, so a mix-up between concurrent requests shows.
* JSON requests (``html`` and ``url``), the loopback-only URL rule, client errors.
* ``python examples/pdf_service.py --port 0`` prints its URL, serves, stops on SIGINT and
  SIGTERM with no browser process or temporary profile left (private ``TMPDIR``).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType
from typing import Any, Dict, Iterator, Optional, Tuple

import pytest

from pages import REPO_ROOT, needs_chromium, pgrep_f, wait_until
from syncdp import Chrome
from syncdp.localserver import LocalServer

pytestmark = [pytest.mark.integration, needs_chromium, pytest.mark.timeout(180)]

SCRIPT = REPO_ROOT / "examples" / "pdf_service.py"
CLIENTS = 16


def _load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("pdf_service_example", str(SCRIPT))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# -- a little PDF reading (Chromium writes the trailer objects uncompressed) ----------------


def pdf_title(pdf: bytes) -> Optional[str]:
    """The information dictionary's ``/Title``: a literal ``(...)`` or a hex ``<FEFF...>``."""
    literal = re.search(rb"/Title\s*\(((?:\\.|[^\\)])*)\)", pdf)
    if literal:
        raw = re.sub(rb"\\(.)", rb"\1", literal.group(1))
        return raw.decode("latin-1")
    hexed = re.search(rb"/Title\s*<([0-9A-Fa-f\s]*)>", pdf)
    if hexed:
        return bytes.fromhex(hexed.group(1).decode("ascii")).decode("utf-16")
    return None


def pdf_page_count(pdf: bytes) -> int:
    """Pages in the document: the page tree's ``/Count`` and the ``/Type /Page`` objects."""
    counts = [int(c) for c in re.findall(rb"/Count\s+(\d+)", pdf)]
    pages = len(re.findall(rb"/Type\s*/Page(?![s\w])", pdf))
    assert counts and max(counts) == pages, (counts, pages)
    return pages


def assert_valid_pdf(pdf: bytes) -> None:
    assert pdf.startswith(b"%PDF-1."), pdf[:20]
    assert pdf.rstrip().endswith(b"%%EOF"), pdf[-20:]
    assert b"startxref" in pdf[-1024:]
    assert len(pdf) > 2000, len(pdf)


def document(title: str, pages: int) -> str:
    breaks = "".join(
        '<section style="break-after: page"><h2>%s, page %d</h2><p>%s</p></section>'
        % (title, n + 1, "lorem ipsum " * 40)
        for n in range(pages)
    )
    return "<!doctype html><html><head><meta charset='utf-8'><title>%s</title></head>" \
           "<body>%s</body></html>" % (title, breaks)


# -- HTTP helpers ---------------------------------------------------------------------------


def post(url: str, body: bytes, content_type: str, timeout: float = 90) -> Tuple[int, str, bytes]:
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": content_type}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            return reply.status, reply.headers.get("Content-Type", ""), reply.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.headers.get("Content-Type", ""), exc.read()


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as reply:
        return json.loads(reply.read())


# -- the service in this process ------------------------------------------------------------


@pytest.fixture(scope="module")
def service() -> Iterator[Any]:
    example = _load_example()
    server = example.make_server("127.0.0.1", 0, max_tabs=6, render_timeout=60)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                              name="pdf-service", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        thread.join(10)
        server.server_close()  # stops the browser it launched


def _open_pages(server: Any) -> int:
    targets = server.browser.send("Target.getTargets")["targetInfos"]
    return sum(1 for t in targets if t["type"] == "page")


def test_concurrent_clients_get_their_own_documents(service: Any) -> None:
    pages_before = _open_pages(service)
    stats_before = get_json(service.url + "stats")
    token = os.urandom(4).hex()
    wanted: Dict[int, Tuple[str, int]] = {}
    for n in range(CLIENTS):
        title = "client-%02d-%s" % (n, token)
        if n % 2:
            title += " \u00fcber \u2713"  # non-ASCII: Chromium writes /Title as UTF-16 hex
        wanted[n] = (title, n % 4 + 1)
    barrier = threading.Barrier(CLIENTS)

    def client(n: int) -> Tuple[int, str, bytes, float]:
        title, pages = wanted[n]
        body = document(title, pages).encode("utf-8")
        barrier.wait(30)  # all 16 requests in flight at once
        started = time.monotonic()
        status, content_type, data = post(service.url + "pdf", body, "text/html; charset=utf-8")
        return status, content_type, data, time.monotonic() - started

    with ThreadPoolExecutor(CLIENTS) as pool:
        replies = list(pool.map(client, range(CLIENTS)))

    for n, (status, content_type, data, _) in enumerate(replies):
        title, pages = wanted[n]
        assert status == 200, (n, status, data[:300])
        assert content_type == "application/pdf"
        assert_valid_pdf(data)
        assert pdf_title(data) == title, (n, pdf_title(data))
        assert pdf_page_count(data) == pages, n
    assert len({data for _, _, data, _ in replies}) == CLIENTS  # distinct documents

    stats = get_json(service.url + "stats")
    assert stats["rendered"] - stats_before["rendered"] == CLIENTS
    assert stats["failed"] == stats_before["failed"]
    assert stats["in_flight"] == 0
    # Rendered in parallel on one browser, never more tabs than slots.
    assert 2 <= stats["max_in_flight"] <= service.max_tabs, stats
    # Every request closed its tab.
    wait_until(lambda: _open_pages(service) == pages_before, 10,
               "tabs left open: %d, expected %d" % (_open_pages(service), pages_before))


def test_json_html_and_local_url(service: Any) -> None:
    status, _, data = post(
        service.url + "pdf",
        json.dumps({"html": document("from-json", 2), "landscape": True}).encode(),
        "application/json",
    )
    assert status == 200, data[:300]
    assert_valid_pdf(data)
    assert pdf_title(data) == "from-json" and pdf_page_count(data) == 2
    # Landscape A4/Letter: the media box is wider than tall.
    box = [float(v) for v in re.search(rb"/MediaBox\s*\[([^\]]*)\]", data).group(1).split()]
    assert box[2] - box[0] > box[3] - box[1], box

    with LocalServer({"/report": document("served-report", 3)}) as site:
        status, _, data = post(
            service.url + "pdf", json.dumps({"url": site.url("/report")}).encode(),
            "application/json",
        )
    assert status == 200, data[:300]
    assert pdf_title(data) == "served-report" and pdf_page_count(data) == 3


@pytest.mark.parametrize(
    "body, content_type, status, message",
    [
        (b'{"url": "http://example.com/"}', "application/json", 400, "not allowed"),
        (b'{"url": "file:///etc/passwd"}', "application/json", 400, "http://"),
        (b'{"html": "a", "url": "b"}', "application/json", 400, '{"html"'),
        (b"{not json", "application/json", 400, "invalid JSON"),
        (b"hello", "text/plain", 415, "text/html"),
    ],
)
def test_client_errors(service: Any, body: bytes, content_type: str, status: int,
                       message: str) -> None:
    before = get_json(service.url + "stats")
    got, reply_type, data = post(service.url + "pdf", body, content_type)
    assert (got, reply_type) == (status, "application/json"), data
    assert message in json.loads(data)["error"]
    assert get_json(service.url + "stats")["rendered"] == before["rendered"]


def test_unreachable_url_is_a_422(service: Any) -> None:
    with LocalServer({}) as site:
        dead = site.url("/")
    status, _, data = post(service.url + "pdf", json.dumps({"url": dead}).encode(),
                           "application/json")
    assert status == 422, data
    assert "ERR_CONNECTION_REFUSED" in json.loads(data)["error"]


def test_shared_browser_is_left_running() -> None:
    example = _load_example()
    with Chrome() as browser:
        server = example.make_server(browser=browser, max_tabs=2)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            status, _, data = post(server.url + "pdf", document("shared", 1).encode(), "text/html")
            assert status == 200 and pdf_title(data) == "shared"
        finally:
            server.shutdown()
            thread.join(10)
            server.server_close()
        assert browser.version()["product"]  # not ours to stop: still answers


# -- the script, as a user runs it ----------------------------------------------------------


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A private, short TMPDIR (Chromium's singleton socket path must stay < 108 bytes)."""
    path = Path(tempfile.mkdtemp(prefix="sdpdf-", dir="/tmp" if os.path.isdir("/tmp") else None))
    try:
        yield path
    finally:
        shutil.rmtree(str(path), ignore_errors=True)


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_script_serves_and_stops_cleanly(short_tmp: Path, stop_signal: int) -> None:
    env = dict(os.environ, TMPDIR=str(short_tmp), PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, str(SCRIPT), "--port", "0"],
        cwd=str(REPO_ROOT), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        # Python ignores SIGINT in a child started with SIGINT ignored: restore the default.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # blocks until the service is up (or the script died)
        match = re.match(r"^PDF service at (http://127\.0\.0\.1:\d+/) \(POST HTML to \S+pdf\)$",
                         line.strip())
        assert match, "unexpected first line %r; stderr:\n%s" % (line, _stderr_of(proc))
        url = match.group(1)
        assert get_json(url + "health")["ok"] is True
        status, _, data = post(url + "pdf", document("from-the-script", 2).encode(), "text/html")
        assert status == 200, data[:300]
        assert pdf_title(data) == "from-the-script" and pdf_page_count(data) == 2
        assert pgrep_f(str(short_tmp)), "the browser should run inside the private TMPDIR"

        proc.send_signal(stop_signal)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert "Traceback" not in err, err
    assert '"rendered": 1' in out, out
    wait_until(lambda: pgrep_f(str(short_tmp)) == [], 10, "browser processes left behind")
    wait_until(lambda: os.listdir(str(short_tmp)) == [], 10,
               "temporary files left behind: %s" % os.listdir(str(short_tmp)))


def _stderr_of(proc: "subprocess.Popen[str]") -> str:
    proc.kill()
    _, err = proc.communicate(timeout=10)
    return err


# -- the WSGI application (what gunicorn serves; see test_gunicorn.py) -----------------------


def test_wsgi_app_renders_and_answers_like_the_server() -> None:
    from wsgiref.simple_server import WSGIRequestHandler, make_server
    from wsgiref.validate import validator

    class QuietHandler(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    example = _load_example()
    app = example.WsgiPdfService(max_tabs=2)
    httpd = make_server("127.0.0.1", 0, validator(app), handler_class=QuietHandler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1},
                              name="wsgi-test", daemon=True)
    thread.start()
    url = "http://127.0.0.1:%d/" % httpd.server_port
    try:
        assert get_json(url + "health")["ok"] is True  # the first request started the browser
        status, content_type, data = post(url + "pdf", document("via-wsgi", 2).encode(), "text/html")
        assert (status, content_type) == (200, "application/pdf"), data[:300]
        assert pdf_title(data) == "via-wsgi" and pdf_page_count(data) == 2
        status, content_type, data = post(url + "pdf", b'{"url": "http://example.com/"}',
                                          "application/json")
        assert (status, content_type) == (400, "application/json")
        assert "not allowed" in json.loads(data)["error"]
        stats = get_json(url + "stats")
        assert stats["rendered"] == 1 and stats["pid"] == os.getpid()
        with pytest.raises(urllib.error.HTTPError) as info:
            get_json(url + "nowhere")
        info.value.close()
        assert info.value.code == 404
        browser = app.service().browser
    finally:
        httpd.shutdown()
        thread.join(10)
        httpd.server_close()
        app.close()  # stops this process's browser and document server
    assert not browser.started
    app.close()  # idempotent
