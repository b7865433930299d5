"""Local pages shared by the examples: two small "sites" served on 127.0.0.1, no internet.

pydoll's design document fetches ``https://example.com`` and ``https://github.com``; the examples
use two :class:`syncdp.localserver.LocalServer` instances instead, so they run offline and
always see the same titles and meta descriptions::

    with serve("alpha") as alpha, serve("beta") as beta:
        print(alpha.url("/"), beta.url("/"))

The ``alpha`` site also has ``/resources.html``, a page that loads a stylesheet, a script,
an image and (from the script) a JSON document: :data:`RESOURCE_PATHS`.
"""

from __future__ import annotations

import html
import threading
from typing import Any, Dict, Tuple, Union

from syncdp import ConnectionHandler
from syncdp.localserver import LocalServer

__all__ = [
    "SITES",
    "RESOURCE_PATHS",
    "page",
    "serve",
    "navigate",
    "title_of",
    "say",
]

# name -> (title, meta description)
SITES: Dict[str, Tuple[str, str]] = {
    "alpha": ("Alpha Site - home", "The first of two local sites, served on 127.0.0.1."),
    "beta": ("Beta Site - home", "The second local site, standing in for a big code host."),
}

#: What ``/resources.html`` of the alpha site makes the browser fetch, in order.
RESOURCE_PATHS: Tuple[str, ...] = (
    "/static/style.css",
    "/static/app.js",
    "/static/logo.svg",
    "/api/data.json",
)

# What LocalServer accepts per path: HTML text, or (content type, body).
Body = Union[str, bytes, Tuple[str, Union[str, bytes]]]

_LOGO = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64">'
    '<circle cx="32" cy="32" r="28" fill="#1f4e8c"/></svg>'
)


def page(title: str, description: str, body: str = "", head: str = "") -> str:
    """A small HTML document with a ``<title>`` and a ``<meta name="description">``."""
    return (
        "<!doctype html>\n<html>\n<head>\n"
        '  <meta charset="utf-8">\n'
        "  <title>%s</title>\n"
        '  <meta name="description" content="%s">\n'
        "%s"
        "</head>\n<body>\n  <h1>%s</h1>\n%s\n</body>\n</html>\n"
        % (
            html.escape(title),
            html.escape(description, quote=True),
            head,
            html.escape(title),
            body,
        )
    )


def _site_pages(name: str) -> Dict[str, Body]:
    title, description = SITES[name]
    pages: Dict[str, Body] = {
        "/": page(title, description, '  <p id="intro">Welcome to the %s site.</p>' % name),
        "/about.html": page(
            "%s - about" % title.split(" - ")[0], "About the %s site." % name, "  <p>About.</p>"
        ),
    }
    if name == "alpha":
        pages["/resources.html"] = page(
            "Alpha Site - resources",
            "A page that loads a stylesheet, a script, an image and some JSON.",
            '  <img src="/static/logo.svg" alt="logo">\n  <p id="status">loading</p>',
            head='  <link rel="stylesheet" href="/static/style.css">\n'
            '  <script src="/static/app.js"></script>\n',
        )
        pages["/static/style.css"] = ("text/css", "body { font-family: sans-serif; }\n")
        pages["/static/app.js"] = (
            "application/javascript",
            "fetch('/api/data.json').then(r => r.json()).then(data => {\n"
            "  document.getElementById('status').textContent = data.status;\n"
            "});\n",
        )
        pages["/static/logo.svg"] = ("image/svg+xml", _LOGO)
        pages["/api/data.json"] = ("application/json", '{"status": "loaded", "items": [1, 2, 3]}')
    return pages


def serve(name: str) -> LocalServer:
    """A (not yet started) server for the site ``name`` (``"alpha"`` or ``"beta"``).

    Use it as a context manager: ``with serve("alpha") as site: site.url("/")``.
    """
    if name not in SITES:
        raise ValueError("unknown site %r; choose one of %s" % (name, sorted(SITES)))
    return LocalServer(_site_pages(name))


_print_lock = threading.Lock()


def say(line: str) -> None:
    """Print one whole line from any thread.

    Callbacks run on syncdp's dispatcher thread while the main thread prints too; a bare
    ``print`` writes the text and the newline separately, so lines could interleave.
    """
    with _print_lock:
        print(line, flush=True)


def title_of(name: str) -> str:
    """The ``<title>`` of the home page of site ``name``."""
    return SITES[name][0]


def navigate(connection: ConnectionHandler, url: str, timeout: float = 15) -> Dict[str, Any]:
    """Navigate a *page* connection to ``url`` and wait for its load event (raw CDP).

    The connection-level examples have no :class:`syncdp.Tab` to call ``go_to`` on, so they
    do what it does by hand: ``Page.enable``, then ``Page.navigate`` inside ``expect_event``
    so that a load event fired before ``Page.navigate`` returns is not missed.

    Returns:
        The ``Page.navigate`` result (``frameId``, ``loaderId``).

    Raises:
        RuntimeError: Chromium reported a navigation error (e.g. ``net::ERR_ABORTED``).
    """
    connection.send("Page.enable")
    with connection.expect_event("Page.loadEventFired", timeout=timeout):
        result: Dict[str, Any] = connection.send("Page.navigate", {"url": url}, timeout=timeout)
        if result.get("errorText"):
            raise RuntimeError("navigation to %s failed: %s" % (url, result["errorText"]))
    return result
