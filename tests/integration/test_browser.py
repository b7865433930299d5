"""Browser, Chrome and connect() against real headless Chromium.

Most tests share one ``Chrome`` per module and open their own tabs; the lifecycle tests
(start/stop, killed browser, two browsers) launch their own.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pytest

import syncdp
from pages import (
    port_of,
    DOWNLOAD_BODY,
    DOWNLOAD_NAME,
    PAGES,
    alive,
    assert_browser_gone,
    needs_chromium,
    wait_until,
)
from syncdp import Browser, Chrome, Tab
from syncdp.exceptions import ConnectionClosedError, SyncdpError
from syncdp.localserver import LocalServer

pytestmark = [pytest.mark.integration, needs_chromium, pytest.mark.timeout(60)]


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    with LocalServer(PAGES) as srv:
        yield srv


@pytest.fixture(scope="module")
def browser() -> Iterator[Chrome]:
    with Chrome() as chrome:
        yield chrome


def _target_ids(browser: Browser) -> List[str]:
    return [t.target_id for t in browser.get_opened_tabs()]


# -- lifecycle -------------------------------------------------------------------------------


def test_start_version_and_idempotent_stop() -> None:
    chrome = Chrome()
    assert not chrome.started
    with pytest.raises(SyncdpError):
        chrome.version()  # nothing launched before start()
    try:
        assert chrome.start() is chrome
        assert chrome.started
        pid, profile = chrome.process.pid, chrome.process.user_data_dir
        assert alive(pid) and os.path.isdir(profile)
        version = chrome.version()
        assert "Chrome" in version["product"]
        assert version["protocolVersion"] == "1.3"
        assert version["userAgent"]
    finally:
        chrome.stop()
    assert not chrome.started
    assert_browser_gone(pid, profile)
    chrome.stop()  # idempotent
    assert not chrome.started


def test_context_manager_and_get_page() -> None:
    with Chrome() as chrome:
        pid, profile = chrome.process.pid, chrome.process.user_data_dir
        before = _target_ids(chrome)
        assert before, "a launched browser has a first page"
        page = chrome.get_page()
        assert isinstance(page, Tab)
        assert page.target_id in before
        assert _target_ids(chrome) == before  # the open page was reused, none created
        assert page.execute_script("1 + 1") == 2
        for tab in chrome.get_opened_tabs():
            tab.close()
        wait_until(lambda: _target_ids(chrome) == [], 5, "tabs still open after close()")
        fresh = chrome.get_page()  # nothing open: a new page
        assert fresh.target_id not in before
        assert _target_ids(chrome) == [fresh.target_id]
        assert fresh.execute_script("'works'") == "works"
    assert_browser_gone(pid, profile)


def test_get_page_attaches_to_one_page_only() -> None:
    """connect() to a browser with many tabs: get_page() must not attach to all of them."""
    with Chrome(pipe=False) as owner:  # a second client needs its port
        for _ in range(3):
            owner.new_tab()
        other = syncdp.connect(owner.process.port, tab_mode="sessions")
        try:
            page = other.get_page()
            assert page.execute_script("1 + 1") == 2
            attached = [s.target_id for s in other.connection.sessions]
            assert attached == [page.target_id]
        finally:
            other.stop()  # only disconnects


def test_version_of_the_shared_browser(browser: Chrome) -> None:
    version = browser.version()
    assert "Chrome" in version["product"]
    assert version["jsVersion"]


# -- tabs ------------------------------------------------------------------------------------


def test_new_tab_is_listed_until_closed(browser: Chrome) -> None:
    tab = browser.new_tab()
    try:
        assert isinstance(tab, Tab)
        opened = browser.get_opened_tabs()
        assert tab.target_id in [t.target_id for t in opened]
        # The same Tab object for the same target.
        assert [t for t in opened if t.target_id == tab.target_id][0] is tab
    finally:
        tab.close()
    wait_until(lambda: tab.target_id not in _target_ids(browser), 5, "closed tab still listed")


def test_new_tab_with_url_loads_it(browser: Chrome, server: LocalServer) -> None:
    tab = browser.new_tab(server.url("/"))
    try:
        loaded = "document.readyState === 'complete' && document.title"
        wait_until(lambda: tab.execute_script(loaded) == "syncdp index", 10,
                   "the new tab did not load its URL")
        assert tab.current_url == server.url("/")
    finally:
        tab.close()


# -- contexts and cookies --------------------------------------------------------------------


def _cookie_names(cookies: List[Dict[str, Any]]) -> List[str]:
    return sorted(c["name"] for c in cookies)


def test_browser_contexts_isolate_cookies(browser: Chrome, server: LocalServer) -> None:
    context = browser.create_browser_context()
    assert isinstance(context, str) and context
    default_tab = browser.new_tab()
    context_tab = browser.new_tab(browser_context_id=context)
    try:
        browser.set_cookies(
            [{"name": "in_context", "value": "isolated", "url": server.url("/")}],
            browser_context_id=context,
        )
        browser.set_cookies([{"name": "in_default", "value": "shared", "url": server.url("/")}])

        assert "in_context" in _cookie_names(browser.get_cookies(browser_context_id=context))
        assert "in_default" not in _cookie_names(browser.get_cookies(browser_context_id=context))
        assert "in_default" in _cookie_names(browser.get_cookies())
        assert "in_context" not in _cookie_names(browser.get_cookies())

        # The pages see the same split.
        context_tab.go_to(server.url("/"))
        default_tab.go_to(server.url("/"))
        assert context_tab.execute_script("document.cookie") == "in_context=isolated"
        assert default_tab.execute_script("document.cookie") == "in_default=shared"

        browser.delete_all_cookies(browser_context_id=context)
        assert browser.get_cookies(browser_context_id=context) == []
        assert "in_default" in _cookie_names(browser.get_cookies())  # untouched

        browser.delete_browser_context(context)
        wait_until(lambda: context_tab.target_id not in _target_ids(browser), 5,
                   "deleting the context did not close its tab")
        assert default_tab.target_id in _target_ids(browser)
    finally:
        browser.delete_all_cookies()
        context_tab.close()
        default_tab.close()
    assert browser.get_cookies() == []


# -- downloads -------------------------------------------------------------------------------


def test_set_download_path_saves_downloads_there(
    browser: Chrome, server: LocalServer, tmp_path: Path
) -> None:
    directory = tmp_path / "downloads" / "nested"  # created by set_download_path
    progress: List[Dict[str, Any]] = []
    callback_id = browser.on("Browser.downloadProgress", lambda e: progress.append(e["params"]))
    tab = browser.new_tab()
    try:
        browser.set_download_path(str(directory))
        assert directory.is_dir()
        tab.go_to(server.url("/download"))
        tab.query("#dl").click()
        wait_until(lambda: any(p.get("state") == "completed" for p in progress), 10,
                   "no completed Browser.downloadProgress event: %r" % progress)
        target = directory / DOWNLOAD_NAME
        wait_until(target.exists, 5, "the download did not land in %s: %s"
                   % (directory, sorted(os.listdir(directory))))
        assert target.read_bytes() == DOWNLOAD_BODY
    finally:
        browser.remove_callback(callback_id)
        tab.close()


# -- browser-level events --------------------------------------------------------------------


def test_browser_on_target_created(browser: Chrome, server: LocalServer) -> None:
    created: List[Dict[str, Any]] = []
    callback_id = browser.on(
        "Target.targetCreated", lambda e: created.append(e["params"]["targetInfo"])
    )
    browser.send("Target.setDiscoverTargets", {"discover": True})
    tab = None
    try:
        tab = browser.new_tab(server.url("/"))
        new_id = tab.target_id
        info = wait_until(
            lambda: [i for i in created if i["targetId"] == new_id], 5,
            "Target.targetCreated for the new tab never reached the callback",
        )[0]
        assert info["type"] == "page"
    finally:
        browser.send("Target.setDiscoverTargets", {"discover": False})
        assert browser.remove_callback(callback_id) is True
        if tab is not None:
            tab.close()


# -- connect() -------------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["port", "http", "ws"])
def test_connect_attaches_and_stop_only_disconnects(
    browser: Chrome, server: LocalServer, form: str
) -> None:
    port = port_of(browser)
    endpoint = {
        "port": port,
        "http": "http://127.0.0.1:%d" % port,
        "ws": browser.process.ws_url,
    }[form]
    mine = browser.new_tab()
    try:
        mine.go_to(server.url("/"))
        other = syncdp.connect(endpoint)
        try:
            assert type(other) is Browser
            assert other.version()["product"] == browser.version()["product"]
            theirs = {t.target_id: t for t in other.get_opened_tabs()}
            assert mine.target_id in theirs  # the same browser
            assert theirs[mine.target_id].title == "syncdp index"
        finally:
            other.stop()
        other.stop()  # idempotent too
        # Only the second client went away: the browser and our tab live on.
        assert browser.started and alive(browser.process.pid)
        assert mine.target_id in _target_ids(browser)
        assert mine.title == "syncdp index"
    finally:
        mine.close()


# -- more than one browser, and a dying one --------------------------------------------------


@pytest.mark.timeout(90)
def test_two_browsers_at_once_in_two_threads(server: LocalServer) -> None:
    paths = ["/", "/counter"]
    barrier = threading.Barrier(2)
    results: Dict[int, Tuple[str, int, str]] = {}
    errors: List[BaseException] = []

    def run(index: int) -> None:
        try:
            with Chrome() as chrome:
                tab = chrome.new_tab()
                barrier.wait(30)  # both browsers run at the same time
                tab.go_to(server.url(paths[index]))
                results[index] = (tab.title, chrome.process.pid, chrome.process.user_data_dir)
                barrier.wait(30)
        except BaseException as exc:  # noqa: B902 - reported to the test thread
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=run, args=(i,), name="test-browser-%d" % i) for i in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(t.is_alive() for t in threads)
    assert not errors, errors
    assert results[0][0] == "syncdp index"
    assert results[1][0] == "counter"
    assert results[0][1] != results[1][1]
    for _, pid, profile in results.values():
        assert_browser_gone(pid, profile)


def test_browser_killed_mid_command_fails_fast_and_stop_cleans_up() -> None:
    chrome = Chrome().start()
    pid, profile = chrome.process.pid, chrome.process.user_data_dir
    outcome: Dict[str, Any] = {}
    worker = None
    try:
        tab = chrome.new_tab()
        assert tab.execute_script("1") == 1

        def pending() -> None:
            try:
                tab.execute_script("new Promise(() => {})", timeout=30)
            except BaseException as exc:  # noqa: B902 - reported to the test thread
                outcome["error"] = exc
            outcome["at"] = time.monotonic()

        worker = threading.Thread(target=pending, name="test-pending-script")
        worker.start()
        wait_until(lambda: tab.connection.pending_commands > 0, 5, "the script never went out")
        killed_at = time.monotonic()
        os.killpg(pid, signal.SIGKILL)
        worker.join(10)
        assert not worker.is_alive(), "the pending call did not fail"
        error = outcome.get("error")
        assert isinstance(error, ConnectionError), repr(error)
        assert isinstance(error, ConnectionClosedError), repr(error)
        assert outcome["at"] - killed_at < 2.5
        # The browser-level connection noticed too: a command fails, it does not hang.
        start = time.monotonic()
        with pytest.raises(ConnectionError):
            chrome.version()
        assert time.monotonic() - start < 5
    finally:
        stop_start = time.monotonic()
        chrome.stop()
        stop_took = time.monotonic() - stop_start
        if worker is not None:
            worker.join(5)
    assert stop_took < 10
    assert not chrome.started
    assert_browser_gone(pid, profile)


# -- tab mode (formerly "transport") ----------------------------------------------------------


@pytest.mark.parametrize("mode", ["sessions", "sockets"])
def test_tab_mode_chooses_how_tabs_reach_the_browser(mode: str, server: LocalServer) -> None:
    with Chrome(tab_mode=mode) as chrome:
        assert chrome.tab_mode == mode
        tab = chrome.new_tab()
        expected = syncdp.Session if mode == "sessions" else syncdp.ConnectionHandler
        assert isinstance(tab.connection, expected)
        tab.go_to(server.url("/"))
        assert tab.title == "syncdp index"
        tab.close()


def test_transport_keyword_still_works_with_a_deprecation_warning() -> None:
    with pytest.warns(DeprecationWarning, match="tab_mode") as record:
        chrome = Chrome(transport="sockets")
    assert record[0].filename == __file__  # blamed on the caller, not on syncdp
    assert chrome.tab_mode == "sockets"
    with pytest.warns(DeprecationWarning, match="tab_mode"):
        assert chrome.transport == "sockets"
    with pytest.warns(DeprecationWarning, match="tab_mode"):
        browser = Browser(None, transport="sessions")
    assert browser.tab_mode == "sessions"
    with pytest.warns(DeprecationWarning, match="tab_mode"), pytest.raises(
        syncdp.InvalidCommand, match="disagree"
    ):
        Browser(None, tab_mode="sessions", transport="sockets")


def test_old_keyword_drives_a_real_browser(server: LocalServer) -> None:
    with pytest.warns(DeprecationWarning):
        chrome = Chrome(transport="sockets")
    with chrome:
        tab = chrome.new_tab()
        assert isinstance(tab.connection, syncdp.ConnectionHandler)
        tab.go_to(server.url("/"))
        assert tab.title == "syncdp index"


def test_tab_mode_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SYNCDP_TRANSPORT", raising=False)
    monkeypatch.setenv("SYNCDP_TAB_MODE", "sockets")
    assert Browser(None).tab_mode == "sockets"
    assert Browser(None, tab_mode="sessions").tab_mode == "sessions"  # the argument wins
    monkeypatch.delenv("SYNCDP_TAB_MODE")
    monkeypatch.setenv("SYNCDP_TRANSPORT", "sockets")
    with pytest.warns(DeprecationWarning, match="SYNCDP_TAB_MODE"):
        assert Browser(None).tab_mode == "sockets"
    monkeypatch.setenv("SYNCDP_TAB_MODE", "sessions")  # the new name wins, no warning
    assert Browser(None).tab_mode == "sessions"


def test_a_bad_tab_mode_is_refused_naming_the_argument(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SYNCDP_TAB_MODE", raising=False)
    monkeypatch.delenv("SYNCDP_TRANSPORT", raising=False)
    with pytest.raises(syncdp.InvalidCommand, match="tab_mode must be one of"):
        Chrome(tab_mode="pipes")


def test_a_bad_tab_mode_from_the_environment_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNCDP_TAB_MODE", "pipes")
    with pytest.raises(syncdp.InvalidCommand, match="SYNCDP_TAB_MODE environment variable must be one of"):
        Browser(None)
    monkeypatch.delenv("SYNCDP_TAB_MODE")
    monkeypatch.setenv("SYNCDP_TRANSPORT", "bogus")
    with pytest.warns(DeprecationWarning), pytest.raises(syncdp.InvalidCommand, match="SYNCDP_TRANSPORT"):
        Browser(None)
