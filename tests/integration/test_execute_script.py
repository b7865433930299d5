"""execute_script runs a script exactly once: a SyntaxError thrown while it runs (a rejected
``fetch(...).then(r => r.json())``, ``JSON.parse``) never makes it run again as statements.

Real headless Chromium, both tab modes; POSTs counted by a server on 127.0.0.1.
"""

from __future__ import annotations

from typing import Iterator

import pytest

from pages import CountingServer, needs_chromium
from syncdp import Chrome, Tab
from syncdp.exceptions import JavaScriptError

pytestmark = [pytest.mark.integration, needs_chromium, pytest.mark.timeout(60)]


@pytest.fixture(scope="module", params=["sessions", "sockets"])
def browser(request: pytest.FixtureRequest) -> Iterator[Chrome]:
    with Chrome(tab_mode=request.param) as chrome:
        yield chrome


@pytest.fixture
def tab(browser: Chrome) -> Iterator[Tab]:
    new = browser.new_tab()
    try:
        yield new
    finally:
        new.close()


@pytest.fixture
def counting() -> Iterator[CountingServer]:
    with CountingServer() as server:
        yield server


def test_expression_whose_promise_rejects_with_a_syntax_error_runs_once(tab: Tab) -> None:
    tab.go_to("data:text/html,x")
    with pytest.raises(JavaScriptError, match="SyntaxError"):
        tab.execute_script(
            "window.n = 1 + (window.n||0), fetch('data:text/plain,oops').then(r => r.json())"
        )
    assert tab.execute_script("window.n") == 1


def test_post_whose_response_is_not_json_reaches_the_server_once(
    tab: Tab, counting: CountingServer
) -> None:
    tab.go_to(counting.url("/"))
    with pytest.raises(JavaScriptError, match="SyntaxError"):
        tab.execute_script("fetch('/api/expression', {method: 'POST', body: 'x'}).then(r => r.json())")
    assert counting.posts("/api/expression") == 1


def test_statements_awaiting_a_post_that_is_not_json_run_once(
    tab: Tab, counting: CountingServer
) -> None:
    tab.go_to(counting.url("/"))
    with pytest.raises(JavaScriptError, match="SyntaxError"):
        tab.execute_script(
            "const r = await fetch('/api/statements', {method: 'POST'}); await r.json()"
        )
    assert counting.posts("/api/statements") == 1


def test_statements_throwing_a_syntax_error_while_running_run_once(tab: Tab) -> None:
    with pytest.raises(JavaScriptError, match="SyntaxError"):
        tab.execute_script("window.k = 1 + (window.k || 0); JSON.parse('{')")
    assert tab.execute_script("window.k") == 1


def test_function_body_with_a_later_return_throwing_a_syntax_error_runs_once(tab: Tab) -> None:
    with pytest.raises(JavaScriptError, match="SyntaxError"):
        tab.execute_script("window.q = 1 + (window.q || 0);\nreturn JSON.parse('{')")
    assert tab.execute_script("window.q") == 1


def test_script_that_does_not_compile_reports_its_syntax_error(tab: Tab) -> None:
    for script in ("1 +", "let z = ;", "const a = 1;\nreturn a +"):
        with pytest.raises(JavaScriptError, match="SyntaxError"):
            tab.execute_script(script)


def test_return_deeper_in_a_script_still_reads_it_as_a_function_body(tab: Tab) -> None:
    assert tab.execute_script("const a = 1;\nif (a) {\n  return 'deep'\n}\nreturn 'no'") == "deep"
    assert tab.execute_script("window.once = 1 + (window.once || 0); return window.once") == 1
