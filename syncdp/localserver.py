"""A tiny HTTP server on 127.0.0.1 for demos, examples and tests (no internet needed).

::

    with LocalServer({"/": "<title>Hi</title><p>hello"}) as server:
        tab.go_to(server.url("/"))

Pages are ``path -> body`` (``str`` served as HTML, ``bytes`` as octet-stream) or
``path -> (content_type, body)``. With ``directory=...`` files are served from there too.
"""

from __future__ import annotations

import functools
import http.server
import logging
import threading
from types import TracebackType
from typing import Dict, Mapping, Optional, Tuple, Type, Union

__all__ = ["LocalServer", "DEMO_PAGE"]

logger = logging.getLogger(__name__)

Body = Union[str, bytes, Tuple[str, Union[str, bytes]]]

DEMO_PAGE = """<!doctype html>
<html>
<head>
  <meta charset="utf-8">
  <title>syncdp demo page</title>
  <meta name="description" content="A local page served by syncdp's demo: no internet needed.">
  <style>
    body { font-family: sans-serif; margin: 3em; background: #f4f7fb; }
    h1 { color: #1f4e8c; }
    .card { background: white; border-radius: 8px; padding: 1.5em; box-shadow: 0 2px 6px #0002; }
  </style>
</head>
<body>
  <div class="card">
    <h1>Hello from syncdp</h1>
    <p>This page was served on 127.0.0.1 and rendered by headless Chromium,
       driven by blocking Python code.</p>
    <button id="go" onclick="this.textContent = 'clicked'">click me</button>
  </div>
</body>
</html>
"""


def _normalize(body: Body) -> Tuple[str, bytes]:
    if isinstance(body, tuple):
        content_type, data = body
    elif isinstance(body, str):
        content_type, data = "text/html; charset=utf-8", body
    else:
        content_type, data = "application/octet-stream", body
    return content_type, data.encode("utf-8") if isinstance(data, str) else data


class _Handler(http.server.SimpleHTTPRequestHandler):
    pages: Dict[str, Tuple[str, bytes]] = {}

    def __init__(
        self, *args: object, pages: Dict[str, Tuple[str, bytes]], **kwargs: object
    ) -> None:
        self.pages = pages
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        path = self.path.split("?", 1)[0]
        page = self.pages.get(path)
        if page is None:
            if self.directory and self.directory != "\0":
                super().do_GET()
                return
            self.send_error(404, "not found")
            return
        content_type, data = page
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(length)
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        logger.debug("localserver: " + format, *args)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        # The browser hangs up on pending requests (a favicon, a closed tab) all the time:
        # never print a traceback to stderr for that.
        logger.debug("localserver: request from %s failed", client_address, exc_info=True)


class LocalServer:
    """Serve pages on ``127.0.0.1`` on a free port, from a daemon thread.

    Args:
        pages: ``path -> body`` to serve (see the module docstring).
        directory: also serve the files of this directory.
        port: 0 (the default) picks a free port.
    """

    def __init__(
        self,
        pages: Optional[Mapping[str, Body]] = None,
        *,
        directory: Optional[str] = None,
        port: int = 0,
    ) -> None:
        self._pages = {path: _normalize(body) for path, body in (pages or {}).items()}
        self._directory = directory
        self._requested_port = port
        self._server: Optional[_Server] = None
        self._thread: Optional[threading.Thread] = None

    @property
    def port(self) -> int:
        """The port served on."""
        if self._server is None:
            raise RuntimeError("LocalServer is not started")
        return int(self._server.server_address[1])

    def url(self, path: str = "/") -> str:
        """``http://127.0.0.1:PORT`` + ``path``."""
        return "http://127.0.0.1:%d%s" % (self.port, path if path.startswith("/") else "/" + path)

    def add_page(self, path: str, body: Body) -> None:
        """Serve ``body`` at ``path`` from now on."""
        self._pages[path] = _normalize(body)

    def start(self) -> "LocalServer":
        """Start serving; returns ``self``."""
        if self._server is not None:
            return self
        handler = functools.partial(_Handler, pages=self._pages, directory=self._directory or "\0")
        server = _Server(("127.0.0.1", self._requested_port), handler)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.2},
            name="localserver",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and join the server thread. Idempotent."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def __enter__(self) -> "LocalServer":
        return self.start()

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.stop()
