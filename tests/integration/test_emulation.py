"""``tab.emulate`` (devices, viewport, user agent, locale, time zone, geolocation, color scheme,
offline) and ``browser.grant_permissions`` on real Chromium, in both tab modes."""

from __future__ import annotations

import time
from typing import Any, Callable, Iterator

import pytest
from tabkit import browser, tab

from syncdp import Chrome, InvalidCommand, Tab
from syncdp.localserver import LocalServer
from syncdp.page.devices import DEVICES

__all__ = ["browser", "tab"]

pytestmark = pytest.mark.timeout(120)

PAGES = {
    "/": "<!doctype html><title>plain</title>",
    "/mobile": '<!doctype html><meta name="viewport" content="width=device-width, initial-scale=1">'
    "<title>mobile</title><p>mobile</p>",
    "/data.json": ("application/json", '{"ok": true}'),
}

FETCH = "fetch('/data.json').then(r => r.json()).then(d => d.ok).catch(e => 'failed')"


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    with LocalServer(PAGES) as srv:
        yield srv


def test_a_device_sets_viewport_scale_touch_and_user_agent(tab: Tab, server: LocalServer) -> None:
    tab.emulate(device="iPhone 13")
    tab.go_to(server.url("/mobile"))
    width, height, ratio, touch, agent = tab.execute_script(
        "[innerWidth, innerHeight, devicePixelRatio, navigator.maxTouchPoints, navigator.userAgent]"
    )
    assert (width, height) == DEVICES["iPhone 13"]["viewport"]
    assert ratio == 3 and touch > 0
    assert agent == DEVICES["iPhone 13"]["user_agent"]


def test_explicit_options_override_the_device(tab: Tab, server: LocalServer) -> None:
    tab.emulate(device="Pixel 5", viewport=(500, 400), user_agent="syncdp-test-agent")
    tab.go_to(server.url("/mobile"))
    assert tab.execute_script("[innerWidth, innerHeight, navigator.userAgent]") == [
        500, 400, "syncdp-test-agent"]
    assert tab.execute_script("devicePixelRatio") == DEVICES["Pixel 5"]["device_scale_factor"]


def test_viewport_alone_keeps_a_desktop_page(tab: Tab, server: LocalServer) -> None:
    tab.go_to(server.url("/"))
    tab.emulate(viewport=(640, 480))
    assert tab.execute_script("[innerWidth, innerHeight, devicePixelRatio]") == [640, 480, 1]
    tab.emulate(device_scale_factor=2)  # the viewport stays
    assert tab.execute_script("[innerWidth, devicePixelRatio]") == [640, 2]


def test_locale_and_time_zone(tab: Tab, server: LocalServer) -> None:
    tab.emulate(locale="de-DE", timezone_id="Asia/Tokyo")
    tab.go_to(server.url("/"))
    assert tab.execute_script(
        "[navigator.language, Intl.DateTimeFormat().resolvedOptions().timeZone,"
        " (1234.5).toLocaleString()]"
    ) == ["de-DE", "Asia/Tokyo", "1.234,5"]


def test_color_scheme(tab: Tab, server: LocalServer) -> None:
    tab.go_to(server.url("/"))
    query = "matchMedia('(prefers-color-scheme: dark)').matches"
    tab.emulate(color_scheme="dark")
    assert tab.execute_script(query) is True
    tab.emulate(color_scheme="light")
    assert tab.execute_script(query) is False


def test_geolocation_with_the_permission_granted(
    browser: Chrome, tab: Tab, server: LocalServer
) -> None:
    origin = server.url("/").rstrip("/")
    browser.grant_permissions(["geolocation"], origin=origin)
    tab.emulate(geolocation=(48.8584, 2.2945))
    tab.go_to(server.url("/"))
    state = tab.execute_script("navigator.permissions.query({name: 'geolocation'}).then(s => s.state)")
    assert state == "granted"
    position = tab.execute_script(
        "new Promise((ok) => navigator.geolocation.getCurrentPosition("
        " p => ok([p.coords.latitude, p.coords.longitude]), e => ok('error ' + e.message)))"
    )
    assert position == [48.8584, 2.2945]


def test_offline_fails_requests_until_back_online(tab: Tab, server: LocalServer) -> None:
    tab.go_to(server.url("/"))
    tab.emulate(offline=True)
    assert [tab.execute_script("navigator.onLine"), tab.execute_script(FETCH)] == [False, "failed"]
    tab.emulate(offline=False)
    assert [tab.execute_script("navigator.onLine"), tab.execute_script(FETCH)] == [True, True]


def test_going_online_leaves_the_network_log_on(tab: Tab, server: LocalServer) -> None:
    tab.go_to(server.url("/"))
    tab.enable_network_events()
    tab.emulate(offline=True)
    tab.emulate(offline=False)  # the offline helper lets go of Network; the log keeps it
    with tab.expect_event("Network.responseReceived", timeout=20):
        assert tab.execute_script(FETCH) is True
    tab.disable_network_events()


@pytest.mark.parametrize("options, name", [
    ({"device": "Nokia 3310"}, "device"),
    ({"viewport": (0, 100)}, "viewport"),
    ({"viewport": "800x600"}, "viewport"),
    ({"device_scale_factor": -1}, "device_scale_factor"),
    ({"is_mobile": "yes"}, "is_mobile"),
    ({"has_touch": 1}, "has_touch"),
    ({"user_agent": ""}, "user_agent"),
    ({"locale": "not a locale"}, "locale"),
    ({"timezone_id": "Mars/Olympus_Mons"}, "timezone_id"),  # refused by the browser
    ({"geolocation": (91, 0)}, "geolocation"),
    ({"geolocation": "Paris"}, "geolocation"),
    ({"color_scheme": "sepia"}, "color_scheme"),
    ({"offline": "no"}, "offline"),
    ({}, "at least one option"),
])
def test_bad_options_raise_invalid_command_naming_them(
    tab: Tab, server: LocalServer, options: Any, name: str
) -> None:
    tab.go_to(server.url("/"))
    with pytest.raises(InvalidCommand, match=name):
        tab.emulate(**options)
    assert tab.execute_script("[innerWidth, navigator.onLine]")[1] is True  # nothing changed


@pytest.mark.parametrize("call, name", [
    (lambda b: b.grant_permissions(["teleportation"]), "permissions"),
    (lambda b: b.grant_permissions("geolocation"), "permissions"),
    (lambda b: b.grant_permissions(["geolocation"], origin="127.0.0.1"), "origin"),
    (lambda b: b.grant_permissions(["geolocation"], browser_context_id=""), "browser_context_id"),
])
def test_bad_permission_arguments_raise_invalid_command_naming_them(
    browser: Chrome, call: Callable[[Chrome], Any], name: str
) -> None:
    with pytest.raises(InvalidCommand, match=name):
        call(browser)


@pytest.mark.parametrize("tab_mode", ["sessions", "sockets"])
def test_emulation_and_blocked_urls_are_restored_after_a_reconnect(
    server: LocalServer, tab_mode: str
) -> None:
    """A new connection starts with no override: the tab sends its settings again."""
    with Chrome(tab_mode=tab_mode) as own:
        tab = own.new_tab()
        tab.go_to(server.url("/"))
        tab.emulate(user_agent="syncdp-test-agent/1.0", viewport=(500, 400))
        tab.block_urls(["*://*:*/blocked*"])
        carrier = own.connection if tab_mode == "sessions" else tab.connection
        carrier._link.abort()  # type: ignore[attr-defined]  # a dropped socket
        deadline = time.monotonic() + 20
        while carrier.connected and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not carrier.connected, "the drop was not noticed"
        tab.go_to(server.url("/"))  # reconnects (and re-attaches the tab)
        assert carrier.connection_count == 2
        assert tab.execute_script("navigator.userAgent") == "syncdp-test-agent/1.0"
        assert tab.execute_script("[innerWidth, innerHeight]") == [500, 400]
        failed = tab.execute_script(
            "fetch('/blocked.json').then(() => 'loaded', e => 'failed: ' + e.message)"
        )
        assert str(failed).startswith("failed"), failed
