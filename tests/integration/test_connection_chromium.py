"""ConnectionHandler against real headless Chromium (the session ``chromium`` fixture)."""

from __future__ import annotations

from typing import Any, Dict, Iterator, List

import pytest
from fake_cdp import wait_until

from syncdp import ConnectionHandler, exceptions

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

Message = Dict[str, Any]


@pytest.fixture
def page_target(chromium: Any) -> Iterator[str]:
    """A fresh about:blank page target; closed after the test."""
    with ConnectionHandler(chromium.port) as browser:
        target_id = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        try:
            yield target_id
        finally:
            browser.send("Target.closeTarget", {"targetId": target_id})


def test_browser_get_version_via_port(chromium: Any) -> None:
    with ConnectionHandler(chromium.port) as conn:
        version = conn.send("Browser.getVersion")
    assert version["protocolVersion"] == "1.3"
    assert "Chrome" in version["product"]


def test_browser_endpoint_via_ws_url(chromium: Any) -> None:
    with ConnectionHandler(chromium.ws_url) as conn:
        response = conn.execute_command({"method": "Browser.getVersion"})
    assert "Chrome" in response["result"]["product"]


def test_target_get_targets(chromium: Any) -> None:
    with ConnectionHandler(chromium.port) as conn:
        infos = conn.send("Target.getTargets")["targetInfos"]
    assert isinstance(infos, list)
    assert any(info["type"] == "page" for info in infos)


def test_unknown_method_is_a_command_error(chromium: Any) -> None:
    with ConnectionHandler(chromium.port) as conn:
        response = conn.execute_command({"method": "Nope.nothing"})
        assert response["error"]["code"] == -32601
        with pytest.raises(exceptions.CommandError) as info:
            conn.send("Nope.nothing")
        assert info.value.code == -32601
        assert info.value.method == "Nope.nothing"
        # the connection survives
        assert "product" in conn.send("Browser.getVersion")


def test_page_endpoint_via_page_id(chromium: Any, page_target: str) -> None:
    with ConnectionHandler(chromium.port, page_id=page_target) as page:
        result = page.send("Runtime.evaluate", {"expression": "1+1", "returnByValue": True})
    assert result["result"]["value"] == 2


def test_page_console_event_reaches_callback(chromium: Any, page_target: str) -> None:
    got: List[Message] = []
    with ConnectionHandler(chromium.port, page_id=page_target) as page:
        page.register_callback("Runtime.consoleAPICalled", got.append)
        page.send("Runtime.enable")
        page.send("Runtime.evaluate", {"expression": "console.log('x')"})
        wait_until(lambda: got, 10, message="Runtime.consoleAPICalled never reached the callback")
    event = got[0]
    assert event["method"] == "Runtime.consoleAPICalled"
    assert event["params"]["type"] == "log"
    assert event["params"]["args"][0]["value"] == "x"


def test_page_expect_event(chromium: Any, page_target: str) -> None:
    with ConnectionHandler(chromium.port, page_id=page_target) as page:
        page.send("Runtime.enable")
        with page.expect_event("Runtime.consoleAPICalled", timeout=10) as ev:
            page.send("Runtime.evaluate", {"expression": "console.info('hello', 42)"})
    assert ev.value["params"]["type"] == "info"
    assert [arg.get("value") for arg in ev.value["params"]["args"]] == ["hello", 42]
