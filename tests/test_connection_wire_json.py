"""The reader's and the sender's JSON shortcuts give exactly what the json module gives.

``syncdp.connection.core._encode`` builds json's C encoder directly (not through
``JSONEncoder.encode``); ``syncdp.transports.base.parse_message`` runs json's C scanner
directly (not through ``json.loads``). Both must agree with the json module on every input:
the same text, the same value, the same errors.
"""

from __future__ import annotations

import json
import math
import threading
from typing import Any, Callable, Dict, List, Tuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syncdp.connection.core import _encode
from syncdp.transports.base import parse_message

_reference = json.JSONEncoder(allow_nan=False).encode

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


def _outcome(encode: Callable[[Any], str], value: Any) -> Tuple[str, str]:
    try:
        return "text", encode(value)
    except (TypeError, ValueError) as exc:
        return type(exc).__name__, str(exc)


@settings(max_examples=300, deadline=None)
@given(params=st.dictionaries(st.text(), _json_values, max_size=5), session=st.booleans())
def test_encode_gives_the_json_module_s_text(params: Dict[str, Any], session: bool) -> None:
    message: Dict[str, Any] = {"method": "A.b", "params": params, "id": 7}
    if session:
        message["sessionId"] = "S" * 32
    assert _encode(message) == _reference(message)


def _circular() -> Dict[str, Any]:
    inner: Dict[str, Any] = {}
    inner["self"] = inner
    return {"method": "A.b", "params": inner}


@pytest.mark.parametrize(
    "message",
    [
        {"method": "A.b", "params": {"x": math.nan}},
        {"method": "A.b", "params": {"x": -math.inf}},
        {"method": "A.b", "params": {"x": object()}},
        {"method": "A.b", "params": {"x": {1, 2}}},
        {"method": "A.b", "params": {(1, 2): 1}},
        {"method": "A.b", "params": {3: "int key", 2.5: "float key", None: "none key", True: "bool key"}},
        {"method": "A.b", "params": {"s": "caf\u00e9 \U0001f600 \ud800 \x00 \" \\"}},
        _circular(),
    ],
    ids=["nan", "infinity", "object", "set", "tuple key", "non-str keys", "strings", "circular"],
)
def test_encode_fails_and_succeeds_as_the_json_module_does(message: Dict[str, Any]) -> None:
    assert _outcome(_encode, message) == _outcome(_reference, message)


def test_a_failed_encode_leaves_nothing_behind_for_the_next_one() -> None:
    with pytest.raises(ValueError, match="Circular"):
        _encode(_circular())
    shared = {"k": [1, 2]}
    assert _encode({"a": shared, "b": shared}) == '{"a": {"k": [1, 2]}, "b": {"k": [1, 2]}}'


def test_threads_encoding_the_same_params_at_once_never_see_a_false_cycle() -> None:
    shared = {"list": [{"n": i} for i in range(200)]}
    errors: List[BaseException] = []

    def encode_many() -> None:
        try:
            for _ in range(300):
                _encode({"method": "A.b", "params": shared})
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=encode_many) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []


# -- parsing: the reader's json.loads shortcut --------------------------------------------------

_EDGE_CASES = [
    b'{"id":1,"result":{"value":"caf\xc3\xa9 \xf0\x9f\x98\x80"}}',  # UTF-8, astral included
    b' {"id":1} ',  # whitespace around the value
    b'{"id":1}\n',
    b"\xef\xbb\xbf" + b'{"id":1}',  # a UTF-8 byte-order mark
    '{"id":1,"x":"ü"}'.encode("utf-16"),  # another encoding json.loads detects
    b'{"x":"\xed\xa0\x80"}',  # an encoded lone surrogate (json.loads: surrogatepass)
    b'{"x":"\\ud800"}',  # an escaped lone surrogate
    b'{"id":1}{"id":2}',  # extra data
    b'{"id":1',  # cut off
    b"",
    b"   ",
    b"[1,2]",
    b"123",
    b"NaN",
    b'{"x":1e400,"y":-0.0,"z":12345678901234567890}',
    '{"id":1}',  # text as well as bytes
    ' {"id":1}',
    '{"a":[' * 100 + "]}" * 100,
]


def _parse_outcome(parse: Callable[[Any], Any], data: Any) -> Tuple[str, Any]:
    try:
        return "value", repr(parse(data))
    except ValueError as exc:
        return type(exc).__name__, str(exc)


@pytest.mark.parametrize("data", _EDGE_CASES, ids=range(len(_EDGE_CASES)))
def test_parse_message_gives_what_json_loads_gives(data: Any) -> None:
    assert _parse_outcome(parse_message, data) == _parse_outcome(json.loads, data)


@settings(max_examples=300, deadline=None)
@given(
    value=st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
        max_leaves=20,
    ),
    before=st.sampled_from(["", " ", "\n"]),
    after=st.sampled_from(["", " ", "\n", "x", "{}"]),
    as_bytes=st.booleans(),
)
def test_parse_message_agrees_with_json_loads_on_any_json_text(
    value: Any, before: str, after: str, as_bytes: bool
) -> None:
    text = before + json.dumps(value, ensure_ascii=False) + after
    data: Any = text.encode("utf-8", "surrogatepass") if as_bytes else text
    assert _parse_outcome(parse_message, data) == _parse_outcome(json.loads, data)


def test_parse_message_raises_recursion_error_as_json_loads_does() -> None:
    deep = "[" * 100_000 + "]" * 100_000
    with pytest.raises(RecursionError):
        json.loads(deep)
    with pytest.raises(RecursionError):
        parse_message(deep.encode())
