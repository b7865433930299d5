"""Interception, blocking, credentials, emulation, permissions, uploads and cookies.

Every name of this part of the high-level API in one script (typed: ``mypy --strict`` checks it):
``tab.route``/``unroute`` with a ``Route`` and its ``Request``, ``tab.block_urls``,
``tab.set_http_credentials``, ``tab.emulate`` (a device, locale, time zone, geolocation, color
scheme, offline), ``browser.grant_permissions``, ``element.set_input_files`` and
``browser.delete_cookies``. Everything is served on 127.0.0.1: no internet needed.

Run: ``python examples/interception_and_emulation.py``
"""

from __future__ import annotations

import base64
import http.server
import json
import os
import re
import tempfile
import threading
from typing import Any, Dict, List

from syncdp import Chrome, Request, Route, Tab
from syncdp.localserver import Body, LocalServer

PAGES: Dict[str, Body] = {
    "/": "<!doctype html><title>home</title>",
    "/phone": '<!doctype html><meta name="viewport" content="width=device-width"><title>phone</title>',
    "/api/items.json": ("application/json", '{"items": ["real"]}'),
    "/upload": "<!doctype html><title>upload</title><input id='file' type='file'>",
}


class _BasicAuth(http.server.BaseHTTPRequestHandler):
    """A page behind HTTP Basic authentication (user ``ada``, password ``lovelace``)."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        ok = self.headers.get("Authorization") == "Basic " + base64.b64encode(b"ada:lovelace").decode()
        body = b"<title>%s</title>" % (b"welcome" if ok else b"denied")
        self.send_response(200 if ok else 401)
        if not ok:
            self.send_header("WWW-Authenticate", 'Basic realm="example"')
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


def intercept(tab: Tab, site: LocalServer) -> None:
    seen: List[Request] = []

    def mock_items(route: Route) -> None:
        seen.append(route.request)
        route.fulfill(body=json.dumps({"items": ["mocked"]}), content_type="application/json")

    tab.go_to(site.url("/"))
    tab.route("*/api/*", mock_items)
    items = tab.execute_script("fetch('/api/items.json').then(r => r.json()).then(d => d.items)")
    print("route: %s for %s %s" % (items, seen[0].method, seen[0].resource_type))
    tab.route(re.compile(r"\.json$"), lambda route: route.abort("blockedbyclient"))
    print("abort:", tab.execute_script("fetch('/api/items.json').then(() => 'loaded', () => 'failed')"))
    print("unroute:", tab.unroute("*/api/*") + tab.unroute(re.compile(r"\.json$")), "routes removed")
    tab.block_urls(["*://*:*/api/*"])
    print("block_urls:", tab.execute_script("fetch('/api/items.json').then(() => 'loaded', () => 'blocked')"))
    tab.block_urls([])


def authenticate(tab: Tab) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _BasicAuth)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        tab.set_http_credentials("ada", "lovelace")
        tab.go_to("http://127.0.0.1:%d/" % server.server_address[1])
        print("set_http_credentials:", tab.title)
        tab.set_http_credentials(None)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def emulate(browser: Chrome, site: LocalServer) -> None:
    phone = browser.new_tab()
    phone.emulate(device="iPhone 13", locale="fr-FR", timezone_id="Europe/Paris",
                  geolocation=(48.8584, 2.2945), color_scheme="dark")
    browser.grant_permissions(["geolocation"], origin=site.url("/").rstrip("/"))
    phone.go_to(site.url("/phone"))
    print("emulate:", phone.execute_script(
        "[innerWidth, devicePixelRatio, navigator.language,"
        " Intl.DateTimeFormat().resolvedOptions().timeZone,"
        " matchMedia('(prefers-color-scheme: dark)').matches]"))
    print("geolocation:", phone.execute_script(
        "new Promise(ok => navigator.geolocation.getCurrentPosition("
        "p => ok([p.coords.latitude, p.coords.longitude])))"))
    phone.emulate(offline=True)
    print("offline: navigator.onLine =", phone.execute_script("navigator.onLine"))
    phone.close()


def upload_and_cookies(browser: Chrome, tab: Tab, site: LocalServer) -> None:
    directory = tempfile.mkdtemp(prefix="syncdp-example-")
    path = os.path.join(directory, "notes.txt")
    try:
        with open(path, "w") as fh:
            fh.write("uploaded")
        tab.go_to(site.url("/upload"))
        tab.query("#file").set_input_files([path])
        print("set_input_files:", tab.execute_script("document.querySelector('#file').files[0].name"))
    finally:
        os.remove(path)
        os.rmdir(directory)
    browser.set_cookies([{"name": "theme", "value": "dark", "url": site.url("/")},
                         {"name": "session", "value": "42", "url": site.url("/")}])
    deleted = browser.delete_cookies("theme")
    print("delete_cookies: %d deleted, left %s" % (deleted, [c["name"] for c in browser.get_cookies()]))
    browser.delete_all_cookies()


def main() -> None:
    with LocalServer(PAGES) as site, Chrome() as browser:
        tab = browser.get_page()
        intercept(tab, site)
        authenticate(tab)
        emulate(browser, site)
        upload_and_cookies(browser, tab, site)


if __name__ == "__main__":
    main()
