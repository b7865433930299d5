"""``element.set_input_files`` and ``browser.delete_cookies`` on real Chromium, both tab modes."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest
from tabkit import browser, tab

from syncdp import Chrome, CommandError, InvalidCommand, Tab
from syncdp.localserver import LocalServer

__all__ = ["browser", "tab"]

pytestmark = pytest.mark.timeout(120)

PAGES = {
    "/": "<!doctype html><title>plain</title><p id='p'>plain</p>",
    "/upload": "<!doctype html><title>upload</title><input id='files' type='file' multiple>",
}
FILES = "[...document.querySelector('#files').files].map(f => [f.name, f.size])"


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    with LocalServer(PAGES) as srv:
        yield srv


def test_set_input_files_chooses_files_and_an_empty_list_clears_them(
    tab: Tab, server: LocalServer, tmp_path: Path
) -> None:
    first, second = tmp_path / "a.txt", tmp_path / "b.csv"
    first.write_text("hello")
    second.write_text("x,y\n1,2\n")
    tab.go_to(server.url("/upload"))
    field = tab.query("#files")
    field.set_input_files([first, str(second)])
    assert tab.execute_script(FILES) == [["a.txt", 5], ["b.csv", 8]]
    field.set_input_files(first)  # one path on its own
    assert tab.execute_script(FILES) == [["a.txt", 5]]
    field.set_input_files([])
    assert tab.execute_script(FILES) == []


def test_set_input_files_checks_every_path_before_sending(
    tab: Tab, server: LocalServer, tmp_path: Path
) -> None:
    good = tmp_path / "good.txt"
    good.write_text("good")
    tab.go_to(server.url("/upload"))
    field = tab.query("#files")
    with pytest.raises(InvalidCommand, match="missing.txt.*does not exist"):
        field.set_input_files([good, tmp_path / "missing.txt"])
    with pytest.raises(InvalidCommand, match="is not a file"):
        field.set_input_files([tmp_path])
    with pytest.raises(InvalidCommand, match="paths"):
        field.set_input_files([42])  # type: ignore[list-item]
    assert tab.execute_script(FILES) == []  # nothing was chosen


def test_set_input_files_on_something_else_than_a_file_input_fails(
    tab: Tab, server: LocalServer, tmp_path: Path
) -> None:
    good = tmp_path / "good.txt"
    good.write_text("good")
    tab.go_to(server.url("/"))
    with pytest.raises(CommandError):
        tab.query("#p").set_input_files([good])


def _names(browser: Chrome, **context: Any) -> Any:
    return sorted((c["name"], c["domain"], c["path"]) for c in browser.get_cookies(**context))


def test_delete_cookies_deletes_by_name_domain_and_path(browser: Chrome, server: LocalServer) -> None:
    context = browser.create_browser_context()  # its own cookie jar
    try:
        browser.set_cookies([
            {"name": "a", "value": "1", "url": server.url("/")},
            {"name": "a", "value": "2", "url": server.url("/"), "path": "/deep"},
            {"name": "a", "value": "3", "domain": "localhost", "path": "/"},
            {"name": "b", "value": "4", "url": server.url("/")},
        ], browser_context_id=context)
        assert browser.delete_cookies("a", path="/deep", browser_context_id=context) == 1
        assert browser.delete_cookies("a", domain="localhost", browser_context_id=context) == 1
        left = _names(browser, browser_context_id=context)
        assert left == [("a", "127.0.0.1", "/"), ("b", "127.0.0.1", "/")]
        assert browser.delete_cookies("a", browser_context_id=context) == 1
        assert browser.delete_cookies("a", browser_context_id=context) == 0
        assert _names(browser, browser_context_id=context) == [("b", "127.0.0.1", "/")]
    finally:
        browser.delete_browser_context(context)


def test_delete_cookies_leaves_other_contexts_alone(browser: Chrome, server: LocalServer) -> None:
    context = browser.create_browser_context()
    try:
        browser.set_cookies([{"name": "shared", "value": "default", "url": server.url("/")}])
        browser.set_cookies([{"name": "shared", "value": "private", "url": server.url("/")}],
                            browser_context_id=context)
        assert browser.delete_cookies("shared", browser_context_id=context) == 1
        assert [c["value"] for c in browser.get_cookies() if c["name"] == "shared"] == ["default"]
        assert browser.delete_cookies("shared") == 1
    finally:
        browser.delete_browser_context(context)


@pytest.mark.parametrize("kwargs, name", [
    ({"name": ""}, "name"),
    ({"name": 42}, "name"),
    ({"name": "a", "domain": ""}, "domain"),
    ({"name": "a", "path": 3}, "path"),
])
def test_bad_delete_cookies_arguments_raise_invalid_command(
    browser: Chrome, kwargs: Any, name: str
) -> None:
    with pytest.raises(InvalidCommand, match=name):
        browser.delete_cookies(**kwargs)


@pytest.mark.parametrize("call", ["get_cookies", "delete_all_cookies", "set_cookies"])
def test_an_empty_browser_context_id_is_refused_not_taken_for_the_default_context(
    browser: Chrome, call: str
) -> None:
    args = ([{"name": "a", "value": "1", "url": "http://127.0.0.1/"}],) if call == "set_cookies" else ()
    with pytest.raises(InvalidCommand, match="browser_context_id"):
        getattr(browser, call)(*args, browser_context_id="")


def test_set_cookies_takes_any_iterable_of_cookie_dicts_once(browser: Chrome) -> None:
    context = browser.create_browser_context()
    try:
        cookies = ({"name": n, "value": "v", "url": "http://127.0.0.1/"} for n in ("a", "b"))
        browser.set_cookies(cookies, browser_context_id=context)  # a generator
        names = sorted(c["name"] for c in browser.get_cookies(browser_context_id=context))
        assert names == ["a", "b"]
        with pytest.raises(InvalidCommand, match="cookies must be a list of dicts"):
            browser.set_cookies("name=value")  # type: ignore[arg-type]
    finally:
        browser.delete_browser_context(context)
