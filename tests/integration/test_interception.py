"""Request interception (``tab.route``/``unroute``, ``Route``), HTTP credentials and
``tab.block_urls`` on real Chromium, in both tab modes (the ``browser`` fixture of tabkit.py).

The pages come from a small server of this module on 127.0.0.1 (port 0): it echoes what it
received (``/echo``) and asks for Basic credentials (``/private``), which LocalServer does not.
"""

from __future__ import annotations

import base64
import http.server
import json
import logging
import re
import threading
import time
from typing import Any, Callable, Dict, Iterator, List

import pytest
from pages import needs_full_chromium, wait_until
from tabkit import browser, tab

from syncdp import Chrome, InvalidCommand, NavigationError, Route, SyncdpError, Tab

__all__ = ["browser", "tab"]

pytestmark = pytest.mark.timeout(120)

USER, PASSWORD = "ada", "s3cret"


class _Handler(http.server.BaseHTTPRequestHandler):
    def _reply(self, status: int, content_type: str, body: bytes, extra: Any = ()) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for name, value in extra:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _echo(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8", "replace")
        echo = {"method": self.command, "path": self.path, "body": body,
                "headers": {k.lower(): v for k, v in self.headers.items()}}
        self._reply(200, "application/json", json.dumps(echo).encode())

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        path = self.path.split("?", 1)[0]
        if path.startswith("/echo"):
            self._echo()
        elif path == "/private":
            expected = "Basic " + base64.b64encode(("%s:%s" % (USER, PASSWORD)).encode()).decode()
            if self.headers.get("Authorization") != expected:
                self._reply(401, "text/html", b"<title>denied</title>",
                            [("WWW-Authenticate", 'Basic realm="syncdp"')])
            else:
                self._reply(200, "text/html", b"<title>private</title>")
        elif path == "/outer":  # a cross-site (out-of-process) iframe: localhost, not 127.0.0.1
            frame = "http://localhost:%d/frame" % self.server.server_address[1]
            self._reply(200, "text/html", b"<title>outer</title><iframe src='%s'></iframe>" % frame.encode())
        elif path == "/frame":
            self._reply(200, "text/html", b"<title>frame</title><script>fetch('/frame-data')"
                        b".then(r => r.text()).then(t => { document.title = t; })</script>")
        elif path.startswith("/page"):
            self._reply(200, "text/html", b"<!doctype html><title>real page</title><p>real</p>")
        else:
            self._reply(404, "text/plain", b"not found")

    do_POST = _echo  # noqa: N815

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


class _Server:
    def __init__(self) -> None:
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                       name="test-interception-server", daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return "http://127.0.0.1:%d%s" % (self.httpd.server_address[1], path)

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(10)


@pytest.fixture(scope="module")
def site() -> Iterator[_Server]:
    server = _Server()
    try:
        yield server
    finally:
        server.stop()


def _fetch(tab: Tab, path: str, init: str = "{}") -> Any:
    """The page's fetch of ``path``: ``{"status", "type", "text"}`` or ``"failed: ..."``."""
    return tab.execute_script(
        "fetch(%s, %s).then(async r => ({status: r.status, type: r.headers.get('content-type'),"
        " text: await r.text()})).catch(e => 'failed: ' + e.message)" % (json.dumps(path), init)
    )


def _wait_until(condition: Callable[[], bool], timeout: float = 20) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


# -- deciding a route ------------------------------------------------------------------------


def test_fulfill_answers_for_the_server(tab: Tab, site: _Server) -> None:
    tab.go_to(site.url("/page"))
    tab.route("*/echo*", lambda route: route.fulfill(
        status=201, body='{"fake": true}', content_type="application/json", headers={"X-Test": "1"}))
    assert _fetch(tab, "/echo") == {"status": 201, "type": "application/json", "text": '{"fake": true}'}


def test_continue_changes_method_headers_and_body_on_the_way(tab: Tab, site: _Server) -> None:
    tab.go_to(site.url("/page"))
    seen: List[Any] = []

    def change(route: Route) -> None:
        request = route.request
        seen.append((request.method, request.post_data, request.resource_type))
        route.continue_(url=site.url("/echo/changed"), method="POST",
                        headers=dict(request.headers, **{"X-Added": "yes"}), post_data="new body")

    tab.route("*/echo/original", change)
    answer = json.loads(_fetch(tab, "/echo/original", "{method: 'PUT', body: 'old body'}")["text"])
    assert seen == [("PUT", "old body", "xhr")]  # Fetch reports fetch() as XHR
    assert (answer["method"], answer["path"], answer["body"]) == ("POST", "/echo/changed", "new body")
    assert answer["headers"]["x-added"] == "yes"


@pytest.mark.parametrize("code, chromium_error", [("failed", "net::ERR_FAILED"),
                                                  ("accessdenied", "net::ERR_ACCESS_DENIED")])
def test_abort_fails_the_request_with_the_error_code(
    tab: Tab, site: _Server, code: str, chromium_error: str
) -> None:
    tab.go_to(site.url("/page"))
    tab.enable_network_events()
    tab.route("*/echo*", lambda route: route.abort(code))
    def of_the_fetch(event: Any) -> bool:
        return bool(event["params"].get("type") in ("Fetch", "XHR"))

    with tab.expect_event("Network.loadingFailed", of_the_fetch, timeout=20) as failed:
        assert str(_fetch(tab, "/echo")).startswith("failed: ")
    assert failed.value["params"]["errorText"] == chromium_error
    tab.disable_network_events()


def test_a_second_decision_is_refused_and_the_first_stands(tab: Tab, site: _Server) -> None:
    tab.go_to(site.url("/page"))
    errors: List[str] = []

    def twice(route: Route) -> None:
        route.fulfill(body="first")
        try:
            route.abort()
        except SyncdpError as exc:
            errors.append(str(exc))

    tab.route("*/echo*", twice)
    assert _fetch(tab, "/echo")["text"] == "first"
    # The page may read the body before the handler's second call returns: wait for it.
    assert _wait_until(lambda: bool(errors)), "the second decision was not refused"
    assert len(errors) == 1 and "already fulfilled" in errors[0]


def test_a_handler_that_does_not_decide_continues_the_request_with_a_warning(
    tab: Tab, site: _Server, caplog: pytest.LogCaptureFixture
) -> None:
    tab.go_to(site.url("/page"))
    tab.route("*/echo*", lambda route: None)
    with caplog.at_level(logging.WARNING, logger="syncdp.page.interception"):
        assert json.loads(_fetch(tab, "/echo")["text"])["path"] == "/echo"
    assert any("returned without" in r.getMessage() for r in caplog.records)


def test_a_handler_that_raises_aborts_the_request_and_logs_the_error(
    tab: Tab, site: _Server, caplog: pytest.LogCaptureFixture
) -> None:
    tab.go_to(site.url("/page"))

    def broken(route: Route) -> None:
        raise RuntimeError("handler bug")

    tab.route("*/echo*", broken)
    with caplog.at_level(logging.ERROR, logger="syncdp.page.interception"):
        assert str(_fetch(tab, "/echo")).startswith("failed: ")
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert errors and errors[0].exc_info is not None and "handler bug" in str(errors[0].exc_info[1])


# -- patterns --------------------------------------------------------------------------------


def test_regex_and_glob_routes_match_their_urls_and_the_newest_wins(tab: Tab, site: _Server) -> None:
    tab.go_to(site.url("/page"))
    tab.route("*/echo/*", lambda route: route.fulfill(body="glob"))
    tab.route(re.compile(r"/echo/\d+$"), lambda route: route.fulfill(body="regex"))
    assert _fetch(tab, "/echo/42")["text"] == "regex"
    assert _fetch(tab, "/echo/name")["text"] == "glob"
    assert json.loads(_fetch(tab, "/echo")["text"])["path"] == "/echo"  # no route: continued


def test_unroute_removes_the_routes_of_a_pattern_and_interception_stops(tab: Tab, site: _Server) -> None:
    tab.go_to(site.url("/page"))
    tab.route("*/echo*", lambda route: route.fulfill(body="one"))
    tab.route("*/echo*", lambda route: route.fulfill(body="two"))
    assert _fetch(tab, "/echo")["text"] == "two"
    assert tab.unroute("*/echo*") == 2
    assert tab.unroute("*/echo*") == 0
    paused: List[Any] = []
    tab.on("Fetch.requestPaused", paused.append)
    assert json.loads(_fetch(tab, "/echo")["text"])["path"] == "/echo"
    assert paused == []


def test_after_the_last_unroute_the_users_own_fetch_interception_is_left_alone(
    tab: Tab, site: _Server
) -> None:
    """Routes gone, the user intercepts with raw Fetch: syncdp no longer answers the pauses
    (it would continue each request first, and the user's own answer would then fail)."""
    tab.go_to(site.url("/page"))
    tab.route("*/echo*", lambda route: route.fulfill(body="routed"))
    assert _fetch(tab, "/echo")["text"] == "routed"
    assert tab.unroute("*/echo*") == 1
    answered: List[Any] = []

    def fulfill_myself(event: Dict[str, Any]) -> None:
        body = base64.b64encode(b"by the user").decode()
        answered.append(tab.send("Fetch.fulfillRequest", {
            "requestId": event["params"]["requestId"], "responseCode": 200, "body": body,
        }))

    tab.on("Fetch.requestPaused", fulfill_myself, background=True)
    tab.send("Fetch.enable", {"patterns": [{"urlPattern": "*/echo*"}]})
    try:
        assert _fetch(tab, "/echo")["text"] == "by the user"
        # The page has its body once the browser took the fulfil; the callback's answer to
        # it may land a moment later.
        wait_until(lambda: answered, 10, "the user's Fetch.fulfillRequest got no answer")
        assert answered == [{}]
    finally:
        tab.send("Fetch.disable")


def test_unroute_with_a_handler_removes_only_that_one(tab: Tab, site: _Server) -> None:
    tab.go_to(site.url("/page"))

    def first(route: Route) -> None:
        route.fulfill(body="first")

    def second(route: Route) -> None:
        route.fulfill(body="second")

    tab.route("*/echo*", first)
    tab.route("*/echo*", second)
    assert tab.unroute("*/echo*", second) == 1
    assert _fetch(tab, "/echo")["text"] == "first"


# -- the page's own navigation -----------------------------------------------------------------


def test_go_to_an_intercepted_document_returns_once_the_handler_decides(
    tab: Tab, site: _Server
) -> None:
    tab.go_to(site.url("/page"))
    during: List[Any] = []

    def document(route: Route) -> None:
        try:
            tab.execute_script("document.title")  # Chromium holds it: refused at once
        except SyncdpError as exc:  # (a hold would end in CommandTimeoutError instead)
            during.append(("refused", "waits for this route handler" in str(exc)))
        during.append(("browser", "Chrome/" in tab.send("Browser.getVersion")["product"]))
        route.fulfill(body="<!doctype html><title>from the route</title>")

    tab.route("*/page/virtual", document)
    tab.go_to(site.url("/page/virtual"), timeout=60)
    assert tab.title == "from the route"
    assert during == [("refused", True), ("browser", True)]


def test_a_handler_of_a_subresource_may_use_the_page(tab: Tab, site: _Server) -> None:
    tab.go_to(site.url("/page"))

    def answer_with_title(route: Route) -> None:
        route.fulfill(body=str(tab.execute_script("document.title")))

    tab.route("*/echo*", answer_with_title)
    assert _fetch(tab, "/echo")["text"] == "real page"


def test_routes_work_while_other_threads_use_the_tab(tab: Tab, site: _Server) -> None:
    tab.go_to(site.url("/page"))
    tab.route("*/echo/*", lambda route: route.fulfill(body=route.request.url.rsplit("/", 1)[1]))
    results: List[Any] = []

    def worker(n: int) -> None:
        results.append(_fetch(tab, "/echo/%d" % n)["text"] == str(n))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert results == [True] * 6


def test_routes_reach_out_of_process_iframes(browser: Chrome, tab: Tab, site: _Server) -> None:
    if browser.tab_mode != "sessions":
        pytest.skip("out-of-process iframes are followed in the sessions tab mode only")
    tab.follow_children()
    tab.route("*/frame-data", lambda route: route.fulfill(body="routed in the frame"))

    def frame_title() -> Any:
        for session in tab.connection.child_sessions:
            if session.target_type == "iframe":
                try:
                    result = session.send("Runtime.evaluate", {"expression": "document.title",
                                                             "returnByValue": True})
                except SyncdpError:  # no document yet, or replaced meanwhile: look again
                    return None
                return result["result"].get("value")
        return None

    tab.go_to(site.url("/outer"))
    assert _wait_until(lambda: frame_title() == "routed in the frame"), frame_title()


# -- HTTP credentials ------------------------------------------------------------------------


@pytest.fixture
def fresh_tab(browser: Chrome) -> Iterator[Tab]:
    """A tab in a context of its own: Chromium caches accepted credentials per context."""
    context = browser.create_browser_context()
    new = browser.new_tab(browser_context_id=context)
    try:
        yield new
    finally:
        new.close()
        browser.delete_browser_context(context)


def test_http_credentials_answer_basic_auth(fresh_tab: Tab, site: _Server) -> None:
    fresh_tab.set_http_credentials(USER, PASSWORD)
    fresh_tab.go_to(site.url("/private"))
    assert fresh_tab.title == "private"


def test_refused_credentials_are_not_sent_again_and_the_401_page_shows(
    fresh_tab: Tab, site: _Server
) -> None:
    challenges: List[Any] = []
    fresh_tab.on("Fetch.authRequired", challenges.append)
    fresh_tab.set_http_credentials(USER, "wrong")
    fresh_tab.go_to(site.url("/private"))
    assert fresh_tab.title == "denied"
    assert len(challenges) == 2  # the first answered, the second (the refusal) cancelled


@needs_full_chromium  # the shell shows the 401 page instead
def test_without_credentials_auth_fails_as_in_plain_chromium_and_routes_keep_working(
    fresh_tab: Tab, site: _Server
) -> None:
    fresh_tab.set_http_credentials(USER, PASSWORD)
    fresh_tab.route("*/echo*", lambda route: route.fulfill(body="routed"))
    fresh_tab.set_http_credentials(None)
    with pytest.raises(NavigationError, match="ERR_INVALID_AUTH_CREDENTIALS"):
        fresh_tab.go_to(site.url("/private"))
    fresh_tab.go_to(site.url("/page"))
    assert _fetch(fresh_tab, "/echo")["text"] == "routed"


# -- blocking URLs, and domains shared between helpers ----------------------------------------


def test_block_urls_fails_matching_requests_until_unblocked(tab: Tab, site: _Server) -> None:
    tab.go_to(site.url("/page"))
    tab.block_urls(["*://*:*/echo/blocked*"])
    assert str(_fetch(tab, "/echo/blocked")).startswith("failed: ")
    assert json.loads(_fetch(tab, "/echo/other")["text"])["path"] == "/echo/other"
    tab.block_urls([])
    assert json.loads(_fetch(tab, "/echo/blocked")["text"])["path"] == "/echo/blocked"


def test_blocking_and_the_network_log_keep_each_other_on(tab: Tab, site: _Server) -> None:
    tab.go_to(site.url("/page"))
    tab.enable_network_events()
    tab.block_urls(["*://*:*/echo/blocked*"])
    tab.disable_network_events()  # Network stays on for the blocking
    assert str(_fetch(tab, "/echo/blocked")).startswith("failed: ")
    tab.enable_network_events()
    tab.block_urls([])  # ...and for the network log
    _fetch(tab, "/echo/logged")
    assert _wait_until(lambda: bool(tab.get_network_logs("/echo/logged")))
    tab.disable_network_events()


# -- bad input: InvalidCommand naming the argument, nothing sent ------------------------------


@pytest.mark.parametrize("call, name", [
    (lambda t: t.route(42, lambda r: None), "url_pattern"),
    (lambda t: t.route("", lambda r: None), "url_pattern"),
    (lambda t: t.route(re.compile(rb"bytes"), lambda r: None), "url_pattern"),
    (lambda t: t.route("*", "not callable"), "handler"),
    (lambda t: t.unroute(None), "url_pattern"),
    (lambda t: t.set_http_credentials(42, "x"), "username"),
    (lambda t: t.set_http_credentials("user", None), "password"),
    (lambda t: t.block_urls("*://*:*/x"), "patterns"),
    (lambda t: t.block_urls(["/relative/*"]), "patterns"),
    (lambda t: t.block_urls(["http://example.com/("]), "patterns"),  # the browser cannot parse it
])
def test_bad_arguments_raise_invalid_command_naming_them(
    tab: Tab, call: Callable[[Tab], Any], name: str
) -> None:
    with pytest.raises(InvalidCommand, match=name):
        call(tab)


@pytest.mark.parametrize("decide, name", [
    (lambda r: r.abort("nope"), "error_code"),
    (lambda r: r.fulfill(status=42), "status"),
    (lambda r: r.fulfill(headers={"X": 1}), "headers"),
    (lambda r: r.fulfill(body=42), "body"),
    (lambda r: r.continue_(url=""), "url"),
    (lambda r: r.continue_(post_data=3.5), "post_data"),
])
def test_bad_decisions_raise_invalid_command_and_leave_the_route_open(
    tab: Tab, site: _Server, decide: Callable[[Route], Any], name: str
) -> None:
    tab.go_to(site.url("/page"))
    outcome: List[Any] = []

    def handler(route: Route) -> None:
        try:
            decide(route)
        except InvalidCommand as exc:
            outcome.append((name in str(exc), route.handled))
        route.fulfill(body="decided after all")

    tab.route("*/echo*", handler)
    assert _fetch(tab, "/echo")["text"] == "decided after all"
    assert outcome == [(True, False)]


def test_route_on_a_closed_tab_is_refused(browser: Chrome) -> None:
    closed = browser.new_tab()
    closed.close()
    with pytest.raises(SyncdpError):
        closed.route("*", lambda route: route.continue_())
