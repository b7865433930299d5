"""JavaScript values and exceptions, as CDP reports them, turned into Python ones.

Pure functions: no I/O, no state.
"""

from __future__ import annotations

import json
import logging
import math
from typing import Any, Dict

from syncdp.exceptions import JavaScriptError

__all__ = ["remote_value", "js_exception", "is_syntax_error"]

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
