"""Tab.frames / Tab.frame: same-process and out-of-process iframes, scripts, queries, input."""

from __future__ import annotations

from typing import Iterator, List

import pytest
from pages import needs_chromium, png_pixel, png_size, wait_until
from syncdp import Chrome, Frame, InvalidCommand, Session, SyncdpError, Tab
from syncdp.localserver import LocalServer
from tabkit import browser, site, tab

__all__ = ["browser", "site", "tab"]

pytestmark = needs_chromium


def _loaded(frames: List[Frame]) -> bool:
    """The outer page and both iframes are listed with their documents."""
    return len(frames) == 3 and all(f.url.startswith("http") for f in frames)


@pytest.fixture
def framed(tab: Tab, site: LocalServer) -> Iterator[Tab]:
    tab.go_to(site.url("/frames/outer"))
    wait_until(lambda: _loaded(tab.frames), 20, "the iframes never loaded")
    # Each frame's script ran (its document is complete enough to query).
    for name in ("same", "cross"):
        frame = tab.frame(name=name)
        assert frame is not None
        wait_until(lambda f=frame: f.execute_script("window.frameMarker || ''"), 20, name)
    yield tab


def _frame(tab: Tab, name: str) -> Frame:
    frame = tab.frame(name=name)
    assert frame is not None, [f.name for f in tab.frames]
    return frame


def test_frames_list_the_main_frame_then_same_and_out_of_process_iframes(
    framed: Tab, site: LocalServer
) -> None:
    main, *children = framed.frames
    assert main.parent is None and main.url == site.url("/frames/outer")
    assert main.session is None
    same, cross = _frame(framed, "same"), _frame(framed, "cross")
    assert {f.name for f in children} == {"same", "cross"}
    assert same.parent is not None and same.parent.id == main.id
    assert cross.parent is not None and cross.parent.id == main.id
    assert same.url == site.url("/frames/inner") and same.session is None
    # The cross-site frame runs in another renderer: its own target, reached by a session.
    assert cross.url.startswith("http://localhost:")
    assert isinstance(cross.session, Session) and cross.session.target_id == cross.id


def test_execute_script_runs_in_the_frames_own_document(framed: Tab, site: LocalServer) -> None:
    host = site.url("/").split("//")[1].rstrip("/")
    assert framed.execute_script("document.title") == "outer"
    assert _frame(framed, "same").execute_script("[document.title, window.frameMarker]") == [
        "inner",
        "marker of " + host,
    ]
    cross = _frame(framed, "cross").execute_script("return window.frameMarker")
    assert cross == "marker of localhost:%d" % site.port
    # Statements and top-level await, as in Tab.execute_script.
    assert _frame(framed, "same").execute_script("const n = await Promise.resolve(6); n * 7") == 42


@pytest.mark.parametrize("name", ["same", "cross"])
def test_elements_of_a_frame_click_and_type_like_any_other(framed: Tab, name: str) -> None:
    frame = _frame(framed, name)
    frame.query("#b").click()
    frame.query("#b").click()
    frame.query("#i").type_text("typed here")
    assert frame.execute_script("[window.clicks, document.querySelector('#i').value]") == [
        2,
        "typed here",
    ]
    # The outer page got none of it.
    assert framed.execute_script("window.clicks === undefined")


@pytest.mark.parametrize("name", ["same", "cross"])
def test_frame_queries_find_only_the_frames_elements(framed: Tab, name: str) -> None:
    frame = _frame(framed, name)
    assert [e.text for e in frame.query_all("p.item")] == ["one", "two"]
    assert frame.query("//button").tag_name == "button"
    assert framed.query_all("p.item") == []
    frame.execute_script("setTimeout(() => document.body.append(Object.assign("
                         "document.createElement('span'), {id: 'later'})), 200)")
    assert frame.query("#later", timeout=20).tag_name == "span"


def test_frame_offset_is_the_iframe_content_box_in_the_page(framed: Tab) -> None:
    # left 40 + 5px border; top 10 + 5px border (styles of pages.FRAME_OUTER).
    assert _frame(framed, "same").offset() == (45.0, 15.0)
    assert _frame(framed, "cross").offset() == (400.0, 10.0)


@pytest.mark.parametrize("name", ["same", "cross"])
def test_a_frame_elements_screenshot_shows_that_element(framed: Tab, name: str) -> None:
    shot = _frame(framed, name).query("#b").take_screenshot()
    assert png_size(shot) == (120, 40)
    # The button's green (a hovered button may be shaded a little), not the page around it.
    red, green, blue = png_pixel(shot, 60, 20)
    assert red < 40 and green > 150 and blue < 60, (red, green, blue)


def test_frame_lookup_by_name_or_url_and_its_bad_arguments(framed: Tab) -> None:
    assert _frame(framed, "cross").id == framed.frame(url="localhost").id  # type: ignore[union-attr]
    assert framed.frame(name="same", url="/frames/inner") is not None
    assert framed.frame(name="nowhere") is None
    with pytest.raises(InvalidCommand, match="name= or url="):
        framed.frame()
    with pytest.raises(InvalidCommand, match="name must be"):
        framed.frame(name=3)  # type: ignore[arg-type]
    with pytest.raises(InvalidCommand, match="url must be"):
        framed.frame(url="")


def test_a_page_without_iframes_has_only_its_main_frame(browser: Chrome, site: LocalServer) -> None:
    tab = browser.new_tab()
    try:
        tab.go_to(site.url("/first"))
        frames = tab.frames
        assert [(f.parent, f.name) for f in frames] == [(None, "")]
        assert frames[0].query("#first").text == "first"
    finally:
        tab.close()


def test_a_same_process_frame_that_navigates_runs_scripts_in_its_new_document(
    framed: Tab, site: LocalServer
) -> None:
    framed.execute_script("document.querySelector('iframe[name=same]').src = '/second'")

    def moved() -> bool:
        frame = framed.frame(name="same")
        if frame is None or not frame.url.endswith("/second"):
            return False
        try:
            return frame.execute_script("document.title") == "second"
        except SyncdpError:  # its new document's context is not announced yet
            return False

    wait_until(moved, 20, "the frame never showed /second")
    assert _frame(framed, "same").query("#second").text == "second"
