"""Tab.query / query_all and Element against real headless Chromium.

One ``Chrome`` per module; each test opens its own tab on a local page.
"""

from __future__ import annotations

import time
from typing import Iterator, Tuple

import pytest

from pages import BOX_HEIGHT, BOX_WIDTH, PAGES, needs_chromium, png_pixel, png_size
from syncdp import Chrome, Element, Tab
from syncdp.exceptions import ElementNotFoundError, InvalidCommand
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


@pytest.fixture
def tab(browser: Chrome, server: LocalServer) -> Iterator[Tab]:
    new = browser.new_tab()
    try:
        new.go_to(server.url("/elements"))
        yield new
    finally:
        new.close()


# -- finding ---------------------------------------------------------------------------------


def test_query_css(tab: Tab) -> None:
    box = tab.query("#box")
    assert isinstance(box, Element)
    assert box.text == "Box text"
    assert box.tag_name == "div"


def test_query_xpath(tab: Tab) -> None:
    item = tab.query("//li[text()='two']")
    assert item.text == "two"
    assert item.get_attribute("class") == "item"
    assert tab.query("(//li)[3]").text == "three"
    assert tab.query("//*[@id='box']").text == "Box text"


def test_query_all_css_and_xpath_in_document_order(tab: Tab) -> None:
    assert [e.text for e in tab.query_all(".item")] == ["one", "two", "three"]
    assert [e.text for e in tab.query_all("//ul[@id='list']/li")] == ["one", "two", "three"]
    assert tab.query_all(".no-such-class") == []


def test_query_within_an_element(tab: Tab) -> None:
    listing = tab.query("#list")
    assert [e.text for e in listing.query_all("li")] == ["one", "two", "three"]
    assert listing.query(".item").text == "one"
    with pytest.raises(ElementNotFoundError):
        listing.query("#box")  # exists, but not inside the list


def test_absent_selector_raises_element_not_found(tab: Tab) -> None:
    with pytest.raises(ElementNotFoundError) as info:
        tab.query("#does-not-exist")
    assert info.value.selector == "#does-not-exist"
    assert "#does-not-exist" in str(info.value)


def test_absent_selector_with_timeout_waits_then_raises(tab: Tab) -> None:
    start = time.monotonic()
    with pytest.raises(ElementNotFoundError) as info:
        tab.query("//span[@id='never']", timeout=0.5)
    elapsed = time.monotonic() - start
    assert 0.45 <= elapsed < 5
    assert "//span[@id='never']" in str(info.value)


def test_query_with_timeout_finds_an_element_added_later(
    browser: Chrome, server: LocalServer
) -> None:
    tab = browser.new_tab()
    try:
        tab.go_to(server.url("/delayed"))
        tab.execute_script("window.addLater(300)")
        with pytest.raises(ElementNotFoundError):
            tab.query("#late")  # not there yet, and no timeout: look once
        start = time.monotonic()
        late = tab.query("#late", timeout=2)
        elapsed = time.monotonic() - start
        assert late.text == "arrived late"
        # Found when it appeared, not by a last look when the 2 s ran out.
        assert elapsed < 1.5
    finally:
        tab.close()


# -- reading ---------------------------------------------------------------------------------


def test_text_and_attributes(tab: Tab) -> None:
    box = tab.query("#box")
    assert box.get_attribute("data-kind") == "box"
    assert box.get_attribute("id") == "box"
    assert box.get_attribute("no-such-attribute") is None
    assert box.attributes == {"id": "box", "data-kind": "box"}
    assert 'id="box"' in box.outer_html


# -- acting ----------------------------------------------------------------------------------


def test_click_runs_the_click_handler(tab: Tab) -> None:
    assert tab.query("#status").text == "idle"
    tab.query("#button").click()
    assert tab.execute_script("window.clicks") == 1
    assert tab.query("#status").text == "clicked 1"
    assert tab.execute_script("window.clickTrusted") is True  # a real mouse event


def test_type_text_changes_the_value_and_fires_input_events(tab: Tab) -> None:
    field = tab.query("#name")
    text = "hello syncdp"
    field.type_text(text)
    assert field.value == text
    assert tab.execute_script("document.getElementById('name').value") == text
    assert tab.execute_script("window.inputEvents") == len(text)


@pytest.mark.parametrize("bad", [None, 42, b"bytes", ["a"]])
def test_type_text_refuses_what_is_not_text_before_typing(tab: Tab, bad: object) -> None:
    field = tab.query("#name")
    before = field.value
    with pytest.raises(InvalidCommand, match=r"text must be a str, got") as info:
        field.type_text(bad)  # type: ignore[arg-type]
    assert type(bad).__name__ in str(info.value)
    assert field.value == before


def _close_to(rgb: Tuple[int, int, int], expected: Tuple[int, int, int]) -> bool:
    return all(abs(a - b) <= 3 for a, b in zip(rgb, expected))


def test_element_screenshot_is_a_png_of_the_element(tab: Tab) -> None:
    shot = tab.query("#box").take_screenshot()
    assert shot.format == "png"
    assert png_size(shot) == (BOX_WIDTH, BOX_HEIGHT)
    # It shows the element (the red box, text aside), not some other part of the page.
    for x, y in ((2, BOX_HEIGHT - 3), (BOX_WIDTH - 3, BOX_HEIGHT - 3), (BOX_WIDTH - 3, 2)):
        assert _close_to(png_pixel(shot, x, y), (200, 30, 30)), (x, y, png_pixel(shot, x, y))


def test_element_screenshot_below_the_fold(tab: Tab) -> None:
    shot = tab.query("#low").take_screenshot()
    assert png_size(shot) == (150, 80)
    for x, y in ((1, 1), (75, 40), (148, 78)):
        assert _close_to(png_pixel(shot, x, y), (10, 200, 30)), (x, y, png_pixel(shot, x, y))
