"""syncdp.protocol and syncdp.devtools.stubgen without a browser: the small hand-written descriptor in
``tests/data/protocol_small.json``, a recording stub ``send`` and a tiny local HTTP server
standing in for ``/json/version`` + ``/json/protocol``."""

from __future__ import annotations

import gzip
import http.server
import importlib
import inspect
import json
import logging
import os
import pydoc
import re
import subprocess
import sys
import threading
import timeit
import warnings
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import pytest

from syncdp.exceptions import CommandError, DiscoveryError, InvalidCommand
from syncdp.protocol import (
    CACHE_ENV,
    CDP,
    PINNED_PRODUCT,
    EventName,
    Protocol,
    ProtocolCacheWarning,
    ProtocolUnavailableError,
    UnknownEventWarning,
    UnknownMemberError,
    cache_key,
    check_event_name,
    clear_protocol_cache,
    load_browser_protocol,
    load_protocol,
    pinned_protocol,
    protocol_of,
)
from syncdp.devtools.stubgen import generate_stubs
from syncdp.devtools.stubgen import main as stubgen_main

pytestmark = pytest.mark.timeout(60)

ROOT = Path(__file__).resolve().parent.parent
SMALL = Path(__file__).resolve().parent / "data" / "protocol_small.json"
Call = Tuple[str, Optional[Dict[str, Any]], Optional[float]]


class Recorder:
    """A stub ``send(method, params, timeout)``: records calls, answers ``result``."""

    def __init__(self, result: Optional[Dict[str, Any]] = None) -> None:
        self.calls: List[Call] = []
        self.result = result if result is not None else {"ok": True}
        self.error: Optional[BaseException] = None

    def __call__(self, method: str, params: Optional[Dict[str, Any]],
                 timeout: Optional[float]) -> Dict[str, Any]:
        self.calls.append((method, params, timeout))
        if self.error is not None:
            raise self.error
        return self.result


@pytest.fixture(scope="module")
def small() -> Protocol:
    return Protocol.from_file(str(SMALL))


@pytest.fixture
def sent() -> Recorder:
    return Recorder()


@pytest.fixture
def cdp(small: Protocol, sent: Recorder) -> CDP:
    return CDP(sent, small, default_timeout=7.0)


# -- import cost -----------------------------------------------------------------------------


def test_importing_syncdp_does_not_load_the_protocol() -> None:
    code = (
        "import sys, syncdp; "
        "print(sorted(m for m in sys.modules if m.startswith(('syncdp.protocol', "
        "'syncdp.stubgen', 'syncdp.devtools', 'syncdp.cdp_types'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=str(ROOT), check=True, timeout=30)
    assert out.stdout.strip() == "[]"


# -- the descriptor --------------------------------------------------------------------------


def test_protocol_lookups(small: Protocol) -> None:
    assert small.version == "1.3"
    assert small.product is None
    assert list(small.domains) == ["Browser", "Page", "Network", "Runtime", "Sample", "Legacy"]
    assert "Page.navigate" in small.command_names
    assert "Page.loadEventFired" in small.event_names
    assert (small.get_command("Page.navigate") or {})["description"].startswith("Navigates")
    assert small.get_event("Page.frameNavigated") is not None
    assert small.get_type("FrameId", "Page") == small.get_type("Page.FrameId")
    assert small.get_command("Page.nope") is None
    assert small.members("Page")[:3] == ("addScriptToEvaluateOnLoad", "captureScreenshot",
                                         "enable")
    assert small.is_deprecated("Page.addScriptToEvaluateOnLoad")
    assert small.is_deprecated("Legacy.ping")  # the whole domain is
    assert not small.is_deprecated("Page.navigate")
    assert small.suggest("Page.navigat")[0] == "Page.navigate"
    assert small.suggest("Pgae", "domain") == ["Page"]
    assert small.suggest("Page.evaluate")[0] == "Runtime.evaluate"
    assert "6 domains" in repr(small)


def test_protocol_rejects_what_is_not_a_descriptor(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="domains"):
        Protocol({"version": {}})
    with pytest.raises(ValueError, match="malformed"):
        Protocol({"domains": [{"domain": "X", "commands": [{"no": "name"}]}]})
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    with pytest.raises(ValueError):
        Protocol.from_file(str(bad))


def test_cache_key_from_either_version_shape() -> None:
    assert cache_key({"Browser": "Chrome/1.2", "Protocol-Version": "1.3"}) == "Chrome/1.2|1.3"
    assert cache_key({"product": "HeadlessChrome/1.2", "protocolVersion": "1.3"}) == (
        "Chrome/1.2|1.3"
    )
    assert cache_key({}) is None


def test_pinned_protocol_is_the_shipped_chromium() -> None:
    pinned = pinned_protocol()
    assert pinned is pinned_protocol()
    assert pinned.product == PINNED_PRODUCT
    assert pinned.version == "1.3"
    assert "Runtime.evaluate" in pinned.command_names
    assert len(pinned.domains) > 40


# -- calls -----------------------------------------------------------------------------------


def test_call_sends_the_command_and_returns_the_result(cdp: CDP, sent: Recorder) -> None:
    sent.result = {"frameId": "F1"}
    assert cdp.Page.navigate(url="http://x/", transitionType="link") == {"frameId": "F1"}
    assert cdp.Page.enable() == {"frameId": "F1"}
    assert sent.calls == [
        ("Page.navigate", {"url": "http://x/", "transitionType": "link"}, 7.0),
        ("Page.enable", None, 7.0),
    ]


def test_command_error_is_raised_as_from_send(cdp: CDP, sent: Recorder) -> None:
    sent.error = CommandError("Page.navigate", -32000, "Cannot navigate")
    with pytest.raises(CommandError, match="Cannot navigate"):
        cdp.Page.navigate(url="about:blank")


def test_timeout_keywords(cdp: CDP, sent: Recorder) -> None:
    cdp.Page.navigate(url="a", timeout=3)
    cdp.Page.navigate(url="a", _timeout=None)
    # Runtime.evaluate has a real "timeout" parameter: it is sent, syncdp's is _timeout.
    cdp.Runtime.evaluate(expression="1", timeout=250, _timeout=4)
    cdp.Runtime.evaluate(expression="1", timeout=250)
    assert sent.calls == [
        ("Page.navigate", {"url": "a"}, 3),
        ("Page.navigate", {"url": "a"}, None),
        ("Runtime.evaluate", {"expression": "1", "timeout": 250}, 4),
        ("Runtime.evaluate", {"expression": "1", "timeout": 250}, 7.0),
    ]
    with pytest.raises(InvalidCommand, match="not both"):
        cdp.Page.navigate(url="a", timeout=1, _timeout=2)


def test_none_leaves_an_optional_parameter_out(cdp: CDP, sent: Recorder) -> None:
    cdp.Page.navigate(url="a", referrer=None, frameId=None)
    assert sent.calls[-1][1] == {"url": "a"}
    with pytest.raises(InvalidCommand, match="'url' must not be None"):
        cdp.Page.navigate(url=None)


def test_python_keyword_parameter_takes_a_trailing_underscore(cdp: CDP, sent: Recorder) -> None:
    cdp.Sample.range(from_=1, to=3, extra=[{"any": "thing"}], options={"a": 1})
    assert sent.calls[-1][1] == {"from": 1, "to": 3, "extra": [{"any": "thing"}],
                                 "options": {"a": 1}}


def test_caller_kwargs_dict_is_not_modified(cdp: CDP) -> None:
    params = {"url": "a", "referrer": None, "_timeout": 2}
    cdp.Page.navigate(**params)
    assert params == {"url": "a", "referrer": None, "_timeout": 2}


INVALID: List[Tuple[str, Callable[[Any], Any], List[str]]] = [
    ("unknown domain", lambda c: c.Pgae, ["no domain 'Pgae'", "did you mean Page?"]),
    ("unknown command", lambda c: c.Page.navigat, ["'navigat'", "did you mean Page.navigate"]),
    ("command in another domain", lambda c: c.Page.evaluate, ["did you mean Runtime.evaluate"]),
    ("unknown parameter", lambda c: c.Page.navigate(ulr="a"),
     ["unknown parameter 'ulr'", "did you mean 'url'?", "takes url, referrer"]),
    ("snake_case parameter", lambda c: c.Runtime.evaluate(expression="1", return_by_value=True),
     ["'return_by_value'", "did you mean 'returnByValue'"]),
    ("no parameters", lambda c: c.Page.enable(foo=1), ["Page.enable takes no parameters"]),
    ("missing required", lambda c: c.Page.navigate(referrer="r"),
     ["missing required parameter 'url' (string)"]),
    ("missing required, no args", lambda c: c.Network.setBlockedURLs(),
     ["missing required parameter 'urls'"]),
    ("int for string", lambda c: c.Page.navigate(url=1), ["'url' must be a string, got int 1"]),
    ("string for integer", lambda c: c.Page.captureScreenshot(quality="80"),
     ["'quality' must be an integer, got str"]),
    ("bool for integer", lambda c: c.Runtime.evaluate(expression="1", contextId=True),
     ["'contextId' must be an integer of type Runtime.ExecutionContextId, got bool"]),
    ("fraction for integer", lambda c: c.Page.captureScreenshot(quality=1.5),
     ["'quality' must be an integer"]),
    ("int for boolean", lambda c: c.Runtime.evaluate(expression="1", returnByValue=1),
     ["'returnByValue' must be a boolean, got int"]),
    ("list for object $ref", lambda c: c.Page.captureScreenshot(clip=[0, 0, 1]),
     ["'clip' must be an object (dict) of type Page.Viewport, got list"]),
    ("string for object", lambda c: c.Network.setExtraHTTPHeaders(headers="a: b"),
     ["'headers' must be an object (dict) of type Network.Headers"]),
    ("string for array", lambda c: c.Network.setBlockedURLs(urls="*.png"),
     ["'urls' must be an array (list) of string"]),
    ("bad array item", lambda c: c.Runtime.callFunctionOn(functionDeclaration="f",
                                                          arguments=[{"value": 1}, 2]),
     ["'arguments'", "item 1 should be an object (dict) of type Runtime.CallArgument"]),
    ("enum $ref", lambda c: c.Page.navigate(url="a", transitionType="lnk"),
     ["'transitionType' must be one of 'link', 'typed', 'reload'", "did you mean 'link'?"]),
    ("inline enum", lambda c: c.Page.captureScreenshot(format="jpg"),
     ["one of 'jpeg', 'png', 'webp'", "did you mean 'jpeg'?"]),
    ("bytes for string", lambda c: c.Page.navigate(url=b"a"), ["base64"]),
]


@pytest.mark.parametrize("case", INVALID, ids=[c[0] for c in INVALID])
def test_invalid_calls_raise_before_sending(
    cdp: CDP, sent: Recorder, case: Tuple[str, Callable[[Any], Any], List[str]]
) -> None:
    _, call, fragments = case
    with pytest.raises(InvalidCommand) as info:
        call(cdp)
    for fragment in fragments:
        assert fragment in str(info.value)
    assert sent.calls == []


def test_unknown_attributes_are_attribute_errors_too(cdp: CDP) -> None:
    assert not hasattr(cdp, "Pgae")
    assert getattr(cdp.Page, "navigat", None) is None
    with pytest.raises(UnknownMemberError) as info:
        cdp.Page.navigat  # noqa: B018
    assert info.value.suggestions[0] == "Page.navigate"
    with pytest.raises(AttributeError):
        cdp._private  # noqa: B018


def test_accepted_values(cdp: CDP, sent: Recorder) -> None:
    cdp.Page.captureScreenshot(quality=80.0, clip={"x": 0, "y": 0, "scale": 1}, format="png")
    cdp.Runtime.evaluate(expression=EventName("1"), contextId=3, timeout=1.5)
    cdp.Network.setBlockedURLs(urls=("a", "b"))
    cdp.Runtime.callFunctionOn(functionDeclaration="f", arguments=[{"value": None}])
    assert len(sent.calls) == 4


def test_validate_without_sending(small: Protocol) -> None:
    assert small.validate("Page.navigate", {"url": "a", "referrer": None}) == {"url": "a"}
    assert small.validate("Page.enable") is None
    with pytest.raises(InvalidCommand, match="did you mean Page.navigate"):
        small.validate("Page.navigat", {})
    with pytest.raises(InvalidCommand, match="missing required"):
        small.validate("Page.navigate")


def test_deprecated_command_domain_and_parameter_warn(cdp: CDP, sent: Recorder) -> None:
    with pytest.warns(DeprecationWarning, match="Page.addScriptToEvaluateOnLoad is deprecated"):
        cdp.Page.addScriptToEvaluateOnLoad(scriptSource="1")
    with pytest.warns(DeprecationWarning, match="Legacy.ping is deprecated"):
        cdp.Legacy.ping()
    with pytest.warns(DeprecationWarning, match="'oldFlag' is deprecated") as record:
        cdp.Page.setDeviceMetricsOverride(width=1, height=2, oldFlag=True)
    assert record[0].filename == __file__  # points at the caller
    assert len(sent.calls) == 3


# -- discovery: dir, help, docs --------------------------------------------------------------


def test_dir_lists_domains_commands_and_events(cdp: CDP, small: Protocol) -> None:
    assert dir(cdp) == sorted(small.domains)
    assert dir(cdp.Page) == [
        "addScriptToEvaluateOnLoad", "captureScreenshot", "enable", "frameNavigated",
        "loadEventFired", "navigate", "setDeviceMetricsOverride",
    ]
    assert all(hasattr(cdp.Page, name) for name in dir(cdp.Page))


def test_command_docstring_and_signature(cdp: CDP) -> None:
    doc = cdp.Page.navigate.__doc__
    for fragment in [
        "Navigates current page to the given URL.",
        "url (string, required): URL to navigate the page to.",
        "transitionType (Page.TransitionType: string enum, optional)",
        "One of: 'link', 'typed', 'reload'.",
        "timeout / _timeout",
        "Returns:",
        "loaderId (Network.LoaderId: string, optional): Loader identifier.",
        "InvalidCommand",
    ]:
        assert fragment in doc
    assert "Experimental. Deprecated." in cdp.Page.addScriptToEvaluateOnLoad.__doc__
    assert "Implemented by the Emulation domain." in cdp.Page.setDeviceMetricsOverride.__doc__
    assert "fromSurface (boolean, optional, experimental)" in cdp.Page.captureScreenshot.__doc__
    evaluate = str(inspect.signature(cdp.Runtime.evaluate))
    assert evaluate.startswith("(*, expression: 'str', contextId:")
    assert "timeout: 'Runtime.TimeDelta | None' = None" in evaluate
    assert "_timeout: 'float | None' = <default>" in evaluate


def test_help_shows_the_protocol(cdp: CDP) -> None:
    text = pydoc.plain(pydoc.render_doc(cdp.Page))
    assert "Actions and events related to the inspected page" in text
    assert "Depends on: Runtime, Network." in text
    # Python 3.13's pydoc wraps long signatures over several lines: compare without layout.
    flat = " ".join(text.replace("|", " ").split())
    assert "navigate(self, *, url: 'str'" in flat.replace("( ", "(").replace(", )", ")")
    assert "Navigates current page to the given URL." in text
    method = pydoc.plain(pydoc.render_doc(cdp.Page.navigate))
    assert "URL to navigate the page to." in method
    assert repr(cdp.Page) == "<CDP domain Page: 5 commands, 2 events>"


def test_event_names_are_documented_strings(cdp: CDP) -> None:
    event = cdp.Page.frameNavigated
    assert isinstance(event, str) and isinstance(event, EventName)
    assert event == "Page.frameNavigated" and hash(event) == hash("Page.frameNavigated")
    keyed: Dict[str, int] = {event: 1}
    assert keyed["Page.frameNavigated"] == 1
    assert (event.domain, event.event) == ("Page", "frameNavigated")
    assert "Fired once navigation of the frame has completed." in (event.__doc__ or "")
    assert "frame (Page.Frame: object, required): Frame object." in (event.__doc__ or "")
    assert "timestamp (Network.MonotonicTime: number, required)" in (
        cdp.Page.loadEventFired.__doc__
    )


# -- events ----------------------------------------------------------------------------------


def test_check_event_name_known_and_foreign_names_pass(small: Protocol) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for name in ["Page.loadEventFired", EventName("Runtime.consoleAPICalled"),
                     "Syncdp.disconnected", "X.y", "nodot", "Pageant.loadEventFired"]:
            check_event_name(small, name)


@pytest.mark.parametrize(
    "name, fragments",
    [
        ("Page.loadEventFire", ["'Page.loadEventFire' is not an event",
                                "did you mean Page.loadEventFired?"]),
        ("Page.navigate", ["a command, not an event"]),
        ("Pgae.loadEventFired", ["did you mean Page.loadEventFired?"]),
        ("page.loadEventFired", ["did you mean Page.loadEventFired?"]),
    ],
)
def test_check_event_name_warns_with_suggestions(
    small: Protocol, name: str, fragments: List[str]
) -> None:
    with pytest.warns(UnknownEventWarning) as record:
        check_event_name(small, name)
    for fragment in fragments:
        assert fragment in str(record[0].message)
    assert record[0].filename == __file__


# -- lazy and degraded -----------------------------------------------------------------------


def test_protocol_provider_is_called_once_on_first_use(small: Protocol, sent: Recorder) -> None:
    calls: List[int] = []
    gate = threading.Barrier(4)

    def provider() -> Protocol:
        calls.append(1)
        return small

    cdp = CDP(sent, provider)
    assert repr(cdp) == "<CDP (protocol not loaded yet)>" and calls == []
    assert protocol_of(cdp) is None and calls == []  # never loads by itself

    def use() -> None:
        gate.wait(5)
        cdp.Runtime.enable()

    threads = [threading.Thread(target=use) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    cdp.Page.enable()
    assert calls == [1]
    assert protocol_of(cdp) is small
    assert protocol_of(CDP(sent, provider), load=True) is small and calls == [1, 1]
    assert "6 domains" in repr(cdp)
    assert [c[0] for c in sent.calls].count("Runtime.enable") == 4


def test_failing_provider_degrades_to_plain_sending(
    sent: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    def provider() -> Protocol:
        raise ProtocolUnavailableError("no /json/protocol here")

    cdp = CDP(sent, provider, default_timeout=5)
    with caplog.at_level(logging.WARNING, logger="syncdp.protocol"):
        cdp.Page.navigat(url="a", referrer=None, _timeout=2)
    assert "no /json/protocol here" in caplog.text and "without validation" in caplog.text
    cdp.Runtime.evaluate(expression="1", timeout=100)  # the protocol's, as pinned says
    cdp.Page.enable(timeout=3)
    assert sent.calls == [
        ("Page.navigat", {"url": "a"}, 2),
        ("Runtime.evaluate", {"expression": "1", "timeout": 100}, 5),
        ("Page.enable", None, 3),
    ]
    assert cdp.Page.loadEventFired == "Page.loadEventFired"
    assert "unvalidated" in repr(cdp)


# -- loading and caching ---------------------------------------------------------------------


class FakeDiscovery:
    """``/json/version`` + ``/json/protocol`` on 127.0.0.1:<ephemeral>, counting requests."""

    def __init__(self, descriptor: Dict[str, Any]) -> None:
        self.descriptor = descriptor
        self.browser = "FakeChrome/1.0"
        self.protocol_status = 200
        self.requests: List[str] = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                owner.requests.append(self.path)
                if self.path == "/json/version":
                    status, body = 200, {"Browser": owner.browser, "Protocol-Version": "1.3"}
                elif self.path == "/json/protocol" and owner.protocol_status == 200:
                    status, body = 200, owner.descriptor
                else:
                    status, body = 404, {"error": "not found"}
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, name="fake-discovery")
        self.thread.start()

    def count(self, path: str) -> int:
        return self.requests.count(path)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def discovery_server() -> Iterator[FakeDiscovery]:
    server = FakeDiscovery(json.loads(SMALL.read_text()))
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(autouse=True)
def _fresh_memory_cache(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv(CACHE_ENV, raising=False)
    clear_protocol_cache()
    yield
    clear_protocol_cache()


def test_memory_cache_loads_once_per_browser_version(discovery_server: FakeDiscovery) -> None:
    first = load_protocol(discovery_server.port)
    assert load_protocol("http://127.0.0.1:%d" % discovery_server.port) is first
    assert load_protocol("ws://127.0.0.1:%d/devtools/browser/x" % discovery_server.port) is first
    assert discovery_server.count("/json/protocol") == 1
    assert first.product == "FakeChrome/1.0" and first.key == "FakeChrome/1.0|1.3"
    assert load_protocol(9, version={"product": "FakeChrome/1.0", "protocolVersion": "1.3"}) is (
        first
    )  # no request at all: port 9 is never asked
    discovery_server.browser = "FakeChrome/2.0"
    second = load_protocol(discovery_server.port)
    assert second is not first and second.product == "FakeChrome/2.0"
    assert discovery_server.count("/json/protocol") == 2


def test_disk_cache_is_read_by_a_later_load(
    discovery_server: FakeDiscovery, tmp_path: Path
) -> None:
    first = load_protocol(discovery_server.port, cache_dir=str(tmp_path))
    files = list(tmp_path.iterdir())
    assert [f.name for f in files] == ["protocol-FakeChrome_1.0_1.3.json.gz"]
    clear_protocol_cache()  # as if in a new process
    again = load_protocol(discovery_server.port, cache_dir=str(tmp_path))
    assert again is not first and again.source == str(files[0])
    assert again.command_names == first.command_names and again.product == "FakeChrome/1.0"
    assert discovery_server.count("/json/protocol") == 1


def test_cache_dir_from_the_environment(
    discovery_server: FakeDiscovery, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    load_protocol(discovery_server.port)
    assert len(list((tmp_path / "cache").glob("protocol-*.json.gz"))) == 1


@pytest.mark.parametrize("content", [b"not gzip at all", gzip.compress(b"{\"no\": 1}")],
                         ids=["not gzip", "gzip of another JSON"])  # stable ids: xdist workers compare them
def test_corrupt_cache_file_is_ignored_with_a_warning(
    discovery_server: FakeDiscovery, tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / "protocol-FakeChrome_1.0_1.3.json.gz"
    path.write_bytes(content)
    with pytest.warns(ProtocolCacheWarning, match="corrupt protocol cache file"):
        protocol = load_protocol(discovery_server.port, cache_dir=str(tmp_path))
    assert "Page.navigate" in protocol.command_names
    assert discovery_server.count("/json/protocol") == 1
    assert "domains" in json.loads(gzip.decompress(path.read_bytes()))  # rewritten


def test_unavailable_protocol_is_a_discovery_error(
    discovery_server: FakeDiscovery, dead_port: int
) -> None:
    with pytest.raises(ProtocolUnavailableError, match="cannot load the CDP protocol") as info:
        load_protocol(dead_port, timeout=2)
    assert isinstance(info.value, DiscoveryError)
    discovery_server.protocol_status = 404
    with pytest.raises(ProtocolUnavailableError, match="HTTP 404"):
        load_protocol(discovery_server.port)
    with pytest.raises(InvalidCommand):
        load_protocol("ftp://127.0.0.1:1")


def test_ws_only_endpoint_falls_back_to_the_pinned_protocol(
    dead_port: int, discovery_server: FakeDiscovery, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="syncdp.protocol"):
        protocol = load_protocol("ws://127.0.0.1:%d/devtools/browser/abc" % dead_port, timeout=2)
    assert protocol is pinned_protocol()
    assert "using the pinned protocol of %s" % PINNED_PRODUCT in caplog.text
    # An HTTP endpoint without /json/protocol, reached through its ws:// URL: pinned as well.
    discovery_server.protocol_status = 404
    url = "ws://127.0.0.1:%d/devtools/browser/abc" % discovery_server.port
    assert load_protocol(url) is pinned_protocol()


# -- one loader for connections and browsers ------------------------------------------------


def test_browser_protocol_over_http_asks_nothing_on_the_connection(
    discovery_server: FakeDiscovery,
) -> None:
    asked = Recorder({"product": "FakeChrome/1.0", "protocolVersion": "1.3"})
    first = load_browser_protocol(discovery_server.port, asked, timeout=5)
    assert first.product == "FakeChrome/1.0" and "Page.navigate" in first.command_names
    assert load_browser_protocol("http://127.0.0.1:%d" % discovery_server.port, asked) is first
    assert asked.calls == []
    assert discovery_server.count("/json/protocol") == 1


def test_browser_protocol_over_a_websocket_is_keyed_by_browser_get_version(
    discovery_server: FakeDiscovery, dead_port: int
) -> None:
    loaded = load_protocol(discovery_server.port)
    asked = Recorder({"product": "HeadlessFakeChrome/1.0", "protocolVersion": "1.3"})
    url = "ws://127.0.0.1:%d/devtools/browser/abc" % dead_port  # no HTTP discovery there
    assert load_browser_protocol(url, asked, timeout=4) is loaded  # from the memory cache
    assert asked.calls == [("Browser.getVersion", None, 4)]


def test_browser_protocol_over_a_websocket_reads_the_disk_cache(
    discovery_server: FakeDiscovery, dead_port: int, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    load_protocol(discovery_server.port)
    clear_protocol_cache()  # as if in a new process
    asked = Recorder({"product": "FakeChrome/1.0", "protocolVersion": "1.3"})
    url = "ws://127.0.0.1:%d/devtools/browser/abc" % dead_port
    protocol = load_browser_protocol(url, asked, timeout=4)
    assert protocol.source == str(tmp_path / "protocol-FakeChrome_1.0_1.3.json.gz")
    assert discovery_server.count("/json/protocol") == 1


def test_browser_protocol_of_an_unknown_remote_is_the_pinned_one(
    dead_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    asked = Recorder({"product": "OtherBrowser/9.0", "protocolVersion": "1.3"})
    url = "wss://127.0.0.1:%d/devtools/browser/abc" % dead_port
    with caplog.at_level(logging.WARNING, logger="syncdp.protocol"):
        assert load_browser_protocol(url, asked, timeout=2) is pinned_protocol()
    assert "the browser is OtherBrowser/9.0" in caplog.text
    assert len(asked.calls) == 1


def test_browser_protocol_failures_are_errors_of_their_own(
    dead_port: int,
) -> None:
    with pytest.raises(ProtocolUnavailableError, match="cannot load the CDP protocol"):
        load_browser_protocol(dead_port, Recorder(), timeout=2)
    failing = Recorder()
    failing.error = CommandError("Browser.getVersion", -32000, "no such method")
    with pytest.raises(CommandError, match="Browser.getVersion"):
        load_browser_protocol("ws://127.0.0.1:%d/devtools/browser/abc" % dead_port, failing)
    with pytest.raises(InvalidCommand, match="endpoint must be a port or a URL"):
        load_browser_protocol(None, Recorder())  # type: ignore[arg-type]


# -- cost ------------------------------------------------------------------------------------


def test_per_call_overhead_is_a_few_microseconds() -> None:
    result: Dict[str, Any] = {}

    def send(method: str, params: Optional[Dict[str, Any]], timeout: Optional[float]) -> Any:
        return result

    cdp = CDP(send, pinned_protocol())
    cdp.Runtime.evaluate(expression="1")
    env = {"cdp": cdp, "send": send}
    n = 5000
    typed = min(timeit.repeat('cdp.Runtime.evaluate(expression="1")', number=n, repeat=5,
                              globals=env)) / n
    plain = min(timeit.repeat('send("Runtime.evaluate", {"expression": "1"}, None)', number=n,
                              repeat=5, globals=env)) / n
    assert typed - plain < 10e-6, "%.2f us per call" % ((typed - plain) * 1e6)


# -- stubs -----------------------------------------------------------------------------------

SAMPLE = '''\
from typing import TYPE_CHECKING, cast
if TYPE_CHECKING:
    from mycdp import CDP
    from mycdp.page import NavigateReturns


def good(obj: object) -> str:
    cdp = cast("CDP", obj)
    result: NavigateReturns = cdp.Page.navigate(url="a", transitionType="link", _timeout=3)
    cdp.Runtime.evaluate(expression="1", timeout=5.0, returnByValue=True)
    cdp.Sample.range(from_=1)
    event: str = cdp.Page.loadEventFired
    return result["frameId"] + event


def bad(obj: object) -> None:
    cdp = cast("CDP", obj)
    cdp.Page.navigate(url=1)  # BAD-TYPE
    cdp.Page.navigate(url="a", transitionType="lnk")  # BAD-ENUM
    cdp.Page.navigat(url="a")  # BAD-NAME
    cdp.Page.addScriptToEvaluateOnLoad(scriptSource="1")  # BAD-DEPRECATED
'''


def test_generated_stubs_import_and_type_check(small: Protocol, tmp_path: Path) -> None:
    out = tmp_path / "typings"
    files = generate_stubs(small, str(out), package="mycdp")
    names = sorted(os.path.basename(f) for f in files)
    assert names == ["__init__.py", "browser.py", "legacy.py", "network.py", "page.py",
                     "py.typed", "runtime.py", "sample.py"]
    sys.path.insert(0, str(out))
    try:
        page = importlib.import_module("mycdp.page")
        assert page.NavigateReturns.__required_keys__ == frozenset({"frameId"})
        assert "Navigates current page" in (page.PageDomain.navigate.__doc__ or "")
        importlib.import_module("mycdp").CDP  # noqa: B018
    finally:
        sys.path.remove(str(out))
        for name in [m for m in sys.modules if m == "mycdp" or m.startswith("mycdp.")]:
            del sys.modules[name]
    script = tmp_path / "sample.py"
    script.write_text(SAMPLE)
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--enable-error-code", "deprecated",
         "--no-incremental", str(script)],
        capture_output=True, text=True, timeout=120, cwd=str(tmp_path),
        env=dict(os.environ, MYPYPATH=str(out)),
    )
    lines = SAMPLE.splitlines()
    flagged = {int(m.group(1)) for m in re.finditer(r"sample\.py:(\d+): error", proc.stdout)}
    expected = {n for n, text in enumerate(lines, 1) if "# BAD-" in text}
    assert flagged == expected, proc.stdout + proc.stderr
    assert "has no attribute \"navigat\"; maybe \"navigate\"?" in proc.stdout


def test_regenerating_removes_stale_modules(small: Protocol, tmp_path: Path) -> None:
    generate_stubs(small, str(tmp_path))
    fewer = dict(small.descriptor)
    fewer["domains"] = [d for d in small.descriptor["domains"] if d["domain"] != "Legacy"]
    (tmp_path / "cdp_types" / "mine.py").write_text("# not generated\n")
    generate_stubs(fewer, str(tmp_path))
    assert not (tmp_path / "cdp_types" / "legacy.py").exists()
    assert (tmp_path / "cdp_types" / "mine.py").exists()
    with pytest.raises(ValueError, match="dotted Python name"):
        generate_stubs(small, str(tmp_path), package="not-a-name")


def test_shipped_cdp_types_match_the_pinned_protocol(tmp_path: Path) -> None:
    files = generate_stubs(pinned_protocol(), str(tmp_path), package="syncdp.cdp_types")
    shipped = ROOT / "syncdp" / "cdp_types"
    assert sorted(p.name for p in shipped.glob("*.py")) == sorted(
        os.path.basename(f) for f in files
    )
    for path in files:
        assert Path(path).read_text() == (shipped / os.path.basename(path)).read_text(), path
    assert PINNED_PRODUCT in (shipped / "__init__.py").read_text()


def test_stubgen_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    saved = tmp_path / "saved.json.gz"
    status = stubgen_main(["--protocol-file", str(SMALL), "-o", str(tmp_path / "out"),
                           "--package", "mycdp", "--save-protocol", str(saved)])
    assert status == 0
    assert "wrote 9 files: package mycdp" in capsys.readouterr().out
    assert (tmp_path / "out" / "mycdp" / "page.py").exists()
    assert Protocol.from_file(str(saved)).command_names == Protocol.from_file(
        str(SMALL)).command_names
    assert stubgen_main(["--protocol-file", str(tmp_path / "missing.json")]) == 1
    assert "syncdp stubs: error:" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        stubgen_main(["--port", "1", "--pinned"])  # one source only


@pytest.mark.parametrize("command", [["syncdp", "stubs"], ["syncdp.devtools.stubgen"],
                                     ["syncdp.stubgen"]], ids=["cli", "devtools", "old-path"])
def test_stubs_command_runs_from_every_entry_point(tmp_path: Path, command: List[str]) -> None:
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", *command, "--protocol-file", str(SMALL), "-o", str(out)],
        capture_output=True, text=True, timeout=60, cwd=str(ROOT),
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    assert proc.returncode == 0, proc.stderr
    assert "wrote 8 files: package cdp_types" in proc.stdout
    assert (out / "cdp_types" / "page.py").read_text().startswith("# Generated by syncdp.stubgen")
