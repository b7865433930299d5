"""syncdp.protocol and syncdp.devtools.stubgen against real headless Chromium (the session ``chromium``
fixture: one browser for the module), with the browser's own ``/json/protocol``."""

from __future__ import annotations

import contextlib
import os
import pydoc
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest

from syncdp import ConnectionHandler
from syncdp.exceptions import CommandError, InvalidCommand
from syncdp.protocol import (
    CDP,
    EventName,
    Protocol,
    UnknownEventWarning,
    check_event_name,
    load_protocol,
    pinned_protocol,
)
from syncdp.devtools.stubgen import generate_stubs

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def typed(conn: ConnectionHandler, protocol: Protocol) -> Tuple[CDP, List[str]]:
    """A CDP over ``conn`` and the list of methods it actually sent."""
    sent: List[str] = []

    def send(method: str, params: Optional[Dict[str, Any]],
             timeout: Optional[float]) -> Dict[str, Any]:
        sent.append(method)
        return conn.send(method, params, timeout=timeout)

    return CDP(send, protocol, default_timeout=10), sent


@pytest.fixture(scope="module")
def protocol(chromium: Any) -> Protocol:
    return load_protocol(chromium.port)


@pytest.fixture
def browser(chromium: Any) -> Iterator[ConnectionHandler]:
    with ConnectionHandler(chromium.port) as conn:
        yield conn


@pytest.fixture
def page(chromium: Any, browser: ConnectionHandler, protocol: Protocol) -> Iterator[CDP]:
    """A typed CDP on a fresh about:blank page target (closed after the test)."""
    cdp, _ = typed(browser, protocol)
    target_id = cdp.Target.createTarget(url="about:blank")["targetId"]
    try:
        with ConnectionHandler(chromium.port, page_id=target_id) as conn:
            page_cdp, _ = typed(conn, protocol)
            yield page_cdp
    finally:
        cdp.Target.closeTarget(targetId=target_id)


def test_the_browser_protocol_is_loaded_and_cached(chromium: Any, protocol: Protocol,
                                                    browser: ConnectionHandler) -> None:
    version = browser.send("Browser.getVersion")
    assert protocol.product == version["product"].replace("HeadlessChrome", "Chrome")
    assert protocol.version == version["protocolVersion"]
    assert load_protocol(chromium.ws_url) is protocol
    assert load_protocol(chromium.port, version=version) is protocol
    pinned = pinned_protocol()
    if pinned.product == protocol.product:
        assert pinned.descriptor["domains"] == protocol.descriptor["domains"]


def test_every_domain_command_and_event_is_reachable(protocol: Protocol) -> None:
    cdp = CDP(lambda *args: {}, protocol)
    assert dir(cdp) == sorted(protocol.domains)
    for name, domain in protocol.domains.items():
        obj = getattr(cdp, name)
        commands = [c["name"] for c in domain.get("commands") or ()]
        events = [e["name"] for e in domain.get("events") or ()]
        assert dir(obj) == sorted(set(commands) | set(events)), name
        for command in commands:
            assert callable(getattr(obj, command)), (name, command)
        for event in events:
            value = getattr(obj, event)
            assert isinstance(value, EventName) and value == "%s.%s" % (name, event)


def test_commands_round_trip_through_the_typed_objects(
    browser: ConnectionHandler, protocol: Protocol, page: CDP
) -> None:
    cdp, sent = typed(browser, protocol)
    version = cdp.Browser.getVersion()
    assert version["protocolVersion"] == protocol.version
    targets = cdp.Target.getTargets()["targetInfos"]
    assert any(t["type"] == "page" for t in targets)
    # Runtime.evaluate: "timeout" is the protocol's (milliseconds), "_timeout" syncdp's.
    result = page.Runtime.evaluate(expression="6 * 7", returnByValue=True, timeout=5000,
                                   _timeout=10)
    assert result["result"] == {"type": "number", "value": 42, "description": "42"}
    with pytest.raises(CommandError) as info:
        page.Runtime.evaluate(expression="1", contextId=987654)
    assert info.value.method == "Runtime.evaluate"
    assert sent == ["Browser.getVersion", "Target.getTargets"]


def test_event_names_work_where_strings_do(chromium: Any, browser: ConnectionHandler,
                                           protocol: Protocol) -> None:
    cdp, _ = typed(browser, protocol)
    target_id = cdp.Target.createTarget(url="about:blank")["targetId"]
    try:
        with ConnectionHandler(chromium.port, page_id=target_id) as conn:
            page, _ = typed(conn, protocol)
            page.Page.enable()
            with conn.expect_event(page.Page.loadEventFired, timeout=20) as loaded:
                page.Page.navigate(url="data:text/html,<title>hi</title>")
            assert "timestamp" in loaded.value["params"]
    finally:
        cdp.Target.closeTarget(targetId=target_id)


@pytest.mark.parametrize(
    "call, fragments",
    [
        (lambda c: c.Page.navigat, ["did you mean Page.navigate"]),
        (lambda c: c.Pgae, ["did you mean Page?"]),
        (lambda c: c.Page.navigate(ulr="about:blank"), ["did you mean 'url'?"]),
        (lambda c: c.Page.navigate(), ["missing required parameter 'url'"]),
        (lambda c: c.Page.navigate(url=1), ["'url' must be a string, got int"]),
        (lambda c: c.Page.navigate(url="a", transitionType="lnk"), ["did you mean 'link'?"]),
        (lambda c: c.Runtime.evaluate(expression="1", returnByValue="yes"),
         ["'returnByValue' must be a boolean"]),
        (lambda c: c.Runtime.evaluate(expression="1", contextId=1.5),
         ["'contextId' must be an integer"]),
        (lambda c: c.Emulation.setDeviceMetricsOverride(
            width=1, height=1, deviceScaleFactor=1, mobile=False, viewport=[0, 0]),
         ["'viewport' must be an object (dict) of type Page.Viewport"]),
        (lambda c: c.Network.setCookies(cookies=["a=b"]),
         ["item 0 should be an object (dict) of type Network.CookieParam"]),
    ],
)
def test_validation_errors_name_the_problem_and_send_nothing(
    browser: ConnectionHandler, protocol: Protocol, call: Any, fragments: List[str]
) -> None:
    cdp, sent = typed(browser, protocol)
    with pytest.raises(InvalidCommand) as info:
        call(cdp)
    for fragment in fragments:
        assert fragment in str(info.value)
    assert sent == []


def test_deprecated_commands_warn(protocol: Protocol) -> None:
    deprecated = sorted(m for m in protocol.command_names if protocol.is_deprecated(m))
    assert deprecated
    domain, _, name = deprecated[0].partition(".")
    command = protocol.get_command(deprecated[0]) or {}
    required = [p for p in command.get("parameters") or () if not p.get("optional")]
    cdp = CDP(lambda *args: {}, protocol)
    with pytest.warns(DeprecationWarning, match=re.escape(deprecated[0])):
        with pytest.raises(InvalidCommand) if required else contextlib.nullcontext():
            getattr(getattr(cdp, domain), name)()


def test_event_name_check_against_the_real_protocol(protocol: Protocol) -> None:
    with pytest.warns(UnknownEventWarning, match="did you mean Page.loadEventFired"):
        check_event_name(protocol, "Page.loadEventFire")
    check_event_name(protocol, "Page.loadEventFired")
    check_event_name(protocol, "Syncdp.disconnected")


def test_help_and_docstrings_carry_the_protocol_descriptions(protocol: Protocol) -> None:
    cdp = CDP(lambda *args: {}, protocol)
    navigate = protocol.get_command("Page.navigate") or {}
    assert navigate["description"] in (cdp.Page.navigate.__doc__ or "")
    assert "url (string, required)" in (cdp.Page.navigate.__doc__ or "")
    page_text = pydoc.plain(pydoc.render_doc(cdp.Page))
    assert protocol.domains["Page"]["description"].splitlines()[0] in page_text
    fired = protocol.get_event("Page.frameNavigated") or {}
    assert fired["description"] in (cdp.Page.frameNavigated.__doc__ or "")
    assert "frame (Page.Frame: object, required)" in (cdp.Page.frameNavigated.__doc__ or "")


SAMPLE = '''\
from typing import TYPE_CHECKING, cast
if TYPE_CHECKING:
    from browser_cdp import CDP


def check(obj: object) -> int:
    cdp = cast("CDP", obj)
    cdp.Page.navigate(url="about:blank", transitionType="typed")
    value = cdp.Runtime.evaluate(expression="1", returnByValue=True, timeout=5.0)
    cdp.Runtime.evaluate(expression=1)  # BAD
    return len(value["result"]["type"])
'''


def test_generated_stubs_type_check_a_script(protocol: Protocol, tmp_path: Path) -> None:
    out = tmp_path / "typings"
    generate_stubs(protocol, str(out), package="browser_cdp")
    script = tmp_path / "script.py"
    script.write_text(SAMPLE)
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(script)],
        capture_output=True, text=True, timeout=110, cwd=str(tmp_path),
        env=dict(os.environ, MYPYPATH=str(out)),
    )
    errors = re.findall(r"script\.py:(\d+): error: (.*)", proc.stdout)
    bad = [n for n, line in enumerate(SAMPLE.splitlines(), 1) if "# BAD" in line]
    assert [int(n) for n, _ in errors] == bad, proc.stdout + proc.stderr
    assert 'Argument "expression" to "evaluate" of "RuntimeDomain"' in errors[0][1]
