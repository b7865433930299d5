"""An HTML-to-PDF web service: standard library HTTP server, ONE shared browser, a tab per request.

The kind of code syncdp is for: a threaded server (``http.server.ThreadingHTTPServer``, one
thread per request) that has no event loop and wants none. Every request thread calls the
same :class:`syncdp.Chrome` directly: it opens its own tab (``browser.new_tab()``), loads the
document, prints it (``tab.print_to_pdf()``) and closes the tab in ``finally``. No lock
around the browser is needed; a semaphore only bounds how many tabs render at once.

API
    ``POST /pdf`` with ``Content-Type: text/html``: the body is the document.
    ``POST /pdf`` with ``Content-Type: application/json``: ``{"html": "..."}`` or
    ``{"url": "http://127.0.0.1:8000/report"}`` (loopback URLs only, unless the service was
    made with ``allowed_url_hosts``), plus optional ``"landscape": true``.
    The answer is ``application/pdf``; errors are JSON ``{"error": ...}`` with a 4xx/5xx code.
    ``GET /health`` and ``GET /stats`` answer JSON.

    A posted document is loaded from this service itself, under a one-time secret path
    (``/_doc/<token>``), rather than injected into the tab: the page then has a real URL, its
    relative links resolve against the service, and ``tab.go_to()`` waits for its load
    event (images and stylesheets included) like for any page. Its ``<title>`` becomes the
    PDF's ``/Title``.

Run::

    python examples/pdf_service.py --port 0          # prints "PDF service at http://..."
    curl -H 'Content-Type: text/html' --data '<title>Hi</title><h1>Hello</h1>' \\
        http://127.0.0.1:PORT/pdf -o hello.pdf

Ctrl-C stops it (the browser and its temporary profile go with it).

Import: :func:`make_server` returns a started-browser, not-yet-serving :class:`PdfService`
(call ``serve_forever()`` in a thread); :func:`serve` runs one until Ctrl-C.

WSGI (gunicorn, uWSGI, mod_wsgi): ``app`` is the same service as a WSGI application, with
one browser per worker process, launched by the process's first request (never at import:
a browser does not survive the ``fork`` that makes workers, see docs/deployment.md)::

    gunicorn --chdir examples --workers 2 --worker-class gthread --threads 4 pdf_service:app
"""

from __future__ import annotations

import argparse
import atexit
import http
import http.server
import ipaddress
import json
import logging
import os
import secrets
import signal
import sys
import threading
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple
from urllib.parse import urlsplit

from syncdp import Browser, Chrome, NavigationError, SyncdpError

__all__ = ["PdfService", "WsgiPdfService", "app", "make_server", "serve", "main"]

logger = logging.getLogger("pdf_service")

MAX_BODY = 5 * 1024 * 1024  # bytes of HTML or JSON a request may post
DOC_PREFIX = "/_doc/"


class RequestError(Exception):
    """A client error: answered with ``status`` and a JSON ``{"error": message}``."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(message)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class PdfService(http.server.ThreadingHTTPServer):
    """The HTTP server: owns the shared browser (when it launched it) and the render slots.

    Args:
        address: ``(host, port)`` to listen on; port 0 picks a free one.
        browser: the shared browser (started).
        owns_browser: stop the browser in :meth:`server_close`.
        max_tabs: how many documents render at once; further requests wait for a slot.
        render_timeout: seconds for loading plus printing one document.
        allowed_url_hosts: hosts a posted ``url`` may name, besides loopback addresses.
    """

    daemon_threads = True  # a request thread never keeps the process alive
    # socketserver's default listen backlog is 5: a burst of clients (plus the browser
    # fetching the posted documents back) would see connections reset.
    request_queue_size = 128

    def __init__(
        self,
        address: Tuple[str, int],
        browser: Browser,
        *,
        owns_browser: bool = False,
        max_tabs: int = 4,
        render_timeout: float = 30.0,
        allowed_url_hosts: Iterable[str] = (),
    ) -> None:
        super().__init__(address, _Handler)
        self.browser = browser
        self.owns_browser = owns_browser
        self.render_timeout = render_timeout
        self.allowed_url_hosts = frozenset(allowed_url_hosts)
        self.max_tabs = max_tabs
        self._slots = threading.BoundedSemaphore(max_tabs)
        self._documents: Dict[str, bytes] = {}
        self._lock = threading.Lock()  # guards _documents and the counters below
        self.rendered = 0
        self.failed = 0
        self.in_flight = 0
        self.max_in_flight = 0

    @property
    def url(self) -> str:
        """``http://host:port/`` of the service (``127.0.0.1`` when bound to all hosts)."""
        host, port = self.server_address[:2]
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        if ":" in str(host):
            host = "[%s]" % host
        return "http://%s:%d/" % (host, port)

    def stats(self) -> Dict[str, int]:
        """Counters: documents rendered and failed, renders in flight now and at most."""
        with self._lock:
            return {
                "rendered": self.rendered,
                "failed": self.failed,
                "in_flight": self.in_flight,
                "max_in_flight": self.max_in_flight,
            }

    # -- rendering (runs on the request's own thread) ---------------------------------------

    def check_url(self, url: str) -> str:
        """``url`` if a posted URL may be rendered, else :class:`RequestError` (400)."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise RequestError(400, "url must be an http:// or https:// URL, got %r" % url)
        if not (_is_loopback(parts.hostname) or parts.hostname in self.allowed_url_hosts):
            raise RequestError(
                400, "url host %r is not allowed (loopback addresses only)" % parts.hostname
            )
        return url

    def render(
        self, *, html: Optional[bytes] = None, url: Optional[str] = None, landscape: bool = False
    ) -> bytes:
        """Render a document (``html``) or a page (``url``) to PDF bytes in a fresh tab."""
        token = None
        if html is not None:
            token = secrets.token_urlsafe(18)
            with self._lock:
                self._documents[token] = html
            url = self.url.rstrip("/") + DOC_PREFIX + token
        assert url is not None
        if not self._slots.acquire(timeout=self.render_timeout):
            raise RequestError(503, "all %d render slots stayed busy" % self.max_tabs)
        self._count(+1)
        ok = False
        try:
            tab = self.browser.new_tab()
            try:
                tab.go_to(url, timeout=self.render_timeout)
                pdf = tab.print_to_pdf(landscape=landscape, timeout=self.render_timeout)
            finally:
                tab.close()  # always: a leaked tab per failed request would add up
            ok = True
            return bytes(pdf)
        finally:
            self._slots.release()
            self._count(-1, "rendered" if ok else "failed")
            if token is not None:
                with self._lock:
                    self._documents.pop(token, None)

    def _count(self, step: int, outcome: Optional[str] = None) -> None:
        with self._lock:
            self.in_flight += step
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            if outcome == "rendered":
                self.rendered += 1
            elif outcome == "failed":
                self.failed += 1

    def document(self, token: str) -> Optional[bytes]:
        """The posted HTML waiting to be loaded under ``/_doc/<token>``, if any."""
        with self._lock:
            return self._documents.get(token)

    def answer_pdf_request(
        self, content_type: str, length: Optional[str], read: Callable[[int], bytes]
    ) -> Tuple[int, str, bytes]:
        """``POST /pdf``, whatever server received it: ``(status, content type, body)``.

        Args:
            content_type: the request's ``Content-Type`` header.
            length: its ``Content-Length`` header.
            read: reads that many bytes of the request body.
        """
        try:
            return 200, "application/pdf", self._render_request(content_type, length, read)
        except RequestError as exc:
            status, message = exc.status, str(exc)
        except NavigationError as exc:
            status, message = 422, str(exc)
        except TimeoutError as exc:  # CommandTimeoutError / EventTimeoutError
            status, message = 504, str(exc)
        except SyncdpError as exc:
            logger.warning("rendering failed: %s", exc)
            status, message = 502, "%s: %s" % (type(exc).__name__, exc)
        return status, "application/json", json.dumps({"error": message}).encode("utf-8")

    def _render_request(
        self, content_type: str, length_header: Optional[str], read: Callable[[int], bytes]
    ) -> bytes:
        try:
            length = int(length_header or "")
        except ValueError:
            raise RequestError(411, "a Content-Length header is required") from None
        if not 0 < length <= MAX_BODY:
            raise RequestError(413, "the body must have 1 to %d bytes" % MAX_BODY)
        body = read(length)
        content_type = content_type.split(";")[0].strip().lower()
        if content_type == "text/html":
            return self.render(html=body)
        if content_type != "application/json":
            raise RequestError(415, "send text/html or application/json, not %r" % content_type)
        try:
            request: Any = json.loads(body)
        except ValueError as exc:
            raise RequestError(400, "invalid JSON: %s" % exc) from None
        if not isinstance(request, dict) or ("html" in request) == ("url" in request):
            raise RequestError(400, 'post {"html": "..."} or {"url": "..."}')
        landscape = bool(request.get("landscape", False))
        if "html" in request:
            if not isinstance(request["html"], str):
                raise RequestError(400, '"html" must be a string')
            return self.render(html=request["html"].encode("utf-8"), landscape=landscape)
        if not isinstance(request["url"], str):
            raise RequestError(400, '"url" must be a string')
        return self.render(url=self.check_url(request["url"]), landscape=landscape)

    def health(self) -> Tuple[int, Dict[str, Any]]:
        """``GET /health``: 200 and the browser's product, or 503 and why not."""
        try:
            product = self.browser.version()["product"]
        except SyncdpError as exc:
            return 503, {"ok": False, "error": str(exc)}
        return 200, {"ok": True, "browser": product}

    # -- lifecycle --------------------------------------------------------------------------

    def server_close(self) -> None:
        """Close the listening socket and, if the service launched it, stop the browser."""
        super().server_close()
        if self.owns_browser:
            self.browser.stop()


class _Handler(http.server.BaseHTTPRequestHandler):
    server: PdfService
    server_version = "syncdp-pdf-service/1.0"

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        path = self.path.split("?", 1)[0]
        if path.startswith(DOC_PREFIX):
            html = self.server.document(path[len(DOC_PREFIX):])
            if html is None:
                self._json(404, {"error": "no such document"})
            else:
                self._send(200, "text/html; charset=utf-8", html)
        elif path == "/health":
            self._json(*self.server.health())
        elif path == "/stats":
            self._json(200, self.server.stats())
        elif path == "/":
            usage = "POST HTML (text/html) or JSON {\"html\"|\"url\": ...} to %spdf\n"
            self._send(200, "text/plain; charset=utf-8", (usage % self.server.url).encode())
        else:
            self._json(404, {"error": "not found: %s" % path})

    def do_POST(self) -> None:  # noqa: N802
        if self.path.split("?", 1)[0] != "/pdf":
            self._json(404, {"error": "POST to /pdf"})
            return
        self._send(*self.server.answer_pdf_request(
            self.headers.get("Content-Type") or "", self.headers.get("Content-Length"),
            self.rfile.read,
        ))

    def _send(self, status: int, content_type: str, data: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def _json(self, status: int, value: Any) -> None:
        self._send(status, "application/json", json.dumps(value).encode("utf-8"))

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        logger.info("%s " + format, self.address_string(), *args)


# -- WSGI: the same service in the worker processes of gunicorn, uWSGI, mod_wsgi -------------


class WsgiPdfService:
    """The PDF service as a WSGI application, with one browser per worker process.

    The first request a process serves launches its browser and a private document server:
    a :class:`PdfService` on 127.0.0.1 (port 0) that the browser loads posted documents
    from. (Not from the WSGI server's own port: there, the browser's request could reach
    another worker process, or wait behind the request that made it in a ``sync`` worker.)
    Nothing starts at import, and a service inherited across ``fork`` (gunicorn's
    ``--preload``) is never used or stopped by the child. The browser stops when the
    process exits normally (SIGTERM, a worker recycled by ``--max-requests``), and syncdp's
    launcher watchdog stops it when the process is killed.

    Args:
        options: for :func:`make_server` (``max_tabs``, ``render_timeout``, ...).
    """

    def __init__(self, **options: Any) -> None:
        self.options = options
        self._lock = threading.Lock()  # guards the three attributes below
        self._service: Optional[PdfService] = None
        self._thread: Optional[threading.Thread] = None
        self._pid: Optional[int] = None

    def service(self) -> PdfService:
        """This process's service (browser and document server), started on first use."""
        with self._lock:
            if self._service is None or self._pid != os.getpid():
                service = make_server("127.0.0.1", 0, **self.options)
                thread = threading.Thread(target=service.serve_forever, name="pdf-documents",
                                          kwargs={"poll_interval": 0.2}, daemon=True)
                thread.start()
                self._service, self._thread, self._pid = service, thread, os.getpid()
                atexit.register(self.close)
                logger.info("process %d: browser started, documents at %s", os.getpid(), service.url)
            return self._service

    def close(self) -> None:
        """Stop this process's document server and browser, if it started them."""
        with self._lock:
            service, thread = self._service, self._thread
            if service is None or thread is None or self._pid != os.getpid():
                return
            self._service = self._thread = None
        service.shutdown()
        thread.join(10)
        service.server_close()  # stops the browser

    def __call__(
        self, environ: Dict[str, Any], start_response: Callable[..., Any]
    ) -> List[bytes]:
        method, path = environ.get("REQUEST_METHOD", "GET"), environ.get("PATH_INFO", "/")
        extra: List[Tuple[str, str]] = []
        if (method, path) == ("POST", "/pdf"):
            service = self.service()
            status, content_type, body = service.answer_pdf_request(
                environ.get("CONTENT_TYPE", ""), environ.get("CONTENT_LENGTH"),
                environ["wsgi.input"].read,
            )
            # Which process rendered, and how many documents it has rendered at once: more
            # than one in a gevent worker means its renders yield to each other.
            extra = [("X-Worker-Pid", str(os.getpid())),
                     ("X-Max-In-Flight", str(service.stats()["max_in_flight"]))]
        elif (method, path) == ("GET", "/health"):
            status, value = self.service().health()
            content_type, body = "application/json", json.dumps(value).encode("utf-8")
        elif (method, path) == ("GET", "/stats"):
            value = dict(self.service().stats(), pid=os.getpid())
            status, content_type, body = 200, "application/json", json.dumps(value).encode()
        else:
            status, content_type = 404, "application/json"
            body = json.dumps({"error": "not found: %s %s" % (method, path)}).encode("utf-8")
        start_response("%d %s" % (status, http.HTTPStatus(status).phrase), [
            ("Content-Type", content_type), ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
        ] + extra)
        return [body]


app = WsgiPdfService()


def make_server(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    browser: Optional[Browser] = None,
    max_tabs: int = 4,
    render_timeout: float = 30.0,
    allowed_url_hosts: Iterable[str] = (),
) -> PdfService:
    """A :class:`PdfService` bound to ``(host, port)``, not yet serving.

    Without ``browser``, headless Chromium is launched here and stopped by
    ``server_close()``; a browser passed in is shared and left running.
    """
    if max_tabs < 1:
        raise ValueError("max_tabs must be at least 1")
    owns = browser is None
    shared: Browser = Chrome().start() if browser is None else browser
    try:
        return PdfService(
            (host, port),
            shared,
            owns_browser=owns,
            max_tabs=max_tabs,
            render_timeout=render_timeout,
            allowed_url_hosts=allowed_url_hosts,
        )
    except BaseException:
        if owns:
            shared.stop()
        raise


def serve(host: str = "127.0.0.1", port: int = 0, **options: Any) -> None:
    """Run a service until Ctrl-C (or SIGTERM turned into KeyboardInterrupt by the caller)."""
    server = make_server(host, port, **options)
    try:
        print("PDF service at %s (POST HTML to %spdf)" % (server.url, server.url), flush=True)
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        print("stopping: %s" % json.dumps(server.stats()), flush=True)
    finally:
        server.server_close()


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8000, help="port (0: any free port)")
    parser.add_argument("--max-tabs", type=int, default=4, help="documents rendered at once")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per document")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    if hasattr(signal, "SIGTERM"):
        # A service manager stops services with SIGTERM: shut down as cleanly as on Ctrl-C.
        signal.signal(signal.SIGTERM, _interrupt)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    serve(args.host, args.port, max_tabs=args.max_tabs, render_timeout=args.timeout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
