"""execute_script and Element.call against real headless Chromium, both tab modes.

A script runs exactly once: a SyntaxError thrown while it runs (a rejected
``fetch(...).then(r => r.json())``, ``JSON.parse``) never makes it run again as statements.
Values JSON cannot carry (NaN, Infinity, -0, BigInt, Map, Set...) are kept at any depth, or
refused with an error naming them; never a wrong value.

Real headless Chromium, both tab modes; POSTs counted by a server on 127.0.0.1.
"""

from __future__ import annotations

import math
from typing import Any, Iterator

import pytest
from syncdp import Tab
from syncdp.exceptions import InvalidCommand, JavaScriptError, JavaScriptValueError

from pages import CountingServer, needs_chromium

pytestmark = [pytest.mark.integration, needs_chromium, pytest.mark.timeout(60)]


# browser (both tab modes) and tab: tests/integration/tabkit.py, through conftest.py


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


# -- values at any depth ------------------------------------------------------------------------


def _is_negative_zero(value: Any) -> bool:
    return value == 0 and math.copysign(1, value) == -1


def test_values_json_cannot_carry_are_kept_inside_objects_and_arrays(tab: Tab) -> None:
    assert tab.execute_script("({count: 3n})") == {"count": 3}
    assert tab.execute_script("[10n, 2n ** 70n]") == [10, 2**70]
    nan, inf, minus_inf = tab.execute_script("[NaN, Infinity, -Infinity]")
    assert math.isnan(nan) and inf == math.inf and minus_inf == -math.inf
    assert _is_negative_zero(tab.execute_script("({x: -0})")["x"])
    assert _is_negative_zero(tab.execute_script("[[{deep: [-0]}]]")[0][0]["deep"][0])


def test_values_kept_in_every_script_form(tab: Tab) -> None:
    assert tab.execute_script("return {z: 5n}") == {"z": 5}  # a function body
    assert tab.execute_script("const q = [1n]; q") == [1]  # statements
    assert tab.execute_script("Promise.resolve({p: 7n})") == {"p": 7}  # an awaited promise
    assert tab.execute_script("const p = Promise.resolve([8n]); p") == [8]  # statements' promise


def test_collections_dates_and_regexps_have_python_values(tab: Tab) -> None:
    assert tab.execute_script("new Map([['k', {v: 1n}], [2, 'two']])") == {"k": {"v": 1}, 2: "two"}
    assert tab.execute_script("new Set([3, 'a', 3])") == [3, "a"]
    assert tab.execute_script("new Date(0)") == "1970-01-01T00:00:00.000Z"
    assert tab.execute_script("({when: new Date(0)})") == {"when": "1970-01-01T00:00:00.000Z"}
    assert tab.execute_script("/a+b/gi") == "/a+b/gi"


def test_json_rules_for_undefined_functions_and_symbols(tab: Tab) -> None:
    # left out of objects, None in arrays and alone, as JSON.stringify does
    assert tab.execute_script("({u: undefined, f() {}, s: Symbol('x'), a: 1})") == {"a": 1}
    assert tab.execute_script("[undefined, () => 1, Symbol('y'), 2]") == [None, None, None, 2]
    assert tab.execute_script("undefined") is None


def test_a_cycle_comes_back_as_the_same_python_object(tab: Tab) -> None:
    value = tab.execute_script("const a = {n: 1}; a.self = a; a.list = [a]; a")
    assert value["n"] == 1
    assert value["self"] is value and value["list"][0] is value


def test_a_dom_node_comes_back_as_a_description(tab: Tab) -> None:
    tab.go_to("data:text/html,<p id=para class=c>hi</p>")
    node = tab.execute_script("document.getElementById('para')")
    assert node["localName"] == "p" and node["attributes"] == {"id": "para", "class": "c"}
    assert [n["localName"] for n in tab.execute_script("[document.body, document.head]")] == [
        "body",
        "head",
    ]


@pytest.mark.parametrize(
    "script, kind, where",
    [
        ("new Uint8Array(2)", "typedarray", "result"),
        ("({items: [1, Promise.resolve(2)]})", "promise", "result['items'][1]"),
        ("({e: new Error('x')})", "error", "result['e']"),
        ("new Map([[{}, 1]])", "Map with object keys", "result"),
    ],
)
def test_a_value_without_a_python_counterpart_raises_naming_it(
    tab: Tab, script: str, kind: str, where: str
) -> None:
    with pytest.raises(JavaScriptValueError) as info:
        tab.execute_script(script)
    assert info.value.kind == kind and info.value.path == where
    assert where in str(info.value)


def test_element_call_receives_and_returns_values_json_cannot_carry(tab: Tab) -> None:
    tab.go_to("data:text/html,<p id=para>hi</p>")
    element = tab.query("#para")
    received = element.call(
        "function(a, b, c, d, e) { return [Number.isNaN(a), b, -c, typeof d, Object.is(e, -0)] }",
        math.nan,
        math.inf,
        -math.inf,
        2**60,
        -0.0,
    )
    assert received == [True, math.inf, math.inf, "bigint", True]
    assert element.call("function(big) { return big + 1n }", 2**60) == 2**60 + 1
    assert element.call("function() { return {n: NaN, b: [1n]} }")["b"] == [1]


def test_element_call_refuses_nested_values_json_cannot_carry(tab: Tab) -> None:
    tab.go_to("data:text/html,<p id=para>hi</p>")
    with pytest.raises(InvalidCommand, match=r"args\[0\]\[1\] is nan"):
        tab.query("#para").call("function(a) { return a }", [1, math.nan])


# -- script forms, thrown values, unserializable values ----------------------------------------


def test_execute_script_await_in_a_body_without_leading_return(tab: Tab) -> None:
    assert tab.execute_script("const r = await Promise.resolve(7); return r") == 7
    assert tab.execute_script("await new Promise(r => setTimeout(r, 10)); return 'waited'") == (
        "waited"
    )
    assert tab.execute_script("await Promise.resolve(8)") == 8


def test_execute_script_declarations_can_run_twice(tab: Tab) -> None:
    assert tab.execute_script("const el = 1; el") == 1
    assert tab.execute_script("const el = 1; el") == 1
    assert tab.execute_script("let n = 2; n * 3") == 6
    assert tab.execute_script("let n = 2; n * 3") == 6
    assert tab.execute_script("class Box {}; typeof Box") == "function"
    assert tab.execute_script("class Box {}; typeof Box") == "function"


def test_execute_script_statements_keep_their_results(tab: Tab) -> None:
    # a function declaration still defines a global, as before
    assert tab.execute_script("function helper() { return 41; }") is None
    assert tab.execute_script("helper() + 1") == 42
    assert tab.execute_script("var v = {a: [1, 'x']}; v") == {"a": [1, "x"]}
    # a statement script ending in a promise: still awaited
    assert tab.execute_script("const p = 5; new Promise(r => setTimeout(() => r(p * 2), 10))") == 10
    with pytest.raises(JavaScriptError, match="no way"):
        tab.execute_script("const q = 1; Promise.reject(new Error('no way'))")
    # an object literal expression
    assert tab.execute_script("({a: 1})") == {"a": 1}


def test_execute_script_runtime_syntax_error_runs_once(tab: Tab) -> None:
    with pytest.raises(JavaScriptError, match="SyntaxError"):
        tab.execute_script("(window.runs = (window.runs || 0) + 1, JSON.parse('{'))")
    assert tab.execute_script("window.runs") == 1


def test_execute_script_unserializable_values(tab: Tab) -> None:
    assert math.isnan(tab.execute_script("NaN"))
    assert tab.execute_script("Infinity") == math.inf
    assert tab.execute_script("-Infinity") == -math.inf
    negative_zero = tab.execute_script("-0")
    assert negative_zero == 0 and math.copysign(1, negative_zero) == -1
    assert tab.execute_script("123n") == 123
    assert tab.execute_script("2n ** 70n") == 2**70
    assert tab.execute_script("const big = -5n; big") == -5
    tab.go_to("data:text/html,<p id=p>x</p>")
    assert math.isnan(tab.query("#p").call("function() { return 0 / 0; }"))


@pytest.mark.parametrize(
    "script, expected",
    [
        ("throw 'plain'", '"plain"'),
        ("Promise.reject('str')", '"str"'),
        ("throw {code: 5}", "code: 5"),
        ("throw 42", "42"),
        ("throw null", "null"),
    ],
)
def test_thrown_values_are_in_the_message(tab: Tab, script: str, expected: str) -> None:
    with pytest.raises(JavaScriptError) as info:
        tab.execute_script(script)
    assert expected in info.value.message
    assert expected in str(info.value)


def test_a_return_body_is_read_whatever_line_breaks_it_uses(tab: Tab) -> None:
    # V8 ends lines at \r, \u2028 and \u2029 too: the return is found on the line it points at.
    for brk in ("\n", "\r\n", "\r", "\u2028"):
        assert tab.execute_script("const b = 1;%sreturn b + 1" % brk) == 2, repr(brk)
