"""Running JavaScript in a tab: ``execute_script`` and calls on remote objects.

A script runs at most once: when V8 refuses it as an expression, it is run as statements
only after V8 confirms it does not compile as one (see :meth:`Evaluator.execute_script`).
"""

from __future__ import annotations

import logging
import math
import re
import time
from typing import Any, Dict, List, Optional

from syncdp._checks import check_timeout
from syncdp.exceptions import InvalidCommand, SyncdpError
from syncdp.page.core import PageCore
from syncdp.page.values import DEEP, deep_value, is_syntax_error, js_exception

__all__ = ["Evaluator", "Deadline"]

logger = logging.getLogger(__name__)

_RETURN_STATEMENT = re.compile(r"^\s*return\b")
_RETURN_WORD = re.compile(r"return\b")
_LINE_BREAK = re.compile("\r\n|[\n\r\u2028\u2029]")

# Scripts that start with a declaration run as statements: as an expression, "function f() {}"
# would be a function expression and f would not be defined.
_DECLARATION = re.compile(r"^\s*(?:async\s+function\b|function\b|class\b)")

_VALUE_OF_THIS = "function() { return this; }"


class Deadline:
    """The time left of one ``timeout`` shared by several commands (``None``: no limit)."""

    def __init__(self, timeout: Optional[float]) -> None:
        self._end = None if timeout is None else time.monotonic() + timeout

    def left(self) -> Optional[float]:
        """Seconds left (at least a millisecond), or ``None`` without a limit."""
        return None if self._end is None else max(0.001, self._end - time.monotonic())


def _as_function(body: str, await_promise: bool) -> str:
    return "(%sfunction() {\n%s\n})()" % ("async " if await_promise else "", body)


_MAX_SAFE_INTEGER = 2**53 - 1


def call_argument(value: Any, name: str) -> Dict[str, Any]:
    """A ``Runtime.CallArgument`` for a Python value.

    ``nan``, ``inf``, ``-inf`` and ``-0.0`` go as JavaScript's ``NaN``, ``Infinity``,
    ``-Infinity`` and ``-0``; an int beyond ±(2**53 - 1) as a BigInt (a Number would lose
    digits). Inside a list or dict JSON cannot carry them: ``InvalidCommand`` says where.
    """
    special = _unserializable_text(value)
    if special is not None:
        return {"unserializableValue": special}
    _check_json(value, name)
    return {"value": value}


def _unserializable_text(value: Any) -> Optional[str]:
    if isinstance(value, bool):
        return None
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        if value == 0 and math.copysign(1.0, value) < 0:
            return "-0"
    if isinstance(value, int) and abs(value) > _MAX_SAFE_INTEGER:
        return "%dn" % value
    return None


def _check_json(value: Any, name: str) -> None:
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check_nested(item, "%s[%d]" % (name, i))
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_nested(item, "%s[%r]" % (name, key))


def _check_nested(value: Any, name: str) -> None:
    if _unserializable_text(value) is not None:
        raise InvalidCommand(
            "%s is %r, which JSON cannot carry inside a list or dict: pass it as an argument "
            "of its own" % (name, value)
        )
    _check_json(value, name)


class Evaluator:
    """The JavaScript side of a tab (see :meth:`Tab.execute_script`)."""

    def __init__(self, core: PageCore) -> None:
        self._core = core

    def execute_script(self, script: str, await_promise: bool, timeout: Optional[float]) -> Any:
        """See :meth:`Tab.execute_script`."""
        if not isinstance(script, str):
            raise InvalidCommand("script must be a str, got %s" % type(script).__name__)
        timeout = check_timeout(timeout)
        await_promise = bool(await_promise)
        deadline = Deadline(timeout)
        if _RETURN_STATEMENT.match(script):
            return self.evaluate(_as_function(script, await_promise), await_promise, timeout)
        if not _DECLARATION.match(script):
            # The common case, one round trip: an expression, in parentheses so that it can
            # declare nothing in the page's global scope.
            result = self._send_evaluate(
                "(%s\n)" % script, await_promise, timeout, serializationOptions=DEEP
            )
            details = result.get("exceptionDetails")
            if details is None:
                return self._value_of(result.get("result", {}))
            # It failed. If it is not an expression, nothing ran and it is run as statements
            # below; if it is one, it ran (a promise it returned may have rejected with a
            # SyntaxError, e.g. from JSON.parse) and must never run again. V8 says which:
            # the same expression compiled where it cannot run.
            if not is_syntax_error(details) or self._compiles(
                "if (false) (%s\n)" % script, deadline.left()
            ):
                raise js_exception(details)
        # Statements: REPL mode, as in the DevTools console (top-level await, let/const
        # declared again without "already declared" errors).
        return self._evaluate_statements(script, await_promise, deadline)

    def _send_evaluate(
        self, expression: str, await_promise: bool, timeout: Optional[float], **extra: Any
    ) -> Dict[str, Any]:
        """``Runtime.evaluate``: its whole answer (``result``, maybe ``exceptionDetails``)."""
        params: Dict[str, Any] = {
            "expression": expression,
            "returnByValue": True,
            "awaitPromise": await_promise,
            "userGesture": True,
        }
        params.update(extra)
        return self._core.send("Runtime.evaluate", params, timeout=timeout)

    def evaluate(self, expression: str, await_promise: bool, timeout: Optional[float]) -> Any:
        """The value of ``expression``, or raise the exception it threw."""
        result = self._send_evaluate(
            expression, await_promise, timeout, serializationOptions=DEEP
        )
        if "exceptionDetails" in result:
            raise js_exception(result["exceptionDetails"])
        return self._value_of(result.get("result", {}))

    def _value_of(self, remote: Dict[str, Any]) -> Any:
        """The Python value of a deep-serialized result; its remote object is released."""
        object_id = remote.get("objectId")
        try:
            return deep_value(remote)
        finally:
            if object_id is not None:
                self.release_quietly(str(object_id))

    def _compiles(self, source: str, timeout: Optional[float]) -> bool:
        """Whether V8 compiles ``source``; callers pass code that cannot run (``if (false)``)."""
        result = self._send_evaluate(source, False, timeout)
        return "exceptionDetails" not in result

    def _evaluate_statements(self, script: str, await_promise: bool, deadline: Deadline) -> Any:
        """Run ``script`` in REPL mode and return the JSON value of its completion value.

        REPL mode awaits top-level ``await`` but not a promise the script ends with: such a
        promise is awaited by a second command, on its remote object.
        """
        result = self._send_evaluate(
            script, await_promise, deadline.left(), replMode=True, serializationOptions=DEEP
        )
        details = result.get("exceptionDetails")
        if details is not None:
            if self._is_top_level_return(script, details, deadline):
                # "return ..." deeper in the script: a function body after all. The script
                # did not compile, so nothing of it ran and running it now is its first run.
                body = _as_function(script, await_promise)
                return self.evaluate(body, await_promise, deadline.left())
            raise js_exception(details)
        remote: Dict[str, Any] = result.get("result", {})
        object_id = remote.get("objectId")
        if object_id is None or remote.get("subtype") != "promise" or not await_promise:
            return self._value_of(remote)
        try:
            return self.call_function_on(
                str(object_id), _VALUE_OF_THIS, [], await_promise=True, timeout=deadline.left()
            )
        finally:
            self.release_quietly(str(object_id))

    def _is_top_level_return(
        self, script: str, details: Dict[str, Any], deadline: Deadline
    ) -> bool:
        """Whether REPL mode refused ``script`` for a ``return`` outside a function.

        Decided from where V8 points (at a ``return`` of the script) and by compiling the
        script again where it cannot run: the same error at the same place means the script
        never compiled, so nothing of it ran. A SyntaxError thrown while it ran (JSON.parse,
        a rejected promise) fails one of the two tests, and the script is never run again.
        """
        if not is_syntax_error(details):
            return False
        line, column = details.get("lineNumber"), details.get("columnNumber")
        if not isinstance(line, int) or not isinstance(column, int):
            return False
        lines = _LINE_BREAK.split(script)  # the line terminators V8 counts
        if not 0 <= line < len(lines) or not _RETURN_WORD.match(lines[line], column):
            return False
        check = self._send_evaluate(
            "if (false) {\n%s\n}" % script, False, deadline.left(), replMode=True
        )
        again = check.get("exceptionDetails") or {}
        return bool(
            is_syntax_error(again)
            and again.get("lineNumber") == line + 1
            and again.get("columnNumber") == column
        )

    def release_quietly(self, object_id: str) -> None:
        """Release a remote object without waiting for the answer."""
        # The answer tells nothing, and a remote object left behind only lives until the
        # page goes away.
        try:
            self._core.connection.submit(
                {"method": "Runtime.releaseObject", "params": {"objectId": object_id}}
            )
        except (SyncdpError, OSError) as exc:
            logger.debug("releasing %s: %s", object_id, exc)

    def call_function_on(
        self,
        object_id: str,
        declaration: str,
        args: List[Any],
        *,
        await_promise: bool = True,
        by_value: bool = True,
        timeout: Optional[float] = 30,
    ) -> Any:
        """Call ``declaration`` with ``this`` = the remote object; its value (or its remote
        object when ``by_value`` is False). Raises the exception it threw.

        Raises:
            InvalidCommand: an argument JSON cannot carry (see :func:`call_argument`).
        """
        params: Dict[str, Any] = {
            "objectId": object_id,
            "functionDeclaration": declaration,
            "arguments": [call_argument(a, "args[%d]" % i) for i, a in enumerate(args)],
            "returnByValue": by_value,  # what a Chromium without deep serialization uses
            "awaitPromise": await_promise,
            "userGesture": True,
        }
        if by_value:
            params["serializationOptions"] = DEEP
        result = self._core.send("Runtime.callFunctionOn", params, timeout=timeout)
        if "exceptionDetails" in result:
            raise js_exception(result["exceptionDetails"])
        remote: Dict[str, Any] = result.get("result", {})
        return self._value_of(remote) if by_value else remote
