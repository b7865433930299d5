"""JavaScript values and exceptions, as CDP reports them, turned into Python ones.

Pure functions: no I/O, no state.
"""

from __future__ import annotations

import json
import logging
import math
from typing import Any, Callable, Dict, List

from syncdp.exceptions import JavaScriptError, JavaScriptValueError

__all__ = ["remote_value", "deep_value", "js_exception", "is_syntax_error", "DEEP"]

DEEP = {"serialization": "deep"}
"""``serializationOptions`` for values at any depth (see :func:`deep_value`)."""

logger = logging.getLogger(__name__)

_UNSERIALIZABLE = {
    "NaN": math.nan,
    "Infinity": math.inf,
    "-Infinity": -math.inf,
    "-0": -0.0,
}


def unserializable(text: str) -> Any:
    """A Python value for CDP's ``unserializableValue`` (``NaN``, ``-0``, ``123n``...)."""
    if text in _UNSERIALIZABLE:
        return _UNSERIALIZABLE[text]
    if text.endswith("n"):
        try:
            return int(text[:-1])  # a BigInt
        except ValueError:
            pass
    logger.debug("unknown unserializable value %r", text)
    return text


def remote_value(remote: Dict[str, Any]) -> Any:
    """The Python value of a ``RemoteObject`` sent by value."""
    if "unserializableValue" in remote:
        return unserializable(str(remote["unserializableValue"]))
    return remote.get("value")


def is_syntax_error(details: Dict[str, Any]) -> bool:
    """Whether ``exceptionDetails`` report a SyntaxError (by the thrown object's class)."""
    return bool((details.get("exception") or {}).get("className") == "SyntaxError")


def _preview_text(preview: Dict[str, Any]) -> str:
    """``{code: 5, name: "x"}`` / ``[1, 2]`` from an ``ObjectPreview``."""
    items = []
    is_array = preview.get("subtype") == "array"
    for prop in preview.get("properties") or []:
        value = str(prop.get("value", ""))
        if prop.get("type") == "string":
            value = json.dumps(value)
        items.append(value if is_array else "%s: %s" % (prop.get("name"), value))
    if preview.get("overflow"):
        items.append("…")
    return ("[%s]" if is_array else "{%s}") % ", ".join(items)


def _thrown_text(exception: Dict[str, Any]) -> str:
    """What a script threw, for a non-Error value: ``"plain"``, ``5``, ``{code: 5}``..."""
    kind = exception.get("type")
    if "unserializableValue" in exception:
        return str(exception["unserializableValue"])
    if "value" in exception:
        return json.dumps(exception["value"])
    if kind == "undefined":
        return "undefined"
    preview = exception.get("preview")
    if isinstance(preview, dict) and preview.get("properties") is not None:
        return _preview_text(preview)
    return str(exception.get("description") or "")


def _exception_message(details: Dict[str, Any]) -> str:
    exception = details.get("exception") or {}
    description = str(exception.get("description") or "")
    text = str(details.get("text") or "Uncaught")
    if exception.get("subtype") == "error" and description:
        return description.split("\n", 1)[0]  # "TypeError: ...", the thrown Error
    if exception:
        # throw 'plain', Promise.reject(5), throw {code: 5}: the value is the message.
        thrown = _thrown_text(exception)
        return "%s %s" % (text, thrown) if thrown else text
    return text


def _exception_stack(details: Dict[str, Any], message: str) -> str:
    description = str((details.get("exception") or {}).get("description") or "")
    if "\n" in description:
        return description  # an Error's own stack
    frames = (details.get("stackTrace") or {}).get("callFrames") or []
    lines = [
        "    at %s (%s:%s:%s)"
        % (
            f.get("functionName") or "<anonymous>",
            f.get("url"),
            f.get("lineNumber"),
            f.get("columnNumber"),
        )
        for f in frames
    ]
    return "\n".join([message] + lines) if lines else ""


def js_exception(details: Dict[str, Any]) -> JavaScriptError:
    """The :class:`JavaScriptError` for CDP ``exceptionDetails`` (message and stack kept)."""
    message = _exception_message(details)
    return JavaScriptError(message or "JavaScript exception", _exception_stack(details, message))


# -- deep serialization ------------------------------------------------------------------------
#
# Runtime.evaluate/callFunctionOn with serializationOptions={"serialization": "deep"} describe
# the result at any depth, with its type: NaN, -0, BigInt, Map... survive inside objects.
# The mapping to Python (README "Values"):
#   undefined, null -> None; boolean, string -> bool, str; number -> int/float (NaN,
#   Infinity, -Infinity, -0 as float); bigint -> int; array -> list; object -> dict (str
#   keys; properties holding undefined, a function or a symbol are left out, as
#   JSON.stringify does); Map -> dict; Set -> list (in order); Date -> ISO 8601 str;
#   RegExp -> "/pattern/flags"; a DOM node -> dict describing it (nodeType, localName,
#   attributes, backendNodeId...); window -> {"context": id}; function, symbol -> None (in
#   an array or alone); an object met again (a cycle, a shared reference) -> the same
#   Python object. Anything else raises JavaScriptValueError naming where it is.

_NO_JSON_PROPERTY = ("undefined", "function", "symbol")
_HINTS = {
    "promise": "await it in the script, or pass await_promise=True",
    "typedarray": "return Array.from(...) of it",
    "arraybuffer": "return Array.from(new Uint8Array(...)) of it",
    "error": "return String(error) or error.message",
    "proxy": "return a plain copy of it",
}


def _number(text: Any) -> Any:
    return unserializable(text) if isinstance(text, str) else text


def _regexp(value: Dict[str, Any]) -> str:
    return "/%s/%s" % (value.get("pattern", ""), value.get("flags", ""))


_SCALARS: Dict[str, Callable[[Any], Any]] = {
    "undefined": lambda value: None,
    "null": lambda value: None,
    "function": lambda value: None,
    "symbol": lambda value: None,
    "string": lambda value: value,
    "boolean": lambda value: value,
    "number": _number,
    "bigint": lambda value: int(value),
    "date": lambda value: value,
    "regexp": _regexp,
    "node": lambda value: dict(value or {}),
    "window": lambda value: dict(value or {}),
}


class _DeepReader:
    """One deep-serialized value to Python, remembering objects met (cycles, shared refs)."""

    def __init__(self) -> None:
        self._seen: Dict[Any, Any] = {}

    def read(self, item: Dict[str, Any], path: str) -> Any:
        kind = str(item.get("type"))
        ref = item.get("weakLocalObjectReference")
        if "value" not in item and ref in self._seen:
            return self._seen[ref]  # met before: the same object again
        scalar = _SCALARS.get(kind)
        if scalar is not None:
            return scalar(item.get("value"))
        value = item.get("value")
        if kind in ("array", "set", "nodelist", "htmlcollection") and isinstance(value, list):
            out: List[Any] = self._remember(ref, [])
            out.extend(self.read(v, "%s[%d]" % (path, i)) for i, v in enumerate(value))
            return out
        if kind in ("object", "map") and isinstance(value, list):
            return self._mapping(kind, value, ref, path)
        raise JavaScriptValueError(kind, path, _HINTS.get(kind, ""))

    def _remember(self, ref: Any, container: Any) -> Any:
        if ref is not None:
            self._seen[ref] = container
        return container

    def _mapping(self, kind: str, entries: List[Any], ref: Any, path: str) -> Dict[Any, Any]:
        out: Dict[Any, Any] = self._remember(ref, {})
        for key, item in entries:
            if isinstance(key, dict):  # a Map key: itself a serialized value
                key = self.read(key, "%s key" % path)
            if kind == "object" and item.get("type") in _NO_JSON_PROPERTY:
                continue  # JSON.stringify leaves these out too
            try:
                hash(key)
            except TypeError:
                raise JavaScriptValueError(
                    "Map with object keys", path, "return [...map] (a list of pairs)"
                ) from None
            out[key] = self.read(item, "%s[%r]" % (path, key))
        return out


def deep_value(remote: Dict[str, Any], path: str = "result") -> Any:
    """The Python value of a ``RemoteObject`` that has a ``deepSerializedValue`` (else of
    its plain ``value``); see the mapping above.

    Raises:
        JavaScriptValueError: a part of it has no Python value.
    """
    deep = remote.get("deepSerializedValue")
    if not isinstance(deep, dict):
        return remote_value(remote)
    return _DeepReader().read(deep, path)
