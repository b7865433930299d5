"""CDP over ``--remote-debugging-pipe`` (``Chrome(pipe=True)``) and the ``open_transport``
seam it runs on: a browser connection on an already-open wire, with no HTTP discovery."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Dict, Iterator, List, Set

import pytest
from fake_cdp import FakeCDP
from pages import alive, assert_browser_gone, group_members, png_size, run_python, wait_until
from tabkit import PAGES

from syncdp import Browser, Chrome, ConnectionHandler, InvalidCommand, Tab
from syncdp._types import Transport
from syncdp.exceptions import ConnectionClosedError, PipeClosedError
from syncdp.localserver import LocalServer
from syncdp.transports import as_transport, connect_websocket

pytestmark = pytest.mark.timeout(120)

CHROMIUM = "/usr/bin/chromium"
needs_chromium = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="%s not found" % CHROMIUM)


# -- the open_transport seam (fake endpoint: no browser needed) ------------------------------


def _opener(fake_cdp: FakeCDP, opened: List[Transport]) -> Any:
    def open_transport() -> Transport:
        transport = as_transport(connect_websocket(fake_cdp.ws_url, timeout=5))
        opened.append(transport)
        return transport

    return open_transport


def test_a_handler_on_open_transport_sends_commands_without_http_discovery(fake_cdp: FakeCDP) -> None:
    opened: List[Transport] = []
    with ConnectionHandler(None, open_transport=_opener(fake_cdp, opened)) as conn:
        assert conn.send("A.b", {"x": 1}) == {"method": "A.b", "params": {"x": 1}}
        assert conn.ws_url == type(opened[0]).__name__  # no URL: the transport's name
    assert len(opened) == 1
    assert fake_cdp.http_requests == []  # neither /json/version nor /json/protocol


def test_cdp_on_open_transport_asks_browser_get_version_not_http(fake_cdp: FakeCDP) -> None:
    opened: List[Transport] = []
    with ConnectionHandler(None, open_transport=_opener(fake_cdp, opened)) as conn:
        conn.cdp.Target.getTargets()
        methods = [message["method"] for message in fake_cdp.received]
    assert methods == ["Browser.getVersion", "Target.getTargets"]
    assert fake_cdp.http_requests == []


def test_open_transport_and_a_port_together_are_refused(fake_cdp: FakeCDP) -> None:
    with pytest.raises(InvalidCommand, match="connection_port or open_transport, not both"):
        ConnectionHandler(fake_cdp.port, open_transport=_opener(fake_cdp, []))
    with pytest.raises(InvalidCommand, match="open_transport must be a callable"):
        ConnectionHandler(None, open_transport="pipe")  # type: ignore[arg-type]
    with pytest.raises(InvalidCommand, match="connection_port must be"):
        ConnectionHandler(None)


def test_a_browser_on_open_transport_refuses_tab_mode_sockets(fake_cdp: FakeCDP) -> None:
    with pytest.raises(InvalidCommand, match="tab_mode='sockets' needs a DevTools port"):
        Browser(None, open_transport=_opener(fake_cdp, []), tab_mode="sockets")
    with pytest.raises(InvalidCommand, match="endpoint or open_transport, not both"):
        Browser(fake_cdp.port, open_transport=_opener(fake_cdp, []))
    with Browser(None, open_transport=_opener(fake_cdp, [])) as browser:
        assert browser.send("Browser.getVersion")["method"] == "Browser.getVersion"
    assert fake_cdp.http_requests == []


# -- a real browser on a pipe ----------------------------------------------------------------


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    with LocalServer(PAGES) as srv:
        yield srv


@pytest.fixture(scope="module")
def chrome() -> Iterator[Chrome]:
    if not os.path.exists(CHROMIUM):
        pytest.skip("%s not found" % CHROMIUM)
    with Chrome(pipe=True) as browser:
        yield browser


@pytest.fixture
def tab(chrome: Chrome) -> Iterator[Tab]:
    new = chrome.new_tab()
    try:
        yield new
    finally:
        new.close()


def _listening_inodes() -> Set[str]:
    """Inodes of every listening TCP socket (IPv4 and IPv6) in the kernel's tables."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as fh:
                rows = fh.read().splitlines()[1:]
        except FileNotFoundError:
            continue
        for row in rows:
            fields = row.split()
            if fields[3] == "0A":  # TCP_LISTEN
                inodes.add(fields[9])
    return inodes


def _socket_inodes(pids: List[int]) -> Set[str]:
    """Inodes of the sockets the processes ``pids`` hold open."""
    inodes = set()
    for pid in pids:
        try:
            fds = os.listdir("/proc/%d/fd" % pid)
        except OSError:  # gone meanwhile
            continue
        for fd in fds:
            try:
                target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[len("socket:["):-1])
    return inodes


def test_the_pipe_browser_carries_commands_and_has_no_port(chrome: Chrome) -> None:
    assert chrome.started
    assert chrome.version()["product"].startswith(("Chrome/", "HeadlessChrome/"))
    assert chrome.process.pipe is not None
    with pytest.raises(RuntimeError, match="talks over a pipe"):
        _ = chrome.process.port
    assert chrome.connection.ping() is True


def test_no_listening_tcp_socket_belongs_to_the_pipe_browser(chrome: Chrome) -> None:
    pid = chrome.process.pid
    members = group_members(pid)
    assert pid in members and len(members) > 1  # the browser and its helpers, all checked
    owned = _socket_inodes(members)
    assert owned  # it does hold sockets (unix ones, between its processes): the check sees them
    assert owned & _listening_inodes() == set()


@needs_chromium
def test_a_browser_with_a_port_is_seen_listening_by_the_same_check() -> None:
    with Chrome() as browser:  # the control: the check above can fail
        members = group_members(browser.process.pid)
        assert _socket_inodes(members) & _listening_inodes()


def test_events_and_tabs_over_the_pipe(chrome: Chrome, tab: Tab, server: LocalServer) -> None:
    titles: List[str] = []
    tab.on("Page.frameNavigated", lambda event: titles.append(event["params"]["frame"]["url"]))
    tab.send("Page.enable")
    tab.go_to(server.url("/second"))
    assert tab.title == "second"
    assert tab.execute_script("6 * 7") == 42
    wait_until(lambda: server.url("/second") in titles, 10, "no Page.frameNavigated: %s" % titles)
    assert tab.target_id in {t.target_id for t in chrome.get_opened_tabs()}


def test_a_screenshot_and_a_large_answer_cross_the_pipe(tab: Tab, server: LocalServer) -> None:
    tab.go_to(server.url("/"))
    shot = tab.take_screenshot(full_page=False)
    assert png_size(bytes(shot)) == (1280, 720)
    # An answer far larger than the pipe's buffer and the transport's 1 MiB read.
    big = tab.execute_script("'x'.repeat(3 * 1024 * 1024)")
    assert big == "x" * (3 * 1024 * 1024)
    # And a command as large, into the browser.
    assert tab.execute_script("%r.length" % ("y" * (2 * 1024 * 1024))) == 2 * 1024 * 1024


def test_dialogs_over_the_pipe(tab: Tab, server: LocalServer) -> None:
    tab.go_to(server.url("/buttons"))
    with tab.expect_event("Page.javascriptDialogOpening"):
        tab.query("#confirm").click()
    assert tab.has_dialog() and tab.get_dialog_message() == "really?"
    tab.handle_dialog(accept=True)
    assert tab.execute_script("window.confirmed") is True


def test_the_network_log_over_the_pipe(tab: Tab, server: LocalServer) -> None:
    tab.enable_network_events()
    tab.go_to(server.url("/second"))
    urls = [entry["params"]["request"]["url"] for entry in tab.get_network_logs()]
    assert server.url("/second") in urls


def test_cdp_on_the_pipe_makes_no_http_request(chrome: Chrome, tab: Tab) -> None:
    result = tab.cdp.Runtime.evaluate(expression="2 ** 10", returnByValue=True)
    assert result["result"]["value"] == 1024
    assert chrome.cdp.Target.getTargets()["targetInfos"]
    with pytest.raises(InvalidCommand):
        tab.cdp.Page.navigate(ulr="about:blank")  # type: ignore[call-arg]


def test_commands_from_many_threads_share_the_pipe(tab: Tab) -> None:
    results: Dict[int, Any] = {}

    def work(n: int) -> None:
        for i in range(20):
            results[n * 100 + i] = tab.execute_script("%d + %d" % (n, i))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert results == {n * 100 + i: n + i for n in range(8) for i in range(20)}


# -- the end of a pipe -----------------------------------------------------------------------


@needs_chromium
def test_a_lost_pipe_is_not_reconnected(tmp_path: Path) -> None:
    with Chrome(pipe=True) as browser:
        connection = browser.connection
        os.kill(browser.process.pid, signal.SIGKILL)
        assert connection.wait_closed(30)
        with pytest.raises(PipeClosedError, match="a pipe cannot be re-opened: start a new Chrome"):
            connection.send("Browser.getVersion")
        assert issubclass(PipeClosedError, ConnectionClosedError)
        browser.start()  # a new browser, on a new pipe
        assert browser.version()["product"]


@needs_chromium
def test_stop_closes_the_pipe_browser_and_its_profile(tmp_path: Path) -> None:
    browser = Chrome(pipe=True).start()
    pid, profile = browser.process.pid, browser.process.user_data_dir
    browser.stop()
    assert_browser_gone(pid, profile, 10)


@needs_chromium
def test_killing_the_owner_of_a_pipe_browser_leaves_nothing(tmp_path: Path) -> None:
    owner = run_python(
        """
        import time
        from syncdp import Chrome
        browser = Chrome(pipe=True).start()
        browser.version()
        print(browser.process.pid, browser.process.user_data_dir, flush=True)
        time.sleep(120)
        """,
        tmp_path,
    )
    try:
        assert owner.stdout is not None
        line = owner.stdout.readline()
        if not line:
            pytest.fail("the owner printed nothing; stderr:\n" + owner.communicate(timeout=10)[1])
        pid_text, profile = line.split(None, 1)
        pid, profile = int(pid_text), profile.strip()
        assert alive(pid)
        os.kill(owner.pid, signal.SIGKILL)
        owner.wait(10)
        assert_browser_gone(pid, profile, 15)
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait()
        owner.communicate()


def test_pipe_with_tab_mode_sockets_is_refused() -> None:
    with pytest.raises(InvalidCommand, match="tab_mode='sockets' needs a DevTools port"):
        Chrome(pipe=True, tab_mode="sockets")
    with pytest.raises(InvalidCommand, match="pipe must be True or False"):
        Chrome(pipe="yes")  # type: ignore[arg-type]


def test_syncdp_pipe_environment_variable_sets_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SYNCDP_TAB_MODE", raising=False)
    monkeypatch.setenv("SYNCDP_PIPE", "1")
    assert Chrome().process.options.pipe is True
    assert Chrome(pipe=False).process.options.pipe is False  # the argument wins
    assert Chrome(tab_mode="sockets").process.options.pipe is False  # a pipe serves sessions only
    monkeypatch.setenv("SYNCDP_PIPE", "maybe")
    with pytest.raises(InvalidCommand, match="SYNCDP_PIPE environment variable must be 1 or 0"):
        Chrome()


@needs_chromium
def test_the_cli_evaluates_over_a_pipe(server: LocalServer, tmp_path: Path) -> None:
    # An invalid SYNCDP_PIPE fails any Chrome that reads it: only pipe=True from --pipe runs.
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]), SYNCDP_PIPE="x")

    def run(*flags: str) -> "subprocess.CompletedProcess[str]":
        return subprocess.run(
            [sys.executable, "-m", "syncdp", "eval", server.url("/second"), "document.title", *flags],
            cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=90, check=False,
        )

    result = run("--pipe")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == '"second"'
    assert "SYNCDP_PIPE environment variable must be 1 or 0" in run().stderr


def test_a_forked_child_cannot_open_its_parents_pipe() -> None:
    """A lazily connected pipe inherited across fork() is refused in the child, naming both
    processes: its commands would otherwise interleave with the parent's on the one pipe."""
    from syncdp.transports.pipe import PipeOpener

    to_browser_r, to_browser_w = os.pipe()
    from_browser_r, from_browser_w = os.pipe()
    opener = PipeOpener(from_browser_r, to_browser_w)
    try:
        pid = os.fork()
        if pid == 0:  # the child: report by exit code only
            code = 3
            try:
                opener()
            except PipeClosedError as exc:
                code = 0 if "forked process" in str(exc) and str(os.getppid()) in str(exc) else 4
            except BaseException:
                code = 5
            os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
        transport = opener()  # the parent still opens it
        transport.close()
    finally:
        for fd in (to_browser_r, from_browser_w):
            os.close(fd)


@pytest.mark.parametrize("interval", [5.0, 1])
def test_a_heartbeat_on_an_open_transport_is_refused(interval: float) -> None:
    with pytest.raises(InvalidCommand, match="ping_interval"):
        ConnectionHandler(None, open_transport=lambda: None, ping_interval=interval)  # type: ignore[arg-type, return-value]
    ConnectionHandler(None, open_transport=lambda: None, ping_interval=0).close()  # type: ignore[arg-type, return-value]
