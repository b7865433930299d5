"""Tab.wait_for_selector, wait_for_function, wait_for_load_state; Tab.back and forward."""

from __future__ import annotations

import http.server
import threading
from typing import Any, Dict, Iterator, List

import pytest
from pages import needs_chromium
from syncdp import EventTimeoutError, InvalidCommand, JavaScriptError, Tab
from syncdp.localserver import LocalServer
from tabkit import browser, site, tab

__all__ = ["browser", "site", "tab"]

pytestmark = needs_chromium


# -- wait_for_selector -------------------------------------------------------------------------


def test_visible_waits_for_an_element_to_appear_and_show(tab: Tab, site: LocalServer) -> None:
    tab.go_to(site.url("/delayed"))
    tab.execute_script(
        "const el = Object.assign(document.createElement('p'), {id: 'shy', textContent: 'shy'});"
        "el.style.display = 'none'; document.body.append(el); 1"
    )
    attached = tab.wait_for_selector("#shy", state="attached", timeout=20)  # at once
    assert attached is not None and attached.call("function() { return this.style.display }") == "none"
    tab.execute_script("setTimeout(() => { document.getElementById('shy').style.display = 'block' }, 300); 1")
    element = tab.wait_for_selector("#shy", timeout=20)
    assert element is not None and element.text == "shy"
    tab.execute_script("addLater(200)")
    assert tab.wait_for_selector("//span[@id='late']", timeout=20).text == "arrived late"  # type: ignore[union-attr]


def test_hidden_waits_for_removal_and_is_met_by_absence(tab: Tab, site: LocalServer) -> None:
    tab.go_to(site.url("/first"))
    assert tab.wait_for_selector("#nothing", state="hidden", timeout=20) is None
    tab.execute_script("setTimeout(() => document.getElementById('first').remove(), 300); 1")
    assert tab.wait_for_selector("#first", state="hidden", timeout=20) is None
    assert tab.execute_script("document.getElementById('first')") is None


def test_selector_wait_goes_on_across_a_navigation(tab: Tab, site: LocalServer) -> None:
    tab.go_to(site.url("/navigates-later"))
    tab.query("#go").click()  # the page navigates 300 ms later; #dashboard comes after that
    element = tab.wait_for_selector("#dashboard", timeout=20)
    assert element is not None and element.text == "welcome"
    assert tab.current_url == site.url("/dashboard")


def test_selector_timeout_and_bad_arguments(tab: Tab, site: LocalServer) -> None:
    tab.go_to(site.url("/first"))
    with pytest.raises(EventTimeoutError, match="#never"):
        tab.wait_for_selector("#never", timeout=0.5)
    with pytest.raises(EventTimeoutError):
        tab.wait_for_selector("#first", state="hidden", timeout=0.5)
    with pytest.raises(InvalidCommand, match="state must be one of"):
        tab.wait_for_selector("#first", state="shown")
    with pytest.raises(InvalidCommand, match="selector must be"):
        tab.wait_for_selector("")
    with pytest.raises(InvalidCommand, match="timeout"):
        tab.wait_for_selector("#first", timeout=-1)
    with pytest.raises(InvalidCommand, match="invalid selector"):
        tab.wait_for_selector("#[", timeout=5)


# -- wait_for_function --------------------------------------------------------------------------


@pytest.mark.parametrize("polling", ["raf", 50])
def test_function_wait_returns_the_first_truthy_value(tab: Tab, polling: Any) -> None:
    tab.execute_script("setTimeout(() => { window.ready = {n: 7}; }, 300); 1")
    assert tab.wait_for_function("window.ready", timeout=20, polling=polling) == {"n": 7}
    assert tab.wait_for_function("() => window.ready.n * 6", timeout=20, polling=polling) == 42
    assert tab.wait_for_function("Promise.resolve('async')", timeout=20) == "async"


def test_function_wait_goes_on_across_a_navigation(tab: Tab, site: LocalServer) -> None:
    tab.go_to(site.url("/navigates-later"))
    tab.query("#go").click()
    assert tab.wait_for_function("document.getElementById('dashboard')?.textContent",
                                 timeout=20) == "welcome"


def test_function_timeout_errors_and_bad_arguments(tab: Tab) -> None:
    with pytest.raises(EventTimeoutError, match="wait_for_function"):
        tab.wait_for_function("window.never", timeout=0.5, polling=20)
    with pytest.raises(JavaScriptError, match="broken"):
        tab.wait_for_function("(() => { throw new Error('broken') })()", timeout=5)
    with pytest.raises(InvalidCommand, match="polling must be"):
        tab.wait_for_function("1", polling=0)
    with pytest.raises(InvalidCommand, match="polling must be"):
        tab.wait_for_function("1", polling="often")
    with pytest.raises(InvalidCommand, match="js must be"):
        tab.wait_for_function("  ")


# -- wait_for_load_state ------------------------------------------------------------------------


class _HeldImageServer:
    """A page whose image is answered only when the test releases it (the load event
    waits for it)."""

    def __init__(self) -> None:
        self.release = threading.Event()
        held = self.release

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                if self.path == "/image":
                    held.wait(30)
                    body, kind = b"GIF89a", "image/gif"
                else:
                    body, kind = b"<!doctype html><title>held</title><img src='/image'>", "text/html"
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="held-image-server",
                                       kwargs={"poll_interval": 0.1}, daemon=True)


@pytest.fixture
def held() -> Iterator[_HeldImageServer]:
    srv = _HeldImageServer()
    srv.thread.start()
    try:
        yield srv
    finally:
        srv.release.set()
        srv.server.shutdown()
        srv.server.server_close()
        srv.thread.join(5)


def test_load_state_waits_for_the_load_event(tab: Tab, held: _HeldImageServer) -> None:
    url = "http://127.0.0.1:%d/" % held.server.server_address[1]
    tab.go_to(url, wait_until="domcontentloaded", timeout=20)
    tab.wait_for_load_state("domcontentloaded", timeout=20)  # reached already: at once
    assert tab.execute_script("document.readyState") == "interactive"  # the image is held
    seen: Dict[str, Any] = {}

    def wait() -> None:
        try:
            tab.wait_for_load_state("load", timeout=20)
            seen["state"] = tab.execute_script("document.readyState")
        except Exception as exc:  # reported below
            seen["error"] = exc

    waiter = threading.Thread(target=wait)
    waiter.start()
    held.release.set()
    waiter.join(30)
    assert seen == {"state": "complete"}


def test_load_states_reached_before_the_call_return_at_once(tab: Tab, site: LocalServer) -> None:
    tab.go_to(site.url("/first"))
    for state in ("domcontentloaded", "load", "networkidle"):
        tab.wait_for_load_state(state, timeout=20)
    with pytest.raises(InvalidCommand, match="state must be one of"):
        tab.wait_for_load_state("complete")


# -- back and forward ---------------------------------------------------------------------------


def test_back_and_forward_walk_the_history(tab: Tab, site: LocalServer) -> None:
    assert tab.back(timeout=20) is False  # a new tab has one entry
    tab.go_to(site.url("/first"))
    tab.go_to(site.url("/second"))
    assert tab.back(timeout=20) is True
    assert (tab.current_url, tab.query("#first").text) == (site.url("/first"), "first")
    assert tab.forward(timeout=20) is True
    assert tab.title == "second"
    assert tab.forward(timeout=20) is False
    titles: List[str] = []
    assert tab.back(timeout=20) and tab.back(timeout=20)
    titles.append(tab.current_url)
    assert titles == ["about:blank"]
    assert tab.back(timeout=20) is False


def test_back_within_one_document(tab: Tab, site: LocalServer) -> None:
    tab.go_to(site.url("/first"))
    tab.execute_script("history.pushState({}, '', '/first#step2'); window.kept = 'same document'")
    assert tab.back(timeout=20) is True
    assert tab.current_url == site.url("/first")
    assert tab.execute_script("window.kept") == "same document"


def test_history_bad_timeout(tab: Tab) -> None:
    with pytest.raises(InvalidCommand, match="timeout"):
        tab.back(timeout=0)
    with pytest.raises(InvalidCommand, match="timeout"):
        tab.forward(timeout="1")  # type: ignore[arg-type]


def test_waits_from_several_threads_at_once(tab: Tab, site: LocalServer) -> None:
    from concurrent.futures import ThreadPoolExecutor

    tab.go_to(site.url("/delayed"))
    with ThreadPoolExecutor(4) as pool:
        functions = [pool.submit(tab.wait_for_function, "window.go && %d" % n, timeout=20)
                     for n in range(1, 4)]
        element = pool.submit(tab.wait_for_selector, "#late", timeout=20)
        tab.execute_script("addLater(100); setTimeout(() => { window.go = true; }, 100); 1")
        assert [f.result(30) for f in functions] == [1, 2, 3]
        assert element.result(30).text == "arrived late"  # type: ignore[union-attr]
